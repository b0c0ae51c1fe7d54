#!/usr/bin/env node
// The herd server in Node.js: Herd's second reference, beside the asyncio
// one. Same contract, same herd.toml, same pieces under the same names in
// camelCase (parseCommand, LocationStore, startServer, handleConnection,
// handleIamat, handleWhatsat, storeAndPropagate, PeerLink, handlePeer,
// nearbySearch). Node 20, nothing beyond what Node ships.
//
//     node server.js --name Goloman [--config herd.toml] [--log-dir DIR]
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const https = require('node:https');
const net = require('node:net');
const path = require('node:path');
const tls = require('node:tls');

const VERSION = '0.1.0';
const MAX_CLIENT_ID = 255;
const MAX_BOUND = 20;
const NS_PER_S = 1000000000n;
const INT64_MAX = 2n ** 63n - 1n;
const RECONNECT_INTERVAL_MS = 1000;
const HANDSHAKE_TIME_LIMIT_MS = 2000;
const HELLO_TIME_LIMIT_MS = 5000;
const MAX_PEER_LINE = 1024;
const QUEUE_CAPACITY = 4096;
const EARTH_RADIUS_M = 6371008.8;
const LEGACY_URL = 'https://maps.googleapis.com/maps/api/place/nearbysearch/json';
const BUNDLED_PLACES = path.resolve(__dirname, '..', '..', 'data', 'westwood.geojson');

// ---------------------------------------------------------------------------
// The protocol: pure functions on Buffers, no I/O.

const isSpace = (b) => b === 0x20 || (b >= 0x09 && b <= 0x0d); // space \t \n \v \f \r

function splitFields(line) {
  const fields = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && isSpace(line[i])) i++;
    const start = i;
    while (i < line.length && !isSpace(line[i])) i++;
    if (i > start) fields.push(line.subarray(start, i));
  }
  return fields;
}

const DECIMAL = /^(\d+)(?:\.(\d+))?$/;
const LOCATION = /^([+-])(\d{1,2}(?:\.\d+)?)([+-])(\d{1,3}(?:\.\d+)?)$/;
const SKEW = /^[+-]\d+\.\d{9}$/;

// Exact "value <= limit" on the decimal text, for a small integer limit.
function atMost(text, limit) {
  const [integer, fraction = ''] = text.split('.');
  const value = Number(integer);
  return value < limit || (value === limit && /^0*$/.test(fraction));
}

// Field text as Latin-1 keeps every byte as one character, so the regular
// expressions see bytes, and only ASCII digits match \d.
const text = (field) => field.toString('latin1');

function parseLocation(field) {
  const m = LOCATION.exec(text(field));
  if (!m || !atMost(m[2], 90) || !atMost(m[4], 180)) return null;
  return [Number(m[1] + m[2]), Number(m[3] + m[4])];
}

function parseTimeNs(field) {
  const m = DECIMAL.exec(text(field));
  if (!m) return null;
  const ns = BigInt(m[1]) * NS_PER_S + BigInt(((m[2] || '') + '000000000').slice(0, 9));
  return ns <= INT64_MAX ? ns : null;
}

function parseRadius(field) {
  const m = DECIMAL.exec(text(field));
  if (!m || !atMost(text(field), 50) || /^[0.]*$/.test(text(field))) return null;
  // Kilometres to metres is a shift of the decimal point, done on the text.
  const fraction = m[2] || '';
  let whole = (m[1] + (fraction + '000').slice(0, 3)).replace(/^0+(?=\d)/, '');
  const rest = fraction.slice(3).replace(/0+$/, '');
  return { km: Number(text(field)), metres: rest ? `${whole}.${rest}` : whole };
}

function parseBound(field) {
  const t = text(field);
  if (!/^\d+$/.test(t)) return null;
  const bound = Number(t);
  return bound >= 1 && bound <= MAX_BOUND ? bound : null;
}

