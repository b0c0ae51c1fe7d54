#!/usr/bin/python3
"""The live view in a real browser: Debian's Chromium, headless, driven
over the DevTools protocol (python3-websockets), loads the admin page of
one server of a herd of five herd-server processes (herd.toml's topology
on free loopback ports), and the test checks what the page's DOM shows:

- every server up, within a bounded wait;
- an IAMAT sent to another server's client port: the client on the map and
  in the feed within a second, the feed at last holding all five hops;
- a server killed (SIGKILL): shown down within two seconds.

Screenshots go to build/test-logs/live-view-*.png (CI keeps that folder),
and Chromium's own output to live-view-chromium.log beside them. Nothing
leaves the machine: Chromium's background networking is off and its host
resolver maps every name but loopback to nothing.

Exits 77 (CTest's skip) with a message when Chromium or python3-websockets
is missing, or Chromium cannot start here.

Usage: live_view_test.py HERD_SERVER [--logs DIR] [--page NAME] [--iamat-at NAME] [--kill NAME]
"""
import argparse
import asyncio
import base64
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

from script_support import ask, check, free_ports, herd_toml, start_server, stop_server, summary

ROOT = Path(__file__).resolve().parent.parent
SKIP = 77

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--disable-extensions", "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--hide-scrollbars", "--window-size=1400,1000", "--remote-debugging-port=0",
]

# Westwood places for the screenshot's clients: (client, server, lat, lng).
CLIENTS = [
    ("kiwi.cs.ucla.edu", "Welsh", 34.068930, -118.445127),
    ("plum.math.ucla.edu", "Goloman", 34.072839, -118.442165),
    ("fig.ee.ucla.edu", "Hands", 34.070199, -118.446813),
    ("lime.bruinwalk", "Holiday", 34.063280, -118.447760),
    ("date.westwood.village", "Wilkes", 34.060950, -118.445680),
]


def skip(why: str) -> None:
    print(f"SKIP live view in Chromium: {why}")
    sys.exit(SKIP)


class DevTools:
    """One page target over the DevTools protocol: commands by id, events ignored."""

    def __init__(self, socket):
        self.socket = socket
        self.next_id = 0

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        mine = self.next_id
        await self.socket.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), 30))
            if message.get("id") == mine:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def until(self, expression: str, seconds: float) -> float | None:
        """Seconds until `expression` is true on the page, or None past `seconds`."""
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            if await self.evaluate(expression):
                return time.monotonic() - began
            await asyncio.sleep(0.02)
        return None

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        print(f"     screenshot {path}")


