/**
 * Golden fixtures, encode side: the canvases of the Celery 5.2.6 captures are
 * built with celeriac on memory:// (no worker), and what the app publishes is
 * compared field by field with what Celery published (celery-wire.md §1, §2.1).
 * Ids and times differ by nature: ids are compared by the relations between
 * them (which id equals which), times by offset from the send time.
 *
 * Deliberate differences from Celery 5.2.6, asserted where they show:
 * - `lang` is "ts" (Celery writes "py"; workers do not read it).
 * - Members of a plain group carry `group_index` = their position (Celery
 *   5.3.4+ does this; 5.2.6 writes null).
 * - Nested groups in a chord header are flattened in order, so `[a, group(b,
 *   c)]` gets indexes a=0, b=1, c=2 (Celery 5.2.6 reverses the nested group:
 *   a=0, c=1, b=2; canvas-semantics.md C-108).
 * - A JavaScript call has no tuple, so `argsrepr` is always tuple-shaped:
 *   `send_task(args=[1])` shows "(1,)" where Celery shows the list "[1]".
 * - Signature options (the dict form inside `embed` and in map/chunks kwargs):
 *   Celery's `freeze()` adds `reply_to` (its thread oid) to every frozen
 *   signature, and leaves `root_id`/`parent_id` out (null on a chord's header
 *   group); celeriac leaves `reply_to` out and records the `root_id` it froze
 *   the step with; members of a chord that travels inside a chain also carry
 *   their `group_id` (Celery adds it when the chord is applied). Workers on
 *   both sides take root/parent from the running request and the group from
 *   the chord's header id, and the Redis result backend ignores `reply_to`,
 *   so no reader depends on these keys. They are removed before comparing.
 */
import { describe, expect, it, vi } from 'vitest';
import { chain, chord, group, AsyncResult, GroupResult, Chord } from '../../src/index.js';
import { buildMeta } from '../../src/worker/meta.js';
import type { TaskRequest } from '../../src/worker/request.js';
import {
  decodeJson,
  deserializeException,
  encodeJson,
  encodeJsonPython,
  encodeTaskMessage,
  emptyEmbed,
  remoteErrorClass,
  serializeException,
  ChordError,
  NotRegistered,
  TaskError,
  TaskRevokedError,
  JS_EXCEPTION_MODULE,
  type ExceptionInfo,
  type SignatureDict,
  type WireMessage,
} from '../../src/protocol/index.js';
import { fixedClock, makeWireApp, type Published } from '../support/wire-capture.js';
import {
  amqpHeaders,
  amqpMessageProperties,
  inPublishOrder,
  loadSample,
  tuplesAsLists,
  type AmqpCapturedMessage,
  type BrokerSample,
  type RedisCapturedMessage,
} from '../support/wire-fixtures.js';

type WireApp = Awaited<ReturnType<typeof makeWireApp>>;
type Transport = 'redis' | 'amqp';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const CELERY_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/;

/** The parts of a message a Celery worker reads, as plain data. */
interface View {
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
  body: unknown;
}

function celeryViews(transport: Transport, s: BrokerSample<RedisCapturedMessage | AmqpCapturedMessage>): View[] {
  return inPublishOrder(s, transport).map((m) => {
    if (transport === 'redis') {
      const r = m as RedisCapturedMessage;
      const { delivery_info: _d, body_encoding: _b, delivery_tag: _t, ...properties } = r.envelope.properties;
      return { headers: r.envelope.headers, properties, body: r.decoded_body };
    }
    const a = m as AmqpCapturedMessage;
    return { headers: amqpHeaders(a), properties: amqpMessageProperties(a), body: a.decoded_body };
  });
}

function ourViews(published: Published[]): View[] {
  return published.map((p) => ({ headers: p.message.headers, properties: p.message.properties, body: p.body }));
}

const isSigDict = (v: unknown): v is { task: string; options: Record<string, unknown> } =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { task?: unknown }).task === 'string' && 'options' in v && 'kwargs' in v;

/** Drop the signature-option keys listed in the header comment, everywhere in a value. */
function withoutUnreadOptions(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutUnreadOptions);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = withoutUnreadOptions(x);
  if (isSigDict(v)) {
    const o = { ...(out.options as Record<string, unknown>) };
    delete o.reply_to;
    delete o.root_id;
    delete o.parent_id;
    if (o.chord) delete o.group_id;
    out.options = o;
  }
  return out;
}

/**
 * Comparable form of a scenario: headers that vary by nature (lang, origin,
 * the reprs, eta/expires) reduced to what must match, unread signature options
 * dropped, the expiration TTL reduced to its presence, and every uuid
 * replaced by its order of first appearance (keys walked in sorted order),
 * so that "this id equals that id" is compared too.
 */
function comparable(resultId: string, views: View[], opts: { plainGroup?: boolean } = {}): unknown {
  const ids = new Map<string, string>();
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (!UUID.test(v)) return v;
      if (!ids.has(v)) ids.set(v, `<id ${ids.size + 1}>`);
      return ids.get(v);
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = walk((v as Record<string, unknown>)[k]);
    return out;
  };
  const reduced = views.map((m) => {
    const { lang: _l, origin: _o, argsrepr: _a, kwargsrepr: _k, eta, expires, group_index, ...headers } = m.headers;
    return {
      headers: {
        ...headers,
        eta: eta === null ? null : 'set',
        expires: expires === null ? null : 'set',
        group_index: opts.plainGroup ? 'plain group' : group_index,
      },
      // The TTL is checked on its own (it is taken a moment after the send time, so it may read 119999).
      properties: { ...m.properties, ...('expiration' in m.properties ? { expiration: 'set' } : {}) },
      body: withoutUnreadOptions(m.body),
    };
  });
  return walk([resultId, reduced]);
}

