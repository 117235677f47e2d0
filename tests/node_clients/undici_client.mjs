// One call with the undici npm package (imported as ESM); prints one JSON line.
// Usage: node undici_client.mjs '<json spec>'  spec: {"how": "request"|"fetch"|"stream"|"global-agent"|"pool",
//        "url", "key" (x-api-key; default sk-own), "sse": bool (ask for a stream and count its events)}
import { Agent, Pool, fetch, request, setGlobalDispatcher, stream } from 'undici';
import { Writable } from 'node:stream';

const spec = JSON.parse(process.argv[2]);
const u = new URL(spec.url);
const body = JSON.stringify({ model: 'claude-x', max_tokens: 8, stream: !!spec.sse,
  messages: [{ role: 'user', content: 'hi' }] });
const headers = { 'content-type': 'application/json', 'x-api-key': spec.key || 'sk-own',
  'anthropic-version': '2023-06-01' };
const out = { pid: process.pid };
try {
  if (spec.how === 'fetch') {
    const r = await fetch(spec.url, { method: 'POST', headers, body });
    out.status = r.status;
    out.url = r.url;
    out.text = await r.text();
  } else if (spec.how === 'stream') {
    let text = '';
    await stream(spec.url, { method: 'POST', headers, body }, ({ statusCode }) => {
      out.status = statusCode;
      return new Writable({ write(c, _e, cb) { text += c; cb(); } });
    });
    out.text = text;
  } else {
    if (spec.how === 'global-agent') setGlobalDispatcher(new Agent({ keepAliveTimeout: 1000 }));
    const dispatcher = spec.how === 'pool' ? new Pool(u.origin) : undefined;
    const r = await request(spec.url, { method: 'POST', headers, body, dispatcher });
    out.status = r.statusCode;
    out.text = await r.body.text();
    if (dispatcher) await dispatcher.close();
  }
  if (spec.sse) out.events = out.text.split('\n').filter((l) => l.startsWith('event: ')).length;
} catch (e) {
  out.error = { code: e.code || (e.cause && e.cause.code), message: e.message + (e.cause ? ' / ' + e.cause.message : '') };
}
process.stdout.write(JSON.stringify(out) + '\n');
