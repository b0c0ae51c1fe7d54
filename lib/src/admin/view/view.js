// The live view of the herd (docs/http.md, "The live view"). Served by
// every server's admin endpoint; reads /herd for the topology, then polls
// every server's /status and subscribes to every server's /v1/stream, so
// the page loaded from any one server shows all of them. Nothing here
// reaches beyond the herd's own ports.
"use strict";

const POLL_MS = 500;          // how often each server's /status is read
const STATUS_TIMEOUT_MS = 1500; // a /status not answered in this: the server is down (hung, stopped)
const RATE_WINDOW_MS = 3000;  // rates are taken over the samples of this window
const HOP_MS = 650;           // how long a record's dot takes along one link
const FEED_RECORDS = 40;      // records kept in the feed
const MAP_CLIENTS = 300;      // clients kept on the map
const NEAR_KM = 25;           // clients farther than this from the places sit on the map's edge

// The SVG namespace, from the page's own SVG: the files hold no absolute
// URL (test/admin_test.cpp checks).
const SVG = document.querySelector("svg").namespaceURI;
const PALETTE = ["#58a6ff", "#d2a8ff", "#ffa657", "#79c0ff", "#f778ba", "#56d4dd", "#e3b341", "#a5d6ff",
                 "#ff7b72", "#7ee787"];

const view = {
  herd: null,
  servers: new Map(),  // name -> server
  clients: new Map(),  // client ID -> {lat, lng, server, time, seen}
  records: new Map(),  // AT line -> record (hops by server)
  places: [],
  lastRecord: 0,
};

function el(name, attributes = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) {
    e.setAttribute(k, v);
  }
  if (parent) {
    parent.appendChild(e);
  }
  return e;
}

function html(name, attributes = {}, text = "") {
  const e = document.createElement(name);
  for (const [k, v] of Object.entries(attributes)) {
    e.setAttribute(k, v);
  }
  e.textContent = text;
  return e;
}

// A host as the page should dial it: a loopback or wildcard address is
// this machine, spelt the way the address bar spells it.
function reachable(host) {
  const local = host === "" || host === "0.0.0.0" || host === "::" || host === "localhost" || host === "::1" ||
                host.startsWith("127.");
  const h = local ? location.hostname : host;
  return h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
}

function rate(samples, key) {
  if (samples.length < 2) {
    return null;
  }
  const first = samples[0];
  const last = samples[samples.length - 1];
  const seconds = (last.t - first.t) / 1000;
  return seconds > 0 ? Math.max(0, (last[key] - first[key]) / seconds) : null;
}

function fixed(x, digits = 1) {
  return x === null ? "–" : x.toFixed(digits);
}

// ------------------------------------------------------------ the servers

class Server {
  constructor(config, index) {
    this.config = config;
    this.name = config.name;
    this.colour = PALETTE[index % PALETTE.length];
    this.admin = config.admin_port ? `http://${reachable(view.herd.admin_host)}:${config.admin_port}` : null;
    this.streamUrl = config.http_port
      ? `${config.http_tls ? "wss" : "ws"}://${reachable(config.host)}:${config.http_port}/v1/stream`
      : null;
    this.status = null;       // the last /status, while it answers
    this.statusOk = null;     // null: not asked yet
    this.polling = false;
    this.samples = [];
    this.socket = null;
    this.streamOpen = false;
    this.streamLost = false;
    this.lastDial = 0;
  }

  // Down: /status failed, or the stream was open and closed (a server
  // that stops closes its streams at once, before the next poll fails).
  // A stream that never opened (an HTTPS port whose certificate the
  // browser does not trust) leaves /status to say.
  get state() {
    if (this.statusOk === false || this.streamLost) {
      return "down";
    }
    return this.statusOk || this.streamOpen ? "up" : "unknown";
  }

