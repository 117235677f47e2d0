'use strict';
// dario Node/Bun payload, loaded with NODE_OPTIONS=--require / BUN_OPTIONS=--preload.
// This stub is all that runs at start-up: it says hello and sets three small traps (fetch, the first
// import of http(s), the undici package); the first one sprung loads relay.cjs, which relays LLM API
// calls to the dario host over DARIO_SHIM_SOCK (docs/architecture.md, "The shim relay protocol").
// Rules: never write to stdout, never throw at load, never keep the event loop alive, no dependencies,
// nothing heavy at load (a 25 KB payload compiled at start-up cost ~2 % of `node -e ''`; bench/).
(function darioPayload() {
  const KEY = Symbol.for('dario.shim.payload');
  // NODE_OPTIONS reaches grandchildren and --require may be given twice: load once.
  if (globalThis[KEY]) return;
  const env = process.env;
  const SOCK = env.DARIO_SHIM_SOCK;
  const TOKEN = env.DARIO_SHIM_TOKEN;
  if (!SOCK || !TOKEN) return;
  const DEBUG = env.DARIO_DEBUG === '1';
  const debug = (...a) => { if (DEBUG) try { process.stderr.write('dario-payload: ' + a.join(' ') + '\n'); } catch (_) {} };
  try {
    Object.defineProperty(globalThis, KEY, { value: true });
    main();
  } catch (e) {
    debug('not installed:', e && e.stack);
  }

  function main() {
    const IS_BUN = !!process.versions.bun;

    // ---- hello: hello-<pid>.json in the host's private dir. One small synchronous write (the socket
    // hello it replaced cost ~2 ms of start-up), renamed into place so the host never reads half a
    // file. The host reads it when it first meets this pid, and at exit. No directory: the host is gone.
    let gone = false;
    try {
      const fs = require('fs');
      const file = SOCK.slice(0, SOCK.lastIndexOf('/') + 1) + 'hello-' + process.pid + '.json';
      fs.writeFileSync(file + '.tmp', JSON.stringify({ pid: process.pid, ppid: process.ppid,
        runtime: IS_BUN ? 'bun' : 'node', argv0: process.argv0, argv: process.argv }), { mode: 0o600 });
      fs.renameSync(file + '.tmp', file);
    } catch (e) {
      gone = !!e && e.code === 'ENOENT';
      debug('hello not written:', e && e.code);
    }

    // The relay, loaded once by the first trap that needs it; null (every call left alone) if it can't be.
    let relayed;
    const relay = () => {
      if (relayed === undefined) {
        relayed = null;
        try { relayed = require('./relay.cjs')({ env, SOCK, TOKEN, debug, gone }); } catch (e) {
          debug('relay not loaded:', e && e.message);
        }
      }
      return relayed;
    };

    // ---- fetch: Node's own wrapper loads undici lazily; so does this one load the relay.
    const fetchDesc = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
    if (fetchDesc && typeof fetchDesc.value === 'function') {
      const origFetch = fetchDesc.value;
      const fetch = function fetch(input, init) {
        const r = relay();
        return r ? r.fetch(this, arguments, origFetch) : origFetch.apply(this, arguments);
      };
      Object.defineProperty(globalThis, 'fetch', { value: fetch, writable: true, configurable: true,
        enumerable: fetchDesc.enumerable });
    }
    if (IS_BUN) return; // Bun's http client is its own; Bun programs use fetch

    // `module.constructor` is the CJS loader's Module; require('module') would build the public module
    // and its ESM facade first (~0.5 ms of start-up).
    const Module = module.constructor;

    // ---- http / https: on Node >= 22.15 patched when the program first imports http or https (by
    // require or by an ESM import: module.registerHooks sees both), so a process that never makes one
    // (node -e '', most tooling an agent spawns) loads neither net nor the relay; older Node patches now.
    const patchHttp = () => { const r = relay(); if (r) r.patchHttp(); };
    let hooked = false;
    if (typeof Module.registerHooks === 'function') {
      const warn = process.emitWarning;
      process.emitWarning = () => {}; // where registerHooks is still flagged experimental: never print
      try {
        let seen = false;
        Module.registerHooks({ load(url, context, nextLoad) {
          if (!seen && (url === 'node:http' || url === 'node:https' || url === 'node:_http_agent' ||
              url === 'node:_http_client')) {
            seen = true;
            patchHttp();
          }
          return nextLoad(url, context);
        } });
        hooked = true;
      } catch (_) { hooked = false; } finally { process.emitWarning = warn; }
    }
    if (!hooked) patchHttp();

    // ---- the undici package: loaded by the child or not at all. Module._load is wrapped to patch it
    // right after its first load (one string comparison per require): by name from require(), by its
    // resolved file from an ESM import.
    const origLoad = Module._load;
    const UNDICI_FILE = /[\\/]node_modules[\\/]undici[\\/]index\.js$/;
    Module._load = function _load(request) {
      const exp = origLoad.apply(this, arguments);
      if ((request === 'undici' || (typeof request === 'string' && request.endsWith('index.js') &&
           UNDICI_FILE.test(request))) && exp && typeof exp === 'object' && !exp[KEY]) {
        const r = relay();
        if (r) r.patchUndici(exp);
      }
      return exp;
    };
    debug('installed' + (gone ? ' (host directory missing)' : ''));
  }
})();
