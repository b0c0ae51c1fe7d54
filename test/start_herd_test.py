#!/usr/bin/python3
"""scripts/start-herd, run as a user runs it: --help, a bad argument, and a
herd of renamed servers on free loopback ports started, asked for its
status and stopped. Whatever happens, every server it started is stopped.

Usage: start_herd_test.py SCRIPT HERD_SERVER
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from script_support import ask, check, free_ports, summary, two_servers_toml

def run(script: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([script, *args], capture_output=True, text=True, env=env, timeout=120)


def herd_server_pids(run_dir: Path) -> dict[str, int]:
    """The servers the script's pid files name that still run herd-server."""
    pids = {}
    for pid_file in run_dir.glob("*.pid"):
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            continue
        if state != "Z" and any(arg.endswith(b"herd-server") for arg in cmdline):
            pids[pid_file.stem] = pid
    return pids


def main() -> int:
    script, server = sys.argv[1], sys.argv[2]
    env = dict(os.environ, HERD_SERVER=server)

    result = run(script, "--help", env=env)
    check(result.returncode == 0, "--help exits 0", f"exit {result.returncode}\n{result.stdout}{result.stderr}")
    check("Usage:" in result.stdout and "status" in result.stdout, "--help prints the usage on stdout",
          result.stdout)
    for bad in ["--bogus", "restart-everything"]:
        result = run(script, bad, env=env)
        check(result.returncode == 2, f"{bad} exits 2", f"exit {result.returncode}\n{result.stdout}{result.stderr}")
        check("Usage:" in result.stderr, f"{bad} prints the usage on stderr", result.stderr)

    work = Path(tempfile.mkdtemp(prefix="start-herd-test-"))
    run_dir = work / "run"
    config = work / "renamed.toml"
    try:
        ports = free_ports(6)
        config.write_text(two_servers_toml(ports))
        result = run(script, "--config", str(config), env=env)
        check(result.returncode == 0, "start with --config exits 0", result.stdout + result.stderr)
        check("Ada: clients on" in result.stdout and "Bea: clients on" in result.stdout,
              "start prints each renamed server's ready line", result.stdout)
        check(sorted(herd_server_pids(run_dir)) == ["Ada", "Bea"], "both servers run, with pid files beside the config",
              str(herd_server_pids(run_dir)))
        try:
            reply = ask(ports[0], b"IAMAT kiwi +34-118 1621464827\n")
        except OSError as e:
            reply = str(e).encode()
        check(reply.startswith(b"AT Ada "), "Ada answers on its port", reply.decode(errors="replace"))

        result = run(script, "--config", str(config), "status", env=env)
        check(result.returncode == 0, "status exits 0 while all run", result.stdout + result.stderr)
        lines = result.stdout.splitlines()
        for name in ["Ada", "Bea"]:
            line = next((l for l in lines if l.split()[:1] == [name]), "")
            check("running" in line and "answers" in line, f"status: {name} runs and answers", result.stdout)

        result = run(script, "--config", str(config), "stop", env=env)
        check(result.returncode == 0 and "stopped 2 servers" in result.stdout, "stop stops both",
              result.stdout + result.stderr)
        check(herd_server_pids(run_dir) == {}, "no server is left running")

        result = run(script, "--config", str(config), "status", env=env)
        check(result.returncode == 3, "status exits 3 once stopped", f"exit {result.returncode}\n{result.stdout}")
        check(result.stdout.count("not running") == 2, "status: both not running", result.stdout)
    finally:
        # Stop what was started even if the script's own stop failed.
        for pid in herd_server_pids(run_dir).values():
            os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not herd_server_pids(run_dir):
                break
            time.sleep(0.05)
        for pid in herd_server_pids(run_dir).values():
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)

    return summary()


if __name__ == "__main__":
    sys.exit(main())
