// Drives an official SDK once and prints what it saw as JSON on stdout.
// usage: node sdk_client.mjs '{"sdk":"anthropic"|"openai"|"responses"|"genai","mode":"plain"|"stream"|"tools",
//                               "model":"...","baseURL":"..."?}'
// Without baseURL the SDK calls its default host (what the shim intercepts).
// responses/tools and genai/tools also send the tool-result turn and report its answer as `after`.
import Anthropic from "@anthropic-ai/sdk";
import { GoogleGenAI } from "@google/genai";
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

const fnTool = { type: "function", name: "get_weather", description: "Weather", parameters: schema, strict: false };

async function responses() {
  const client = new OpenAI(common);
  if (opts.mode === "plain") {
    const r = await client.responses.create({ model: opts.model, input: "Say hello" });
    return { text: r.output_text, stop: r.status, usage: r.usage };
  }
  const req = { model: opts.model, input: [{ role: "user", content: "Weather in Paris?" }] };
  if (opts.mode === "tools") req.tools = [fnTool];
  const stream = client.responses.stream(req);
  let deltas = 0, partial = 0;
  stream.on("response.output_text.delta", () => deltas++);
  stream.on("response.function_call_arguments.delta", () => partial++);
  const r = await stream.finalResponse();
  const call = r.output.find((i) => i.type === "function_call");
  const out = { text: r.output_text, deltas, partial, stop: r.status, usage: r.usage,
                tool: call ? { name: call.name, input: JSON.parse(call.arguments) } : null };
  if (call) {
    const again = await client.responses.create({ model: opts.model, tools: [fnTool], input: [
      ...req.input, ...r.output, { type: "function_call_output", call_id: call.call_id, output: "18C" }] });
    out.after = again.output_text;
  }
  return out;
}

async function genai() {
  const ai = new GoogleGenAI({ apiKey: opts.apiKey ?? "none", httpOptions: opts.baseURL ? { baseUrl: opts.baseURL } : {} });
  const config = opts.mode === "tools" ? { tools: [{ functionDeclarations: [
    { name: "get_weather", description: "Weather", parametersJsonSchema: schema }] }] } : {};
  if (opts.mode === "plain") {
    const r = await ai.models.generateContent({ model: opts.model, contents: "Say hello" });
    return { text: r.text, stop: r.candidates[0].finishReason, usage: r.usageMetadata };
  }
  const contents = [{ role: "user", parts: [{ text: "Weather in Paris?" }] }];
  let text = "", deltas = 0, calls = [], parts = [], usage = null, stop = null;
  for await (const c of await ai.models.generateContentStream({ model: opts.model, contents, config })) {
    if (c.text) { text += c.text; deltas++; }
    for (const fc of c.functionCalls ?? []) calls.push(fc);
    parts.push(...(c.candidates?.[0]?.content?.parts ?? []).filter((p) => p.functionCall));
    usage = c.usageMetadata ?? usage;
    stop = c.candidates?.[0]?.finishReason ?? stop;
  }
  const out = { text, deltas, stop, usage, tool: calls[0] ? { name: calls[0].name, input: calls[0].args } : null };
  if (calls[0]) {
    const again = await ai.models.generateContent({ model: opts.model, config, contents: [
      ...contents, { role: "model", parts },
      { role: "user", parts: [{ functionResponse: { id: calls[0].id, name: calls[0].name, response: { output: "18C" } } }] }] });
    out.after = again.text;
  }
  return out;
}

const SDKS = { anthropic, openai, responses, genai };

try {
  const out = await SDKS[opts.sdk]();
  process.stdout.write(JSON.stringify(out) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e?.message ?? e), status: e?.status ?? null }) + "\n");
  process.exitCode = 3;
}
