/**
 * Celery's JSON value encoding (kombu's json serializer) and the Python reprs
 * celeriac writes in `argsrepr`/`kwargsrepr`, checked against
 * kombu-json-type-encoding.json (kombu 5.2.4) and kombu ≥ 5.3's typed
 * envelopes (celery-wire.md §1.11).
 */
import { describe, expect, it } from 'vitest';
import { argsRepr, decodeJson, encodeJson, encodeJsonPython, excRepr, JsonDecodeError, JsonEncodeError, kwargsRepr, pyRepr } from '../../src/protocol/index.js';
import { loadSample } from '../support/wire-fixtures.js';

const kombu = loadSample<{ encoded: Record<string, string>; loads_of_type_envelope_in_5_2_4: string }>('kombu-json-type-encoding');
const enc = kombu.encoded;

describe('what kombu 5.2.4 writes, read by celeriac', () => {
  it('an aware UTC datetime is a string with six fraction digits and Z (kept as a string, as kombu 5.2.4 reads it)', () => {
    expect(enc.aware_datetime_utc).toBe('"2026-01-02T03:04:05.600000Z"');
    expect(decodeJson(enc.aware_datetime_utc)).toBe('2026-01-02T03:04:05.600000Z');
  });

  it.each([
    ['aware_datetime_plus2', '2026-01-02T03:04:05+02:00'],
    ['naive_datetime', '2026-01-02T03:04:05'],
    ['date', '2026-01-02T00:00:00'],
    ['time', '03:04:05'],
    ['uuid', '12345678-1234-5678-1234-567812345678'],
    ['decimal', '1.50'],
  ])('%s arrives as the string %s', (key, value) => {
    expect(decodeJson(enc[key])).toBe(value);
  });

  it('a tuple is a list', () => {
    expect(decodeJson(enc.tuple)).toEqual([1, 2]);
  });

  it('2^70 is read without losing a digit, as a bigint', () => {
    expect(enc.big_int).toBe('1180591620717411303424');
    const v = decodeJson(enc.big_int);
    expect(typeof v).toBe('bigint');
    expect(v).toBe(2n ** 70n);
    expect(decodeJson(`{"n": [${enc.big_int}, -${enc.big_int}, 9007199254740993, 9007199254740991]}`)).toEqual({
      n: [2n ** 70n, -(2n ** 70n), 9007199254740993n, 9007199254740991],
    });
  });

  it('NaN, Infinity and -Infinity, which JSON.parse rejects, are read as numbers', () => {
    expect(enc.float_nan).toBe('NaN');
    expect(decodeJson(enc.float_nan)).toBeNaN();
    expect(decodeJson('[NaN, Infinity, -Infinity, 1.5]')).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5]);
    expect(decodeJson('{"a": Infinity, "b": "NaN inside a string"}')).toEqual({ a: Number.POSITIVE_INFINITY, b: 'NaN inside a string' });
  });

  it('long digit runs inside strings stay strings', () => {
    expect(decodeJson('["123456789012345678901234", 1]')).toEqual(['123456789012345678901234', 1]);
  });

  it('text that is not JSON even by Python rules raises JsonDecodeError', () => {
    expect(() => decodeJson('[1, 2')).toThrow(JsonDecodeError);
    expect(() => decodeJson('nan')).toThrow(JsonDecodeError);
  });
});

describe('what celeriac writes, as kombu 5.2.4 writes it', () => {
  it('a Date is an aware UTC datetime: six fraction digits and Z, at any depth', () => {
    const d = new Date('2026-01-02T03:04:05.600Z');
    expect(encodeJson(d)).toBe(enc.aware_datetime_utc);
    expect(encodeJson({ at: [d] })).toBe(`{"at":[${enc.aware_datetime_utc}]}`);
  });

  it('NaN and ±Infinity are written as Python writes them', () => {
    expect(encodeJson(Number.NaN)).toBe(enc.float_nan);
    expect(encodeJson([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])).toBe('[Infinity,-Infinity]');
  });

  it('a bigint is a bare integer (2^70 round-trips)', () => {
    expect(encodeJson(2n ** 70n)).toBe(enc.big_int);
    expect(decodeJson(encodeJson({ n: 2n ** 70n }))).toEqual({ n: 2n ** 70n });
  });

  it('undefined inside a list is null', () => {
    expect(encodeJson([1, undefined])).toBe('[1,null]');
  });

  it('a function cannot be encoded (Python raises for bytes in the same way)', () => {
    expect(enc.bytes).toMatch(/is not JSON serializable/);
    expect(() => encodeJson({ f: () => 1 })).toThrow(JsonEncodeError);
  });
});

