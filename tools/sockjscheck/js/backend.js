// One sockjs-node 0.3.24 echo backend. Every echo is "<name>:<message>" so
// the client can tell which backend served the session.
//
// usage: node backend.js <name> <port> <request-log-file> [<prefixes> [conns]]
//
// prefixes is a comma-separated list of SockJS prefixes (default
// "/sockjs"); with "conns", every TCP connection accepted is logged too, as
// "<name> <client-port> CONNECTION - -", before any byte is read: the
// -services check proves with it that nothing reached a private service.
//
// The request log has one line per finished HTTP request on this backend:
// "<name> <client-port> <method> <url> <status>", so a failing run shows
// which requests went where.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const sockjs = require('sockjs');

const [name, port, logFile, prefixList, conns] = process.argv.slice(2);
const prefixes = (prefixList || '/sockjs').split(',');
const log = fs.createWriteStream(logFile, { flags: 'a' });
const results = [];

const echos = prefixes.map((prefix) => {
  const echo = sockjs.createServer({
    prefix,
    log: () => {},
    // The page loads sockjs-client itself; the iframe transports are not tested.
    sockjs_url: '/sockjs.min.js',
  });
  echo.on('connection', (conn) => {
    conn.on('data', (msg) => conn.write(name + ':' + msg));
  });
  return echo;
});

const clientDist = path.join(path.dirname(require.resolve('sockjs-client/package.json')), 'dist', 'sockjs.min.js');
const page = fs.readFileSync(path.join(__dirname, 'page.html'), 'utf8');

// Non-SockJS routes: the browser page, the client library, and the page's
// result upload (POST /result, one JSON object).
const server = http.createServer((req, res) => {
  if (req.url === '/sockjs.min.js') {
    res.writeHead(200, { 'content-type': 'application/javascript' });
    res.end(fs.readFileSync(clientDist));
  } else if (req.url.startsWith('/page.html')) {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(page);
  } else if (req.url === '/result' && req.method === 'POST') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      process.stdout.write('RESULT ' + body.replace(/\n/g, ' ') + '\n');
      res.writeHead(204, { 'access-control-allow-origin': '*' });
      res.end();
    });
  } else if (req.method === 'OPTIONS') {
    res.writeHead(204, {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type',
    });
    res.end();
  } else {
    res.writeHead(404);
    res.end();
  }
});
for (const echo of echos) echo.installHandlers(server);
if (conns === 'conns') {
  server.on('connection', (s) => log.write(`${name} ${s.remotePort} CONNECTION - -\n`));
}
// Added after installHandlers so it sees SockJS requests too (sockjs-node
// only forwards the requests it does not handle to earlier listeners).
server.on('request', (req, res) => {
  const remotePort = req.socket.remotePort;
  let logged = false;
  const line = (status) => {
    if (logged) return;
    logged = true;
    log.write(`${name} ${remotePort} ${req.method} ${req.url} ${status}\n`);
  };
  res.on('finish', () => line(res.statusCode));
  res.on('close', () => line(res.statusCode + '-closed'));
});
server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`READY ${name} ${port}\n`);
});
