/**
 * Celery's JSON value encoding (kombu's `json` serializer), both ways.
 *
 * Encoding follows kombu 5.2.4: a `Date` becomes an ISO-8601 string with six
 * fraction digits and a `Z` suffix, a `bigint` becomes a bare JSON integer,
 * `undefined` becomes `null`. Decoding is tolerant of what Python emits and
 * `JSON.parse` rejects: `NaN`, `Infinity`, `-Infinity`, and integers beyond
 * 2^53 (returned as `bigint` so that no digit is lost). kombu ≥ 5.3 wraps some
 * values as `{"__type__": …, "__value__": …}`; those envelopes are unwrapped.
 */

/** Any value the JSON serializer can carry. */
export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | { [key: string]: JsonValue };

/** Raised when a text is not JSON, even by Python's looser rules. */
export class JsonDecodeError extends Error {
  override name = 'JsonDecodeError';
}

/** Raised when a value cannot be written as JSON (a function, a symbol, a cycle). */
export class JsonEncodeError extends Error {
  override name = 'EncodeError';
}

/** Format a Date the way kombu 5.2.4 writes an aware UTC datetime. */
export function formatPythonDatetime(date: Date, suffix: 'Z' | '+00:00' | '' = 'Z'): string {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.600Z
  return `${iso.slice(0, 19)}.${iso.slice(20, 23)}000${suffix}`;
}

function replacer(this: unknown, key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return { __celeriac_bigint__: value.toString() };
  const raw = (this as Record<string, unknown>)[key];
  if (raw instanceof Date) return formatPythonDatetime(raw);
  if (typeof value === 'function' || typeof value === 'symbol') {
    throw new JsonEncodeError(`Object of type ${typeof value} is not JSON serializable`);
  }
  if (typeof value === 'number' && !Number.isFinite(value)) {
    return { __celeriac_float__: Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity' };
  }
  return value;
}

/** True when JSON.stringify alone writes the value as Celery's encoder would (no Date, bigint, NaN, class instance, undefined). */
function isPlainJson(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      if (depth > 64) return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!isPlainJson(v[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const k in v as Record<string, unknown>) if (!isPlainJson((v as Record<string, unknown>)[k], depth + 1)) return false;
      return true;
    }
    default:
      return false;
  }
}

const SPECIAL = /\{"__celeriac_(?:bigint|float)__":"([^"]+)"\}/g;

/**
 * Encode a value as JSON text the way Celery's JSON serializer does. Dates
 * inside the value (not at the top level of `Date.prototype.toJSON` callers)
 * become kombu's datetime strings; NaN and ±Infinity are written as Python
 * writes them, so a Python peer reads the same float back.
 */
export function encodeJson(value: unknown): string {
  // The common case (numbers, strings, plain arrays and objects) needs no replacer, which is much slower.
  if (isPlainJson(value, 0)) return JSON.stringify(value);
  let text: string;
  try {
    text = JSON.stringify(value, replacer);
  } catch (err) {
    if (err instanceof JsonEncodeError) throw err;
    throw new JsonEncodeError((err as Error).message, { cause: err });
  }
  if (text === undefined) return 'null';
  if (text.includes('__celeriac_')) text = text.replace(SPECIAL, (_m, raw: string) => raw);
  return text;
}

/**
 * Encode like `encodeJson`, laid out as Python's `json.dumps` lays it out:
 * `", "` and `": "` separators and non-ASCII characters escaped. Use it for
 * text compared byte for byte with what a Python peer writes, such as the
 * members of the chord counter's sorted set (celery-wire.md §4.4), so that a
 * part reported by both a Python and a celeriac worker is counted once.
 */
export function encodeJsonPython(value: unknown): string {
  const text = encodeJson(value);
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const code = text.charCodeAt(i);
    if (inString) {
      if (c === '\\') {
        out += c + text[++i];
        continue;
      }
      if (c === '"') inString = false;
      out += code < 0x20 || code > 0x7e ? `\\u${code.toString(16).padStart(4, '0')}` : c;
    } else {
      if (c === '"') inString = true;
      out += c === ',' ? ', ' : c === ':' ? ': ' : c;
    }
  }
  return out;
}

const TYPE_KEY = '__type__';

function unwrapTyped(value: unknown): unknown {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = unwrapTyped(value[i]);
    return value;
  }
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    if (keys.length === 2 && TYPE_KEY in obj && '__value__' in obj) return decodeTypedEnvelope(obj);
    for (const k of keys) obj[k] = unwrapTyped(obj[k]);
  }
  return value;
}

