// Official openai npm client with its default base URL. Usage: node sdk_openai.mjs plain|stream|tools
import OpenAI from 'openai';

const client = new OpenAI({ maxRetries: 0 });
const base = { model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] };
const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
const mode = process.argv[2];
let out;
if (mode === 'plain') {
  const r = await client.chat.completions.create(base);
  out = { text: r.choices[0].message.content };
} else if (mode === 'stream') {
  const deltas = [];
  for await (const ch of await client.chat.completions.create({ ...base, stream: true })) {
    const d = ch.choices[0] && ch.choices[0].delta.content;
    if (d) deltas.push(d);
  }
  out = { deltas, text: deltas.join('') };
} else if (mode === 'tools') {
  const fragments = [];
  let name = null;
  for await (const ch of await client.chat.completions.create({ ...base, tools, stream: true })) {
    for (const tc of (ch.choices[0] && ch.choices[0].delta.tool_calls) || []) {
      if (tc.function && tc.function.name) name = tc.function.name;
      if (tc.function && tc.function.arguments) fragments.push(tc.function.arguments);
    }
  }
  out = { name, fragments, args: JSON.parse(fragments.join('')) };
}
process.stdout.write(JSON.stringify(out) + '\n');
