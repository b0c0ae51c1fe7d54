#!/usr/bin/python3
"""The Debian package, built from this build with the CPack configuration
scripts/package uses, checked as an operator would get it:

- its contents (binaries, example topology, systemd template unit,
  logrotate file, man page, docs) and `dpkg-deb --info` (runtime
  dependencies only, conffiles, maintainer scripts);
- installed into a scratch root (`dpkg-deb -x`): the installed
  herd-server checks the installed topology with --check-config, then runs
  with a copy of it whose paths point into the scratch root and whose ports
  are free, with certificates from scripts/herd-certs, and answers an IAMAT
  and a WHATSAT;
- the unit passes `systemd-analyze verify` (pointed at the installed
  binary) with nothing to say, and `systemd-analyze security` rates it at
  most 2.0, where systemd-analyze exists.

Usage: package_test.py BUILD_DIR
"""
import gzip
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from script_support import ask, check, free_ports, read_line_within, summary

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = [
    "./usr/bin/herd-server",
    "./usr/bin/herd-load",
    "./etc/herd/herd.toml",
    "./lib/systemd/system/herd-server@.service",
    "./etc/logrotate.d/herd",
    "./usr/share/man/man8/herd-server.8.gz",
    "./usr/share/doc/herd/deploy.md",
]


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, **kwargs)


def build_package(build: Path, out: Path) -> Path | None:
    made = run("cpack", "--config", str(build / "CPackConfig.cmake"), "-B", str(out))
    debs = sorted(out.glob("herd_*_amd64.deb"))
    version = re.search(r"CPACK_PACKAGE_VERSION \"([^\"]+)\"", (build / "CPackConfig.cmake").read_text())
    name = f"herd_{version.group(1) if version else '?'}_amd64.deb"
    if not check(made.returncode == 0 and [d.name for d in debs] == [name], f"cpack builds {name}",
                 made.stdout[-2000:] + made.stderr[-2000:]):
        return None
    return debs[0]


def check_package(deb: Path, scratch: Path) -> None:
    contents = run("dpkg-deb", "--contents", str(deb)).stdout
    paths = {line.split()[-1] for line in contents.splitlines()}
    for path in EXPECTED:
        check(path in paths, f"the package holds {path[1:]}")
    check(all(not p.startswith(("./usr/include", "./usr/lib/")) for p in paths),
          "the package holds no headers or libraries", contents)

    depends = run("dpkg-deb", "--field", str(deb), "Depends").stdout.strip()
    for needed in ("libssl3", "libboost-program-options1.81.0", "libstdc++6", "adduser"):
        check(needed in depends, f"it depends on {needed}", depends)
    check("-dev" not in depends, "it depends on no -dev package", depends)
    info = run("dpkg-deb", "--info", str(deb)).stdout
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        check(re.search(rf"\b{script}\b", info) is not None, f"dpkg-deb --info lists {script}", info)
    control = scratch / "control"
    run("dpkg-deb", "-e", str(deb), str(control))
    conffiles = (control / "conffiles").read_text().split() if (control / "conffiles").exists() else []
    check(conffiles == ["/etc/herd/herd.toml", "/etc/logrotate.d/herd"], "the /etc files are conffiles",
          str(conffiles))
    postinst = (control / "postinst").read_text() if (control / "postinst").exists() else ""
    check("adduser --system" in postinst, "postinst makes the herd system user")


