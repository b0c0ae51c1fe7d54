"""What the Python tests beside it share: a check that records failures,
free loopback ports, a client that asks a server one request, the
topology of a herd of two renamed servers, Ada and Bea, or of any herd on
ports given, a bounded read of a process's next line, and herd-server
processes started (awaiting their ready line) and stopped."""
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


def herd_toml(servers: dict[str, list[str]], ports: dict[str, list[int]], extra: str = "") -> str:
    """Each server with its neighbours on ports[name] (client, peer, admin,
    HTTP); `extra` goes after [herd]'s keys."""
    text = f'[herd]\nlog_dir = "logs"\ndata_dir = "data"\n{extra}\n'
    for name, neighbours in servers.items():
        client, peer, admin, http = ports[name]
        quoted = ", ".join(f'"{n}"' for n in neighbours)
        text += (f"[servers.{name}]\nport = {client}\npeer_port = {peer}\nadmin_port = {admin}\n"
                 f"http_port = {http}\nneighbors = [{quoted}]\n\n")
    return text


def start_server(server: str, name: str, config) -> tuple[subprocess.Popen, str]:
    """herd-server --name `name`, and its first line (its ready line,
    "NAME: clients on ...", once it listens, or what it printed instead
    within 30 s). Its output after that goes unread: nothing it logs there
    blocks it (the log goes to log_dir)."""
    process = subprocess.Popen([server, "--name", name, "--config", str(config)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return process, read_line_within(process, 30)


def stop_server(process: subprocess.Popen) -> int:
    """SIGTERM, then SIGKILL if it has not exited in 10 s; its exit status."""
    process.terminate()
    try:
        return process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


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
