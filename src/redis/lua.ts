/** The text of a Lua script file shipped next to the module that uses it, read once per process. */
import { readFileSync } from 'node:fs';

const sources = new Map<string, string>();

/** The text of `file` in the `lua/` folder next to the module at `base` (its `import.meta.url`). */
export function luaSource(base: string, file: string): string {
  const url = new URL(`./lua/${file}`, base);
  let text = sources.get(url.href);
  if (text === undefined) sources.set(url.href, (text = readFileSync(url, 'utf8')));
  return text;
}
