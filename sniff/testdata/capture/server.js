// A sockjs-node 0.3.24 echo server under two prefixes, with JSESSIONID
// cookies on, and a page that runs sockjs-client 1.6.1 over every transport.
// Used with proxy.go and a browser or client.js to capture real heads.
const http = require('http');
const fs = require('fs');
const path = require('path');
const sockjs = require('sockjs');

const port = Number(process.env.PORT || 8181);
const clientJS = fs.readFileSync(require.resolve('sockjs-client/dist/sockjs.min.js'));
const transports = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource',
  'iframe-eventsource', 'iframe-htmlfile', 'iframe-xhr-polling', 'jsonp-polling'];

const page = `<!doctype html><html><head><title>capture</title>
<script src="/sockjs.min.js"></script></head><body><script>
const transports = ${JSON.stringify(transports)};
function run(i) {
  if (i >= transports.length) { fetch('/done', {method: 'POST', body: 'ok'}); return; }
  const prefix = i % 2 ? '/search/sockjs' : '/sockjs';
  const sock = new SockJS(prefix, null, {transports: [transports[i]]});
  let n = 0;
  sock.onopen = () => sock.send(JSON.stringify({msg: 'connect', version: '1', support: ['1', 'pre2', 'pre1'], t: transports[i]}));
  sock.onmessage = () => { if (++n === 1) sock.send('["ping"]'); else sock.close(); };
  sock.onclose = () => run(i + 1);
}
run(0);
</script></body></html>`;

const server = http.createServer((req, res) => {
  if (req.url === '/') {
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.setHeader('Set-Cookie', ['sticky=web-2; Path=/', '_ga=GA1.1.1234567890.1700000000; Path=/',
      'meteor_login_token="q9XzT2b-4pKc_0aLw3"; Path=/']);
    res.end(page);
  } else if (req.url === '/sockjs.min.js') {
    res.setHeader('Content-Type', 'application/javascript');
    res.end(clientJS);
  } else if (req.url === '/done') {
    res.end('bye');
    fs.writeFileSync(process.env.DONE || 'done', 'done\n');
  } else {
    res.statusCode = 404;
    res.end();
  }
});
for (const prefix of ['/sockjs', '/search/sockjs']) {
  const echo = sockjs.createServer({prefix, jsessionid: true, sockjs_url: '/sockjs.min.js', log: () => {}});
  echo.on('connection', (conn) => conn.on('data', (m) => conn.write(m)));
  echo.installHandlers(server, {prefix});
}
server.listen(port, '127.0.0.1');
