"""What the Python tests beside it share: a check that records failures,
free loopback ports, a client that asks a server one request, and the
topology of a herd of two renamed servers, Ada and Bea, and a bounded
read of a process's next line."""
import os
import selectors
import socket
import subprocess
import time

failures: list[str] = []


def check(condition: bool, what: str, detail: str = "") -> bool:
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)
        if detail:
            print("     " + detail.replace("\n", "\n     "))
    return condition


def summary() -> int:
    """Prints how the checks went; the exit status."""
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


def free_ports(n: int) -> list[int]:
    """n distinct ports nothing listens on now (held open until all are found)."""
    held = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
    ports = [s.getsockname()[1] for s in held]
    for s in held:
        s.close()
    return ports


def ask(port: int, line: bytes) -> bytes:
    """Sends `line`, half-closes, and reads until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(line)
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
        return reply


def two_servers_toml(ports: list[int], extra: str = "") -> str:
    """Ada linked to Bea on ports[0:3] and ports[3:6] (client, peer, admin);
    `extra` goes after [herd]'s keys (tables such as [places])."""
    return f"""[herd]
log_dir = "logs"
data_dir = "data"
{extra}
[servers.Ada]
port = {ports[0]}
peer_port = {ports[1]}
admin_port = {ports[2]}
http_port = 0
neighbors = ["Bea"]

[servers.Bea]
port = {ports[3]}
peer_port = {ports[4]}
admin_port = {ports[5]}
http_port = 0
"""


def read_line_within(process: subprocess.Popen, seconds: float) -> str:
    """The next line of the process's stdout, or what came of it in `seconds`."""
    chooser = selectors.DefaultSelector()
    chooser.register(process.stdout, selectors.EVENT_READ)
    line = b""
    deadline = time.monotonic() + seconds
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        if not chooser.select(deadline - time.monotonic()):
            break
        byte = os.read(process.stdout.fileno(), 1)  # unbuffered: select sees what is left
        if not byte:
            break
        line += byte
    return line.decode(errors="replace")
