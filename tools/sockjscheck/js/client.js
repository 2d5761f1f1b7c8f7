// Runs SockJS sessions with the real sockjs-client 1.6.1 in Node and prints
// one JSON line with the outcome.
//
// usage: node client.js '<json config>'
//   {url, transport, sessions, concurrency, messages, maxSockets,
//    sessionTimeoutMs, traceFile, intervalMs, alternate}
//
// traceFile gets one line per HTTP request the client made:
// "<start ms> <end ms|-> <session> <socket id> <local port> <method> <path> <status|error> <remote port>",
// to set beside the backends' request logs (their client port is our local port).
// Times are ms since the output's t0 (ms since the epoch).
//
// intervalMs, if set, paces a session: it sends its next message that long
// after the echo of the last. alternate, if set, is a list of "host:port":
// each new pooled connection goes to the next of them in turn (a client in
// front of several balancers), whatever the URL's host. hosts, if set, is a
// list of names that resolve to 127.0.0.1 (every connection, WebSockets
// included, looks names up through dns.lookup), so that the URL's host,
// and so the Host header, can name a service behind one balancer.
//
// sockjs-client's Node XHR driver (lib/transport/driver/xhr.js) and the
// eventsource package both call http.request without an agent, so they use
// http.globalAgent. Replacing it with a keep-alive agent with few sockets
// makes concurrent sessions share connections the way browser tabs share a
// per-host pool. The websocket transport (faye-websocket) dials its own
// connection and shares nothing.
'use strict';
const http = require('http');
const fs = require('fs');
const crypto = require('crypto');

const cfg = JSON.parse(process.argv[2]);
if (cfg.hosts && cfg.hosts.length > 0) {
  const dns = require('dns');
  const lookup = dns.lookup;
  dns.lookup = (host, opts, cb) => {
    if (typeof opts === 'function') { cb = opts; opts = {}; }
    if (!cfg.hosts.includes(host)) return lookup(host, opts, cb);
    if (opts && opts.all) return process.nextTick(cb, null, [{ address: '127.0.0.1', family: 4 }]);
    return process.nextTick(cb, null, '127.0.0.1', 4);
  };
}
http.globalAgent = new http.Agent({ keepAlive: true, maxSockets: cfg.maxSockets });
if (cfg.alternate && cfg.alternate.length > 0) {
  let nextTarget = 0;
  const createConnection = http.globalAgent.createConnection.bind(http.globalAgent);
  http.globalAgent.createConnection = (opts, cb) => {
    const [host, port] = cfg.alternate[nextTarget++ % cfg.alternate.length].split(':');
    return createConnection({ ...opts, host, port: Number(port) }, cb);
  };
}
const SockJS = require('sockjs-client');

// Trace which sessions each pooled socket carried, to prove sharing.
const sockIds = new WeakMap();
const sockSessions = new Map(); // socket id -> Set of session ids ('-' if none)
let requests = 0;
let reused = 0;
const trace = [];
const t0 = Date.now();
const origRequest = http.request;
http.request = function tracedRequest(...args) {
  const req = origRequest.apply(this, args);
  const m = /\/sockjs\/[^/]+\/([^/]+)\//.exec(req.path || '');
  const session = m ? m[1] : '-';
  const t = { start: Date.now() - t0, end: '-', session, sock: '-', port: '-', remote: '-', method: req.method, path: req.path, status: 'pending' };
  trace.push(t);
  requests++;
  req.on('socket', (s) => {
    let id = sockIds.get(s);
    if (id === undefined) {
      id = sockSessions.size + 1;
      sockIds.set(s, id);
      sockSessions.set(id, new Set());
    } else {
      reused++;
    }
    sockSessions.get(id).add(session);
    t.sock = id;
    const port = () => { t.port = s.localPort; t.remote = s.remotePort; };
    if (s.connecting || !s.remotePort) s.once('connect', port); else port();
  });
  req.on('response', (res) => {
    t.status = res.statusCode + '-headers';
    res.on('end', () => { t.status = String(res.statusCode); t.end = Date.now() - t0; });
  });
  req.on('error', (e) => { t.status = 'error:' + e.code; t.end = Date.now() - t0; });
  return req;
};

function runSession(i) {
  return new Promise((resolve) => {
    // Our own session ids (sockjs-client's format: 8 of [a-z0-9]) so that
    // failures can be looked up in the traces.
    const id = crypto.randomBytes(8).toString('hex').slice(0, 8);
    const sock = new SockJS(cfg.url, null, { transports: [cfg.transport], sessionId: () => id });
    let backend = null;
    let sent = 0;
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try { sock.close(); } catch (e) { /* already closed */ }
      resolve({ ok: !err, err: err ? `${id}: ${err}` : '', backend: backend || '' });
    };
    const timer = setTimeout(() => finish(`timeout after ${Math.max(sent - 1, 0)} echoes`), cfg.sessionTimeoutMs);
    const send = () => { sent++; sock.send(`s${i}m${sent}`); };
    const sendNext = () => (cfg.intervalMs ? setTimeout(send, cfg.intervalMs) : send());
    sock.onopen = () => {
      if (sock.transport !== cfg.transport) return finish(`opened with transport ${sock.transport}`);
      send();
    };
    sock.onmessage = (e) => {
      const at = String(e.data).indexOf(':');
      const name = e.data.slice(0, at);
      const msg = e.data.slice(at + 1);
      if (msg !== `s${i}m${sent}`) return finish(`unexpected echo ${JSON.stringify(e.data)}`);
      if (backend === null) backend = name;
      if (name !== backend) return finish(`echo from ${name} after ${backend}`);
      if (sent === cfg.messages) return finish(null);
      sendNext();
    };
    sock.onclose = (e) => finish(`closed ${e.code} ${e.reason} after ${Math.max(sent - 1, 0)} echoes`);
  });
}

async function main() {
  const results = new Array(cfg.sessions);
  let next = 0;
  const worker = async () => {
    while (next < cfg.sessions) {
      const i = next++;
      results[i] = await runSession(i);
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  let shared = 0;
  for (const set of sockSessions.values()) {
    set.delete('-');
    if (set.size >= 2) shared++;
  }
  const out = {
    t0,
    transport: cfg.transport,
    completed: results.filter((r) => r.ok).length,
    sessions: cfg.sessions,
    sockets: sockSessions.size,
    requests,
    reusedRequests: reused,
    sharedSockets: shared,
    failures: results.filter((r) => !r.ok).map((r) => r.err),
    backends: results.map((r) => r.backend),
  };
  if (cfg.traceFile) {
    fs.writeFileSync(cfg.traceFile, trace.map((t) =>
      `${t.start} ${t.end} ${t.session} ${t.sock} ${t.port} ${t.method} ${t.path} ${t.status} ${t.remote}`).join('\n') + '\n');
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  // Pooled keep-alive sockets and closing sessions must not hold the exit.
  process.exit(0);
}
main();