function decodeTypedEnvelope(obj: Record<string, unknown>): unknown {
  const v = obj.__value__;
  switch (obj.__type__) {
    case 'datetime':
    case 'date':
      return new Date(String(v).endsWith('Z') || /[+-]\d\d:\d\d$/.test(String(v)) ? String(v) : `${String(v)}Z`);
    case 'time':
    case 'decimal':
      return String(v);
    case 'uuid':
      return typeof v === 'object' && v !== null && 'hex' in v ? hexToUuid(String((v as { hex: unknown }).hex)) : String(v);
    // Bytes come back as bytes (a Buffer), as kombu decodes them: the base64 text is not the value.
    case 'bytes':
      return Buffer.from(String(v), 'utf8');
    case 'base64':
      return Buffer.from(String(v), 'base64');
    default:
      throw new JsonDecodeError(`Unsupported type: ${JSON.stringify(obj.__type__)} in a kombu typed value`);
  }
}

function hexToUuid(hex: string): string {
  const h = hex.replace(/-/g, '');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Decode JSON text as Celery peers write it. Uses `JSON.parse` when it can and
 * falls back to a tolerant parser for NaN, Infinity and large integers.
 */
export function decodeJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
    if (hasUnsafeInteger(text)) value = new TolerantParser(text).parseDocument();
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    value = new TolerantParser(text).parseDocument();
  }
  if (text.includes(TYPE_KEY)) value = unwrapTyped(value);
  return value;
}

/**
 * A cheap scan for integer literals of 16+ digits, which JSON.parse would
 * round: a number token starts the document or follows `[`, `,` or `:`
 * (digits inside strings rarely match; when they do, the exact parser runs
 * for nothing but gives the same value).
 */
const UNSAFE_INTEGER = /(?:^|[:,[])\s*-?\d{16}/;

function hasUnsafeInteger(text: string): boolean {
  return UNSAFE_INTEGER.test(text);
}

/** A JSON parser that also accepts Python's NaN/Infinity and keeps big integers exact. */
class TolerantParser {
  private i = 0;
  constructor(private readonly s: string) {}

  parseDocument(): unknown {
    const v = this.value();
    this.ws();
    if (this.i !== this.s.length) this.fail('unexpected trailing characters');
    return v;
  }

  private fail(what: string): never {
    throw new JsonDecodeError(`Invalid JSON at position ${this.i}: ${what}`);
  }

  private ws(): void {
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (c === ' ' || c === '\n' || c === '\r' || c === '\t') this.i++;
      else break;
    }
  }

  private value(): unknown {
    this.ws();
    const c = this.s[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === 't') return this.literal('true', true);
    if (c === 'f') return this.literal('false', false);
    if (c === 'n') return this.literal('null', null);
    if (c === 'N') return this.literal('NaN', Number.NaN);
    if (c === 'I') return this.literal('Infinity', Number.POSITIVE_INFINITY);
    if (c === '-' && this.s.startsWith('-Infinity', this.i)) return this.literal('-Infinity', Number.NEGATIVE_INFINITY);
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    return this.fail(c === undefined ? 'unexpected end' : `unexpected ${JSON.stringify(c)}`);
  }

  private literal<T>(word: string, v: T): T {
    if (!this.s.startsWith(word, this.i)) this.fail(`expected ${word}`);
    this.i += word.length;
    return v;
  }

  private number(): number | bigint {
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.i, this.i + 400));
    if (!m) return this.fail('bad number');
    this.i += m[0].length;
    if (!m[1] && !m[2]) {
      const n = Number(m[0]);
      if (!Number.isSafeInteger(n)) return BigInt(m[0]);
      return n;
    }
    return Number(m[0]);
  }

  private string(): string {
    const start = this.i;
    this.i++;
    let escaped = false;
    while (this.i < this.s.length) {
      const c = this.s[this.i];
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') {
        this.i++;
        return JSON.parse(this.s.slice(start, this.i)) as string;
      }
      this.i++;
    }
    return this.fail('unterminated string');
  }

  private array(): unknown[] {
    this.i++;
    const out: unknown[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected , or ]');
    }
  }

  private object(): Record<string, unknown> {
    this.i++;
    const out: Record<string, unknown> = {};
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('expected a key');
      const k = this.string();
      this.ws();
      if (this.s[this.i++] !== ':') this.fail('expected :');
      out[k] = this.value();
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected , or }');
    }
  }
}