function parseCommand(line) {
  const f = splitFields(line);
  if (f.length === 0) return { kind: 'blank' };
  if (f.length !== 4 || f[1].length > MAX_CLIENT_ID) return { kind: 'invalid' };
  const word = text(f[0]);
  if (word === 'IAMAT') {
    const where = parseLocation(f[2]);
    const timeNs = parseTimeNs(f[3]);
    if (!where || timeNs === null) return { kind: 'invalid' };
    return { kind: 'iamat', client: f[1], location: f[2], time: f[3], where, timeNs };
  }
  if (word === 'WHATSAT') {
    const radius = parseRadius(f[2]);
    const bound = parseBound(f[3]);
    if (!radius || !bound) return { kind: 'invalid' };
    return { kind: 'whatsat', client: f[1], radius, bound };
  }
  return { kind: 'invalid' };
}

function parseAtLine(line) {
  const f = splitFields(line);
  if (f.length !== 6 || text(f[0]) !== 'AT' || !SKEW.test(text(f[2])) || f[3].length > MAX_CLIENT_ID) return null;
  const where = parseLocation(f[4]);
  const timeNs = parseTimeNs(f[5]);
  if (!where || timeNs === null) return null;
  return { server: f[1], client: f[3], where, timeNs };
}

function formatSkew(skewNs) {
  const sign = skewNs < 0n ? '-' : '+';
  const magnitude = skewNs < 0n ? -skewNs : skewNs;
  return `${sign}${magnitude / NS_PER_S}.${(magnitude % NS_PER_S).toString().padStart(9, '0')}`;
}

function formatAt(server, skewNs, cmd) {
  return Buffer.concat([Buffer.from(`AT ${server} ${formatSkew(skewNs)} `), cmd.client, Buffer.from(' '), cmd.location, Buffer.from(' '), cmd.time]);
}

function invalidReply(line) {
  const body = line.length && line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line;
  return Buffer.concat([Buffer.from('? '), body, Buffer.from('\n')]);
}

// Google's style: three spaces and "key" : value. JSON.stringify gives
// "key": value, so the colon is re-spaced outside strings.
function formatPlaces(answer) {
  const compact = JSON.stringify(answer, null, 3);
  return compact.replace(/("(?:[^"\\]|\\.)*")(: )?/g, (m, str, colon) => (colon ? `${str} : ` : str)).replace(/\n{2,}/g, '\n');
}

const placesError = (status, message) => ({ error_message: message, html_attributions: [], results: [], status });

// ---------------------------------------------------------------------------
// The location store: one record per client, newest wins.

class LocationStore {
  constructor() {
    this.records = new Map(); // client (latin1 string) -> record
  }

  // True if the record changed the store (and so travels on). Equal times
  // break on origin server, then the whole line: the same on every server.
  update(client, record) {
    const key = client.toString('latin1');
    const held = this.records.get(key);
    if (held) {
      if (held.atLine.equals(record.atLine)) return false;
      const order =
        record.timeNs !== held.timeNs ? (record.timeNs > held.timeNs ? 1 : -1) : Buffer.compare(record.server, held.server) || Buffer.compare(record.atLine, held.atLine);
      if (order <= 0) return false;
    }
    this.records.set(key, record);
    return true;
  }

  find(client) {
    return this.records.get(client.toString('latin1'));
  }
}

// ---------------------------------------------------------------------------
// herd.toml: the subset of TOML the topology uses (tables, dotted and quoted
// table names, strings, numbers, booleans, arrays, comments). Anything else
// is refused, so a file is never half read.

