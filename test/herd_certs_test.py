#!/usr/bin/python3
"""scripts/herd-certs against openssl and two real herd-server processes:
it makes a CA and a certificate per server that openssl verifies for both
ends of a link, with the server's name and mode 600 keys; --only reissues
one server's certificate with the same CA; and Ada and Bea started with
them link over TLS (an IAMAT at Ada is stored at Bea), while a plain-TCP
connection to Ada's peer port gets nothing and is counted in
herd_peer_tls_refused_total. Whatever happens, the servers are stopped.

Usage: herd_certs_test.py HERD_SERVER
"""
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from script_support import ask, check, free_ports, start_server, stop_server, summary, two_servers_toml

ROOT = Path(__file__).resolve().parent.parent
HERD_CERTS = ROOT / "scripts" / "herd-certs"


def openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True)


def metric(port: int, name: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith((name + " ", name + "{")):
                return float(line.split()[1])
    return None


def check_certificates(config: Path, certs: Path) -> None:
    made = subprocess.run([str(HERD_CERTS), str(config), str(certs)], capture_output=True, text=True)
    check(made.returncode == 0, "herd-certs exits 0", made.stderr)
    for name in ("Ada", "Bea"):
        for purpose in ("sslclient", "sslserver"):
            verified = openssl("verify", "-CAfile", str(certs / "ca.crt"), "-purpose", purpose, str(certs / f"{name}.crt"))
            check(verified.returncode == 0, f"openssl verifies {name}.crt for {purpose}", verified.stdout + verified.stderr)
        names = openssl("x509", "-in", str(certs / f"{name}.crt"), "-noout", "-ext", "subjectAltName")
        check(f"DNS:{name}" in names.stdout, f"{name}.crt names {name}", names.stdout)
        mode = (certs / f"{name}.key").stat().st_mode & 0o777
        check(mode == 0o600, f"{name}.key has mode 600", oct(mode))

    ca_before = (certs / "ca.crt").read_bytes()
    bea_before = (certs / "Bea.crt").read_bytes()
    ada_before = (certs / "Ada.crt").read_bytes()
    again = subprocess.run([str(HERD_CERTS), "--only", "Bea", str(config), str(certs)], capture_output=True, text=True)
    check(again.returncode == 0, "herd-certs --only Bea exits 0", again.stderr)
    check((certs / "ca.crt").read_bytes() == ca_before, "--only keeps the CA")
    check((certs / "Bea.crt").read_bytes() != bea_before, "--only Bea reissues Bea's certificate")
    check((certs / "Ada.crt").read_bytes() == ada_before, "--only Bea leaves Ada's alone")
    unknown = subprocess.run([str(HERD_CERTS), "--only", "Cy", str(config), str(certs)], capture_output=True, text=True)
    check(unknown.returncode == 2 and "no server named Cy" in unknown.stderr, "--only an unknown server exits 2",
          unknown.stderr)


def check_tls_herd(server: str, config: Path, ports: list[int]) -> None:
    processes = []
    try:
        for name in ("Ada", "Bea"):
            process, ready = start_server(server, name, config)
            processes.append(process)
            check(ready.startswith(f"{name}: clients on"), f"{name} starts with TLS", ready)
        at = ask(ports[0], f"IAMAT kiwi +34.068930-118.445127 {time.time():.9f}\n".encode()).decode()
        check(at.startswith("AT Ada "), "IAMAT at Ada is answered", at)
        # Bea has no event to await from here: ask it, within a bound.
        deadline = time.monotonic() + 10
        reply = ""
        while time.monotonic() < deadline and not reply.startswith("AT Ada"):
            reply = ask(ports[3], b"WHATSAT kiwi 1 1\n").decode()
            time.sleep(0.05)
        check(reply.startswith(at.strip()), "Bea has Ada's record, sent over TLS", reply[:200])

        with socket.create_connection(("127.0.0.1", ports[1]), timeout=10) as plain:
            plain.sendall(b"HERD herd/1 HELLO Bea 00 00\n")
            answer = b""
            while chunk := plain.recv(4096):
                answer += chunk
        check(b"CHALLENGE" not in answer, "a plain-TCP neighbour gets no challenge", repr(answer[:200]))
        check(metric(ports[2], "herd_peer_tls_refused_total") == 1, "Ada counts it in herd_peer_tls_refused_total")
        check(metric(ports[2], "herd_peer_links_accepted_total") == 1, "Ada accepted Bea's one link")
    finally:
        for process in processes:
            status = stop_server(process)
            check(status == 0, "herd-server exits 0 on SIGTERM", f"exit {status}")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="herd-certs-test-") as scratch:
        work = Path(scratch)
        ports = free_ports(6)
        tls = 'tls_ca = "certs/ca.crt"\ntls_cert = "certs/{name}.crt"\ntls_key = "certs/{name}.key"\n'
        config = work / "herd.toml"
        config.write_text(two_servers_toml(ports, tls + '\n[places]\nprovider = "local"\n'))
        check_certificates(config, work / "certs")
        check_tls_herd(sys.argv[1], config, ports)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
