/**
 * Parameter names of a task function, so that Celery's keyword arguments can
 * be placed by name (`add(2, y=3)`), and argument-count checks with Python's
 * messages.
 */

/** What is known of a function's parameters. */
export interface ParamInfo {
  /** Names in order (without a rest parameter). */
  names: string[];
  /** How many must be given (Python: those before the first default). */
  required: number;
  /** Whether a rest parameter takes any extra positional arguments. */
  rest: boolean;
}

/** Read parameter names from a function's source; destructured params get `arg<i>` names. */
export function parseParams(fn: (...args: never[]) => unknown, skip = 0): ParamInfo {
  const src = Function.prototype.toString.call(fn);
  let list = '';
  const arrowSingle = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (arrowSingle) list = arrowSingle[1];
  else {
    const start = src.indexOf('(');
    let depth = 0;
    let end = start;
    for (let i = start; i < src.length; i++) {
      const c = src[i];
      if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') {
        depth--;
        if (depth === 0) {
          end = i;
          break;
        }
      }
    }
    list = start >= 0 ? src.slice(start + 1, end) : '';
  }
  const parts = splitTopLevel(list).map((p) => p.trim()).filter(Boolean);
  const names: string[] = [];
  let required = -1;
  let rest = false;
  parts.forEach((p, i) => {
    if (p.startsWith('...')) {
      rest = true;
      return;
    }
    const hasDefault = /^[^=]*=(?!>)/.test(p);
    const m = /^([A-Za-z_$][\w$]*)/.exec(p);
    names.push(m ? m[1] : `arg${i}`);
    if (hasDefault && required < 0) required = names.length - 1;
  });
  if (required < 0) required = names.length;
  const s = Math.min(skip, names.length);
  return { names: names.slice(s), required: Math.max(0, required - s), rest };
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  let quote: string | null = null;
  for (const c of s) {
    if (quote) {
      cur += c;
      if (c === quote) quote = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    if (c === '(' || c === '[' || c === '{') depth++;
    if (c === ')' || c === ']' || c === '}') depth--;
    if (c === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur);
  return out;
}

/** True when `o` has no enumerable keys (without making the array `Object.keys` would). */
export function isEmpty(o: Readonly<Record<string, unknown>>): boolean {
  for (const _ in o) return false;
  return true;
}

/**
 * Place args and kwargs as positional arguments, checking counts the way
 * Python does. Throws TypeError with Python's message.
 */
export function bindArguments(name: string, info: ParamInfo, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>, acceptsKwargs: boolean): readonly unknown[] {
  // Positional arguments only (the usual call): nothing to place, the counts to check.
  if (isEmpty(kwargs) && (info.rest || args.length <= info.names.length) && args.length >= info.required) return args;
  const out: unknown[] = [...args];
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kwargs)) {
    const i = info.names.indexOf(k);
    if (i < 0) {
      extra[k] = v;
      continue;
    }
    if (i < args.length) throw new TypeError(`${name}() got multiple values for argument '${k}'`);
    while (out.length < i) out.push(undefined);
    out[i] = v;
  }
  if (Object.keys(extra).length) {
    if (!acceptsKwargs) throw new TypeError(`${name}() got an unexpected keyword argument '${Object.keys(extra)[0]}'`);
    while (out.length < info.names.length) out.push(undefined);
    out.push(extra);
    return out;
  }
  if (!info.rest && args.length > info.names.length) {
    throw new TypeError(`${name}() takes ${info.names.length} positional argument${info.names.length === 1 ? '' : 's'} but ${args.length} were given`);
  }
  const missing = info.names.slice(0, info.required).filter((_, i) => out[i] === undefined && i >= args.length && !(info.names[i] in kwargs));
  if (missing.length) {
    throw new TypeError(`${name}() missing ${missing.length} required positional argument${missing.length === 1 ? '' : 's'}: ${missing.map((m) => `'${m}'`).join(', ')}`);
  }
  return out;
}