/** The canvases of the captures, built with celeriac. */
const SCENARIOS: Record<string, { build: (w: WireApp) => Promise<{ id: string }>; plainGroup?: boolean }> = {
  'plain-task': { build: ({ add }) => add.delay(2, 3) },
  'countdown-expires': { build: ({ add }) => add.applyAsync([2, 3], {}, { countdown: 30, expires: 120 }) },
  'send-task-options': {
    build: ({ app }) =>
      app.sendTask('wp_tasks.add', [1], { y: 2 }, {
        timeLimit: 30,
        softTimeLimit: 20,
        shadow: 'add-shadowed',
        ignoreResult: true,
        headers: { 'x-custom': 'hdr' },
        taskId: '11111111-2222-3333-4444-555555555555',
      }),
  },
  'priority-5': { build: ({ add }) => add.applyAsync([1, 1], {}, { priority: 5 }) },
  'priority-9': { build: ({ add }) => add.applyAsync([1, 1], {}, { priority: 9 }) },
  'chain-3': { build: ({ add, mul }) => chain(add.s(1, 2), add.s(3), mul.s(10)).applyAsync() },
  'chain-link-error': { build: ({ add, fail, onErr }) => chain(add.s(1, 2), fail.s()).applyAsync([], {}, { linkError: onErr.s() }) },
  // Celery's chain(...) folds `|` over its arguments (C-033); this is the same fold written out.
  'chain-with-group-becomes-chord': {
    build: ({ add, tsum, mul }) => add.s(1, 1).pipe(group(add.s(10), add.s(20))).pipe(tsum.s()).pipe(mul.s(10)).applyAsync() as Promise<{ id: string }>,
  },
  'group-3': { build: ({ add }) => group([0, 1, 2].map((i) => add.s(i, i))).applyAsync(), plainGroup: true },
  'chord-3': { build: ({ add, tsum }) => chord([0, 1, 2].map((i) => add.s(i, i)), tsum.s()).applyAsync() },
  'link-and-link-error': { build: ({ add, mul, onErr, oldErr }) => add.applyAsync([1, 2], {}, { link: mul.s(2), linkError: [onErr.s(), oldErr.s()] }) },
  chunks: { build: ({ add }) => add.chunks([[0, 0], [1, 1], [2, 2], [3, 3]], 2).applyAsync(), plainGroup: true },
  map: { build: ({ echo }) => echo.map([1, 2, 3]).applyAsync() },
  starmap: { build: ({ add }) => add.starmap([[1, 2], [3, 4]]).applyAsync() },
};

async function send(name: string): Promise<{ id: string; published: Published[]; w: WireApp; sentAt: [number, number] }> {
  const w = await makeWireApp();
  const before = Date.now();
  const r = await SCENARIOS[name].build(w);
  const after = Date.now();
  const published = w.take();
  await w.app.close();
  return { id: r.id, published, w, sentAt: [before, after] };
}

describe.each(['redis', 'amqp'] as const)('celeriac publishes what Celery published (%s capture)', (transport) => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    const s = loadSample<BrokerSample<RedisCapturedMessage | AmqpCapturedMessage>>(`${transport}-broker-${name}`);
    it(`${name}: ${s._note.slice(0, 90)}`, async () => {
      const { id, published } = await send(name);
      const theirs = celeryViews(transport, s);
      const ours = ourViews(published);
      expect(ours).toHaveLength(theirs.length);
      for (const [i, m] of ours.entries()) {
        // Same header and property names (a custom header included), same body layout with all four embed keys.
        expect(Object.keys(m.headers).sort(), 'header names').toEqual(Object.keys(theirs[i].headers).sort());
        expect(Object.keys(m.properties).sort(), 'property names').toEqual(Object.keys(theirs[i].properties).sort());
        expect(Object.keys((m.body as unknown[])[2] as object).sort()).toEqual(['callbacks', 'chain', 'chord', 'errbacks']);
        expect(m.headers.lang).toBe('ts');
        expect(m.headers.origin).toMatch(/^gen\d+@\S+$/);
        expect(tuplesAsLists(m.headers.argsrepr as string), 'argsrepr').toBe(tuplesAsLists(theirs[i].headers.argsrepr as string));
        expect(tuplesAsLists(m.headers.kwargsrepr as string), 'kwargsrepr').toBe(tuplesAsLists(theirs[i].headers.kwargsrepr as string));
        if (scenario.plainGroup) {
          expect(theirs[i].headers.group_index).toBeNull();
          expect(m.headers.group_index).toBe(i);
        }
      }
      expect(comparable(id, ours, scenario)).toEqual(comparable(s.returned_result_id, theirs, scenario));
    });
  }
});

describe('the Redis envelope (kombu virtual transport) matches Celery’s', () => {
  it.each(Object.keys(SCENARIOS))('%s', async (name) => {
    const s = loadSample<BrokerSample<RedisCapturedMessage>>(`redis-broker-${name}`);
    const { published } = await send(name);
    const theirs = inPublishOrder(s, 'redis');
    for (const [i, p] of published.entries()) {
      const env = p.envelope;
      const celery = theirs[i].envelope;
      expect(Object.keys(env).sort()).toEqual(Object.keys(celery).sort());
      expect(Object.keys(env.properties).sort()).toEqual(Object.keys(celery.properties).sort());
      expect(env['content-type']).toBe('application/json');
      expect(env['content-encoding']).toBe('utf-8');
      expect(env.properties.body_encoding).toBe('base64');
      expect(env.properties.delivery_info).toEqual(celery.properties.delivery_info);
      expect(env.properties.delivery_tag).toMatch(UUID);
      expect(env.properties.correlation_id).toBe(env.headers.id);
      expect(env.properties.delivery_mode).toBe(2);
      expect(env.properties.priority).toBe(celery.properties.priority);
      expect(env.properties.expiration === undefined).toBe(celery.properties.expiration === undefined);
      expect(decodeJson(Buffer.from(env.body, 'base64').toString('utf8'))).toEqual(p.body);
      expect(theirs[i].redis_key.startsWith(p.target.queue)).toBe(true);
    }
  });
});