describe("kombu ≥ 5.3 typed envelopes ({'__type__', '__value__'})", () => {
  it('kombu 5.2.4 leaves an envelope as a plain dict; celeriac, like 5.3, unwraps it', () => {
    expect(kombu.loads_of_type_envelope_in_5_2_4).toBe("{'__type__': 'datetime', '__value__': '2026-01-02T03:04:05+00:00'}");
    const v = decodeJson('{"__type__": "datetime", "__value__": "2026-01-02T03:04:05+00:00"}');
    expect(v).toBeInstanceOf(Date);
    expect((v as Date).toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it.each([
    ['datetime with microseconds', '{"__type__": "datetime", "__value__": "2026-01-02T03:04:05.600000+00:00"}', '2026-01-02T03:04:05.600Z'],
    ['datetime with another offset', '{"__type__": "datetime", "__value__": "2026-01-02T03:04:05+02:00"}', '2026-01-02T01:04:05.000Z'],
    ['naive datetime (UTC)', '{"__type__": "datetime", "__value__": "2026-01-02T03:04:05"}', '2026-01-02T03:04:05.000Z'],
    ['date (midnight UTC)', '{"__type__": "date", "__value__": "2026-01-02"}', '2026-01-02T00:00:00.000Z'],
  ])('%s becomes a Date', (_what, text, iso) => {
    const v = decodeJson(text);
    expect(v).toBeInstanceOf(Date);
    expect((v as Date).toISOString()).toBe(iso);
  });

  it('time and decimal become the strings kombu 5.2.4 would have sent', () => {
    expect(decodeJson('[{"__type__": "time", "__value__": "03:04:05"}, {"__type__": "decimal", "__value__": "1.50"}]')).toEqual(['03:04:05', '1.50']);
  });

  it('a uuid ({hex, version}) becomes its canonical text', () => {
    expect(decodeJson('{"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678", "version": 4}}')).toBe(enc.uuid.slice(1, -1));
  });

  it('bytes and base64 both come back as the bytes Python sent', () => {
    const [utf8, b64] = decodeJson('[{"__type__": "bytes", "__value__": "hi"}, {"__type__": "base64", "__value__": "/wA="}]') as Uint8Array[];
    expect(Buffer.from(utf8).equals(Buffer.from('hi'))).toBe(true);
    expect([...b64]).toEqual([0xff, 0x00]);
  });

  it('envelopes nested in args and kwargs are unwrapped too', () => {
    const v = decodeJson('[[{"__type__": "decimal", "__value__": "2.5"}], {"when": {"__type__": "date", "__value__": "2026-01-02"}}, null]') as [unknown[], { when: Date }, null];
    expect(v[0]).toEqual(['2.5']);
    expect(v[1].when.getTime()).toBe(Date.UTC(2026, 0, 2));
  });

  it('an unknown __type__ raises, as kombu raises ValueError', () => {
    expect(() => decodeJson('{"__type__": "pickle", "__value__": "x"}')).toThrow(JsonDecodeError);
    expect(() => decodeJson('{"__type__": "pickle", "__value__": "x"}')).toThrow(/Unsupported type: "pickle"/);
  });

  it('objects with other keys besides __type__ are plain data', () => {
    expect(decodeJson('{"__type__": "pickle", "__value__": 1, "x": 2}')).toEqual({ __type__: 'pickle', __value__: 1, x: 2 });
  });
});

describe("Python's json.dumps layout (encodeJsonPython)", () => {
  it('writes a chord counter member byte for byte as Celery does: [1, "<id>", "SUCCESS", 0]', () => {
    const s = loadSample<{ during: Record<string, { type: string; value: Array<[string, number]> }> }>('redis-worker-chord-counter');
    const zset = Object.entries(s.during).find(([k]) => k.endsWith('.j'))?.[1];
    expect(zset?.type).toBe('zset');
    for (const [member] of zset?.value ?? []) {
      const [one, id, state, result] = JSON.parse(member) as [number, string, string, unknown];
      expect(encodeJsonPython([one, id, state, result])).toBe(member);
    }
    expect(encodeJsonPython([1, 'fd668ea8-e686-4747-8a11-66e93b34fe03', 'SUCCESS', 0])).toBe('[1, "fd668ea8-e686-4747-8a11-66e93b34fe03", "SUCCESS", 0]');
  });

  it('writes a failed part with its exception object as Python does', () => {
    const part = [1, 'e1', 'FAILURE', { exc_type: 'ValueError', exc_message: ['a, b: c', 42], exc_module: 'builtins' }];
    expect(encodeJsonPython(part)).toBe('[1, "e1", "FAILURE", {"exc_type": "ValueError", "exc_message": ["a, b: c", 42], "exc_module": "builtins"}]');
  });

  it('escapes non-ASCII and DEL as \\uXXXX, as ensure_ascii does, and leaves separators inside strings alone', () => {
    expect(encodeJsonPython({ 'k,:': 'café 😀\u007f', n: [1, 2] })).toBe('{"k,:": "caf\\u00e9 \\ud83d\\ude00\\u007f", "n": [1, 2]}');
    expect(encodeJsonPython('say "hi", ok: \\')).toBe('"say \\"hi\\", ok: \\\\"');
  });

  it('is read back to the same value', () => {
    const v = { a: [1, 'x, y'], b: { c: null }, d: 2n ** 70n };
    expect(decodeJson(encodeJsonPython(v))).toEqual(v);
  });
});

describe('Python reprs for argsrepr / kwargsrepr', () => {
  it('positional args are a tuple: "(2, 3)", "(1,)", "()"', () => {
    expect(argsRepr([2, 3])).toBe('(2, 3)');
    expect(argsRepr([1])).toBe('(1,)');
    expect(argsRepr([])).toBe('()');
    expect(argsRepr([[0, 2, 2]])).toBe('([0, 2, 2],)');
    expect(argsRepr(['4e0d529a-5401-46ea-9224-991277bc3148'])).toBe("('4e0d529a-5401-46ea-9224-991277bc3148',)");
  });

  it("kwargs are a dict: \"{'y': 2}\", \"{}\"", () => {
    expect(kwargsRepr({ y: 2 })).toBe("{'y': 2}");
    expect(kwargsRepr({})).toBe('{}');
    expect(kwargsRepr({ countdown: 6 })).toBe("{'countdown': 6}");
  });

  it('None, True, False, nested lists and dicts', () => {
    expect(pyRepr({ a: null, b: true, c: false, d: [1, 'x'], e: { f: 1.5 } })).toBe("{'a': None, 'b': True, 'c': False, 'd': [1, 'x'], 'e': {'f': 1.5}}");
    expect(pyRepr(2n ** 70n)).toBe('1180591620717411303424');
    expect(pyRepr([Number.NaN, Number.POSITIVE_INFINITY])).toBe('[nan, inf]');
  });

  it("strings are quoted as Python quotes them", () => {
    expect(pyRepr('abc')).toBe("'abc'");
    expect(pyRepr("it's")).toBe('"it\'s"');
    expect(pyRepr('a"b\'c')).toBe("'a\"b\\'c'");
    expect(pyRepr('line\nnext\\')).toBe("'line\\nnext\\\\'");
  });

  it('a value with a wire form (toJSON) is shown as that form, not as its fields', () => {
    const sigLike = { secret: 'redis://:password@host', toJSON: () => ({ task: 'wp_tasks.add', args: [], subtask_type: null, immutable: false }) };
    expect(pyRepr({ task: sigLike })).toBe("{'task': {'task': 'wp_tasks.add', 'args': [], 'subtask_type': None, 'immutable': False}}");
  });

  it('long reprs are cut to 1024 characters (Celery caps argsrepr at 1024 too)', () => {
    const r = argsRepr([Array.from({ length: 600 }, (_, i) => i)]);
    expect(r).toHaveLength(1024);
    expect(r.endsWith('...')).toBe(true);
  });

  it("an exception's repr, as Celery puts it in a ChordError message", () => {
    const s = loadSample<{ chord_body_meta: { value: { result: { exc_message: string[] } } } }>('redis-worker-failure-propagation');
    const [message] = s.chord_body_meta.value.result.exc_message;
    expect(message).toMatch(/ raised ValueError\('header part failed', 42\)$/);
    expect(excRepr('ValueError', ['header part failed', 42])).toBe("ValueError('header part failed', 42)");
  });
});