def start_chromium(profile: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Chromium and its DevTools address, read from the profile's
    DevToolsActivePort once it listens; skips if it cannot start."""
    chromium = shutil.which("chromium")
    if chromium is None:
        skip("no chromium on PATH (scripts/install-deps installs Debian's)")
    output = log.open("wb")
    # A session of its own, so that stop_chromium can end every process it starts.
    browser = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                               stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if browser.poll() is not None:
            skip(f"chromium exited {browser.returncode} at start: {log.read_text(errors='replace')[-600:]}")
        if active.exists() and len(lines := active.read_text().split()) >= 2:
            return browser, f"127.0.0.1:{lines[0]}"
        time.sleep(0.05)
    stop_chromium(browser)
    skip(f"chromium did not open its DevTools port within 30 s: {log.read_text(errors='replace')[-600:]}")


def stop_chromium(browser: subprocess.Popen) -> None:
    """Chromium and every process it started: its helpers can outlive the
    browser for a moment and still write to the profile, which made the
    profile directory's removal fail (Directory not empty: 'Default')."""
    def signal_all(signo: int) -> bool:
        try:
            os.killpg(browser.pid, signo)
            return True
        except ProcessLookupError:
            return False

    signal_all(signal.SIGTERM)
    try:
        browser.wait(timeout=10)
    except subprocess.TimeoutExpired:
        signal_all(signal.SIGKILL)
        browser.wait()
    # The helpers are not this process's children: nothing to wait on but
    # the group emptying.
    deadline = time.monotonic() + 5
    while signal_all(0) and time.monotonic() < deadline:
        time.sleep(0.05)
    signal_all(signal.SIGKILL)


def page_target(devtools: str) -> str:
    """A new tab's WebSocket address."""
    request = urllib.request.Request(f"http://{devtools}/json/new?about:blank", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())["webSocketDebuggerUrl"]


def links_all_up(admin_ports: dict[str, int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        up = True
        for port in admin_ports.values():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as reply:
                    status = json.loads(reply.read())
            except OSError:
                up = False
                break
            up = up and all(link["up"] for link in status["links"].values())
        if up:
            return True
        time.sleep(0.05)
    return False


def state_of(name: str) -> str:
    return f"document.querySelector('#graph [data-server=\"{name}\"]')?.dataset.state"


def stream_of(name: str) -> str:
    """"open" once the page's subscription to the server's /v1/stream is."""
    return f"document.querySelector('#graph [data-server=\"{name}\"]')?.dataset.stream"


async def drive(args, servers: dict[str, subprocess.Popen], ports: dict[str, list[int]], logs: Path) -> None:
    import websockets  # python3-websockets; checked in main()

    admin = {name: p[2] for name, p in ports.items()}
    # A profile file a helper left behind is no failure of the live view.
    with tempfile.TemporaryDirectory(prefix="herd-chromium-", ignore_cleanup_errors=True) as profile:
        browser, devtools = start_chromium(Path(profile), logs / "live-view-chromium.log")
        try:
            target = page_target(devtools)
            async with websockets.connect(target, max_size=None) as socket:
                page = DevTools(socket)
                await page.call("Page.enable")
                await page.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1,
                                mobile=False)
                url = f"http://127.0.0.1:{admin[args.page]}/"
                await page.call("Page.navigate", url=url)
                loaded = await page.until("document.readyState === 'complete' && !!document.querySelector('#graph')",
                                          10)
                if not check(loaded is not None, f"the page at {url} loads", await page.evaluate(
                        "document.body ? document.body.innerText.slice(0, 300) : 'no body'")):
                    await page.screenshot(logs / "live-view-failed.png")
                    return
                every_up = " && ".join(f"{state_of(n)} === 'up' && {stream_of(n)} === 'open'" for n in servers)
                took = await page.until(every_up, 10)
                check(took is not None, "every server shows up, its stream open",
                      str(await page.evaluate(f"[{', '.join(state_of(n) + ', ' + stream_of(n) for n in servers)}]")))
                links = await page.until("document.querySelectorAll('#graph .link.up').length === "
                                         "document.querySelectorAll('#graph .link').length", 10)
                check(links is not None, "every link shows up")

                client, at, lat, lng = CLIENTS[0]
                sent = time.monotonic()
                reply = ask(ports[args.iamat_at][0], f"IAMAT {client} {lat:+.6f}{lng:+.6f} {time.time():.9f}\n".encode())
                check(reply.startswith(f"AT {args.iamat_at} ".encode()), f"IAMAT at {args.iamat_at} is answered",
                      reply.decode(errors="replace"))
                on_map = f"!!document.querySelector('#map [data-client=\"{client}\"]')"
                in_feed = f"!!document.querySelector('#feed li[data-client=\"{client}\"]')"
                shown = await page.until(f"{on_map} && {in_feed}", 5)
                seconds = None if shown is None else time.monotonic() - sent
                check(seconds is not None and seconds <= 1.0,
                      f"the IAMAT at {args.iamat_at} shows on {args.page}'s page (map and feed) within 1 s",
                      f"shown after {seconds} s" if seconds is not None else "not shown within 5 s")
                if seconds is not None:
                    print(f"     shown {seconds * 1000:.0f} ms after the IAMAT was sent")
                hops = await page.until(f"document.querySelector('#feed li[data-client=\"{client}\"]')"
                                        f"?.querySelectorAll('.hop-entry').length === {len(servers)}", 5)
                check(hops is not None, f"the feed shows the record stored at all {len(servers)} servers",
                      str(await page.evaluate(f"document.querySelector('#feed li[data-client=\"{client}\"]')"
                                              "?.innerText")))

                # More clients, one at each server, for a screenshot that
                # shows the flood under way.
                for other, server, lat, lng in CLIENTS[1:]:
                    ask(ports[server][0], f"IAMAT {other} {lat:+.6f}{lng:+.6f} {time.time():.9f}\n".encode())
                    await asyncio.sleep(0.3)
                await asyncio.sleep(0.25)
                await page.screenshot(logs / "live-view-flood.png")
                everyone = " && ".join(f"!!document.querySelector('#map [data-client=\"{c}\"]')" for c, *_ in CLIENTS)
                check(await page.until(everyone, 5) is not None, "every client is on the map")
                await asyncio.sleep(1.5)
                await page.screenshot(logs / "live-view-up.png")

                servers[args.kill].kill()
                killed = time.monotonic()
                servers[args.kill].wait()
                down = await page.until(f"{state_of(args.kill)} === 'down'", 5)
                seconds = None if down is None else time.monotonic() - killed
                check(seconds is not None and seconds <= 2.0, f"{args.kill}, killed, shows down within 2 s",
                      f"down after {seconds} s" if seconds is not None else
                      f"still {await page.evaluate(state_of(args.kill))} after 5 s")
                if seconds is not None:
                    print(f"     shown down {seconds * 1000:.0f} ms after SIGKILL")
                others = " && ".join(f"{state_of(n)} === 'up'" for n in servers if n != args.kill)
                check(await page.evaluate(others), "the other servers still show up")
                # Its neighbours' links to it go down once they notice
                # (a refused dial; at most herd.peer_timeout).
                dead_links = await page.until(
                    f"[...document.querySelectorAll('#graph .link[data-link$=\">{args.kill}\"]')]"
                    ".every((l) => l.classList.contains('down'))", 5)
                check(dead_links is not None, f"the links to {args.kill} show down")
                await asyncio.sleep(0.3)
                await page.screenshot(logs / "live-view-down.png")
        finally:
            stop_chromium(browser)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("herd_server")
    parser.add_argument("--logs", type=Path, default=ROOT / "build/test-logs")
    parser.add_argument("--page", default="Goloman", help="the server whose admin page is loaded")
    parser.add_argument("--iamat-at", default="Welsh", help="the server the IAMAT goes to")
    parser.add_argument("--kill", default="Hands", help="the server killed")
    args = parser.parse_args()
    if importlib.util.find_spec("websockets") is None:
        skip("no python3-websockets (scripts/install-deps installs it)")
    if shutil.which("chromium") is None:
        skip("no chromium on PATH (scripts/install-deps installs Debian's)")
    args.logs.mkdir(parents=True, exist_ok=True)

    with open(ROOT / "herd.toml", "rb") as f:
        topology = {name: s.get("neighbors", []) for name, s in tomllib.load(f)["servers"].items()}
    free = free_ports(4 * len(topology))
    ports = {name: free[4 * i:4 * i + 4] for i, name in enumerate(topology)}
    with tempfile.TemporaryDirectory(prefix="herd-live-view-") as work:
        config = Path(work) / "herd.toml"
        config.write_text(herd_toml(topology, ports, 'fsync = "batch"\n\n[places]\nprovider = "local"\n'))
        servers: dict[str, subprocess.Popen] = {}
        try:
            for name in topology:
                process, ready = start_server(args.herd_server, name, config)
                servers[name] = process
                if not check(ready.startswith(f"{name}: clients on"), f"{name} starts", ready):
                    return summary()
            if check(links_all_up({n: p[2] for n, p in ports.items()}, 10), "the herd's links come up"):
                asyncio.run(drive(args, servers, ports, args.logs))
        finally:
            for name, process in servers.items():
                if process.poll() is None:
                    status = stop_server(process)
                    check(status == 0, f"{name} exits 0 on SIGTERM", f"exit {status}")
            shutil.copytree(Path(work) / "logs", args.logs / "live-view-herd-logs", dirs_exist_ok=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