describe('an envelope’s JSON text', () => {
  it('is what encoding the envelope as a whole writes, for small and large bodies, with any header values', async () => {
    const { encodeEnvelope, toEnvelope, parseEnvelope } = await import('../../src/protocol/index.js');
    for (const size of [0, 10, 300, 100_000]) {
      const msg = encodeTaskMessage({ name: 't', id: `id-${size}`, args: ['x'.repeat(size), 'é"\\\n'], kwargs: {}, embed: emptyEmbed(), origin: 'o', replyTo: 'r', extraHeaders: { big: 2n ** 70n, q: '"' } });
      const env = toEnvelope(msg, 'ex', 'rk');
      const text = encodeEnvelope(env);
      expect(text).toBe(encodeJson(env));
      expect(parseEnvelope(text)).toEqual(parseEnvelope(encodeJson(env)));
    }
  });

  it('as bytes is the same text: a buffer for a large body, the string for a small one', async () => {
    const { encodeEnvelope, envelopeBytes, toEnvelope } = await import('../../src/protocol/index.js');
    for (const size of [0, 300, 3000, 100_000]) {
      const msg = encodeTaskMessage({ name: 't', id: `id-${size}`, args: ['x'.repeat(size), 'é"\\\n'], kwargs: {}, embed: emptyEmbed(), origin: 'ö', replyTo: 'r', extraHeaders: { q: '"€' } });
      const env = toEnvelope(msg, 'ex', 'rk');
      const bytes = envelopeBytes(env);
      expect(typeof bytes === 'string').toBe(size < 3000);
      expect(Buffer.from(bytes).equals(Buffer.from(encodeEnvelope(env), 'utf8'))).toBe(true);
    }
  });
});

describe('options on the wire', () => {
  it('countdown 30 and expires 120: eta = send + 30 s and expires = send + 120 s, six-digit +00:00 times; expiration "120000"', async () => {
    const { published, sentAt } = await send('countdown-expires');
    const { headers, properties } = published[0].message;
    const celery = loadSample<BrokerSample<RedisCapturedMessage>>('redis-broker-countdown-expires').messages[0].envelope;
    for (const h of [headers, celery.headers]) {
      expect(h.eta).toMatch(CELERY_TIME);
      expect(h.expires).toMatch(CELERY_TIME);
      expect(Date.parse(h.expires as string) - Date.parse(h.eta as string)).toBe(90_000);
    }
    const eta = Date.parse(headers.eta as string);
    expect(eta).toBeGreaterThanOrEqual(sentAt[0] + 30_000);
    expect(eta).toBeLessThanOrEqual(sentAt[1] + 30_000);
    expect(celery.properties.expiration).toBe('120000');
    expect(Number(properties.expiration)).toBeGreaterThan(120_000 - 1000);
    expect(Number(properties.expiration)).toBeLessThanOrEqual(120_000);
    expect(properties.expiration).toMatch(/^\d+$/);
  });

  it('with an injected clock, eta and expires come from that clock to the millisecond', async () => {
    const now = Date.parse('2026-11-21T23:08:45.350Z');
    const w = await makeWireApp({ clock: fixedClock(now) });
    await w.add.applyAsync([2, 3], {}, { countdown: 30, expires: 120 });
    const [{ message }] = w.take();
    await w.app.close();
    expect(message.headers.eta).toBe('2026-11-21T23:09:15.350000+00:00');
    expect(message.headers.expires).toBe('2026-11-21T23:10:45.350000+00:00');
  });

  // KNOWN BUG outside src/protocol (reported): src/app.ts encode() does not pass its clock's
  // time to encodeTaskMessage, which then computes the AMQP TTL from Date.now(). With a clock
  // behind real time the TTL clamps to "0" and RabbitMQ drops the message at once.
  it('with an injected clock, the expiration TTL is computed from that clock too ("120000")', async () => {
    const w = await makeWireApp({ clock: fixedClock(Date.parse('2026-11-21T23:08:45.350Z')) });
    await w.add.applyAsync([2, 3], {}, { expires: 120 });
    const [{ message }] = w.take();
    await w.app.close();
    expect(message.properties.expiration).toBe('120000');
  });

  it('encodeTaskMessage computes the TTL from the sender’s time when given one, and sends none without expires', () => {
    const now = Date.parse('2026-11-21T23:08:45.350Z');
    const spec = { name: 'wp_tasks.add', id: 'i1', args: [2, 3], kwargs: {}, embed: emptyEmbed(), origin: 'gen1@h', replyTo: 'r1' };
    const withExpiry = encodeTaskMessage({ ...spec, now, eta: new Date(now + 30_000), expires: new Date(now + 120_000) });
    expect(withExpiry.properties.expiration).toBe('120000');
    expect(withExpiry.headers.eta).toBe('2026-11-21T23:09:15.350000+00:00');
    expect(encodeTaskMessage({ ...spec, now, expires: new Date(now - 5_000) }).properties.expiration).toBe('0');
    expect(encodeTaskMessage(spec).properties).not.toHaveProperty('expiration');
  });

  it('priority 5 and 9 are the message priority; no priority is 0', async () => {
    for (const p of [5, 9]) {
      const { published } = await send(`priority-${p}`);
      expect(published[0].message.properties.priority).toBe(p);
      expect(published[0].envelope.properties.priority).toBe(p);
    }
    expect((await send('plain-task')).published[0].message.properties.priority).toBe(0);
  });

  it('time limits are [hard, soft]; shadow, ignore_result and custom headers are headers', async () => {
    const { published } = await send('send-task-options');
    const h = published[0].message.headers;
    expect(h.timelimit).toEqual([30, 20]);
    expect(h.shadow).toBe('add-shadowed');
    expect(h.ignore_result).toBe(true);
    expect(h['x-custom']).toBe('hdr');
    expect(h.id).toBe('11111111-2222-3333-4444-555555555555');
    expect(published[0].message.properties.correlation_id).toBe(h.id);
  });

  it('a plain send has the same header names, in the same order, as Celery 5.2.6', async () => {
    const { published } = await send('plain-task');
    const celery = loadSample<BrokerSample<RedisCapturedMessage>>('redis-broker-plain-task').messages[0].envelope;
    expect(Object.keys(published[0].message.headers)).toEqual(Object.keys(celery.headers));
  });
});