  async poll() {
    if (!this.admin) {
      this.dial();
      return;
    }
    if (this.polling) {
      return;
    }
    this.polling = true;
    try {
      const response = await fetch(`${this.admin}/status`,
                                   {cache: "no-store", signal: AbortSignal.timeout(STATUS_TIMEOUT_MS)});
      if (!response.ok) {
        throw new Error(`status ${response.status}`);
      }
      this.status = await response.json();
      this.statusOk = true;
      const c = this.status.counters;
      const now = performance.now();
      this.samples.push({t: now, iamat: c.iamat, stored: c.iamat + c.peer_records_stored,
                         received: c.peer_records_received});
      while (this.samples.length > 2 && now - this.samples[0].t > RATE_WINDOW_MS) {
        this.samples.shift();
      }
    } catch (e) {
      this.statusOk = false;
      this.status = null;
      this.samples = [];
    } finally {
      this.polling = false;
    }
    if (this.statusOk) {
      this.dial();
    }
    draw();
  }

  dial() {
    if (!this.streamUrl || this.socket || performance.now() - this.lastDial < 1000) {
      return;
    }
    this.lastDial = performance.now();
    const socket = new WebSocket(this.streamUrl);
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({subscribe: {all: true}, id: "view"}));
    };
    socket.onmessage = (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (e) {
        return;
      }
      if (event.event !== undefined) {
        stored(event);
      } else if (event.subscribed === "view") {
        // Open once the subscription is: from here on, every record this
        // server stores reaches the page.
        this.streamOpen = true;
        this.streamLost = false;
        draw();
      }
    };
    socket.onclose = () => {
      this.socket = null;
      this.streamLost = this.streamOpen;
      this.streamOpen = false;
      draw();
    };
  }

  linkUp(neighbour) {
    if (!this.status || !this.status.links[neighbour]) {
      return null;
    }
    return this.status.links[neighbour].up;
  }
}

// ------------------------------------------------------------ the graph

const graph = {nodes: new Map(), halves: new Map(), positions: new Map(), layer: null, dots: null};

function layout(names) {
  const cx = 320, cy = 230, r = names.length > 1 ? 170 : 0;
  names.forEach((name, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / names.length;
    graph.positions.set(name, {x: cx + r * Math.cos(a), y: cy + r * Math.sin(a)});
  });
}

function buildGraph() {
  const svg = document.getElementById("graph");
  svg.replaceChildren();
  const names = [...view.servers.keys()];
  layout(names);
  const links = el("g", {}, svg);
  for (const server of view.servers.values()) {
    for (const neighbour of server.config.neighbors) {
      const a = graph.positions.get(server.name), b = graph.positions.get(neighbour);
      if (!b) {
        continue;
      }
      const mid = {x: (a.x + b.x) / 2, y: (a.y + b.y) / 2};
      const half = el("line", {x1: a.x, y1: a.y, x2: mid.x, y2: mid.y, class: "link unknown",
                               "data-link": `${server.name}>${neighbour}`}, links);
      el("title", {}, half).textContent = `${server.name} → ${neighbour}`;
      graph.halves.set(`${server.name}>${neighbour}`, half);
    }
  }
  graph.dots = el("g", {}, svg);
  const nodes = el("g", {}, svg);
  for (const server of view.servers.values()) {
    const p = graph.positions.get(server.name);
    const g = el("g", {class: "node", "data-server": server.name, "data-state": "unknown",
                       transform: `translate(${p.x},${p.y})`}, nodes);
    el("circle", {class: "body", r: 40, stroke: server.colour}, g);
    el("text", {class: "name", y: -2}, g).textContent = server.name;
    const stats = el("text", {class: "stats", y: 16}, g);
    const below = el("text", {class: "stats", y: 60}, g);
    graph.nodes.set(server.name, {g, stats, below});
  }
}

function drawGraph() {
  for (const server of view.servers.values()) {
    const node = graph.nodes.get(server.name);
    const state = server.state;
    node.g.setAttribute("data-state", state);
    node.g.setAttribute("data-stream", !server.streamUrl ? "none" : server.streamOpen ? "open" : "closed");
    const size = server.status ? server.status.store_size : null;
    node.stats.textContent = state === "down" ? "down" : size === null ? "…" : `${size} clients`;
    const stored = rate(server.samples, "stored");
    node.below.textContent = state === "down" ? "" : `${fixed(stored)} stored/s`;
    for (const neighbour of server.config.neighbors) {
      const half = graph.halves.get(`${server.name}>${neighbour}`);
      if (!half) {
        continue;
      }
      const up = state === "down" ? null : server.linkUp(neighbour);
      const flash = half.classList.contains("flash");
      half.setAttribute("class", `link ${up === null ? "unknown" : up ? "up" : "down"}${flash ? " flash" : ""}`);
    }
  }
}

