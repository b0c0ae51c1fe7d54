#!/usr/bin/python3
"""herd-server --check-config: a good topology is described (servers,
links, ports, TLS, places) and exits 0, with ports that other sockets hold,
since it opens none; each kind of bad file, and a --name that the file or
its certificate does not bear out, exits 2 with the reason.

Usage: check_config_test.py HERD_SERVER
"""
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from script_support import check, free_ports, summary, two_servers_toml

ROOT = Path(__file__).resolve().parent.parent


def check_config(server: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([server, "--check-config", *args], capture_output=True, text=True, timeout=30)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    server = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="check-config-test-") as scratch:
        work = Path(scratch)
        ports = free_ports(6)
        tls = 'tls_ca = "certs/ca.crt"\ntls_cert = "certs/{name}.crt"\ntls_key = "certs/{name}.key"\n'
        good = work / "herd.toml"
        good.write_text(two_servers_toml(ports, tls + '\n[places]\nprovider = "local"\n'))

        # Every port of the file held by someone else: a check that
        # listened would fail.
        held = []
        for port in ports:
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.listen()
            held.append(s)
        try:
            out = check_config(server, str(good))
            text = out.stdout
            check(out.returncode == 0, "a good topology exits 0, its ports held by others", out.stdout + out.stderr)
            check(f"Ada: host 127.0.0.1, client port {ports[0]}, peer port {ports[1]}, admin 127.0.0.1:{ports[2]}, HTTP off; "
                  "neighbours Bea" in text, "it lists each server with its ports and neighbours", text)
            check("servers (2, 1 links)" in text, "it counts servers and links", text)
            check("peer links: TLS 1.3" in text and "certs/Ada.crt" in text, "it describes peer TLS", text)
            check("places: local" in text, "it names the places source", text)
            check("the topology is valid" in text, "it ends by saying the topology is valid", text)

            # With --name, the server's own files: none yet, then made.
            missing = check_config(server, str(good), "--name", "Ada")
            check(missing.returncode == 2 and "herd.tls_ca" in missing.stderr,
                  "--name Ada without the certificates exits 2, naming what is missing", missing.stderr)
            made = subprocess.run([str(ROOT / "scripts/herd-certs"), str(good), str(work / "certs")],
                                  capture_output=True, text=True)
            check(made.returncode == 0, "herd-certs makes them", made.stderr)
            named = check_config(server, str(good), "--name", "Ada")
            check(named.returncode == 0 and "Ada's certificate: CN = Ada (DNS:Ada)" in named.stdout
                  and "Ada: ready to start" in named.stdout, "--name Ada checks its certificate and key",
                  named.stdout + named.stderr)
            (work / "certs/Ada.crt").write_bytes((work / "certs/Bea.crt").read_bytes())
            wrong = check_config(server, str(good), "--name", "Ada")
            check(wrong.returncode == 2 and "is not the key of" in wrong.stderr,
                  "Bea's certificate beside Ada's key exits 2", wrong.stderr)
            unknown = check_config(server, str(good), "--name", "Cy")
            check(unknown.returncode == 2 and 'no server named "Cy"' in unknown.stderr, "an unknown --name exits 2",
                  unknown.stderr)

            # The HTTPS port's certificate and key, loaded as the server
            # would: missing, or not a pair, exits 2 before any start.
            def with_https(cert: str, key: str) -> Path:
                path = work / "https.toml"
                path.write_text(two_servers_toml(ports, '\n[places]\nprovider = "local"\n').replace(
                    "http_port = 0\n", f'http_port = {ports[0] + 1}\nhttp_cert_file = "{cert}"\n'
                    f'http_key_file = "{key}"\n', 1))
                return path
            https = check_config(server, str(with_https("certs/Bea.crt", "certs/Bea.key")), "--name", "Ada")
            check(https.returncode == 0 and "Ada's HTTPS certificate and key load" in https.stdout,
                  "--name Ada loads its HTTPS certificate and key", https.stdout + https.stderr)
            gone = check_config(server, str(with_https("certs/none.crt", "certs/none.key")), "--name", "Ada")
            check(gone.returncode == 2 and "http_cert_file" in gone.stderr,
                  "a missing http_cert_file exits 2, naming it", gone.stdout + gone.stderr)
            pair = check_config(server, str(with_https("certs/Bea.crt", "certs/Ada.key")), "--name", "Ada")
            check(pair.returncode == 2 and "http_key_file" in pair.stderr,
                  "an http_key_file that is not the certificate's exits 2", pair.stdout + pair.stderr)
        finally:
            for s in held:
                s.close()

        bad_files = {
            "a neighbour not in the file": ("[servers.A]\nport = 1\nneighbors = [\"B\"]\n", "unknown server \"B\""),
            "a TOML error": ("[servers.A\nport = 1\n", "test.toml"),
            "an unknown key": ("[herd]\nsecrets = 1\n[servers.A]\nport = 1\n", "unknown key herd.secrets"),
            "a host off loopback without TLS or a secret": ("[servers.A]\nhost = \"10.0.0.1\"\nport = 1\n",
                                                            "not a loopback address"),
            "certificates without a CA": ("[herd]\ntls_cert = \"{name}.crt\"\ntls_key = \"{name}.key\"\n"
                                          "[servers.A]\nport = 1\n", "herd.tls_ca is not set"),
        }
        for what, (text, reason) in bad_files.items():
            bad = work / "test.toml"
            bad.write_text(text)
            out = check_config(server, str(bad))
            check(out.returncode == 2 and reason in out.stderr and not out.stdout,
                  f"{what}: exit 2 with the reason", f"exit {out.returncode}: {out.stderr}{out.stdout}")
        out = check_config(server, str(work / "none.toml"))
        check(out.returncode == 2 and "cannot be read" in out.stderr, "a missing file: exit 2", out.stderr)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