function parseToml(source, file) {
  const root = {};
  let table = root;
  let i = 0;
  const fail = (what) => {
    const line = source.slice(0, i).split('\n').length;
    throw new ConfigError(`${file}: ${what} at line ${line}`);
  };
  const skipSpace = (newlines) => {
    for (;;) {
      while (i < source.length && (source[i] === ' ' || source[i] === '\t' || (newlines && (source[i] === '\n' || source[i] === '\r')))) i++;
      if (source[i] === '#') while (i < source.length && source[i] !== '\n') i++;
      else return;
    }
  };
  const key = () => {
    if (source[i] === '"') return string();
    const m = /^[A-Za-z0-9_-]+/.exec(source.slice(i));
    if (!m) fail('expected a key');
    i += m[0].length;
    return m[0];
  };
  const string = () => {
    const quote = source[i++];
    let out = '';
    while (source[i] !== quote) {
      if (i >= source.length || source[i] === '\n') fail('unterminated string');
      if (quote === '"' && source[i] === '\\') {
        const esc = source[++i];
        const simple = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f' }[esc];
        if (simple !== undefined) (out += simple), i++;
        else if (esc === 'u') (out += String.fromCharCode(parseInt(source.slice(i + 1, i + 5), 16))), (i += 5);
        else fail('bad escape');
      } else out += source[i++];
    }
    i++;
    return out;
  };
  const value = () => {
    const c = source[i];
    if (c === '"' || c === "'") return string();
    if (c === '[') {
      i++;
      const items = [];
      for (;;) {
        skipSpace(true);
        if (source[i] === ']') return i++, items;
        items.push(value());
        skipSpace(true);
        if (source[i] === ',') i++;
        else if (source[i] !== ']') fail('expected , or ]');
      }
    }
    const m = /^(true|false|[+-]?\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(source.slice(i));
    if (!m) fail('unsupported value');
    i += m[0].length;
    return m[0] === 'true' ? true : m[0] === 'false' ? false : Number(m[0].replace(/_/g, ''));
  };
  for (;;) {
    skipSpace(true);
    if (i >= source.length) return root;
    if (source[i] === '[') {
      i++;
      table = root;
      for (;;) {
        skipSpace(false);
        const k = key();
        if (typeof table[k] !== 'object') table[k] = {};
        table = table[k];
        skipSpace(false);
        if (source[i] === '.') i++;
        else if (source[i] === ']') break;
        else fail('bad table name');
      }
      i++;
    } else {
      const k = key();
      skipSpace(false);
      if (source[i++] !== '=') fail('expected =');
      skipSpace(false);
      table[k] = value();
    }
    skipSpace(false);
    if (i < source.length && source[i] !== '\n' && source[i] !== '\r') fail('expected end of line');
  }
}

class ConfigError extends Error {}

function loadTopology(file) {
  let source;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`${file}: cannot be read`);
  }
  const doc = parseToml(source, file);
  const base = path.dirname(path.resolve(file));
  const herd = doc.herd || {};
  const places = { ...(doc.places || {}) };
  for (const k of ['file', 'ca_file']) if (places[k]) places[k] = path.resolve(base, places[k]);
  let secret = herd.secret;
  if (herd.secret_env) {
    secret = process.env[herd.secret_env];
    if (!secret) throw new ConfigError(`${file}: herd.secret_env names ${herd.secret_env}, which is not set`);
  }
  const servers = new Map();
  for (const name of Object.keys(doc.servers || {}).sort()) {
    const t = doc.servers[name];
    if (!Number.isInteger(t.port)) throw new ConfigError(`${file}: servers.${name}.port is missing`);
    servers.set(name, { name, host: t.host || '127.0.0.1', port: t.port, peerPort: t.peer_port || t.port + 10000, neighbors: [...(t.neighbors || [])] });
  }
  if (servers.size === 0) throw new ConfigError(`${file}: no servers`);
  for (const s of servers.values()) {
    for (const n of s.neighbors) {
      if (n === s.name) throw new ConfigError(`${file}: servers.${s.name} lists itself as a neighbor`);
      if (!servers.has(n)) throw new ConfigError(`${file}: servers.${s.name}.neighbors names unknown server "${n}" (known: ${[...servers.keys()].join(', ')})`);
    }
  }
  for (const s of servers.values()) for (const n of s.neighbors) if (!servers.get(n).neighbors.includes(s.name)) servers.get(n).neighbors.push(s.name);
  const taken = new Map();
  for (const s of servers.values()) {
    for (const [what, port] of [['port', s.port], ['peer_port', s.peerPort]]) {
      const k = `${s.host}:${port}`;
      if (taken.has(k)) throw new ConfigError(`${file}: servers.${s.name}.${what} and ${taken.get(k)} both use ${k}`);
      taken.set(k, `servers.${s.name}.${what}`);
    }
  }
  return { servers, secret: secret ? Buffer.from(secret) : null, logDir: herd.log_dir ? path.resolve(base, herd.log_dir) : null, places };
}

// ---------------------------------------------------------------------------
// Places: the offline GeoJSON points, or Google's legacy Nearby Search.

