// Spawns another node script (inheriting NODE_OPTIONS); prints its own pid and the child's output.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./fetch_raw.mjs', import.meta.url));
const child = execFileSync(process.execPath, [script, 'basic'], { encoding: 'utf8' });
process.stdout.write(JSON.stringify({ pid: process.pid, child: JSON.parse(child) }) + '\n');
