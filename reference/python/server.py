#!/usr/bin/python3
"""The herd server as an asyncio prototype: Herd's reference in Python.

The same contract as the C++ herd-server (../../../shared/spec/PROTOCOL.md
and ../../docs/protocol.md), the same herd.toml, and the same names for the
same pieces, so the two can be read side by side: parse_command,
LocationStore, start_server, handle_connection, handle_iamat,
handle_whatsat, store_and_propagate, PeerLink, handle_peer, nearby_search.
Python 3.11 standard library plus aiohttp (Debian's python3-aiohttp).

    python3 server.py --name Goloman [--config herd.toml] [--log-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import signal
import ssl
import sys
import time
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import aiohttp

VERSION = "0.1.0"
MAX_CLIENT_ID = 255
MAX_BOUND = 20
NS_PER_S = 10**9
INT64_MAX = 2**63 - 1
RECONNECT_INTERVAL = 1.0
HANDSHAKE_TIME_LIMIT = 2.0
HELLO_TIME_LIMIT = 5.0
MAX_PEER_LINE = 1024
QUEUE_CAPACITY = 4096
EARTH_RADIUS_M = 6_371_008.8
LEGACY_URL = "https://maps.googleapis.com/maps/api/place/nearbysearch/json"
BUNDLED_PLACES = Path(__file__).resolve().parents[2] / "data" / "westwood.geojson"

# --------------------------------------------------------------------------
# The protocol: pure functions, no I/O.

# bytes.split() with no argument splits on exactly the six white-space bytes
# of the contract: space, \t, \n, \v, \f, \r.
DECIMAL = re.compile(rb"(\d+)(?:\.(\d+))?")
LOCATION = re.compile(rb"([+-])(\d{1,2}(?:\.\d+)?)([+-])(\d{1,3}(?:\.\d+)?)")
SKEW = re.compile(rb"[+-]\d+\.\d{9}")


def parse_location(text: bytes) -> tuple[float, float] | None:
    m = LOCATION.fullmatch(text)
    if not m:
        return None
    lat = Decimal(m.group(2).decode())
    lng = Decimal(m.group(4).decode())
    if lat > 90 or lng > 180:  # exact, on the decimal text
        return None
    sign = lambda s: -1 if s == b"-" else 1  # noqa: E731
    return float(lat) * sign(m.group(1)), float(lng) * sign(m.group(3))


def parse_time_ns(text: bytes) -> int | None:
    m = DECIMAL.fullmatch(text)
    if not m:
        return None
    fraction = (m.group(2) or b"").decode()
    ns = int(m.group(1)) * NS_PER_S + int((fraction + "000000000")[:9])
    return ns if ns <= INT64_MAX else None


def parse_radius(text: bytes) -> tuple[float, str] | None:
    """Kilometres, 0 < r <= 50, and the same in metres as exact text."""
    if not DECIMAL.fullmatch(text):
        return None
    km = Decimal(text.decode())
    if not 0 < km <= 50:
        return None
    metres = format((km * 1000).normalize(), "f")
    return float(km), metres


def parse_bound(text: bytes) -> int | None:
    if not re.fullmatch(rb"\d+", text):
        return None
    bound = int(text)
    return bound if 1 <= bound <= MAX_BOUND else None


@dataclass
class Iamat:
    client: bytes
    location: bytes
    time: bytes
    where: tuple[float, float]
    time_ns: int


@dataclass
class Whatsat:
    client: bytes
    radius_km: float
    radius_metres: str
    bound: int


BLANK = "blank"
INVALID = "invalid"


def parse_command(line: bytes) -> Iamat | Whatsat | str:
    fields = line.split()
    if not fields:
        return BLANK
    if len(fields) != 4 or len(fields[1]) > MAX_CLIENT_ID:
        return INVALID
    if fields[0] == b"IAMAT":
        where = parse_location(fields[2])
        time_ns = parse_time_ns(fields[3])
        if where is None or time_ns is None:
            return INVALID
        return Iamat(fields[1], fields[2], fields[3], where, time_ns)
    if fields[0] == b"WHATSAT":
        radius = parse_radius(fields[2])
        bound = parse_bound(fields[3])
        if radius is None or bound is None:
            return INVALID
        return Whatsat(fields[1], radius[0], radius[1], bound)
    return INVALID


@dataclass
class AtRecord:
    server: bytes
    client: bytes
    where: tuple[float, float]
    time_ns: int


def parse_at_line(line: bytes) -> AtRecord | None:
    fields = line.split()
    if len(fields) != 6 or fields[0] != b"AT" or not SKEW.fullmatch(fields[2]):
        return None
    if len(fields[3]) > MAX_CLIENT_ID:
        return None
    where = parse_location(fields[4])
    time_ns = parse_time_ns(fields[5])
    if where is None or time_ns is None:
        return None
    return AtRecord(fields[1], fields[3], where, time_ns)


def format_skew(skew_ns: int) -> bytes:
    sign = "-" if skew_ns < 0 else "+"
    seconds, nanos = divmod(abs(skew_ns), NS_PER_S)
    return f"{sign}{seconds}.{nanos:09d}".encode()


def format_at(server: bytes, skew_ns: int, cmd: Iamat) -> bytes:
    return b" ".join([b"AT", server, format_skew(skew_ns), cmd.client, cmd.location, cmd.time])


def invalid_reply(line: bytes) -> bytes:
    return b"? " + (line[:-1] if line.endswith(b"\r") else line) + b"\n"


def fold_newlines(text: str) -> str:
    return re.sub(r"\n{2,}", "\n", text)


def format_places(answer: dict) -> str:
    # Google's own style: three spaces, "key" : value.
    return fold_newlines(json.dumps(answer, indent=3, separators=(",", " : "), ensure_ascii=False))


def places_error(status: str, message: str) -> dict:
    return {"error_message": message, "html_attributions": [], "results": [], "status": status}


# --------------------------------------------------------------------------
# The location store: one record per client, newest wins.


@dataclass
class LocationRecord:
    at_line: bytes
    time_ns: int
    server: bytes
    where: tuple[float, float]

    def order(self) -> tuple:
        # Equal times break on origin server, then the whole line: the same
        # rule on every server, so the herd settles on one record.
        return (self.time_ns, self.server, self.at_line)


class LocationStore:
    def __init__(self) -> None:
        self.records: dict[bytes, LocationRecord] = {}

    def update(self, client: bytes, record: LocationRecord) -> bool:
        """True if the record changed the store (and so travels on)."""
        held = self.records.get(client)
        if held is not None and (held.at_line == record.at_line or held.order() >= record.order()):
            return False
        self.records[client] = record
        return True

    def find(self, client: bytes) -> LocationRecord | None:
        return self.records.get(client)


# --------------------------------------------------------------------------
# The topology: herd.toml.


class ConfigError(Exception):
    pass


@dataclass
class ServerConfig:
    name: str
    host: str
    port: int
    peer_port: int
    neighbors: list[str]


@dataclass
class Topology:
    servers: dict[str, ServerConfig]
    secret: bytes | None = None
    log_dir: Path | None = None
    places: dict = field(default_factory=dict)


def load_topology(path: Path) -> Topology:
    try:
        doc = tomllib.loads(path.read_text())
    except OSError:
        raise ConfigError(f"{path}: cannot be read") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    base = path.resolve().parent
    herd_table = doc.get("herd", {})
    places = dict(doc.get("places", {}))
    for key in ("file", "ca_file"):
        if key in places:
            places[key] = base / places[key]
    secret = herd_table.get("secret")
    if "secret_env" in herd_table:
        secret = os.environ.get(herd_table["secret_env"])
        if not secret:
            raise ConfigError(f"{path}: herd.secret_env names {herd_table['secret_env']}, which is not set")
    servers: dict[str, ServerConfig] = {}
    for name, table in sorted(doc.get("servers", {}).items()):
        if "port" not in table:
            raise ConfigError(f"{path}: servers.{name}.port is missing")
        port = table["port"]
        servers[name] = ServerConfig(
            name, table.get("host", "127.0.0.1"), port, table.get("peer_port", port + 10000), list(table.get("neighbors", []))
        )
    if not servers:
        raise ConfigError(f"{path}: no servers")
    for s in servers.values():
        for n in s.neighbors:
            if n == s.name:
                raise ConfigError(f"{path}: servers.{s.name} lists itself as a neighbor")
            if n not in servers:
                raise ConfigError(f'{path}: servers.{s.name}.neighbors names unknown server "{n}" (known: {", ".join(servers)})')
    for s in servers.values():  # links work both ways
        for n in s.neighbors:
            if s.name not in servers[n].neighbors:
                servers[n].neighbors.append(s.name)
    taken: dict[tuple[str, int], str] = {}
    for s in servers.values():
        for what, port in (("port", s.port), ("peer_port", s.peer_port)):
            other = taken.setdefault((s.host, port), f"servers.{s.name}.{what}")
            if other != f"servers.{s.name}.{what}":
                raise ConfigError(f"{path}: servers.{s.name}.{what} and {other} both use {s.host}:{port}")
    log_dir = base / herd_table["log_dir"] if "log_dir" in herd_table else None
    return Topology(servers, secret.encode() if secret else None, log_dir, places)


# --------------------------------------------------------------------------
# Places: the offline GeoJSON points, or Google's legacy Nearby Search.


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


class LocalPlaces:
    """Points from a GeoJSON FeatureCollection, nearest first (a linear scan)."""

    def __init__(self, path: Path) -> None:
        doc = json.loads(path.read_text())
        self.origin = path
        self.attributions = [doc["attribution"]] if "attribution" in doc else []
        self.places = []
        for f in doc["features"]:
            props, geometry = f.get("properties", {}), f.get("geometry", {})
            if geometry.get("type") != "Point" or not props.get("name"):
                continue
            lng, lat = geometry["coordinates"][:2]
            street = props.get("addr:street", "")
            if props.get("addr:housenumber") and street:
                street = f"{props['addr:housenumber']} {street}"
            city = props.get("addr:city", "")
            vicinity = props.get("vicinity") or ", ".join(p for p in (street, city) if p)
            category = next((props[k] for k in ("category", "amenity", "shop", "tourism", "leisure", "building") if props.get(k)), "point_of_interest")
            self.places.append(
                {
                    "geometry": {"location": {"lat": lat, "lng": lng}},
                    "name": props["name"],
                    "place_id": props.get("place_id") or props.get("@id") or str(f.get("id", len(self.places))),
                    "types": [category, "point_of_interest", "establishment"],
                    "vicinity": vicinity,
                }
            )

    async def nearby_search(self, where: tuple[float, float], radius_km: float, radius_metres: str, bound: int) -> dict:
        ranked = sorted(
            (d, i) for i, p in enumerate(self.places)
            if (d := haversine_m(where, (p["geometry"]["location"]["lat"], p["geometry"]["location"]["lng"]))) <= radius_km * 1000
        )
        results = [self.places[i] for _, i in ranked[:bound]]
        return {"html_attributions": self.attributions, "results": results, "status": "OK" if results else "ZERO_RESULTS"}

    def describe(self) -> str:
        return f"local ({len(self.places)} places from {self.origin})"


class GooglePlaces:
    """Nearby Search (legacy) through aiohttp, kept-alive, verified TLS."""

    def __init__(self, url: str, key: str, key_origin: str, ca_file: Path | None, timeout: float, log: logging.Logger) -> None:
        self.url, self.key, self.key_origin, self.timeout, self.log = url, key, key_origin, timeout, log
        self.tls = ssl.create_default_context()
        if ca_file:
            self.tls.load_verify_locations(cafile=str(ca_file))
        self.session: aiohttp.ClientSession | None = None

    async def nearby_search(self, where: tuple[float, float], radius_km: float, radius_metres: str, bound: int) -> dict:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        params = {"location": f"{where[0]!r},{where[1]!r}", "radius": radius_metres, "key": self.key}
        started = time.monotonic()
        shown = f"GET {self.url}?location={params['location']}&radius={radius_metres}&key=REDACTED"
        try:
            async with self.session.get(self.url, params=params, ssl=self.tls) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self.log.warning("google %s failed after %.1f ms: %s", shown, (time.monotonic() - started) * 1000, e or "timed out")
            return places_error("UNKNOWN_ERROR", f"no answer from Google: {e or 'timed out'}")
        self.log.info("google %s: HTTP %d in %.1f ms", shown, status, (time.monotonic() - started) * 1000)
        if status != 200:
            return places_error("UNKNOWN_ERROR", f"Google answered HTTP {status}")
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "status" not in answer:
            return places_error("UNKNOWN_ERROR", "Google's answer was not a Places JSON object")
        answer.setdefault("html_attributions", [])
        answer.setdefault("results", [])
        return answer

    def describe(self) -> str:
        return f"google (Nearby Search, legacy) at {self.url}, key from {self.key_origin}"

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def make_places_source(config: dict, log: logging.Logger):
    provider = config.get("provider", "auto")
    key_env = config.get("key_env", "GOOGLE_PLACES_API_KEY")
    key = os.environ.get(key_env, "")
    if provider == "auto":
        provider = "google" if key else "local"  # the reference speaks only the legacy API
        log.info("places provider auto: $%s is %s", key_env, "set" if key else "not set")
    if provider == "local":
        return LocalPlaces(Path(config.get("file", BUNDLED_PLACES)))
    if provider == "google-new":
        raise ConfigError("places.provider google-new: the Python reference speaks only the legacy API (use google)")
    if not key:
        raise ConfigError(f"places.provider is {provider} but ${key_env} is not set")
    return GooglePlaces(config.get("endpoint", LEGACY_URL), key, "$" + key_env, config.get("ca_file"), float(config.get("timeout", 5.0)), log)


# --------------------------------------------------------------------------
# The peer handshake (same messages and proofs as the C++ herd).


def make_proof(secret: bytes | None, role: str, acceptor: bytes, dialer: bytes, nonce_a: bytes, nonce_d: bytes) -> bytes:
    if secret is None:
        return b"-"
    message = b"\0".join([role.encode(), acceptor, dialer, nonce_a, nonce_d])
    return hmac.new(secret, message, hashlib.sha256).hexdigest().encode()


# --------------------------------------------------------------------------
# The server.


class Server:
    def __init__(self, herd: Topology, name: str, places, log: logging.Logger) -> None:
        self.herd, self.me, self.places, self.log = herd, herd.servers[name], places, log
        self.name = name.encode()
        self.store = LocationStore()
        self.links = {n: PeerLink(self, herd.servers[n]) for n in self.me.neighbors}
        self.places_timeout = float(herd.places.get("timeout", 5.0))
        self.servers: list[asyncio.AbstractServer] = []

    async def start(self) -> None:
        # Without a shared secret nothing proves a peer is a member, so the
        # peer port stays off the network.
        peer_host = self.me.host if self.herd.secret else "127.0.0.1"
        self.servers.append(await asyncio.start_server(self.handle_connection, self.me.host, self.me.port))
        self.servers.append(await asyncio.start_server(self.handle_peer, peer_host, self.me.peer_port))
        self.log.info(
            "%s starting: clients on %s:%d, peers on %s:%d, neighbours %s, places %s",
            self.me.name, self.me.host, self.me.port, peer_host, self.me.peer_port,
            ", ".join(self.me.neighbors) or "none", self.places.describe(),
        )
        if self.herd.secret is None:
            self.log.warning("no shared secret configured: peers are not authenticated, peer port on loopback only")
        for link in self.links.values():
            link.start()

    async def stop(self) -> None:
        self.log.info("%s stopping", self.me.name)
        for s in self.servers:
            s.close()
        for link in self.links.values():
            link.stop()
        if isinstance(self.places, GooglePlaces):
            await self.places.close()

    # -- clients

    async def handle_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = "%s:%d" % writer.get_extra_info("peername")[:2]
        self.log.info("client %s connected", client)
        buffer = b""
        try:
            while True:
                chunk = await reader.read(65536)
                now_ns = time.time_ns()  # the skew is taken when the bytes arrive
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                if not chunk and buffer:  # end of input ends the last line
                    lines.append(buffer)
                    buffer = b""
                replies = []
                for line in lines:
                    self.log.info("client %s < %s", client, escape_for_log(line))
                    reply = await self.handle_line(line, now_ns)
                    if reply:
                        self.log.info("client %s > %s", client, escape_for_log(reply))
                        replies.append(reply)
                if replies:  # every reply to one read, in one write
                    writer.write(b"".join(replies))
                    await writer.drain()
                if not chunk:
                    break
        except (ConnectionError, OSError) as e:
            self.log.info("client %s gone: %s", client, e)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            self.log.info("client %s done", client)

    async def handle_line(self, line: bytes, now_ns: int) -> bytes:
        cmd = parse_command(line)
        if isinstance(cmd, Iamat):
            return self.handle_iamat(cmd, now_ns) + b"\n"
        if isinstance(cmd, Whatsat):
            return await self.handle_whatsat(cmd, line)
        return b"" if cmd == BLANK else invalid_reply(line)

    def handle_iamat(self, cmd: Iamat, now_ns: int) -> bytes:
        at_line = format_at(self.name, now_ns - cmd.time_ns, cmd)
        self.store_and_propagate(cmd.client, LocationRecord(at_line, cmd.time_ns, self.name, cmd.where), None)
        return at_line

    async def handle_whatsat(self, cmd: Whatsat, line: bytes) -> bytes:
        record = self.store.find(cmd.client)
        if record is None:
            return invalid_reply(line)
        at_line = record.at_line  # the record may be replaced while we wait
        lat, lng = record.where
        started = time.monotonic()
        try:
            answer = await asyncio.wait_for(
                self.places.nearby_search(record.where, cmd.radius_km, cmd.radius_metres, cmd.bound), self.places_timeout
            )
        except asyncio.TimeoutError:
            self.log.warning("places %.6f,%.6f radius %s m bound %d: no answer in time", lat, lng, cmd.radius_metres, cmd.bound)
            answer = places_error("UNKNOWN_ERROR", "the places source did not answer in time")
        except Exception as e:  # a broken source must still get the client a reply
            answer = places_error("UNKNOWN_ERROR", f"the places source failed: {e}")
        self.log.info(
            "places %.6f,%.6f radius %s m bound %d: %s with %d results in %.3f ms",
            lat, lng, cmd.radius_metres, cmd.bound, answer.get("status"), len(answer.get("results", [])), (time.monotonic() - started) * 1000,
        )
        answer["results"] = answer.get("results", [])[: cmd.bound]
        return at_line + b"\n" + format_places(answer).encode() + b"\n\n"

    # -- flooding

    def store_and_propagate(self, client: bytes, record: LocationRecord, came_from: str | None) -> bool:
        """The prototype's propagate(): a record that changed the store goes
        to every neighbour but the one it came from."""
        if not self.store.update(client, record):
            return False
        for name, link in self.links.items():
            if name != came_from:
                link.post(record.at_line)
        return True

    async def handle_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        where = "%s:%d" % writer.get_extra_info("peername")[:2]
        try:
            neighbour = await self.accept_handshake(reader, writer, where)
            if neighbour is None:
                return
            self.log.info("peer link from %s (%s) open", neighbour, where)
            while line := await reader.readline():
                if len(line) > MAX_PEER_LINE:
                    break
                line = line.rstrip(b"\n")
                record = parse_at_line(line)
                if record is None or record.server.decode(errors="replace") not in self.herd.servers:
                    self.log.warning("peer %s sent something that is not a record: %s", neighbour, escape_for_log(line))
                    continue
                stored = self.store_and_propagate(record.client, LocationRecord(line, record.time_ns, record.server, record.where), neighbour)
                self.log.info("peer %s > %s (%s)", neighbour, escape_for_log(line), "stored" if stored else "not newer")
            self.log.info("peer link from %s closed", neighbour)
        except (ConnectionError, OSError, ValueError, asyncio.LimitOverrunError) as e:
            self.log.info("peer link from %s closed: %s", where, e)
        finally:
            writer.close()

    async def accept_handshake(self, reader, writer, where: str) -> str | None:
        nonce_a = secrets.token_hex(16).encode()
        writer.write(b"HERD herd/1 CHALLENGE " + self.name + b" " + nonce_a + b"\n")
        try:
            fields = (await asyncio.wait_for(reader.readline(), HELLO_TIME_LIMIT)).split()
        except asyncio.TimeoutError:
            fields = []
        reason = None
        if len(fields) != 6 or fields[:3] != [b"HERD", b"herd/1", b"HELLO"]:
            reason = "malformed hello"
        elif fields[3].decode(errors="replace") not in self.me.neighbors:
            reason = f"{fields[3].decode(errors='replace')} is not a neighbour of {self.me.name}"
        elif not hmac.compare_digest(make_proof(self.herd.secret, "dialer", self.name, fields[3], nonce_a, fields[4]), fields[5]):
            reason = f"proof of membership from {fields[3].decode(errors='replace')} does not match"
        if reason:
            self.log.warning("peer link from %s refused: %s", where, reason)
            writer.write(b"HERD herd/1 REFUSED " + reason.encode() + b"\n")
            return None
        writer.write(b"HERD herd/1 WELCOME " + make_proof(self.herd.secret, "acceptor", self.name, fields[3], nonce_a, fields[4]) + b"\n")
        await writer.drain()
        return fields[3].decode()


class PeerLink:
    """The link to one neighbour: a queue and a task that dials, proves
    membership, sends what is queued, and dials again."""

    def __init__(self, server: Server, neighbour: ServerConfig) -> None:
        self.server, self.neighbour = server, neighbour
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_CAPACITY)
        self.task: asyncio.Task | None = None
        self.last_failure = ""

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    def stop(self) -> None:
        if self.task:
            self.task.cancel()

    def post(self, at_line: bytes) -> None:
        try:
            self.queue.put_nowait(at_line)
        except asyncio.QueueFull:
            self.server.log.warning("peer link to %s: queue full, dropped %s", self.neighbour.name, at_line.decode(errors="replace"))

    def note_down(self, why: str) -> None:
        if why != self.last_failure:
            self.server.log.warning("peer link to %s (%s:%d) down: %s", self.neighbour.name, self.neighbour.host, self.neighbour.peer_port, why)
            self.last_failure = why

    async def run(self) -> None:
        pending: bytes | None = None
        while True:
            link = await self.connect()
            if link:
                reader, writer = link
                self.last_failure = ""
                self.server.log.info("peer link to %s open", self.neighbour.name)
                sender = asyncio.create_task(self.send_records(writer, pending))
                watcher = asyncio.create_task(self.watch_for_close(reader))
                pending = None
                try:
                    await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    sender.cancel()
                    watcher.cancel()
                    writer.close()
                self.server.log.info("peer link to %s closed", self.neighbour.name)
                self.last_failure = "closed"
            elif pending is not None:
                self.server.log.warning("peer link to %s down: dropped %s", self.neighbour.name, pending.decode(errors="replace"))
                pending = None
            # Down: dial again when there is a record, or within the interval.
            try:
                pending = await asyncio.wait_for(self.queue.get(), RECONNECT_INTERVAL)
            except asyncio.TimeoutError:
                pass

    async def connect(self):
        n, me = self.neighbour, self.server
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(n.host, n.peer_port), HANDSHAKE_TIME_LIMIT)
        except (OSError, asyncio.TimeoutError) as e:
            self.note_down(str(e) or "connect timed out")
            return None
        try:
            challenge = (await asyncio.wait_for(reader.readline(), HANDSHAKE_TIME_LIMIT)).split()
            if len(challenge) != 5 or challenge[:3] != [b"HERD", b"herd/1", b"CHALLENGE"] or challenge[3] != n.name.encode():
                raise ValueError("no valid challenge from the peer port")
            nonce_d = secrets.token_hex(16).encode()
            proof = make_proof(me.herd.secret, "dialer", challenge[3], me.name, challenge[4], nonce_d)
            writer.write(b"HERD herd/1 HELLO " + me.name + b" " + nonce_d + b" " + proof + b"\n")
            welcome = (await asyncio.wait_for(reader.readline(), HANDSHAKE_TIME_LIMIT)).split()
            # Herd's WELCOME may add its store's size and digest, for a
            # catch-up the reference does not do.
            if len(welcome) not in (4, 6) or welcome[:3] != [b"HERD", b"herd/1", b"WELCOME"]:
                raise ValueError("refused: " + b" ".join(welcome).decode(errors="replace"))
            expected = make_proof(me.herd.secret, "acceptor", challenge[3], me.name, challenge[4], nonce_d)
            if not hmac.compare_digest(expected, welcome[3]):
                raise ValueError("its proof of membership does not match")
            return reader, writer
        except (OSError, ValueError, asyncio.TimeoutError) as e:
            self.note_down(str(e) or "handshake timed out")
            writer.close()
            return None

    async def send_records(self, writer: asyncio.StreamWriter, first: bytes | None) -> None:
        batch = [first] if first is not None else []
        try:
            while True:
                if not batch:
                    batch.append(await self.queue.get())
                while not self.queue.empty():  # a burst goes out in one write
                    batch.append(self.queue.get_nowait())
                writer.write(b"\n".join(batch) + b"\n")
                await writer.drain()
                batch = []
        except (ConnectionError, OSError) as e:
            self.server.log.warning("peer link to %s: %d records lost: %s", self.neighbour.name, len(batch), e)

    @staticmethod
    async def watch_for_close(reader: asyncio.StreamReader) -> None:
        # The acceptor sends nothing after WELCOME: reading is how the link
        # learns at once that it went away, not at the next write.
        with contextlib.suppress(ConnectionError, OSError):
            await reader.read()


# --------------------------------------------------------------------------
# Logs and main.


def escape_for_log(data: bytes) -> str:
    out = []
    for b in data:
        c = chr(b)
        if c in "\\\r\n\t\v\f":
            out.append({"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t", "\v": "\\v", "\f": "\\f"}[c])
        elif b < 0x20 or b == 0x7F:
            out.append(f"\\x{b:02x}")
        else:
            out.append(c if b < 0x80 else f"\\x{b:02x}")
    return "".join(out)


def make_server_log(name: str, log_dir: Path) -> logging.Logger:
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / f"{name}.log")
    # spdlog's level names, as Herd and the Node reference write them:
    # info, warning, error (logging's own are upper case).
    handler.addFilter(lambda record: setattr(record, "level", record.levelname.lower()) or True)
    formatter = logging.Formatter("%(asctime)s.%(msecs)03d000Z %(level)-5s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    log = logging.getLogger(f"herd.{name}")
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.propagate = False
    return log


async def main_async(args: argparse.Namespace) -> int:
    try:
        herd = load_topology(Path(args.config))
    except ConfigError as e:
        print(f"server.py: {e}", file=sys.stderr)
        return 2
    if args.name not in herd.servers:
        print(f'server.py: no server named "{args.name}" in {args.config} (known: {", ".join(herd.servers)})', file=sys.stderr)
        return 2
    log_dir = Path(args.log_dir) if args.log_dir else (herd.log_dir or Path("logs"))
    log = make_server_log(args.name, log_dir)
    try:
        places = make_places_source(herd.places, log)
    except (ConfigError, OSError, ValueError, KeyError) as e:
        print(f"server.py: {e}", file=sys.stderr)
        return 2
    server = Server(herd, args.name, places, log)
    try:
        await server.start()
    except OSError as e:
        print(f"server.py: {args.name}: cannot listen: {e}", file=sys.stderr)
        return 1
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signo in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signo, stopping.set)
    me = herd.servers[args.name]
    print(f"{args.name}: clients on {me.host}:{me.port}, peers on port {me.peer_port}, log {log_dir / (args.name + '.log')}", flush=True)
    await stopping.wait()
    await server.stop()
    log.info("%s stopped", args.name)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="One server of the application server herd (asyncio reference).")
    parser.add_argument("--name", "-n", required=True, help="the server to run, as named in the topology file")
    parser.add_argument("--config", "-c", default="herd.toml", help="the topology file")
    parser.add_argument("--log-dir", help="directory for NAME.log")
    parser.add_argument("--version", action="version", version=f"server.py {VERSION}")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
