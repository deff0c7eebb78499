/**
 * Python-style `repr()` of JSON values, for the `argsrepr` / `kwargsrepr`
 * headers and for ChordError texts, so that logs and Flower read the same
 * whichever side sent the message.
 */

const MAX_REPR = 1024;

/** Python's repr of one JSON-ish value. */
export function pyRepr(v: unknown, depth = 0): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    return String(v);
  }
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'string') return pyStr(v);
  if (depth > 20) return '...';
  if (Array.isArray(v)) return `[${v.map((x) => pyRepr(x, depth + 1)).join(', ')}]`;
  if (v instanceof Date) return pyStr(v.toISOString());
  if (v instanceof Error) return `${v.name}(${pyStr(v.message)})`;
  // A value with a wire form (a Signature) is shown as that form, as Celery shows a signature as its dict.
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return pyRepr((v as { toJSON(): unknown }).toJSON(), depth + 1);
  if (typeof v === 'object') {
    const parts = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyStr(k)}: ${pyRepr(x, depth + 1)}`);
    return `{${parts.join(', ')}}`;
  }
  return pyStr(String(v));
}

function pyStr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else out += ch;
  }
  return out + quote;
}

function truncate(s: string): string {
  return s.length > MAX_REPR ? `${s.slice(0, MAX_REPR - 3)}...` : s;
}

/** repr of a positional-argument tuple: `(2, 3)`, `(1,)`, `()`. */
export function argsRepr(args: readonly unknown[]): string {
  if (args.length === 1) return truncate(`(${pyRepr(args[0])},)`);
  return truncate(`(${args.map((a) => pyRepr(a)).join(', ')})`);
}

/** repr of a kwargs map: `{'y': 2}`. */
export function kwargsRepr(kwargs: Readonly<Record<string, unknown>>): string {
  return truncate(pyRepr(kwargs));
}

/** repr of an exception object as Python prints it: `ValueError('boom', 42)`. */
export function excRepr(excType: string, args: readonly unknown[]): string {
  return `${excType}(${args.map((a) => pyRepr(a)).join(', ')})`;
}
