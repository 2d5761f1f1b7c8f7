// sockjs-client 1.6.1 under Node, over each transport it has there.
const SockJS = require('sockjs-client');
const base = process.argv[2] || 'http://127.0.0.1:8180';
const transports = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];
function run(i) {
  if (i >= transports.length) { process.exit(0); }
  const sock = new SockJS(base + (i % 2 ? '/search/sockjs' : '/sockjs'), null, {transports: [transports[i]]});
  let n = 0;
  const t = setTimeout(() => { console.error('timeout', transports[i]); sock.close(); }, 15000);
  sock.onopen = () => sock.send('{"msg":"connect","version":"1","support":["1"]}');
  sock.onmessage = () => { if (++n === 1) sock.send('["ping"]'); else sock.close(); };
  sock.onclose = (e) => { clearTimeout(t); console.log(transports[i], sock.transport, e.code); run(i + 1); };
}
run(0);