// A dot from `from` to `to`, starting after `delay` ms, in the origin's colour.
function travel(from, to, colour, delay) {
  const a = graph.positions.get(from), b = graph.positions.get(to);
  if (!a || !b) {
    return;
  }
  setTimeout(() => {
    const dot = el("circle", {class: "hop", r: 7, fill: colour, cx: a.x, cy: a.y}, graph.dots);
    const begun = performance.now();
    for (const key of [`${from}>${to}`, `${to}>${from}`]) {
      const half = graph.halves.get(key);
      if (half) {
        half.classList.add("flash");
        setTimeout(() => half.classList.remove("flash"), HOP_MS);
      }
    }
    const step = (now) => {
      const f = Math.min(1, (now - begun) / HOP_MS);
      const e = f < 0.5 ? 2 * f * f : 1 - 2 * (1 - f) * (1 - f);
      dot.setAttribute("cx", a.x + (b.x - a.x) * e);
      dot.setAttribute("cy", a.y + (b.y - a.y) * e);
      if (f < 1) {
        requestAnimationFrame(step);
      } else {
        dot.remove();
        ring(to, colour);
      }
    };
    requestAnimationFrame(step);
  }, delay);
}

// A ring that spreads from a server as it stores a record.
function ring(name, colour) {
  const p = graph.positions.get(name);
  if (!p) {
    return;
  }
  const circle = el("circle", {class: "ring", cx: p.x, cy: p.y, r: 40, stroke: colour}, graph.dots);
  const begun = performance.now();
  const step = (now) => {
    const f = Math.min(1, (now - begun) / 700);
    circle.setAttribute("r", 40 + 22 * f);
    circle.setAttribute("stroke-opacity", 1 - f);
    if (f < 1) {
      requestAnimationFrame(step);
    } else {
      circle.remove();
    }
  };
  requestAnimationFrame(step);
}

// ------------------------------------------------------------ the records

// One stream event: `stored_by` stored the record, which came `via` a
// neighbour (null: an IAMAT at stored_by itself).
function stored(event) {
  view.lastRecord = Date.now();
  let record = view.records.get(event.at);
  if (!record) {
    record = {at: event.at, client: event.client, origin: event.server, lat: event.lat, lng: event.lng,
              time: event.time, hops: new Map(), shown: false, element: null};
    view.records.set(event.at, record);
    // Events from the servers' streams arrive in any order: a moment's
    // wait puts each hop at its depth, so the dots run as the flood did.
    setTimeout(() => replay(record), 120);
  }
  if (record.hops.has(event.stored_by)) {
    return;
  }
  record.hops.set(event.stored_by, {server: event.stored_by, via: event.via, ns: BigInt(event.stored_ns)});
  const known = view.clients.get(event.client);
  if (!known || Number(event.time) >= Number(known.time)) {
    view.clients.set(event.client, {lat: event.lat, lng: event.lng, server: event.server, time: event.time,
                                    seen: performance.now()});
    trimClients();
    drawMap();
  }
  if (record.shown) {
    animateHop(record, record.hops.get(event.stored_by));
  }
  drawRecord(record);
}

function depth(record, name, seen = new Set()) {
  const hop = record.hops.get(name);
  if (!hop || hop.via === null || seen.has(name)) {
    return hop && hop.via === null ? 0 : 1;
  }
  seen.add(name);
  return 1 + depth(record, hop.via, seen);
}

function animateHop(record, hop) {
  const colour = colourOf(record.origin);
  if (hop.via === null) {
    ring(hop.server, colour);
  } else {
    travel(hop.via, hop.server, colour, (depth(record, hop.server) - 1) * HOP_MS);
  }
}

function replay(record) {
  record.shown = true;
  for (const hop of record.hops.values()) {
    animateHop(record, hop);
  }
  drawRecord(record);
}

function colourOf(name) {
  const server = view.servers.get(name);
  return server ? server.colour : "#8b949e";
}

