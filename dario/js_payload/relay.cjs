'use strict';
// dario Node/Bun payload, the part that relays: loaded by the stub (payload.cjs) on the program's first
// fetch, first import of http(s) or first load of the undici package, never at start-up. Relays LLM API
// calls to the dario host over DARIO_SHIM_SOCK (docs/architecture.md, "The shim relay protocol").
// Same rules as the stub: never write to stdout, never throw out of a patch, never keep the event loop alive.
module.exports = function relay(opts) {
  const { env, SOCK, TOKEN, debug } = opts;
  const KEY = Symbol.for('dario.shim.payload');
  const list = (s) => (s || '').split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
  const HOSTS = list(env.DARIO_SHIM_HOSTS);
  const STRICT = list(env.DARIO_SHIM_STRICT);
  let FALLBACK = '';
  try { if (env.DARIO_SHIM_FALLBACK) FALLBACK = new URL(env.DARIO_SHIM_FALLBACK).href; } catch (_) {}
  const CONNECT_TIMEOUT_MS = 2000;
  const IS_BUN = !!process.versions.bun;
  const noop = () => {};
  // Known-dead host (its directory missing when the stub said hello, or the socket refused): fail-open
  // calls skip the dial.
  let gone = opts.gone;

  const hostIn = (names, u) => {
    const port = u.port || (u.protocol === 'https:' ? '443' : '80');
    const h = u.hostname.toLowerCase();
    return names.includes(h) || names.includes(h + ':' + port);
  };
  const matches = (u) => (u.protocol === 'https:' || u.protocol === 'http:') &&
    (hostIn(HOSTS, u) || (FALLBACK !== '' && u.href.startsWith(FALLBACK)));
  // Calls that must not leave the machine unobserved when the host is gone.
  const mustFail = (u, getHeader) => {
    if (STRICT.includes('*') || hostIn(STRICT, u)) return true;
    if (FALLBACK && u.href.startsWith(FALLBACK)) return true;
    return carriesToken(u, getHeader); // the run token as the key only works through dario
  };
  // The run token as a call's credential, on its way somewhere dario does not intercept: never sent.
  const carriesToken = (u, getHeader) => {
    const bearer = (v) => v != null && String(v).replace(/^bearer\s+/i, '') === TOKEN;
    return [getHeader('x-api-key'), getHeader('api-key'), getHeader('x-goog-api-key')].some((v) => v != null &&
      String(v) === TOKEN) || bearer(getHeader('authorization')) || (u != null && u.href.includes(TOKEN));
  };
  const escapedError = (u) => {
    const h = u ? u.host : 'a host';
    const e = new Error('dario: refusing to send this run\'s token to ' + h + ', which dario does not intercept ' +
      '(add it with `dario shim --intercept ' + h + '`, or give the program its own key)');
    e.code = 'DARIO_TOKEN_ESCAPED';
    return e;
  };
  const goneError = (cause) => {
    const e = new Error('dario: the dario host is gone (' + ((cause && cause.code) || 'unreachable') +
      ' on ' + SOCK + '); not sending this call without it');
    e.code = 'DARIO_HOST_GONE';
    e.cause = cause;
    return e;
  };
  const toURL = (s) => {
    try { const u = new URL(s); u.hash = ''; return u; } catch (_) { return null; }
  };

  // Connect to the host; cb(err) or cb(null, connectedSocket).
  function dial(cb, background) {
    const sock = require('net').connect(SOCK); // loaded on the first call, not at start-up
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!err) { gone = false; return cb(null, sock); }
      sock.destroy();
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') gone = true;
      debug('host unreachable:', err.code || err.message);
      cb(err);
    };
    const timer = setTimeout(() => finish(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })),
      CONNECT_TIMEOUT_MS);
    timer.unref();
    if (background) sock.unref();
    sock.once('connect', () => finish(null));
    sock.on('error', (e) => finish(e)); // stays as a no-op guard; the ClientRequest adds its own
  }

  // ---- fetch ----
  // The stub's fetch calls this with its own `this` and arguments (so a call passed on is unchanged).
  function fetch(self, args, origFetch) {
    const input = args[0];
    const init = args[1];
    let u = null;
    try {
      const s = typeof input === 'string' ? input : input instanceof URL ? input.href
        : input && typeof input.url === 'string' ? input.url : null;
      u = s && toURL(s);
      if (u && !matches(u)) {
        const h = initHeaders(input, init);
        if (carriesToken(u, (n) => h.get(n))) return Promise.reject(escapedError(u));
        u = null;
      }
    } catch (_) { u = null; }
    if (!u) return origFetch.apply(self, args);
    return (IS_BUN ? relayFetchBun : relayFetch)(u, input, init, origFetch);
  }

  const isRequest = (x) => x != null && typeof x === 'object' && !(x instanceof URL) && typeof x.url === 'string';
  const abortReason = (sig) => sig.reason !== undefined ? sig.reason
    : new DOMException('This operation was aborted', 'AbortError');
  const initHeaders = (input, init) =>
    new Headers(init && init.headers !== undefined ? init.headers : isRequest(input) ? input.headers : undefined);
  const dialP = () => new Promise((resolve, reject) => dial((e, s) => (e ? reject(e) : resolve(s))));
  // Bodies already in memory: send them with a content-length; the rest is streamed chunked.
  const sized = (b) => typeof b === 'string' || b instanceof ArrayBuffer || ArrayBuffer.isView(b) ||
    b instanceof URLSearchParams || (typeof Blob === 'function' && b instanceof Blob);
  const HOP = new Set(['host', 'connection', 'keep-alive', 'content-length', 'transfer-encoding']);

  function withURL(res, href) {
    // new Response() has url "": show the caller the URL it asked for, on clones too.
    Object.defineProperty(res, 'url', { value: href, configurable: true });
    const clone = res.clone;
    Object.defineProperty(res, 'clone', { configurable: true, value() { return withURL(clone.call(this), href); } });
    return res;
  }

  async function relayFetch(u, input, init, origFetch) {
    const sig0 = (init && init.signal) || (isRequest(input) ? input.signal : null);
    if (sig0 && sig0.aborted) throw abortReason(sig0);
    // An idle kept-alive connection to the host means it lives: use that. Else dial before touching
    // the body: if the host is gone, the original call is still intact.
    const agent = relayAgent();
    const pooled = hasIdle(agent);
    let sock = null;
    let dialErr = null;
    if (!pooled && !gone) try { sock = await dialP(); } catch (e) { dialErr = e; }
    if (!sock && !pooled) {
      const h = initHeaders(input, init);
      if (mustFail(u, (n) => h.get(n))) throw goneError(dialErr || { code: 'ENOENT' });
      debug('fail open:', u.href);
      return origFetch(input, init);
    }
    let req;
    let buf = null;
    try {
      req = new Request(input, Object.assign({}, init, { duplex: 'half' })); // normalizes method/headers/body
      if (req.signal.aborted) throw abortReason(req.signal);
      const ob = init && init.body != null ? init.body : null;
      if (req.body && ob != null && sized(ob)) buf = Buffer.from(await req.arrayBuffer());
    } catch (e) {
      if (sock) sock.destroy();
      throw e;
    }
    const headers = {};
    for (const [k, v] of req.headers) if (!HOP.has(k)) headers[k] = v;
    if (!('accept' in headers)) headers.accept = '*/*';
    if (!('user-agent' in headers)) headers['user-agent'] = 'node';
    headers.host = u.host;
    if (buf) headers['content-length'] = String(buf.length);
    else if (req.body) headers['transfer-encoding'] = 'chunked';
    headers['x-dario-token'] = TOKEN;
    headers['x-dario-target'] = u.href;
    headers['x-dario-pid'] = String(process.pid);
    const request = require('http').request; // socketPath: never re-intercepted (see patchAgent)
    const replayable = !req.body || (buf !== null && !isRequest(input));

    return new Promise((resolve, reject) => {
      const sig = req.signal;
      let settled = false;
      let retried = false;
      let ctl = null; // the body stream's controller once the response is out
      let creq = null;
      const cleanup = () => sig.removeEventListener('abort', onAbort);
      const onAbort = () => {
        const r = abortReason(sig);
        creq.destroy(); // the host sees the socket close and cancels upstream
        cleanup();
        if (!settled) { settled = true; reject(r); } else if (ctl) try { ctl.error(r); } catch (_) {}
      };
      sig.addEventListener('abort', onAbort, { once: true });
      const send = (fresh) => {
        handoff = fresh; // a dialed socket for the agent's createConnection (called in request())
        creq = request({ method: req.method, path: u.pathname + u.search, headers, agent, socketPath: SOCK });
        if (handoff) { handoff.destroy(); handoff = null; } // the agent had an idle one after all
        creq.on('error', onError);
        creq.on('response', onResponse);
        if (buf) creq.end(buf);
        else if (!req.body) creq.end();
        else pump(req.body, creq);
      };
      const onError = (e) => {
        if (settled) return;
        if (creq.reusedSocket && replayable && !retried && !sig.aborted) {
          // a kept-alive connection the host had closed meanwhile: once more, on a new one
          retried = true;
          return dial((err, fresh) => { if (settled) { if (fresh) fresh.destroy(); return; }
            if (err) return onError(e); send(fresh); });
        }
        settled = true;
        cleanup();
        const failed = new TypeError('fetch failed', { cause: e });
        if (sig.aborted) return reject(failed);
        // Broke before any answer: if the host died meanwhile, this is host-gone, not a network error.
        dial((gonErr, probe) => {
          if (!gonErr) { probe.destroy(); return reject(failed); } // the host lives: a real failure
          if (mustFail(u, (n) => req.headers.get(n))) return reject(goneError(gonErr));
          if (!replayable) return reject(failed); // a streamed body already partly sent
          debug('host died mid-call, failing open:', u.href);
          resolve(origFetch(input, init));
        }, true);
      };
      const onResponse = (res) => {
        if (settled) { res.destroy(); return; }
        settled = true;
        try {
          resolve(toResponse(res, u.href, req.method, creq, cleanup, (c) => { ctl = c; }));
        } catch (e) {
          cleanup();
          creq.destroy();
          reject(new TypeError('fetch failed', { cause: e }));
        }
      };
      send(sock);
    });
  }

  // Kept-alive connections to the host: a call pays no connect and accept when one is idle. Node's
  // Agent unrefs an idle socket (it never keeps the program alive) and closes it after IDLE_MS, well
  // before the host's own 75 s; requests with a socketPath are never intercepted (patchAgent).
  const IDLE_MS = 4000;
  let agentP = null;
  let handoff = null;
  function relayAgent() {
    if (agentP) return agentP;
    const http = require('http');
    agentP = new http.Agent({ keepAlive: true, maxFreeSockets: 16, timeout: IDLE_MS });
    agentP.createConnection = (opts) => {
      const s = handoff;
      handoff = null;
      return s || require('net').connect(SOCK);
    };
    return agentP;
  }
  const hasIdle = (a) => { for (const k in a.freeSockets) if (a.freeSockets[k].length) return true; return false; };

  async function pump(body, creq) {
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (creq.destroyed) { reader.cancel().catch(noop); return; }
        if (!creq.write(value)) {
          await new Promise((r) => {
            const go = () => { creq.off('drain', go); creq.off('close', go); r(); };
            creq.on('drain', go);
            creq.on('close', go);
          });
        }
      }
      creq.end();
    } catch (e) {
      creq.destroy(e);
    }
  }

  function toResponse(res, href, method, creq, cleanup, setCtl) {
    const status = res.statusCode;
    const headers = new Headers();
    const raw = res.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) try { headers.append(raw[i], raw[i + 1]); } catch (_) {}
    let body = null;
    if (method === 'HEAD' || status === 204 || status === 205 || status === 304) {
      res.resume();
      res.on('close', cleanup);
    } else {
      let finished = false;
      const fail = (c, e) => { if (finished) return; finished = true; cleanup(); try { c.error(e); } catch (_) {} };
      // Fed by the socket as data arrives (SSE event by event); paused when the reader lags.
      body = new ReadableStream({
        start(c) {
          setCtl(c);
          res.on('data', (chunk) => {
            if (finished) return;
            c.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            if (c.desiredSize <= 0) res.pause();
          });
          res.on('end', () => { if (finished) return; finished = true; cleanup(); c.close(); });
          res.on('error', (e) => fail(c, new TypeError('terminated', { cause: e })));
          res.on('close', () => { if (!res.complete) fail(c, new TypeError('terminated')); });
        },
        pull() { res.resume(); },
        cancel() { finished = true; cleanup(); creq.destroy(); },
      }, { highWaterMark: 65536, size: (ch) => ch.byteLength });
    }
    const r = new Response(body, { status, statusText: res.statusMessage || '', headers });
    return withURL(r, href);
  }

  // Bun: its fetch speaks to a unix socket natively (untested here: no Bun in CI).
  async function relayFetchBun(u, input, init, origFetch) {
    const replayable = !isRequest(input) && !(init && init.body != null && !sized(init.body));
    const req = new Request(input, Object.assign({}, init, { duplex: 'half' }));
    const headers = new Headers(req.headers);
    headers.set('x-dario-token', TOKEN);
    headers.set('x-dario-target', u.href);
    headers.set('x-dario-pid', String(process.pid));
    try {
      const res = await origFetch('http://localhost' + u.pathname + u.search, { method: req.method, headers,
        body: req.body, signal: req.signal, duplex: 'half', redirect: 'manual', decompress: false, unix: SOCK });
      return withURL(res, u.href);
    } catch (e) {
      if (req.signal.aborted) throw e;
      if (mustFail(u, (n) => headers.get(n)) || !replayable) throw goneError(e);
      return origFetch(input, init);
    }
  }

  // ---- http / https ----
  // Every agent-backed ClientRequest (http.request/get, https.request/get in every call form,
  // ESM named imports, axios, ...) goes through Agent.prototype.addRequest, from inside the
  // ClientRequest constructor, after its headers are set. Hooking there covers http and https
  // without loading https/tls at start-up. The relay gets the host's socket with the x-dario-*
  // lines spliced into its head; a failed-open call is handed back to the original agent
  // untouched (its own proxy, TLS options and keep-alive).
  let httpPatched = false;
  const patchHttp = () => {
    if (httpPatched) return;
    httpPatched = true;
    try { patchAgent(); } catch (e) { debug('http not patched:', e && e.message); }
  };

  function patchAgent() {
    const Agent = require('_http_agent').Agent; // http.Agent, minus loading all of http
    const origAdd = Agent.prototype.addRequest;
    Agent.prototype.addRequest = function addRequest(req, options, ...rest) {
      let u = null;
      const getHeader = (n) => req.getHeader(n);
      try {
        if (!options.socketPath) {
          const host = req.host || options.host || 'localhost';
          u = toURL((req.protocol || this.protocol || 'http:') + '//' + (host.includes(':') ? '[' + host + ']' : host) +
            ':' + options.port + (req.path || '/'));
          if (u && !matches(u)) {
            if (carriesToken(u, getHeader)) {
              const err = escapedError(u);
              return process.nextTick(() => req.onSocket(undefined, err));
            }
            u = null;
          }
        }
      } catch (_) { u = null; }
      if (!u || (gone && !mustFail(u, getHeader))) return origAdd.call(this, req, options, ...rest);
      dial((err, sock) => {
        if (!err) {
          sock.once('free', () => sock.destroy()); // the agent's keep-alive hand-back: not our pool
          return req.onSocket(spliceRelayHeaders(sock, u.href));
        }
        if (mustFail(u, getHeader)) return req.onSocket(undefined, goneError(err));
        debug('fail open:', u.href);
        origAdd.call(this, req, options, ...rest);
      });
    };
  }

  // ---- the undici package ----
  // Loaded by the child or not at all: Module._load is wrapped to patch it right after its first load
  // (one string comparison per require). All of its dispatchers (Agent, Pool, Client, ProxyAgent; the
  // global one behind undici.request/fetch/stream) inherit DispatcherBase.prototype.dispatch, so one
  // patch there catches them. An intercepted call is dispatched to a private Agent whose connections are
  // the host's socket, with the x-dario-* headers added; a failed-open call goes on untouched.
  function headerGetter(h) {
    const flat = [];
    if (h == null) { /* none */ } else if (Array.isArray(h)) {
      for (let i = 0; i < h.length; i++) Array.isArray(h[i]) ? flat.push(h[i][0], h[i][1]) : flat.push(h[i]);
    } else if (typeof h[Symbol.iterator] === 'function') { for (const [k, v] of h) flat.push(k, v); } else {
      for (const k of Object.keys(h)) flat.push(k, h[k]);
    }
    return [flat, (n) => {
      for (let i = 0; i + 1 < flat.length; i += 2) if (String(flat[i]).toLowerCase() === n) return flat[i + 1];
      return null;
    }];
  }

  function fail(handler, err) {
    if (typeof handler.onError === 'function') return handler.onError(err);
    if (typeof handler.onResponseError === 'function') return handler.onResponseError(null, err);
    throw err;
  }

  function patchUndici(undici) {
    Object.defineProperty(undici, KEY, { value: true });
    const base = Object.getPrototypeOf(undici.Agent.prototype);
    const orig = base.dispatch;
    if (typeof orig !== 'function' || orig[KEY]) return;
    let slot = null; // a socket dialled for the dispatch under way: the relay's connector takes it
    const relay = new undici.Agent({ connect: (_o, cb) => {
      const sock = slot;
      slot = null;
      if (sock) return process.nextTick(cb, null, sock); // never synchronously: the Client is mid-resume
      dial((e, s2) => (e ? cb(e) : cb(null, s2)));
    } });
    const dispatch = function dispatch(opts, handler) {
      let u = null;
      let flat = null;
      let get = null;
      try {
        if (this !== relay && opts && opts.origin) {
          u = toURL(new URL(opts.path || '/', opts.origin).href);
          [flat, get] = headerGetter(opts.headers);
          if (u && !matches(u)) {
            if (carriesToken(u, get)) { fail(handler, escapedError(u)); return false; }
            u = null;
          }
        }
      } catch (_) { u = null; }
      if (!u || (gone && !mustFail(u, get))) return orig.call(this, opts, handler);
      dial((err, sock) => {
        if (err) {
          if (mustFail(u, get)) return fail(handler, goneError(err));
          debug('fail open:', u.href);
          return orig.call(this, opts, handler);
        }
        const headers = [];
        for (let i = 0; i + 1 < flat.length; i += 2) {
          if (String(flat[i]).toLowerCase() !== 'host') headers.push(flat[i], flat[i + 1]);
        }
        headers.push('host', u.host, 'x-dario-token', TOKEN, 'x-dario-target', u.href, 'x-dario-pid', String(process.pid));
        slot = sock;
        try {
          relay.dispatch(Object.assign({}, opts, { origin: 'http://localhost', headers }), handler);
        } finally {
          if (slot) { slot.destroy(); slot = null; } // a pooled connection served it
        }
      });
      return true;
    };
    dispatch[KEY] = true;
    base.dispatch = dispatch;
    debug('undici patched');
  }

  function spliceRelayHeaders(sock, href) {
    const extra = 'x-dario-token: ' + TOKEN + '\r\nx-dario-target: ' + href + '\r\nx-dario-pid: ' + process.pid + '\r\n';
    const write = sock.write;
    // The request head is always the first write, a string starting with the request line.
    sock.write = function (data, ...more) {
      sock.write = write;
      if (typeof data === 'string') {
        const i = data.indexOf('\r\n');
        if (i >= 0) data = data.slice(0, i + 2) + extra + data.slice(i + 2);
      }
      return write.call(this, data, ...more);
    };
    return sock;
  }
  return {
    fetch,
    patchHttp,
    patchUndici(undici) {
      try { patchUndici(undici); } catch (e) { debug('undici not patched:', e && e.message); }
    },
  };
};