function haversineM([lat1, lng1], [lat2, lng2]) {
  const r = Math.PI / 180;
  const h = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lng2 - lng1) * r) / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.sqrt(h));
}

class LocalPlaces {
  constructor(file) {
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    this.origin = file;
    this.attributions = doc.attribution ? [doc.attribution] : [];
    this.places = [];
    for (const f of doc.features) {
      const p = f.properties || {};
      if (!f.geometry || f.geometry.type !== 'Point' || !p.name) continue;
      const [lng, lat] = f.geometry.coordinates;
      let street = p['addr:street'] || '';
      if (p['addr:housenumber'] && street) street = `${p['addr:housenumber']} ${street}`;
      const vicinity = p.vicinity || [street, p['addr:city'] || ''].filter(Boolean).join(', ');
      const category = ['category', 'amenity', 'shop', 'tourism', 'leisure', 'building'].map((k) => p[k]).find(Boolean) || 'point_of_interest';
      this.places.push({
        geometry: { location: { lat, lng } },
        name: p.name,
        place_id: p.place_id || p['@id'] || String(f.id ?? this.places.length),
        types: [category, 'point_of_interest', 'establishment'],
        vicinity,
      });
    }
  }

  async nearbySearch(where, radius, bound) {
    const results = this.places
      .map((p) => [haversineM(where, [p.geometry.location.lat, p.geometry.location.lng]), p])
      .filter(([d]) => d <= radius.km * 1000)
      .sort((a, b) => a[0] - b[0])
      .slice(0, bound)
      .map(([, p]) => p);
    return { html_attributions: this.attributions, results, status: results.length ? 'OK' : 'ZERO_RESULTS' };
  }

  describe() {
    return `local (${this.places.length} places from ${this.origin})`;
  }
}

class GooglePlaces {
  constructor(url, key, keyOrigin, caFile, timeoutMs, log) {
    Object.assign(this, { url: new URL(url), key, keyOrigin, timeoutMs, log });
    // Node's own root store, plus the extra CA; servername and host checks are Node's defaults.
    this.ca = caFile ? [...tls.rootCertificates, fs.readFileSync(caFile)] : undefined;
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
  }

  nearbySearch(where, radius, bound) {
    const target = new URL(this.url);
    target.searchParams.set('location', `${where[0]},${where[1]}`);
    target.searchParams.set('radius', radius.metres);
    target.searchParams.set('key', this.key);
    const shown = `GET ${target.toString().replace(/key=[^&]*/, 'key=REDACTED')}`;
    const started = performance.now();
    return new Promise((resolve) => {
      const request = https.get(target, { agent: this.agent, ca: this.ca, timeout: this.timeoutMs }, (response) => {
        const chunks = [];
        response.on('data', (c) => chunks.push(c));
        response.on('end', () => {
          this.log.info(`google ${shown}: HTTP ${response.statusCode} in ${(performance.now() - started).toFixed(1)} ms`);
          if (response.statusCode !== 200) return resolve(placesError('UNKNOWN_ERROR', `Google answered HTTP ${response.statusCode}`));
          let answer;
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {}
          if (!answer || typeof answer !== 'object' || Array.isArray(answer) || !('status' in answer)) {
            return resolve(placesError('UNKNOWN_ERROR', "Google's answer was not a Places JSON object"));
          }
          resolve({ html_attributions: [], results: [], ...answer });
        });
        response.on('error', (e) => fail(e));
      });
      const fail = (e) => {
        this.log.warn(`google ${shown} failed after ${(performance.now() - started).toFixed(1)} ms: ${e.message}`);
        resolve(placesError('UNKNOWN_ERROR', `no answer from Google: ${e.message}`));
      };
      request.on('timeout', () => request.destroy(new Error('timed out')));
      request.on('error', fail);
    });
  }

  describe() {
    return `google (Nearby Search, legacy) at ${this.url}, key from ${this.keyOrigin}`;
  }

  close() {
    this.agent.destroy();
  }
}