function drawRecord(record) {
  const feed = document.getElementById("feed");
  if (!record.element) {
    record.element = html("li", {class: "new", "data-client": record.client, "data-origin": record.origin});
    feed.prepend(record.element);
    while (feed.children.length > FEED_RECORDS) {
      const last = feed.lastElementChild;
      for (const [at, r] of view.records) {
        if (r.element === last) {
          view.records.delete(at);
        }
      }
      last.remove();
    }
  }
  const head = html("div", {class: "record-head"});
  const id = html("span", {class: "client-id"}, record.client);
  id.style.color = colourOf(record.origin);
  head.append(id, html("span", {class: "where"}, `${record.lat.toFixed(5)}, ${record.lng.toFixed(5)}`),
              html("span", {class: "when"}, `client time ${record.time}`));
  const hops = html("div", {class: "hops"});
  const origin = record.hops.get(record.origin);
  const zero = origin ? origin.ns : [...record.hops.values()].reduce((m, h) => (h.ns < m ? h.ns : m), 2n ** 63n);
  const sorted = [...record.hops.values()].sort((x, y) => (x.ns < y.ns ? -1 : x.ns > y.ns ? 1 : 0));
  for (const hop of sorted) {
    const entry = html("span", {class: "hop-entry"});
    if (hop.via === null) {
      entry.append(html("span", {class: "server"}, hop.server), document.createTextNode(" IAMAT"));
    } else {
      const ms = Number(hop.ns - zero) / 1e6;
      entry.append(document.createTextNode(`${hop.via} → `), html("span", {class: "server"}, hop.server),
                   document.createTextNode(` +${ms.toFixed(ms < 10 ? 2 : 0)} ms`));
    }
    hops.append(entry);
  }
  const count = html("span", {class: "where"}, `stored at ${record.hops.size} of ${view.servers.size}`);
  head.append(count);
  record.element.replaceChildren(head, hops);
}

// ------------------------------------------------------------ the map

const map = {svg: null, box: null, places: null, clients: null, width: 640, height: 460, pad: 28};

function trimClients() {
  if (view.clients.size <= MAP_CLIENTS) {
    return;
  }
  const oldest = [...view.clients.entries()].sort((a, b) => a[1].seen - b[1].seen);
  for (const [id] of oldest.slice(0, view.clients.size - MAP_CLIENTS)) {
    view.clients.delete(id);
  }
}

function km(a, b) {
  const k = Math.PI / 180;
  const x = (b.lng - a.lng) * k * Math.cos(((a.lat + b.lat) / 2) * k);
  const y = (b.lat - a.lat) * k;
  return 6371 * Math.hypot(x, y);
}

// The box around the places and the clients near them, widened to the
// panel's shape (equal distances equal on screen at this latitude).
function mapBox() {
  const points = view.places.map((p) => ({lat: p.lat, lng: p.lng}));
  const centre = points.length
    ? {lat: points.reduce((s, p) => s + p.lat, 0) / points.length, lng: points.reduce((s, p) => s + p.lng, 0) / points.length}
    : null;
  for (const c of view.clients.values()) {
    if (!centre || km(centre, c) <= NEAR_KM) {
      points.push(c);
    }
  }
  if (!points.length) {
    points.push({lat: 34.0689, lng: -118.4452});
  }
  let s = Infinity, n = -Infinity, w = Infinity, e = -Infinity;
  for (const p of points) {
    s = Math.min(s, p.lat); n = Math.max(n, p.lat);
    w = Math.min(w, p.lng); e = Math.max(e, p.lng);
  }
  const midLat = (s + n) / 2;
  const scaleX = Math.cos((midLat * Math.PI) / 180);
  let spanX = Math.max((e - w) * scaleX, 0.002), spanY = Math.max(n - s, 0.002);
  const inner = {w: map.width - 2 * map.pad, h: map.height - 2 * map.pad};
  if (spanX / spanY > inner.w / inner.h) {
    spanY = (spanX * inner.h) / inner.w;
  } else {
    spanX = (spanY * inner.w) / inner.h;
  }
  spanX *= 1.08; spanY *= 1.08;
  return {midLat, midLng: (w + e) / 2, spanX, spanY, scaleX, inner};
}

function project(box, p) {
  const x = map.pad + box.inner.w / 2 + (((p.lng - box.midLng) * box.scaleX) / box.spanX) * box.inner.w;
  const y = map.pad + box.inner.h / 2 - ((p.lat - box.midLat) / box.spanY) * box.inner.h;
  const cx = Math.min(Math.max(x, map.pad), map.width - map.pad);
  const cy = Math.min(Math.max(y, map.pad), map.height - map.pad);
  return {x: cx, y: cy, off: cx !== x || cy !== y};
}