describe('canvases', () => {
  // KNOWN BUG outside src/protocol (reported): chain() in src/canvas/index.ts builds `new Chain(tasks)`
  // instead of folding `|` over its arguments (canvas-semantics.md C-033), so the steps after a
  // group's chord body stay separate chain steps: embed.chain = [mul, chord(group, tsum)] where
  // Celery sends [chord(group, chain(tsum, mul))]. Both workers run either form; the wire differs.
  it('chain(...) itself sends the chord of a group and what follows it as Celery does', async () => {
    const s = loadSample<BrokerSample<RedisCapturedMessage>>('redis-broker-chain-with-group-becomes-chord');
    const w = await makeWireApp();
    const r = await chain(w.add.s(1, 1), group(w.add.s(10), w.add.s(20)), w.tsum.s(), w.mul.s(10)).applyAsync();
    const published = w.take();
    await w.app.close();
    const embedded = (published[0].body[2].chain as Array<{ task: string }>).map((d) => d.task);
    expect(embedded).toEqual((s.messages[0].decoded_body[2]?.chain as Array<{ task: string }>).map((d) => d.task));
    expect(comparable(r.id, ourViews(published))).toEqual(comparable(s.returned_result_id, celeryViews('redis', s)));
  });

  it('a chord writes its size (the .s key) before the last header part is sent; a chord inside a chain does not yet', async () => {
    const w = await makeWireApp();
    const backend = await w.app.resultBackend();
    const setChordSize = vi.spyOn(backend, 'setChordSize');
    const sentBeforeSize: number[] = [];
    setChordSize.mockImplementation(async function (this: typeof backend, ...args) {
      sentBeforeSize.push(w.count());
      return backend.constructor.prototype.setChordSize.apply(this, args);
    });
    const r = await chord([0, 1, 2].map((i) => w.add.s(i, i)), w.tsum.s()).applyAsync();
    const published = w.take();
    const gid = published[0].message.headers.group as string;
    expect(setChordSize).toHaveBeenCalledTimes(1);
    expect(setChordSize).toHaveBeenCalledWith(gid, 3);
    expect(sentBeforeSize[0]).toBeLessThan(published.length);
    const celery = loadSample<BrokerSample<RedisCapturedMessage>>('redis-broker-chord-3').backend_keys_after_send ?? {};
    expect(Object.values(celery).map((k) => k.raw)).toContain('3');
    expect(((published[0].body[2].chord as { options: { task_id: string } }).options.task_id)).toBe(r.id);

    setChordSize.mockClear();
    await w.add.s(1, 1).pipe(group(w.add.s(10), w.add.s(20))).pipe(w.tsum.s()).applyAsync();
    w.take();
    expect(setChordSize).not.toHaveBeenCalled();
    await w.app.close();
  });

  it('a nested group in a chord header is flattened in order (deliberately not reversed as in Celery 5.2.6)', async () => {
    const s = loadSample<BrokerSample<AmqpCapturedMessage>>('amqp-broker-chord-nested-group-header');
    const w = await makeWireApp();
    const backend = await w.app.resultBackend();
    const setChordSize = vi.spyOn(backend, 'setChordSize');
    const r = await new Chord([w.add.s(1, 1), group(w.add.s(2, 2), w.add.s(3, 3))], w.tsum.s()).applyAsync();
    const published = w.take();
    await w.app.close();
    const indexOf = (views: View[]) => views.map((v) => [(v.body as unknown[][])[0], v.headers.group_index]);
    expect(indexOf(celeryViews('amqp', s))).toEqual([
      [[1, 1], 0],
      [[3, 3], 1],
      [[2, 2], 2],
    ]);
    expect(indexOf(ourViews(published))).toEqual([
      [[1, 1], 0],
      [[2, 2], 1],
      [[3, 3], 2],
    ]);
    expect(setChordSize).toHaveBeenCalledWith(published[0].message.headers.group, 3);
    // Everything else matches, member by member.
    const byArgs = (views: View[]) => [...views].sort((a, b) => String((a.body as unknown[])[0]).localeCompare(String((b.body as unknown[])[0])));
    expect(comparable(r.id, byArgs(ourViews(published)), { plainGroup: true })).toEqual(comparable(s.returned_result_id, byArgs(celeryViews('amqp', s)), { plainGroup: true }));
  });

  it('map/starmap/chunks show their inner signature in kwargsrepr as its dict, never the app behind it', async () => {
    for (const name of ['map', 'starmap', 'chunks']) {
      const { published } = await send(name);
      for (const p of published) {
        const repr = p.message.headers.kwargsrepr as string;
        expect(repr).toMatch(/^\{'task': \{'task': 'wp_tasks\.\w+', 'args': \[\], 'kwargs': \{\}, 'options': \{\}, 'subtask_type': None, 'immutable': False\}, 'it': /);
        expect(repr).not.toMatch(/host|conf|broker|memory:/);
      }
    }
  });
});

/** A request as buildMeta reads it. */
function request(id: string, extra: Partial<Pick<TaskRequest, 'groupId' | 'parentId' | 'name' | 'args' | 'kwargs' | 'retries'>> = {}) {
  return {
    id,
    groupId: null,
    parentId: null,
    name: 'wp_tasks.add',
    args: [] as unknown[],
    kwargs: {},
    hostname: 'wprobe-redis@vm',
    retries: 0,
    deliveryInfo: { exchange: '', routingKey: 'celery', queue: 'celery', redelivered: false, priority: 0 },
    ...extra,
  };
}

interface StoredMeta {
  raw: string;
  value: { status: string; result: unknown; traceback: string | null; children: unknown[]; date_done: string | null; task_id: string; group_id?: string; parent_id?: string };
}

/** Celery's date_done, cut to the milliseconds a JavaScript clock has, as celeriac writes it (six digits, no suffix). */
function msDateDone(celery: string): { now: number; text: string } {
  return { now: Date.parse(`${celery.slice(0, 23)}Z`), text: `${celery.slice(0, 23)}000` };
}

/** Celery's raw meta text with our date_done in place of its own. */
function rawWith(meta: StoredMeta, dateDone: string | null): string {
  return meta.value.date_done === null ? meta.raw : meta.raw.replace(`"date_done": "${meta.value.date_done}"`, `"date_done": "${dateDone}"`);
}

describe('result metas (worker/meta.ts buildMeta) as the Redis backend stores them', () => {
  it('SUCCESS: same fields in the same order; date_done naive UTC with six fraction digits; the text byte for byte', async () => {
    const { app } = await makeWireApp();
    const { meta } = loadSample<{ meta: StoredMeta }>('redis-worker-success-meta');
    const d = msDateDone(meta.value.date_done as string);
    const ours = buildMeta(request(meta.value.task_id), 'SUCCESS', 5, null, [], { now: d.now, extended: false });
    expect(Object.keys(ours)).toEqual(Object.keys(meta.value));
    expect(ours.date_done).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    expect(ours.date_done).toBe(d.text);
    expect(encodeJsonPython(ours)).toBe(rawWith(meta, d.text));
    await app.close();
  });

  it('FAILURE (builtin and custom exception): exception object and traceback stored as Celery stores them', async () => {
    const s = loadSample<{ builtin_exception: { meta: StoredMeta }; custom_exception: { meta: StoredMeta } }>('redis-worker-failure-meta');
    for (const { meta } of [s.builtin_exception, s.custom_exception]) {
      const err = deserializeException(meta.value.result, meta.value.traceback);
      const d = msDateDone(meta.value.date_done as string);
      const ours = buildMeta(request(meta.value.task_id), 'FAILURE', serializeException(err), meta.value.traceback, [], { now: d.now, extended: false });
      expect(Object.keys(ours)).toEqual(Object.keys(meta.value));
      expect(encodeJsonPython(ours)).toBe(rawWith(meta, d.text));
    }
  });

  it('RETRY: the exception, the retried task itself as the only child, no date_done', async () => {
    const { app } = await makeWireApp();
    const s = loadSample<{ retry_meta: StoredMeta; final_meta: StoredMeta }>('redis-worker-retry');
    const { retry_meta: meta } = s;
    const id = meta.value.task_id;
    const ours = buildMeta(request(id, { name: 'wp_tasks.flaky' }), 'RETRY', meta.value.result, meta.value.traceback, [new AsyncResult(id, app)], { now: Date.now(), extended: false });
    expect(ours.date_done).toBeNull();
    expect(encodeJsonPython(ours)).toBe(meta.raw);
    // After the retry, the task's parent is itself.
    const fin = s.final_meta;
    const d = msDateDone(fin.value.date_done as string);
    const final = buildMeta(request(id, { parentId: id }), 'SUCCESS', fin.value.result, null, [], { now: d.now, extended: false });
    expect(encodeJsonPython(final)).toBe(rawWith(fin, d.text));
    await app.close();
  });

  it('group_id and parent_id go between date_done and task_id; chain children are [[id, null], null]', async () => {
    const { app } = await makeWireApp();
    const chord = loadSample<{ header_metas: StoredMeta[] }>('redis-worker-chord-counter');
    const chainMetas = loadSample<{ metas: StoredMeta[] }>('redis-worker-chain-result-metas').metas;
    for (const meta of [...chord.header_metas, ...chainMetas]) {
      const v = meta.value;
      const d = msDateDone(v.date_done as string);
      const children = (v.children as Array<[[string, null], null]>).map(([[cid]]) => new AsyncResult(cid, app));
      const ours = buildMeta(request(v.task_id, { groupId: v.group_id ?? null, parentId: v.parent_id ?? null }), 'SUCCESS', v.result, null, children, { now: d.now, extended: false });
      expect(encodeJsonPython(ours)).toBe(rawWith(meta, d.text));
    }
    await app.close();
  });

  it('result_extended: name, args, kwargs, worker, retries and queue, in Celery’s order', async () => {
    const s = loadSample<{ success: { raw: string; value: StoredMeta['value'] & { name: string; args: unknown[]; kwargs: Record<string, unknown>; worker: string } } }>('redis-worker-extended-result-meta');
    const v = s.success.value;
    const d = msDateDone(v.date_done as string);
    const ours = buildMeta({ ...request(v.task_id, { name: v.name, args: v.args, kwargs: v.kwargs }), hostname: v.worker }, 'SUCCESS', v.result, null, [], { now: d.now, extended: true });
    expect(Object.keys(ours)).toEqual(Object.keys(v));
    expect(ours).toEqual({ ...v, date_done: d.text });
    expect(encodeJsonPython(ours)).toBe(s.success.raw.replace(v.date_done as string, d.text));
  });

  it('a saved group (GroupResult.save) is {"result": [[gid, null], [member tuples]]}', async () => {
    const { app } = await makeWireApp();
    const s = loadSample<{ group_id: string; taskset_key: Record<string, { raw: string }> }>('redis-worker-group');
    const { raw } = s.taskset_key[`celery-taskset-meta-${s.group_id}`];
    const members = (JSON.parse(raw) as { result: [unknown, Array<[[string, null], null]>] }).result[1].map(([[id]]) => new AsyncResult(id, app));
    expect(encodeJsonPython({ result: new GroupResult(s.group_id, members, app).asTuple() })).toBe(raw);
    await app.close();
  });

  it('the chord counter member text is [1, "<id>", "SUCCESS", <value>], byte for byte', () => {
    const s = loadSample<{ during: Record<string, { value: Array<[string, number]> }>; header_metas: StoredMeta[] }>('redis-worker-chord-counter');
    const members = Object.entries(s.during).find(([k]) => k.endsWith('.j'))?.[1].value.map(([m]) => m) ?? [];
    expect(members).toHaveLength(2);
    for (const meta of s.header_metas.slice(0, 2)) {
      expect(members).toContain(encodeJsonPython([1, meta.value.task_id, meta.value.status, meta.value.result]));
    }
  });
});

describe('exceptions, Python → celeriac → Python', () => {
  interface Captured {
    info: ExceptionInfo;
    traceback: string | null;
  }
  const captured: Array<[string, Captured]> = [];
  const failure = loadSample<{ builtin_exception: { meta: StoredMeta }; custom_exception: { meta: StoredMeta } }>('redis-worker-failure-meta');
  captured.push(['builtin ValueError("boom", 42)', { info: failure.builtin_exception.meta.value.result as ExceptionInfo, traceback: failure.builtin_exception.meta.value.traceback }]);
  captured.push(['custom wp_tasks.ProbeError', { info: failure.custom_exception.meta.value.result as ExceptionInfo, traceback: failure.custom_exception.meta.value.traceback }]);
  const retry = loadSample<{ retry_meta: StoredMeta }>('redis-worker-retry').retry_meta.value;
  captured.push(['RETRY with ProbeError("transient")', { info: retry.result as ExceptionInfo, traceback: retry.traceback }]);
  const chordFail = loadSample<{ chord_body_meta: StoredMeta }>('redis-worker-failure-propagation').chord_body_meta.value;
  captured.push(['ChordError of a failed chord', { info: chordFail.result as ExceptionInfo, traceback: chordFail.traceback }]);
  const revoked = loadSample<{ revoked_meta: StoredMeta }>('redis-worker-revoke').revoked_meta.value;
  captured.push(['TaskRevokedError("revoked")', { info: revoked.result as ExceptionInfo, traceback: revoked.traceback }]);
  const expired = loadSample<{ redis: { meta_after_worker: StoredMeta['value'] } }>('expires-redis-vs-amqp').redis.meta_after_worker;
  captured.push(['TaskRevokedError("expired")', { info: expired.result as ExceptionInfo, traceback: expired.traceback }]);
  const unknown = loadSample<{ meta: StoredMeta['value'] }>('redis-worker-unknown-task').meta;
  captured.push(['NotRegistered("ts.only_task")', { info: unknown.result as ExceptionInfo, traceback: unknown.traceback }]);
  const amqpFailure = loadSample<{ builtin_exception: { meta: StoredMeta } }>('amqp-worker-failure-meta').builtin_exception.meta.value;
  captured.push(['builtin ValueError via the AMQP run', { info: amqpFailure.result as ExceptionInfo, traceback: amqpFailure.traceback }]);

  it.each(captured)('%s: name, module, args and traceback kept, and written back identically', (_what, { info, traceback }) => {
    const err = deserializeException(info, traceback);
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(TaskError);
    expect(err.name).toBe(info.exc_type);
    const t = err as TaskError;
    expect(t.excType).toBe(info.exc_type);
    expect(t.excModule).toBe(info.exc_module);
    expect(t.excArgs).toEqual(info.exc_message);
    expect(t.remoteTraceback).toBe(traceback);
    expect(err.message).toBe(String((info.exc_message as unknown[])[0]));
    expect(serializeException(err)).toEqual(info);
  });

  it('Celery’s own classes come back as celeriac’s classes of that name', () => {
    expect(deserializeException(chordFail.result)).toBeInstanceOf(ChordError);
    expect(deserializeException(revoked.result)).toBeInstanceOf(TaskRevokedError);
    expect(deserializeException(unknown.result)).toBeInstanceOf(NotRegistered);
  });

  it('a Python-only class (wp_tasks.ProbeError) becomes a synthesised error with that name, one class per name', () => {
    const info = failure.custom_exception.meta.value.result as ExceptionInfo;
    const a = deserializeException(info);
    const b = deserializeException(retry.result);
    expect(a.name).toBe('ProbeError');
    expect(a.constructor.name).toBe('ProbeError');
    expect(a).toBeInstanceOf(remoteErrorClass('ProbeError'));
    expect(b).toBeInstanceOf(a.constructor);
    expect((a as TaskError).excModule).toBe('wp_tasks');
    expect(String(a)).toBe('ProbeError: custom boom');
  });

  it('a registered class is used for a remote name, with the remote args', () => {
    class ProbeError extends Error {
      override name = 'ProbeError';
      constructor(readonly detail: string) {
        super(detail);
      }
    }
    const err = deserializeException(failure.custom_exception.meta.value.result, null, new Map([['wp_tasks.ProbeError', ProbeError]]));
    expect(err).toBeInstanceOf(ProbeError);
    expect((err as ProbeError).detail).toBe('custom boom');
    expect(serializeException(err)).toEqual(failure.custom_exception.meta.value.result);
  });
});

describe('exceptions, celeriac → Python (redis-backend-client-decoding-foreign-metas.json)', () => {
  interface ForeignCase {
    stored_meta: { status: string; result: ExceptionInfo | null; traceback: unknown };
    get_propagate_false?: { type: string; args: unknown[] | null };
    get_propagate_true_raised?: { type: string } | string;
  }
  const cases = loadSample<{ cases: Record<string, ForeignCase> }>('redis-backend-client-decoding-foreign-metas').cases;

  it('a JavaScript TypeError is written as builtins.TypeError with [message], which Python rebuilds as its own TypeError', () => {
    const info = serializeException(new TypeError('x is not a function'));
    expect(info).toEqual({ exc_type: 'TypeError', exc_message: ['x is not a function'], exc_module: 'builtins' });
    // Python reads builtins + a list of args as that builtin class with those args (the ValueError case).
    const c = cases['builtin-ValueError-list-args'];
    expect([c.stored_meta.result?.exc_module, Array.isArray(c.stored_meta.result?.exc_message)]).toEqual(['builtins', true]);
    expect(c.get_propagate_false).toMatchObject({ type: 'builtins.ValueError', args: ['bad value', 3] });
  });

  it('a JavaScript-only error class gets a module Python cannot import, so Python synthesises a class with its name', () => {
    class HttpError extends Error {
      override name = 'HttpError';
    }
    const info = serializeException(new HttpError('503 from upstream'));
    expect(info).toEqual({ exc_type: 'HttpError', exc_message: ['503 from upstream'], exc_module: JS_EXCEPTION_MODULE });
    const c = cases['js-class-name-unknown-module'];
    expect(c.stored_meta.result).toMatchObject({ exc_type: 'HttpError', exc_message: ['503 from upstream'] });
    expect(c.get_propagate_false).toEqual({ type: 'celery.exceptions.HttpError', repr: "HttpError('503 from upstream')", args: ['503 from upstream'] });
    const range = serializeException(new RangeError('too big'));
    expect(range.exc_module).toBe(JS_EXCEPTION_MODULE);
  });

  it('errors thrown as non-Error values are still Celery exception objects', () => {
    expect(serializeException('plain string')).toEqual({ exc_type: 'Exception', exc_message: ['plain string'], exc_module: 'builtins' });
  });

  it.each([
    ['builtin-ValueError-list-args', 'ValueError', ['bad value', 3], 'builtins'],
    ['unknown-module-js', 'TypeError', ['x is not a function'], 'nodejs'],
    ['js-class-name-unknown-module', 'HttpError', ['503 from upstream'], 'my_ts_worker.errors'],
    ['exc_module-missing', 'RangeError', ['too big'], 'celery.backends.base'],
    ['exc_message-string-not-list', 'KeyError', ['missing'], 'builtins'],
  ])('celeriac reads %s as Celery’s client does: %s%j', (name, type, args, module) => {
    const c = cases[name];
    const err = deserializeException(c.stored_meta.result, typeof c.stored_meta.traceback === 'string' ? c.stored_meta.traceback : null) as TaskError;
    expect(err.name).toBe(type);
    expect(err.excArgs).toEqual(args);
    expect(err.excModule).toBe(module);
    expect(c.get_propagate_false?.args).toEqual(args);
    expect(c.get_propagate_false?.type.endsWith(`.${type}`)).toBe(true);
  });

  it('a name that is not an exception class in Python (os.system) stays inert data: a synthesised error, nothing looked up', () => {
    // Celery raises SecurityError here because it would otherwise call os.system; celeriac never
    // resolves names to code, so it returns a plain error named after the remote type.
    const c = cases['not-an-exception-class'];
    expect(c.get_propagate_true_raised).toMatchObject({ type: 'celery.exceptions.SecurityError' });
    const err = deserializeException(c.stored_meta.result) as TaskError;
    expect(err).toBeInstanceOf(TaskError);
    expect([err.name, err.excModule, err.excArgs]).toEqual(['system', 'os', ['echo pwned']]);
  });

  it('celery-node’s FAILURE with result null is an error with a readable message, not a crash', () => {
    const c = cases['celery-node-style-failure'];
    expect(c.stored_meta.result).toBeNull();
    const err = deserializeException(c.stored_meta.result);
    expect(err).toBeInstanceOf(TaskError);
    expect(err.message).toBe('Unknown remote error');
  });

  it('a celeriac failure meta is one Python reads: exc_type, a list exc_message, exc_module, the stack as traceback', async () => {
    const err = new TypeError('x is not a function');
    const meta = buildMeta(request('19146544-0d09-4bef-80a4-da6724587850'), 'FAILURE', serializeException(err), err.stack ?? null, [], { now: Date.now(), extended: false });
    expect(meta.result).toEqual({ exc_type: 'TypeError', exc_message: ['x is not a function'], exc_module: 'builtins' });
    expect(meta.traceback).toMatch(/^TypeError: x is not a function\n\s+at /);
    expect(Object.keys(meta)).toEqual(['status', 'result', 'traceback', 'children', 'date_done', 'task_id']);
  });
});

describe('a message encoded by celeriac reads back the same', () => {
  it('encodeTaskMessage → decodeTaskMessage keeps every header, args, kwargs and embed', async () => {
    const { decodeTaskMessage } = await import('../../src/protocol/index.js');
    const sig = { task: 'wp_tasks.mul', args: [2], kwargs: {}, options: { task_id: 'c1' }, subtask_type: null, immutable: false };
    const msg: WireMessage = encodeTaskMessage({
      name: 'wp_tasks.add',
      id: 'a1',
      args: [1, 2n ** 70n],
      kwargs: { y: 2 },
      embed: { callbacks: [sig], errbacks: null, chain: [sig], chord: null },
      groupId: 'g1',
      groupIndex: 3,
      retries: 2,
      timeLimit: 30,
      softTimeLimit: 20,
      rootId: 'r1',
      parentId: 'p1',
      shadow: 'sh',
      ignoreResult: true,
      origin: 'gen1@h',
      replyTo: 'rt',
      priority: 7,
      extraHeaders: { 'x-custom': 'hdr' },
    });
    const req = decodeTaskMessage(msg);
    expect(req.headers).toMatchObject({ task: 'wp_tasks.add', id: 'a1', group: 'g1', group_index: 3, retries: 2, timelimit: [30, 20], root_id: 'r1', parent_id: 'p1', shadow: 'sh', ignore_result: true, 'x-custom': 'hdr', argsrepr: '(1, 1180591620717411303424)', kwargsrepr: "{'y': 2}" });
    expect(req.args).toEqual([1, 2n ** 70n]);
    expect(req.kwargs).toEqual({ y: 2 });
    expect(req.embed).toEqual({ callbacks: [sig], errbacks: null, chain: [sig], chord: null });
    expect(req.properties).toEqual({ correlation_id: 'a1', reply_to: 'rt', delivery_mode: 2, priority: 7 });
  });
});

describe('a chain step sends the rest of its chain on as the text it came in', () => {
  const step = (i: number): SignatureDict => ({ task: 'wp_tasks.add', args: [i], kwargs: {}, options: { task_id: `s${i}`, note: 'é \u2028 "q"' }, subtask_type: null, immutable: false, chord_size: null });
  const spec = (chain: SignatureDict[], args: unknown[] = [1, 2]) => ({ name: 'wp_tasks.add', id: 'a1', args, kwargs: { k: [1, { x: null }] }, embed: { callbacks: null, errbacks: [step(99)], chain, chord: step(98) }, origin: 'o', replyTo: 'rt' });

  it('the next step’s body is byte for byte the body encoded from the signatures, and its rest decodes to them', async () => {
    const { decodeTaskMessage, chainRest } = await import('../../src/protocol/index.js');
    const data = decodeTaskMessage(encodeTaskMessage(spec([1, 2, 3, 4].map(step))));
    const rest = chainRest(data.embed.chain ?? []);
    expect(rest).toEqual([1, 2, 3].map(step));
    const next = { ...spec(rest, [7]), id: 'a2' };
    const body = encodeTaskMessage(next).body;
    expect(body).toBe(encodeTaskMessage({ ...next, embed: { ...next.embed, chain: [...rest] } }).body);
    expect(decodeTaskMessage(encodeTaskMessage(next)).embed.chain).toEqual([1, 2, 3].map(step));
    // Its envelope carries the same body, written from the pieces it was joined from.
    const { toEnvelope } = await import('../../src/protocol/index.js');
    const msg = encodeTaskMessage(next);
    expect(msg.prepared?.parts.length).toBe(3);
    expect(toEnvelope(msg, '', 'q').body).toBe(Buffer.from(body, 'utf8').toString('base64'));
  });

  it('a chain whose array was changed after decoding (a step removed or replaced), or a body laid out otherwise (Python’s separators), is encoded from the signatures', async () => {
    const { decodeTaskMessage, chainRest } = await import('../../src/protocol/index.js');
    const changed = decodeTaskMessage(encodeTaskMessage(spec([1, 2, 3, 4].map(step))));
    changed.embed.chain?.shift();
    const rest = chainRest(changed.embed.chain ?? []);
    expect(decodeTaskMessage(encodeTaskMessage(spec(rest))).embed.chain).toEqual([2, 3].map(step));

    const replaced = decodeTaskMessage(encodeTaskMessage(spec([1, 2, 3, 4].map(step))));
    if (replaced.embed.chain) replaced.embed.chain[1] = step(20);
    expect(decodeTaskMessage(encodeTaskMessage(spec(chainRest(replaced.embed.chain ?? [])))).embed.chain).toEqual([1, 20, 3].map(step));

    // And again one step on: the rest of a rest that was changed before it is sent on.
    const next = decodeTaskMessage(encodeTaskMessage({ ...spec(chainRest(decodeTaskMessage(encodeTaskMessage(spec([1, 2, 3, 4].map(step)))).embed.chain ?? [])), id: 'a2' }));
    if (next.embed.chain) next.embed.chain[0] = step(10);
    expect(decodeTaskMessage(encodeTaskMessage(spec(chainRest(next.embed.chain ?? [])))).embed.chain).toEqual([10, 2].map(step));

    const msg = encodeTaskMessage(spec([1, 2, 3].map(step)));
    const python = decodeTaskMessage({ ...msg, body: encodeJsonPython(decodeJson(msg.body)) });
    const pyRest = chainRest(python.embed.chain ?? []);
    expect(decodeTaskMessage(encodeTaskMessage(spec(pyRest))).embed.chain).toEqual([1, 2].map(step));
  });

  it('args the task changed in place do not confuse it', async () => {
    const { decodeTaskMessage, chainRest } = await import('../../src/protocol/index.js');
    const data = decodeTaskMessage(encodeTaskMessage(spec([1, 2, 3].map(step), [{ n: 1 }])));
    (data.args[0] as { n: number }).n = 123456;
    const rest = chainRest(data.embed.chain ?? []);
    expect(decodeTaskMessage(encodeTaskMessage(spec(rest))).embed.chain).toEqual([1, 2].map(step));
  });
});
