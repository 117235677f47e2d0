// CommonJS http.request caller, for fail-open against a plain-http URL. Usage: node http_request.cjs <url>
const http = require('http');
const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
const req = http.request(process.argv[2], { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + (process.env.KEY || 'sk-own') } }, (res) => {
  let s = '';
  res.setEncoding('utf8');
  res.on('data', (c) => { s += c; });
  res.on('end', () => process.stdout.write(JSON.stringify({ status: res.statusCode, text: s.slice(0, 300) }) + '\n'));
});
req.on('error', (e) => process.stdout.write(JSON.stringify({ error: e.message }) + '\n'));
req.end(body);
