// Drives an official SDK once and prints what it saw as JSON on stdout.
// usage: node sdk_client.mjs '{"sdk":"anthropic"|"openai","mode":"plain"|"stream"|"tools","model":"...","baseURL":"..."?}'
// Without baseURL the SDK calls its default host (what the shim intercepts).
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";

const opts = JSON.parse(process.argv[2]);
const messages = [{ role: "user", content: "Say hello" }];
const schema = { type: "object", properties: { city: { type: "string" }, unit: { type: "string" } }, required: ["city"] };
const common = { maxRetries: 0 };  // key and base URL: from opts, else the SDK's own env/defaults
if (opts.apiKey) common.apiKey = opts.apiKey;
if (opts.baseURL) common.baseURL = opts.baseURL;

async function anthropic() {
  const client = new Anthropic(common);
  const req = { model: opts.model, max_tokens: 64, messages };
  if (opts.mode === "plain") {
    const m = await client.messages.create(req);
    return { text: m.content.map((b) => b.text ?? "").join(""), stop: m.stop_reason, usage: m.usage };
  }
  if (opts.mode === "tools") req.tools = [{ name: "get_weather", description: "Weather", input_schema: schema }];
  const stream = client.messages.stream(req);
  const deltas = [], partial = [];
  stream.on("text", (t) => deltas.push(t));
  stream.on("inputJson", (p) => partial.push(p));
  const m = await stream.finalMessage();
  const tool = m.content.find((b) => b.type === "tool_use");
  return { text: deltas.join(""), deltas: deltas.length, partial: partial.length, stop: m.stop_reason,
           tool: tool ? { name: tool.name, input: tool.input } : null, usage: m.usage };
}

async function openai() {
  const client = new OpenAI(common);
  const req = { model: opts.model, messages };
  if (opts.mode === "plain") {
    const c = await client.chat.completions.create(req);
    return { text: c.choices[0].message.content, stop: c.choices[0].finish_reason, usage: c.usage };
  }
  if (opts.mode === "tools") req.tools = [{ type: "function", function: { name: "get_weather", description: "Weather", parameters: schema } }];
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = "", deltas = 0, partial = 0, stop = null, usage = null, name = null, args = "";
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      if (ch.delta?.content) { text += ch.delta.content; deltas++; }
      for (const tc of ch.delta?.tool_calls ?? []) {
        name = name ?? tc.function?.name ?? null;
        if (tc.function?.arguments) { args += tc.function.arguments; partial++; }
      }
      stop = ch.finish_reason ?? stop;
    }
  }
  return { text, deltas, partial, stop, tool: name ? { name, input: JSON.parse(args) } : null, usage };
}

try {
  const out = await (opts.sdk === "anthropic" ? anthropic() : openai());
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e?.message ?? e), status: e?.status ?? null }) + "\n");
  process.exitCode = 3;
}
