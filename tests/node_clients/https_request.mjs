// Plain https.request / https.get callers. Usage: node https_request.mjs post|get|opts
import https from 'node:https';
import { request } from 'node:https';

const read = (res) => new Promise((resolve, reject) => {
  const chunks = [];
  res.on('data', (c) => chunks.push(c));
  res.on('end', () => resolve({ status: res.statusCode, ctype: res.headers['content-type'], body: Buffer.concat(chunks).toString() }));
  res.on('error', reject);
});
const mode = process.argv[2];
const body = JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] });
let out;
if (mode === 'post') { // (url, opts, cb) form, named ESM import, body written in two pieces
  out = await new Promise((resolve, reject) => {
    const req = request('https://api.openai.com/v1/chat/completions?x=1', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' } },
      (res) => read(res).then(resolve, reject));
    req.on('error', reject);
    req.setTimeout(10000);
    req.write(body.slice(0, 10));
    req.end(body.slice(10));
  });
} else if (mode === 'get') { // https.get(url, cb)
  out = await new Promise((resolve, reject) => {
    https.get('https://api.openai.com/v1/models', (res) => read(res).then(resolve, reject)).on('error', reject);
  });
} else if (mode === 'opts') { // (opts, cb) form with an agent that must be dropped
  out = await new Promise((resolve, reject) => {
    const req = https.request({ hostname: 'api.openai.com', path: '/v1/chat/completions', method: 'POST', agent: new https.Agent({ keepAlive: true }),
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => read(res).then(resolve, reject));
    req.on('error', reject);
    req.end(body);
  });
}
process.stdout.write(JSON.stringify(out) + '\n');
