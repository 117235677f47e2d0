// Raw fetch callers. Usage: node fetch_raw.mjs <mode> [url]; prints one JSON line.
const mode = process.argv[2];
const arg = process.argv[3];
const MSG = JSON.stringify({ model: 'claude-test', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
const H = { 'content-type': 'application/json', 'x-api-key': 'sk-ant-test', 'anthropic-version': '2023-06-01' };
const URL_A = 'https://api.anthropic.com/v1/messages?beta=true';
const show = async (r) => ({ url: r.url, status: r.status, statusText: r.statusText, type: r.type, ctype: r.headers.get('content-type'),
  rate: r.headers.get('anthropic-ratelimit-requests-limit'), text: r.body ? await r.text() : null});
let out;
try {
  if (mode === 'basic') {
    const r = await fetch(URL_A, { method: 'POST', headers: H, body: MSG });
    const cloneUrl = r.clone().url;
    out = { ...(await show(r)), cloneUrl };
  } else if (mode === 'bodies') {
    const enc = new TextEncoder().encode(MSG);
    const stream = () => new ReadableStream({ start(c) { c.enqueue(enc.slice(0, 7)); c.enqueue(enc.slice(7)); c.close(); } });
    const variants = { string: MSG, buffer: Buffer.from(MSG), uint8: enc, arraybuffer: enc.buffer.slice(0), blob: new Blob([MSG]), stream: stream() };
    out = {};
    for (const [name, body] of Object.entries(variants)) {
      const r = await fetch(URL_A, { method: 'POST', headers: H, body, duplex: 'half' });
      out[name] = [r.status, JSON.parse(await r.text()).content[0].text];
    }
    const req = new Request(URL_A, { method: 'POST', headers: H, body: MSG });
    const r = await fetch(req);
    out.request = [r.status, JSON.parse(await r.text()).content[0].text, r.url];
    const f = await fetch(URL_A, { method: 'POST', headers: { 'x-api-key': 'k' }, body: new URLSearchParams({ a: '1', b: 'x y' }) });
    out.form = [f.status, (await f.json()).error.type];
  } else if (mode === 'error4xx') {
    const r = await fetch('https://api.openai.com/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    out = { status: r.status, ok: r.ok, url: r.url, body: await r.json() };
  } else if (mode === 'head') {
    const r = await fetch('https://api.openai.com/v1/models', { method: 'HEAD' });
    const n = await fetch('https://api.openai.com/nocontent', { method: 'POST', body: 'x' });
    out = { head: [r.status, r.body, r.url], nocontent: [n.status, n.body, await n.text()] };
  } else if (mode === 'abort') { // abort mid-stream: the read after abort must reject with AbortError
    const ac = new AbortController();
    const r = await fetch('https://api.openai.com/slow', { method: 'POST', body: '{}', signal: ac.signal });
    const reader = r.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    let err = null;
    try { await reader.read(); } catch (e) { err = e.name; }
    let pre = null;
    try { await fetch(URL_A, { method: 'POST', body: MSG, signal: AbortSignal.abort() }); } catch (e) { pre = e.name; }
    out = { first, err, pre };
  } else if (mode === 'url') { // any URL, GET; reports errors instead of throwing
    const r = await fetch(arg, { headers: arg.includes('/t/') ? {} : { 'x-api-key': process.env.KEY || 'sk-own' } });
    out = { status: r.status, text: (await r.text()).slice(0, 200) };
  } else if (mode === 'post') {
    const r = await fetch(arg, { method: 'POST', headers: { ...H, 'x-api-key': process.env.KEY || 'sk-own' }, body: MSG });
    out = { status: r.status, text: (await r.text()).slice(0, 300) };
  }
} catch (e) {
  out = { error: String(e && e.message), name: e && e.name };
}
process.stdout.write(JSON.stringify(out) + '\n');