function buildMap() {
  map.svg = document.getElementById("map");
  map.svg.replaceChildren();
  el("rect", {class: "map-bg", x: 0.5, y: 0.5, width: map.width - 1, height: map.height - 1, rx: 6}, map.svg);
  map.grid = el("g", {}, map.svg);
  map.places = el("g", {}, map.svg);
  map.clients = el("g", {}, map.svg);
  const legend = document.getElementById("map-legend");
  legend.replaceChildren(document.createTextNode("origin server:"));
  for (const server of view.servers.values()) {
    const swatch = html("span", {class: "swatch"});
    swatch.style.background = server.colour;
    legend.append(swatch, document.createTextNode(server.name));
  }
  legend.append(html("span", {class: "note"},
                     `${view.places.length} bundled places in grey; a client more than ${NEAR_KM} km away sits on the edge, hollow.`));
}

function drawMap() {
  const box = mapBox();
  const key = `${box.midLat.toFixed(6)},${box.midLng.toFixed(6)},${box.spanX.toFixed(6)},${box.spanY.toFixed(6)}`;
  if (key !== map.key) {
    map.key = key;
    map.grid.replaceChildren();
    map.places.replaceChildren();
    // A grid line every kilometre (or ten, zoomed out), labelled.
    const kmAcross = (box.spanX * Math.PI * 6371) / 180;
    const every = kmAcross > 30 ? 10 : kmAcross > 4 ? 1 : 0.25;
    const degLat = (every / 6371) * (180 / Math.PI);
    const degLng = degLat / box.scaleX;
    const west = box.midLng - box.spanX / box.scaleX / 2, east = box.midLng + box.spanX / box.scaleX / 2;
    const south = box.midLat - box.spanY / 2, north = box.midLat + box.spanY / 2;
    for (let lng = Math.ceil(west / degLng) * degLng; lng < east; lng += degLng) {
      const p = project(box, {lat: box.midLat, lng});
      el("line", {class: "grid", x1: p.x, y1: map.pad, x2: p.x, y2: map.height - map.pad}, map.grid);
    }
    for (let lat = Math.ceil(south / degLat) * degLat; lat < north; lat += degLat) {
      const p = project(box, {lat, lng: box.midLng});
      el("line", {class: "grid", x1: map.pad, y1: p.y, x2: map.width - map.pad, y2: p.y}, map.grid);
    }
    el("text", {class: "grid-label", x: map.pad, y: map.height - 9}, map.grid).textContent =
      `grid: ${every} km · centre ${box.midLat.toFixed(4)}, ${box.midLng.toFixed(4)}`;
    // Landmarks named where their label has room: the first of a
    // crowd, none over another.
    const labelled = [];
    for (const place of view.places) {
      const p = project(box, place);
      const dot = el("circle", {class: "place", cx: p.x, cy: p.y, r: 3}, map.places);
      el("title", {}, dot).textContent = place.name;
      const width = 5.5 * place.name.length;
      const free = labelled.every((q) => p.x + width < q.x - 4 || p.x > q.x + q.width + 4 || Math.abs(p.y - q.y) > 13);
      if (place.label && free && p.x + width < map.width - 4) {
        labelled.push({x: p.x, y: p.y, width});
        el("text", {class: "place-label", x: p.x + 5, y: p.y - 4}, map.places).textContent = place.name;
      }
    }
  }
  map.clients.replaceChildren();
  const now = performance.now();
  const ordered = [...view.clients.entries()].sort((a, b) => a[1].seen - b[1].seen);
  for (const [id, c] of ordered) {
    const p = project(box, c);
    const g = el("g", {class: p.off ? "client off" : "client", "data-client": id}, map.clients);
    const fresh = Math.max(0, 1 - (now - c.seen) / 60000);
    el("circle", {cx: p.x, cy: p.y, r: 5 + 3 * fresh, fill: colourOf(c.server)}, g);
    const right = p.x < map.width - 140;
    el("text", {x: right ? p.x + 10 : p.x - 10, y: p.y + 4, "text-anchor": right ? "start" : "end"}, g)
      .textContent = id;
    el("title", {}, g).textContent = `${id}: ${c.lat}, ${c.lng} (IAMAT at ${c.server})`;
  }
  document.getElementById("map-note").textContent = `${view.clients.size} clients`;
}

