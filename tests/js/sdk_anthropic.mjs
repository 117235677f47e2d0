// Official @anthropic-ai/sdk with its default base URL. Usage: node sdk_anthropic.mjs plain|stream|tools
import Anthropic from '@anthropic-ai/sdk';

const client = new Anthropic({ maxRetries: 0 });
const base = { model: 'claude-test', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };
const tools = [{ name: 'get_weather', description: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
const mode = process.argv[2];
let out;
if (mode === 'plain') {
  const m = await client.messages.create(base);
  out = { text: m.content[0].text, usage: m.usage };
} else if (mode === 'stream') {
  const s = client.messages.stream(base);
  const deltas = [];
  s.on('text', (d) => deltas.push(d));
  const m = await s.finalMessage();
  out = { deltas, text: m.content[0].text };
} else if (mode === 'tools') {
  const s = client.messages.stream({ ...base, tools });
  const fragments = [];
  s.on('inputJson', (frag) => fragments.push(frag));
  const m = await s.finalMessage();
  out = { fragments, tool: m.content[0] };
}
process.stdout.write(JSON.stringify(out) + '\n');