function makePlacesSource(config, log) {
  let provider = config.provider || 'auto';
  const keyEnv = config.key_env || 'GOOGLE_PLACES_API_KEY';
  const key = process.env[keyEnv] || '';
  if (provider === 'auto') {
    provider = key ? 'google' : 'local'; // the reference speaks only the legacy API
    log.info(`places provider auto: $${keyEnv} is ${key ? 'set' : 'not set'}`);
  }
  if (provider === 'local') return new LocalPlaces(config.file || BUNDLED_PLACES);
  if (provider === 'google-new') throw new ConfigError('places.provider google-new: the Node reference speaks only the legacy API (use google)');
  if (!key) throw new ConfigError(`places.provider is ${provider} but $${keyEnv} is not set`);
  return new GooglePlaces(config.endpoint || LEGACY_URL, key, `$${keyEnv}`, config.ca_file, (config.timeout || 5) * 1000, log);
}

// ---------------------------------------------------------------------------
// The peer handshake (the same messages and proofs as the C++ herd).

function makeProof(secret, role, acceptor, dialer, nonceA, nonceD) {
  if (!secret) return '-';
  return crypto.createHmac('sha256', secret).update([role, acceptor, dialer, nonceA, nonceD].join('\0')).digest('hex');
}

const proofsEqual = (a, b) => a.length === b.length && crypto.timingSafeEqual(Buffer.from(a), Buffer.from(b));

// Lines from a socket, one at a time, as a promise each.
class LineReader {
  constructor(socket) {
    this.buffer = Buffer.alloc(0);
    this.waiting = null;
    this.ended = false;
    socket.on('data', (d) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
  }
  wake() {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w();
    }
  }
  async line(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buffer.indexOf(0x0a);
      if (nl >= 0) {
        const line = this.buffer.subarray(0, nl);
        this.buffer = this.buffer.subarray(nl + 1);
        return line;
      }
      if (this.ended || Date.now() >= deadline) return null;
      await new Promise((resolve) => {
        this.waiting = resolve;
        if (Number.isFinite(deadline)) setTimeout(resolve, deadline - Date.now());
      });
    }
  }
}

// ---------------------------------------------------------------------------
// The server.

class Server {
  constructor(herd, name, places, log) {
    Object.assign(this, { herd, me: herd.servers.get(name), places, log, name });
    this.store = new LocationStore();
    this.links = new Map(this.me.neighbors.map((n) => [n, new PeerLink(this, herd.servers.get(n))]));
    this.placesTimeoutMs = (herd.places.timeout || 5) * 1000;
    this.listeners = [];
    this.sockets = new Set();
    // Wall-clock nanoseconds: the epoch once, then the monotonic clock.
    this.epochNs = BigInt(Date.now()) * 1000000n - process.hrtime.bigint();
  }

  nowNs() {
    return this.epochNs + process.hrtime.bigint();
  }

  async start() {
    // Without a shared secret nothing proves a peer is a member, so the
    // peer port stays off the network.
    const peerHost = this.herd.secret ? this.me.host : '127.0.0.1';
    await this.startServer((s) => this.handleConnection(s), this.me.host, this.me.port);
    await this.startServer((s) => this.handlePeer(s), peerHost, this.me.peerPort);
    this.log.info(
      `${this.name} starting: clients on ${this.me.host}:${this.me.port}, peers on ${peerHost}:${this.me.peerPort}, neighbours ${this.me.neighbors.join(', ') || 'none'}, places ${this.places.describe()}`,
    );
    if (!this.herd.secret) this.log.warn('no shared secret configured: peers are not authenticated, peer port on loopback only');
    for (const link of this.links.values()) link.start();
  }