def check_installed(deb: Path, scratch: Path) -> Path:
    root = scratch / "root"
    run("dpkg-deb", "-x", str(deb), str(root))
    server = root / "usr/bin/herd-server"
    version = run(str(server), "--version")
    check(version.returncode == 0 and version.stdout.startswith("herd-server "), "the installed binary runs",
          version.stdout + version.stderr)
    man = gzip.decompress((root / "usr/share/man/man8/herd-server.8.gz").read_bytes()).decode()
    check(man.startswith(".TH HERD-SERVER 8") and "--check-config" in man.replace("\\-", "-"),
          "the man page is roff for herd-server(8), --check-config included")

    installed = root / "etc/herd/herd.toml"
    checked = run(str(server), "--check-config", str(installed))
    check(checked.returncode == 0 and "a herd of 5" in checked.stdout and "TLS 1.3" in checked.stdout,
          "--check-config accepts the installed topology: five servers, TLS links", checked.stdout + checked.stderr)

    # The installed file, made to run here: its paths in the scratch root,
    # its hosts on loopback, its ports free, certificates made for it.
    text = installed.read_text()
    text = text.replace("/var/lib/herd", str(root / "var/lib/herd")).replace("/var/log/herd", str(root / "var/log/herd"))
    text = text.replace("/etc/herd/tls", str(root / "etc/herd/tls"))
    text = text.replace('provider = "auto"', 'provider = "local"')
    text = re.sub(r'host = "10\.0\.0\.\d+"', 'host = "127.0.0.1"', text)
    ports = iter(free_ports(15))
    text = re.sub(r"^port = \d+$", lambda _: f"port = {next(ports)}\npeer_port = {next(ports)}\nadmin_port = {next(ports)}\nhttp_port = 0",
                  text, flags=re.M)
    local = root / "etc/herd/local.toml"
    local.write_text(text)
    made = run(str(ROOT / "scripts/herd-certs"), str(local), str(root / "etc/herd/tls"))
    check(made.returncode == 0, "herd-certs makes the installed topology's certificates", made.stderr)
    named = run(str(server), "--check-config", str(local), "--name", "Goloman")
    check(named.returncode == 0 and "CN = Goloman" in named.stdout and "Goloman: ready to start" in named.stdout,
          "--check-config --name Goloman finds its certificate and key", named.stdout + named.stderr)
    goloman_port = int(re.search(r"\[servers\.Goloman\]\nhost = \"127\.0\.0\.1\"\nport = (\d+)", text).group(1))

    process = subprocess.Popen([str(server), "--name", "Goloman", "--config", str(local)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        ready = read_line_within(process, 30)
        if not check(ready.startswith("Goloman: clients on 127.0.0.1:"), "the installed server starts with it",
                     ready):
            return root
        at = ask(goloman_port, b"IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1621464827.959498503\n").decode()
        check(at.startswith("AT Goloman "), "it answers an IAMAT", at)
        reply = ask(goloman_port, b"WHATSAT kiwi.cs.ucla.edu 10 2\n").decode()
        check(reply.startswith(at.strip()) and '"status" : "OK"' in reply, "it answers a WHATSAT with places",
              reply[:300])
        check((root / "var/lib/herd/Goloman.store").exists(), "its store is in the unit's StateDirectory")
        check((root / "var/log/herd/Goloman.log").exists(), "its log is in the unit's LogsDirectory")
    finally:
        process.terminate()
        try:
            status = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
        check(status == 0, "it exits 0 on SIGTERM", f"exit {status}")
    return root


def check_unit(root: Path, scratch: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        print("SKIPPED: systemd-analyze is not installed here; the unit is not verified")
        return
    unit = (root / "lib/systemd/system/herd-server@.service").read_text()
    # The installed binary, where an installed unit would find /usr/bin's.
    instance = scratch / "herd-server@Goloman.service"
    instance.write_text(unit.replace("/usr/bin/herd-server", str(root / "usr/bin/herd-server")))
    verified = run("systemd-analyze", "verify", "--man=no", str(instance))
    check(verified.returncode == 0 and not (verified.stdout + verified.stderr).strip(),
          "systemd-analyze verify has nothing to say of the unit", verified.stdout + verified.stderr)
    security = run("systemd-analyze", "security", "--offline=yes", str(instance))
    level = re.search(r"Overall exposure level for \S+: ([\d.]+)", security.stdout + security.stderr)
    check(level is not None and float(level.group(1)) <= 2.0,
          f"systemd-analyze security rates the unit's exposure at most 2.0 ({level.group(1) if level else '?'})",
          security.stdout[-1500:] + security.stderr[-500:])


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="herd-package-test-") as work:
        scratch = Path(work)
        deb = build_package(build, scratch / "package")
        if deb is not None:
            check_package(deb, scratch)
            root = check_installed(deb, scratch)
            check_unit(root, scratch)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