// ------------------------------------------------------------ the table and summary

function drawTable() {
  const body = document.querySelector("#servers tbody");
  body.replaceChildren();
  for (const server of view.servers.values()) {
    const row = html("tr", {"data-server": server.name});
    const name = html("td", {}, server.name);
    name.style.color = server.colour;
    name.style.fontWeight = "600";
    const state = server.state;
    const links = server.status ? Object.values(server.status.links) : [];
    const up = links.filter((l) => l.up).length;
    const cells = [
      name,
      html("td", {class: `state-${state}`}, state),
      html("td", {class: "n"}, server.status ? String(server.status.store_size) : "–"),
      html("td", {class: "n"}, fixed(rate(server.samples, "iamat"))),
      html("td", {class: "n"}, fixed(rate(server.samples, "stored"))),
      html("td", {class: "n"}, fixed(rate(server.samples, "received"))),
      html("td", {}, server.status ? `${up} of ${links.length}` : "–"),
      html("td", {}, !server.streamUrl ? "no HTTP port" : server.streamOpen ? "open" : "closed"),
    ];
    row.append(...cells);
    body.append(row);
  }
}

function drawSummary() {
  let up = 0, linksUp = 0, links = 0;
  for (const server of view.servers.values()) {
    up += server.state === "up" ? 1 : 0;
    if (server.status) {
      for (const l of Object.values(server.status.links)) {
        links += 1;
        linksUp += l.up ? 1 : 0;
      }
    }
  }
  const total = view.servers.size;
  const summary = document.getElementById("summary");
  const since = view.lastRecord ? `${((Date.now() - view.lastRecord) / 1000).toFixed(1)} s ago` : "none yet";
  summary.replaceChildren();
  const part = (text, bad) => {
    const b = html("b", bad ? {class: "bad"} : {}, text);
    return b;
  };
  summary.append(document.createTextNode("seen from "), part(view.herd.server), document.createTextNode(" · "),
                 part(`${up} of ${total}`, up < total), document.createTextNode(" servers up · "),
                 part(`${linksUp} of ${links}`, linksUp < links), document.createTextNode(" links up · last record "),
                 part(since));
}

let drawQueued = false;
function draw() {
  if (drawQueued) {
    return;
  }
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    drawGraph();
    drawTable();
    drawSummary();
  });
}

// ------------------------------------------------------------ start

async function start() {
  view.herd = await (await fetch("/herd", {cache: "no-store"})).json();
  view.herd.servers.forEach((config, i) => view.servers.set(config.name, new Server(config, i)));
  try {
    const geojson = await (await fetch("/places.json")).json();
    view.places = geojson.features
      .filter((f) => f.geometry && f.geometry.type === "Point")
      .map((f) => ({lng: f.geometry.coordinates[0], lat: f.geometry.coordinates[1],
                    name: (f.properties && f.properties.name) || "",
                    label: f.properties && ["university", "library", "stadium", "park", "museum", "hospital"]
                      .includes(f.properties.category)}));
  } catch (e) {
    view.places = [];
  }
  // The clients this server already holds, most recent first, so that the
  // map is not empty until the next IAMAT.
  try {
    const held = await (await fetch("/clients?limit=2000", {cache: "no-store"})).json();
    const recent = Object.entries(held).sort((a, b) => b[1].time_ns - a[1].time_ns).slice(0, MAP_CLIENTS);
    for (const [id, c] of recent.reverse()) {
      view.clients.set(id, {lat: c.lat, lng: c.lng, server: c.server, time: String(c.time_ns / 1e9), seen: 0});
    }
  } catch (e) {
    // an empty map, until the streams bring clients
  }
  buildGraph();
  buildMap();
  drawMap();
  const pollAll = () => {
    for (const server of view.servers.values()) {
      server.poll();
    }
  };
  pollAll();
  setInterval(pollAll, POLL_MS);
  setInterval(draw, 1000); // the "last record" clock and the rates age
  setInterval(drawMap, 5000); // fresh clients shrink back
  draw();
}

start().catch((e) => {
  document.getElementById("summary").textContent = `cannot read this server's /herd: ${e}`;
});