  startServer(handler, host, port) {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        handler(socket);
      });
      server.once('error', reject);
      server.listen(port, host, () => resolve(this.listeners.push(server)));
    });
  }

  stop() {
    this.log.info(`${this.name} stopping`);
    for (const l of this.listeners) l.close();
    for (const s of this.sockets) s.destroy();
    for (const link of this.links.values()) link.stop();
    if (this.places.close) this.places.close();
  }

  // -- clients

  handleConnection(socket) {
    const client = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log.info(`client ${client} connected`);
    let buffer = Buffer.alloc(0);
    let work = Promise.resolve(); // replies go out in order, one read at a time
    const answer = (chunk, end) => {
      const nowNs = this.nowNs(); // the skew is taken when the bytes arrive
      buffer = chunk ? Buffer.concat([buffer, chunk]) : buffer;
      const lines = [];
      let nl;
      while ((nl = buffer.indexOf(0x0a)) >= 0) {
        lines.push(buffer.subarray(0, nl));
        buffer = buffer.subarray(nl + 1);
      }
      if (end && buffer.length) lines.push(buffer), (buffer = Buffer.alloc(0));
      work = work.then(async () => {
        const replies = [];
        for (const line of lines) {
          this.log.info(`client ${client} < ${escapeForLog(line)}`);
          const reply = await this.handleLine(line, nowNs);
          if (reply.length) this.log.info(`client ${client} > ${escapeForLog(reply)}`), replies.push(reply);
        }
        if (replies.length && !socket.destroyed) socket.write(Buffer.concat(replies)); // one write per read
        if (end) {
          this.log.info(`client ${client} done`);
          socket.end();
        }
      });
    };
    socket.on('data', (chunk) => answer(chunk, false));
    socket.on('end', () => answer(null, true));
    socket.on('error', (e) => this.log.info(`client ${client} gone: ${e.message}`));
  }

  async handleLine(line, nowNs) {
    const cmd = parseCommand(line);
    if (cmd.kind === 'iamat') return Buffer.concat([this.handleIamat(cmd, nowNs), Buffer.from('\n')]);
    if (cmd.kind === 'whatsat') return this.handleWhatsat(cmd, line);
    return cmd.kind === 'blank' ? Buffer.alloc(0) : invalidReply(line);
  }

  handleIamat(cmd, nowNs) {
    const atLine = formatAt(this.name, nowNs - cmd.timeNs, cmd);
    this.storeAndPropagate(cmd.client, { atLine, timeNs: cmd.timeNs, server: Buffer.from(this.name), where: cmd.where }, null);
    return atLine;
  }

  async handleWhatsat(cmd, line) {
    const record = this.store.find(cmd.client);
    if (!record) return invalidReply(line);
    const atLine = record.atLine; // the record may be replaced while we wait
    const started = performance.now();
    let timer;
    const late = new Promise((resolve) => {
      timer = setTimeout(() => resolve(placesError('UNKNOWN_ERROR', 'the places source did not answer in time')), this.placesTimeoutMs);
    });
    let answer;
    try {
      answer = await Promise.race([this.places.nearbySearch(record.where, cmd.radius, cmd.bound), late]);
    } catch (e) {
      answer = placesError('UNKNOWN_ERROR', `the places source failed: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
    const [lat, lng] = record.where;
    this.log.info(
      `places ${lat.toFixed(6)},${lng.toFixed(6)} radius ${cmd.radius.metres} m bound ${cmd.bound}: ${answer.status} with ${(answer.results || []).length} results in ${(performance.now() - started).toFixed(3)} ms`,
    );
    answer.results = (answer.results || []).slice(0, cmd.bound);
    return Buffer.concat([atLine, Buffer.from('\n' + formatPlaces(answer) + '\n\n')]);
  }

  // -- flooding

  // The prototype's propagate(): a record that changed the store goes to
  // every neighbour but the one it came from.
  storeAndPropagate(client, record, cameFrom) {
    if (!this.store.update(client, record)) return false;
    for (const [name, link] of this.links) if (name !== cameFrom) link.post(record.atLine);
    return true;
  }

  async handlePeer(socket) {
    const where = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', () => {});
    const reader = new LineReader(socket);
    const neighbour = await this.acceptHandshake(socket, reader, where);
    if (!neighbour) return socket.end();
    this.log.info(`peer link from ${neighbour} (${where}) open`);
    let line;
    while ((line = await reader.line(Infinity)) !== null) {
      if (line.length > MAX_PEER_LINE) break;
      const record = parseAtLine(line);
      if (!record || !this.herd.servers.has(text(record.server))) {
        this.log.warn(`peer ${neighbour} sent something that is not a record: ${escapeForLog(line)}`);
        continue;
      }
      const stored = this.storeAndPropagate(record.client, { atLine: Buffer.from(line), timeNs: record.timeNs, server: record.server, where: record.where }, neighbour);
      this.log.info(`peer ${neighbour} > ${escapeForLog(line)} (${stored ? 'stored' : 'not newer'})`);
    }
    this.log.info(`peer link from ${neighbour} closed`);
    socket.destroy();
  }

  async acceptHandshake(socket, reader, where) {
    const nonceA = crypto.randomBytes(16).toString('hex');
    socket.write(`HERD herd/1 CHALLENGE ${this.name} ${nonceA}\n`);
    const hello = await reader.line(HELLO_TIME_LIMIT_MS);
    const f = hello ? splitFields(hello).map(text) : [];
    let reason = null;
    if (f.length !== 6 || f[0] !== 'HERD' || f[1] !== 'herd/1' || f[2] !== 'HELLO') reason = 'malformed hello';
    else if (!this.me.neighbors.includes(f[3])) reason = `${f[3]} is not a neighbour of ${this.name}`;
    else if (!proofsEqual(makeProof(this.herd.secret, 'dialer', this.name, f[3], nonceA, f[4]), f[5])) reason = `proof of membership from ${f[3]} does not match`;
    if (reason) {
      this.log.warn(`peer link from ${where} refused: ${reason}`);
      socket.write(`HERD herd/1 REFUSED ${reason}\n`);
      return null;
    }
    socket.write(`HERD herd/1 WELCOME ${makeProof(this.herd.secret, 'acceptor', this.name, f[3], nonceA, f[4])}\n`);
    return f[3];
  }
}

// The link to one neighbour: a queue and a loop that dials, proves
// membership, sends what is queued, and dials again.
class PeerLink {
  constructor(server, neighbour) {
    Object.assign(this, { server, neighbour });
    this.queue = [];
    this.wakeup = null;
    this.socket = null;
    this.stopped = false;
    this.lastFailure = '';
  }

  start() {
    this.run().catch((e) => this.server.log.error(`link to ${this.neighbour.name} failed: ${e.stack}`));
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.destroy();
    if (this.wakeup) this.wakeup();
  }

  post(atLine) {
    if (this.queue.length >= QUEUE_CAPACITY) return this.server.log.warn(`peer link to ${this.neighbour.name}: queue full, dropped ${atLine}`);
    this.queue.push(atLine);
    if (this.socket) this.flush();
    else if (this.wakeup) this.wakeup(); // down: dial at once
  }

  flush() {
    if (!this.queue.length) return;
    this.socket.write(Buffer.concat(this.queue.flatMap((l) => [l, Buffer.from('\n')]))); // a burst in one write
    this.queue = [];
  }

  noteDown(why) {
    if (why !== this.lastFailure) {
      this.server.log.warn(`peer link to ${this.neighbour.name} (${this.neighbour.host}:${this.neighbour.peerPort}) down: ${why}`);
      this.lastFailure = why;
    }
  }

  async run() {
    while (!this.stopped) {
      const socket = await this.connect();
      if (socket) {
        this.lastFailure = '';
        this.server.log.info(`peer link to ${this.neighbour.name} open`);
        this.socket = socket;
        this.flush();
        await new Promise((resolve) => socket.on('close', resolve)); // the acceptor sends nothing: close means gone
        this.socket = null;
        if (this.stopped) return;
        this.server.log.info(`peer link to ${this.neighbour.name} closed`);
        this.lastFailure = 'closed';
      } else if (this.queue.length) {
        this.server.log.warn(`peer link to ${this.neighbour.name} down: dropped ${this.queue.length} records`);
        this.queue = [];
      }
      // Down: dial again when there is a record, or within the interval.
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, RECONNECT_INTERVAL_MS);
        this.wakeup = () => (clearTimeout(timer), resolve());
      });
      this.wakeup = null;
    }
  }

  connect() {
    const n = this.neighbour;
    const me = this.server;
    return new Promise((resolve) => {
      const socket = net.connect({ host: n.host, port: n.peerPort, noDelay: true });
      const fail = (why) => {
        this.noteDown(why);
        socket.destroy();
        resolve(null);
      };
      socket.setTimeout(HANDSHAKE_TIME_LIMIT_MS, () => fail('handshake timed out'));
      socket.once('error', (e) => fail(e.message));
      socket.once('connect', async () => {
        const reader = new LineReader(socket);
        const challenge = splitFields((await reader.line(HANDSHAKE_TIME_LIMIT_MS)) || Buffer.alloc(0)).map(text);
        if (challenge.length !== 5 || challenge[2] !== 'CHALLENGE' || challenge[3] !== n.name) return fail('no valid challenge from the peer port');
        const nonceD = crypto.randomBytes(16).toString('hex');
        socket.write(`HERD herd/1 HELLO ${me.name} ${nonceD} ${makeProof(me.herd.secret, 'dialer', n.name, me.name, challenge[4], nonceD)}\n`);
        const welcome = splitFields((await reader.line(HANDSHAKE_TIME_LIMIT_MS)) || Buffer.alloc(0)).map(text);
        // Herd's WELCOME may add its store's size and digest, for a catch-up this reference does not do.
        if (![4, 6].includes(welcome.length) || welcome[2] !== 'WELCOME') return fail(`refused: ${welcome.join(' ')}`);
        if (!proofsEqual(makeProof(me.herd.secret, 'acceptor', n.name, me.name, challenge[4], nonceD), welcome[3])) {
          return fail('its proof of membership does not match');
        }
        socket.setTimeout(0);
        socket.removeAllListeners('error');
        socket.on('error', () => {});
        resolve(socket);
      });
    });
  }
}

// ---------------------------------------------------------------------------
// Logs and main.

function escapeForLog(bytes) {
  let out = '';
  for (const b of bytes) {
    const named = { 0x5c: '\\\\', 0x0d: '\\r', 0x0a: '\\n', 0x09: '\\t', 0x0b: '\\v', 0x0c: '\\f' }[b];
    out += named || (b < 0x20 || b >= 0x7f ? `\\x${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b));
  }
  return out;
}

