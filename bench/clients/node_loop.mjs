// Calls an official Node SDK N times in one process and prints per-call latencies as JSON.
// usage: node node_loop.mjs '{"sdk": "anthropic"|"openai", "n": N, "warmup": W, "baseURL": "..."?}'
// Without baseURL the SDK calls its default host: under `dario shim` that call is intercepted.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";

const opts = JSON.parse(process.argv[2]);
const common = { apiKey: process.env.ANTHROPIC_API_KEY ?? process.env.OPENAI_API_KEY ?? "bench-key", maxRetries: 0 };
if (opts.baseURL) common.baseURL = opts.baseURL;
const messages = [{ role: "user", content: "Say hello" }];
const now = () => Number(process.hrtime.bigint()) / 1e6;

let plain, stream;
if (opts.sdk === "anthropic") {
  const client = new Anthropic({ ...common, apiKey: process.env.ANTHROPIC_API_KEY ?? "bench-key" });
  const req = { model: opts.model ?? "claude-bench", max_tokens: 64, messages };
  plain = () => client.messages.create(req);
  stream = () => client.messages.create({ ...req, stream: true });
} else {
  const client = new OpenAI({ ...common, apiKey: process.env.OPENAI_API_KEY ?? "bench-key" });
  const req = { model: opts.model ?? "gpt-bench", messages };
  plain = () => client.chat.completions.create(req);
  stream = () => client.chat.completions.create({ ...req, stream: true });
}

const out = { plain_ms: [], ttfb_ms: [], stream_ms: [], errors: 0 };
for (let i = 0; i < opts.warmup + opts.n; i++) {
  try {
    let t0 = now();
    await plain();
    const p = now() - t0;
    t0 = now();
    let first = null;
    for await (const _ev of await stream()) { if (first === null) first = now() - t0; }
    const s = now() - t0;
    if (i >= opts.warmup) { out.plain_ms.push(p); out.ttfb_ms.push(first); out.stream_ms.push(s); }
  } catch (e) {
    out.errors++;
    out.error = out.error ?? String(e?.message ?? e);
  }
}
// a file, not stdout, when the bench asks (bench/result.py says why)
if (process.env.BENCH_RESULT) {
  const fs = await import("node:fs");
  fs.writeFileSync(process.env.BENCH_RESULT + ".tmp", JSON.stringify(out));
  fs.renameSync(process.env.BENCH_RESULT + ".tmp", process.env.BENCH_RESULT);
} else {
  process.stdout.write(JSON.stringify(out) + "\n");
}
