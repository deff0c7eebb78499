// Copies the Redis Lua scripts next to the compiled adapters (tsc copies only .ts output).
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

for (const dir of ['broker/lua', 'backend/lua']) {
  const from = join('src', dir);
  if (!existsSync(from)) continue;
  cpSync(from, join('dist', dir), { recursive: true });
  console.log(`copied ${readdirSync(from).length} file(s) from ${from}`);
}