function makeServerLog(name, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const stream = fs.createWriteStream(path.join(dir, `${name}.log`), { flags: 'a' });
  const write = (level) => (message) => stream.write(`${new Date().toISOString().replace(/Z$/, '000Z')} ${level.padEnd(5)} ${message}\n`);
  return { info: write('info'), warn: write('warning'), error: write('error'), close: () => new Promise((r) => stream.end(r)) };
}

function parseArgs(argv) {
  const args = { config: 'herd.toml' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--version') return { version: true };
    if (a === '--help' || a === '-h') return { help: true };
    const m = /^--(name|config|log-dir)(?:=(.*))?$/.exec(a) || (a === '-n' && [a, 'name']) || (a === '-c' && [a, 'config']);
    if (!m) throw new ConfigError(`unknown option ${a}`);
    args[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
  }
  return args;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`server.js: ${e.message}`);
    return 2;
  }
  if (args.version) return console.log(`server.js ${VERSION}`), 0;
  if (args.help || !args.name) {
    (args.help ? console.log : console.error)('usage: node server.js --name NAME [--config FILE] [--log-dir DIR]');
    return args.help ? 0 : 2;
  }
  let herd;
  try {
    herd = loadTopology(args.config);
  } catch (e) {
    console.error(`server.js: ${e.message}`);
    return 2;
  }
  if (!herd.servers.has(args.name)) {
    console.error(`server.js: no server named "${args.name}" in ${args.config} (known: ${[...herd.servers.keys()].join(', ')})`);
    return 2;
  }
  const logDir = args['log-dir'] || herd.logDir || 'logs';
  const log = makeServerLog(args.name, logDir);
  let places;
  try {
    places = makePlacesSource(herd.places, log);
  } catch (e) {
    console.error(`server.js: ${e.message}`);
    return 2;
  }
  const server = new Server(herd, args.name, places, log);
  try {
    await server.start();
  } catch (e) {
    console.error(`server.js: ${args.name}: cannot listen: ${e.message}`);
    return 1;
  }
  const me = herd.servers.get(args.name);
  console.log(`${args.name}: clients on ${me.host}:${me.port}, peers on port ${me.peerPort}, log ${path.join(logDir, args.name + '.log')}`);
  await new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.stop();
  log.info(`${args.name} stopped`);
  await log.close();
  return 0;
}

main().then((code) => process.exit(code));
