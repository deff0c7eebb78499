/**
 * Golden fixtures, decode side: every message a real Celery 5.2.6 published
 * (test/fixtures/wire-samples, Redis and RabbitMQ) is read back through the
 * same path a celeriac worker uses, and every field must come out as Celery
 * wrote it (celery-wire.md §1).
 */
import { describe, expect, it } from 'vitest';
import {
  decodeTaskMessage,
  fromEnvelope,
  MalformedMessageError,
  parseEnvelope,
  type KombuEnvelope,
  type SignatureDict,
  type TaskRequestData,
  type WireMessage,
} from '../../src/protocol/index.js';
import { Chain, Chord, fromDict, Group } from '../../src/canvas/index.js';
import {
  brokerSampleFiles,
  loadSample,
  wireFromAmqp,
  wireFromRedis,
  type AmqpCapturedMessage,
  type BrokerSample,
  type RedisCapturedMessage,
} from '../support/wire-fixtures.js';

type Transport = 'redis' | 'amqp';

/** A captured message as the worker sees it, with Celery's own values next to it. */
interface Case {
  wire: WireMessage;
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
  body: [unknown[], Record<string, unknown>, Record<string, unknown> | null];
}

function caseOf(transport: Transport, m: RedisCapturedMessage | AmqpCapturedMessage): Case {
  if (transport === 'redis') {
    const r = m as RedisCapturedMessage;
    return { wire: wireFromRedis(r.raw_string), headers: r.envelope.headers, properties: r.envelope.properties, body: r.decoded_body };
  }
  const a = m as AmqpCapturedMessage;
  const wire = wireFromAmqp(a);
  return { wire, headers: a.properties.application_headers, properties: wire.properties, body: a.decoded_body };
}

function sample(transport: Transport, scenario: string): BrokerSample<RedisCapturedMessage | AmqpCapturedMessage> {
  return loadSample(`${transport}-broker-${scenario}`);
}

/** The first (or only) message of a capture, decoded. */
function decodedFirst(transport: Transport, scenario: string): { req: TaskRequestData; c: Case; s: BrokerSample<unknown> } {
  const s = sample(transport, scenario);
  const c = caseOf(transport, s.messages[0]);
  return { req: decodeTaskMessage(c.wire), c, s };
}

/**
 * Epoch ms of a Celery time string, computed independently of the code under
 * test: `YYYY-MM-DDTHH:MM:SS[.ffffff][±HH:MM|Z]`, naive meaning UTC, fraction
 * truncated to milliseconds.
 */
function epochMs(s: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(Z|([+-])(\d\d):(\d\d))?$/.exec(s);
  if (!m) throw new Error(`not a Celery time: ${s}`);
  const ms = Number(((m[7] ?? '') + '000').slice(0, 3));
  const utc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], ms);
  const offset = m[9] ? (m[9] === '+' ? 1 : -1) * (+m[10] * 60 + +m[11]) * 60_000 : 0;
  return utc - offset;
}

/** Every header, every body part and the derived request fields must equal what Celery wrote. */
function expectSameAsCelery(req: TaskRequestData, c: Case): void {
  const h = c.headers;
  for (const [key, value] of Object.entries(h)) expect(req.headers[key], `header ${key}`).toEqual(value);
  expect(req.name).toBe(h.task);
  expect(req.id).toBe(h.id);
  expect(req.headers.timelimit).toEqual(h.timelimit);
  expect(req.eta).toBe(h.eta === null ? null : epochMs(h.eta as string));
  expect(req.expires).toBe(h.expires === null ? null : epochMs(h.expires as string));
  const [args, kwargs, embed] = c.body;
  expect(req.args).toEqual(args);
  expect(req.kwargs).toEqual(kwargs);
  expect(req.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null, ...(embed ?? {}) });
  for (const [key, value] of Object.entries(c.properties)) expect(req.properties[key], `property ${key}`).toEqual(value);
}

describe.each(['redis', 'amqp'] as const)('every %s broker capture decodes to the values Celery sent', (transport) => {
  for (const file of brokerSampleFiles(transport)) {
    const s = loadSample<BrokerSample<RedisCapturedMessage | AmqpCapturedMessage>>(file);
    it(`${s._scenario}: ${s.messages.length} message(s) — ${s._note.slice(0, 80)}`, () => {
      expect(s.messages.length).toBeGreaterThan(0);
      for (const m of s.messages) expectSameAsCelery(decodeTaskMessage(caseOf(transport, m).wire), caseOf(transport, m));
    });
  }
});

describe.each(['redis', 'amqp'] as const)('%s captures, field by field', (transport) => {
  it('plain task: defaults of a client send (root_id = id, no parent, no group, retries 0, [null, null] time limits)', () => {
    const { req, s } = decodedFirst(transport, 'plain-task');
    expect(req.name).toBe('wp_tasks.add');
    expect(req.id).toBe(s.returned_result_id);
    expect(req.headers.root_id).toBe(req.id);
    expect(req.headers.parent_id).toBeNull();
    expect(req.headers.group).toBeNull();
    expect(req.headers.group_index).toBeNull();
    expect(req.headers.retries).toBe(0);
    expect(req.headers.timelimit).toEqual([null, null]);
    expect(req.headers.shadow).toBeNull();
    expect(req.headers.ignore_result).toBe(false);
    expect(req.headers.lang).toBe('py');
    expect(req.headers.argsrepr).toBe('(2, 3)');
    expect(req.args).toEqual([2, 3]);
    expect(req.kwargs).toEqual({});
    expect(req.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(req.eta).toBeNull();
    expect(req.expires).toBeNull();
    expect(req.properties.correlation_id).toBe(req.id);
    expect(req.properties.delivery_mode).toBe(2);
    expect(req.properties.priority).toBe(0);
    expect(req.properties).not.toHaveProperty('expiration');
  });

  it('countdown=30, expires=120: eta and expires parsed to epoch ms, 90 s apart; expiration "120000"', () => {
    const { req, c } = decodedFirst(transport, 'countdown-expires');
    expect(c.headers.eta).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
    expect(req.eta).toBe(epochMs(c.headers.eta as string));
    expect(req.expires).toBe(epochMs(c.headers.expires as string));
    expect((req.expires as number) - (req.eta as number)).toBe(90_000);
    expect(req.properties.expiration).toBe('120000');
  });

  it('send_task options: shadow, timelimit [hard 30, soft 20], ignore_result, custom header and the fixed id', () => {
    const { req } = decodedFirst(transport, 'send-task-options');
    expect(req.id).toBe('11111111-2222-3333-4444-555555555555');
    expect(req.headers.shadow).toBe('add-shadowed');
    expect(req.headers.timelimit).toEqual([30, 20]);
    expect(req.headers.ignore_result).toBe(true);
    expect(req.headers['x-custom']).toBe('hdr');
    expect(req.args).toEqual([1]);
    expect(req.kwargs).toEqual({ y: 2 });
    expect(req.headers.kwargsrepr).toBe("{'y': 2}");
  });

  it.each([5, 9])('priority %i is a message property', (p) => {
    const { req } = decodedFirst(transport, `priority-${p}`);
    expect(req.properties.priority).toBe(p);
    expect(req.args).toEqual([1, 1]);
  });

  it('chain-3: only the first step is sent; embed.chain holds the rest last first, each frozen with its task_id', () => {
    const { req, s } = decodedFirst(transport, 'chain-3');
    expect(req.args).toEqual([1, 2]);
    const chain = req.embed.chain as SignatureDict[];
    expect(chain.map((x) => [x.task, x.args])).toEqual([
      ['wp_tasks.mul', [10]],
      ['wp_tasks.add', [3]],
    ]);
    // The chain's result is its last step, which travels first in the list.
    expect(chain[0].options.task_id).toBe(s.returned_result_id);
    for (const step of chain) {
      expect(step.options.task_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(step.subtask_type).toBeNull();
      expect(step.immutable).toBe(false);
    }
    // Rebuilt in execution order, the steps are add(3) then mul(10).
    const rebuilt = new Chain([...chain].reverse().map((d) => fromDict(d)));
    expect(rebuilt.tasks.map((t) => t.task)).toEqual(['wp_tasks.add', 'wp_tasks.mul']);
  });

  it('chain link_error: the errback is on the first message and in the later step options', () => {
    const { req } = decodedFirst(transport, 'chain-link-error');
    expect(req.embed.errbacks).toEqual([{ task: 'wp_tasks.on_err', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false }]);
    const [failStep] = req.embed.chain as SignatureDict[];
    expect(failStep.task).toBe('wp_tasks.fail');
    expect(failStep.options.link_error).toEqual(req.embed.errbacks);
  });

  it('chain with a group: the group and what follows travel as one chord signature whose body is a chain', () => {
    const { req, s } = decodedFirst(transport, 'chain-with-group-becomes-chord');
    const chain = req.embed.chain as SignatureDict[];
    expect(chain).toHaveLength(1);
    const d = chain[0];
    expect([d.task, d.subtask_type]).toEqual(['celery.chord', 'chord']);
    const header = (d.kwargs as { header: SignatureDict }).header;
    const body = (d.kwargs as { body: SignatureDict }).body;
    expect([header.task, header.subtask_type]).toEqual(['celery.group', 'group']);
    expect([body.task, body.subtask_type]).toEqual(['celery.chain', 'chain']);
    const members = (header.kwargs as { tasks: SignatureDict[] }).tasks;
    expect(members.map((m) => [m.args, m.options.group_index])).toEqual([
      [[10], 0],
      [[20], 1],
    ]);
    for (const m of members) expect(m.options.chord).toEqual(body);
    expect(d.options.task_id).toBe(header.options.task_id);
    const lastStep = (body.kwargs as { tasks: SignatureDict[] }).tasks[1];
    expect(lastStep.options.task_id).toBe(s.returned_result_id);

    // The canvas reads it back as the same chord.
    const sig = fromDict(d);
    expect(sig).toBeInstanceOf(Chord);
    const chord = sig as Chord;
    expect(chord.header).toBeInstanceOf(Group);
    expect(chord.header.tasks.map((t) => t.args)).toEqual([[10], [20]]);
    expect(chord.body).toBeInstanceOf(Chain);
    expect((chord.body as Chain).tasks.map((t) => t.task)).toEqual(['wp_tasks.tsum', 'wp_tasks.mul']);
  });

  it('group-3: one message per member, group header = the GroupResult id, group_index null, own root each', () => {
    const s = sample(transport, 'group-3');
    const reqs = s.messages.map((m) => decodeTaskMessage(caseOf(transport, m).wire));
    expect(reqs).toHaveLength(3);
    expect(reqs.map((r) => r.args).sort()).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    for (const r of reqs) {
      expect(r.headers.group).toBe(s.returned_result_id);
      expect(r.headers.group_index).toBeNull();
      expect(r.headers.root_id).toBe(r.id);
      expect(r.embed.chord).toBeNull();
    }
  });

  it('chord-3: header members carry group, group_index and embed.chord = the body frozen with the returned id', () => {
    const s = sample(transport, 'chord-3');
    const reqs = s.messages.map((m) => decodeTaskMessage(caseOf(transport, m).wire));
    const gid = reqs[0].headers.group;
    expect(Object.keys(s.backend_keys_after_send ?? {})).toContain(`celery-taskset-meta-${gid}.s`);
    for (const r of reqs) {
      expect(r.headers.group).toBe(gid);
      expect(r.headers.group_index).toBe((r.args as number[])[0]);
      const body = r.embed.chord as SignatureDict;
      expect(body.task).toBe('wp_tasks.tsum');
      expect(body.options.task_id).toBe(s.returned_result_id);
      expect(body.args).toEqual([]);
    }
  });

  it('chord with a nested group header: Celery 5.2.6 flattened it with indexes a=0, c=1, b=2', () => {
    const s = sample(transport, 'chord-nested-group-header');
    const reqs = s.messages.map((m) => decodeTaskMessage(caseOf(transport, m).wire));
    const byIndex = [...reqs].sort((a, b) => (a.headers.group_index as number) - (b.headers.group_index as number));
    expect(byIndex.map((r) => r.args)).toEqual([
      [1, 1],
      [3, 3],
      [2, 2],
    ]);
  });

  it('link and link_error: embed.callbacks and embed.errbacks are lists of signature dicts', () => {
    const { req } = decodedFirst(transport, 'link-and-link-error');
    expect(req.embed.callbacks).toEqual([{ task: 'wp_tasks.mul', args: [2], kwargs: {}, options: {}, subtask_type: null, immutable: false }]);
    expect((req.embed.errbacks as SignatureDict[]).map((e) => e.task)).toEqual(['wp_tasks.on_err', 'wp_tasks.old_err']);
  });

  it('chunks: sent as a group of celery.starmap messages, the inner signature in kwargs.task', () => {
    const s = sample(transport, 'chunks');
    const reqs = s.messages.map((m) => decodeTaskMessage(caseOf(transport, m).wire));
    for (const r of reqs) {
      expect(r.name).toBe('celery.starmap');
      expect(r.args).toEqual([]);
      expect(r.headers.group).toBe(s.returned_result_id);
      expect((r.kwargs.task as SignatureDict).task).toBe('wp_tasks.add');
    }
    expect(reqs.map((r) => r.kwargs.it).sort()).toEqual([
      [
        [0, 0],
        [1, 1],
      ],
      [
        [2, 2],
        [3, 3],
      ],
    ]);
  });

  it('map and starmap: one celery.map / celery.starmap message with kwargs {task, it}', () => {
    const map = decodedFirst(transport, 'map').req;
    expect(map.name).toBe('celery.map');
    expect(map.kwargs).toEqual({ task: { task: 'wp_tasks.echo', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false }, it: [1, 2, 3] });
    const star = decodedFirst(transport, 'starmap').req;
    expect(star.name).toBe('celery.starmap');
    expect(star.kwargs.it).toEqual([
      [1, 2],
      [3, 4],
    ]);
  });
});

describe('messages a Python worker published', () => {
  it('the next chain step: args = [previous value] + own args, parent_id and root_id = the first step, the rest of the chain', () => {
    const s = loadSample<{ next_step_messages: RedisCapturedMessage[]; first_task_meta: { value: { task_id: string } } }>('redis-worker-chain-next-step-message');
    const m = s.next_step_messages[0];
    const req = decodeTaskMessage(wireFromRedis(m.raw_string));
    expectSameAsCelery(req, { wire: wireFromRedis(m.raw_string), headers: m.envelope.headers, properties: m.envelope.properties, body: m.decoded_body });
    const first = s.first_task_meta.value.task_id;
    expect(req.args).toEqual([3, 3]);
    expect(req.headers.parent_id).toBe(first);
    expect(req.headers.root_id).toBe(first);
    expect((req.embed.chain as SignatureDict[]).map((x) => x.task)).toEqual(['wp_tasks.mul']);
    expect((req.properties.delivery_info as { routing_key: string }).routing_key).toBe('celery.side');
  });

  it('the chord body: one argument, the header values in order; parent = the completing header part', () => {
    const s = loadSample<{ body_message: RedisCapturedMessage[]; body_task_id: string }>('redis-worker-chord-counter');
    const m = s.body_message[0];
    const req = decodeTaskMessage(wireFromRedis(m.raw_string));
    expect(req.id).toBe(s.body_task_id);
    expect(req.args).toEqual([[0, 2, 2]]);
    expect(req.headers.parent_id).toBe(req.headers.root_id);
    expect(req.headers.group).toBeNull();
    expect(req.headers.argsrepr).toBe('([0, 2, 2],)');
  });

  it('a link callback and an old-style errback (sent as a group, failed id first)', () => {
    const s = loadSample<{ link_callback_message: RedisCapturedMessage[]; old_style_errback_message: RedisCapturedMessage[] }>('redis-worker-link-and-errbacks');
    const cb = decodeTaskMessage(wireFromRedis(s.link_callback_message[0].raw_string));
    expect([cb.name, cb.args]).toEqual(['wp_tasks.mul', [3, 2]]);
    expect(cb.headers.parent_id).toBe(cb.headers.root_id);
    const eb = decodeTaskMessage(wireFromRedis(s.old_style_errback_message[0].raw_string));
    expect(eb.name).toBe('wp_tasks.old_err');
    expect(eb.args).toEqual([eb.headers.parent_id]);
    expect(eb.headers.group).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a retry: same id, retries 1, eta set, parent = itself; the 5.2.6 origin/replaced_task_nesting spill in properties is kept, not an error', () => {
    const s = loadSample<{ broker_db_while_eta_held: { unacked: { value: Record<string, string> } } }>('redis-worker-retry');
    const [raw] = Object.values(s.broker_db_while_eta_held.unacked.value);
    const [envelope, exchange, routingKey] = JSON.parse(raw) as [KombuEnvelope, string, string];
    expect([exchange, routingKey]).toEqual(['', 'celery']);
    const req = decodeTaskMessage(fromEnvelope(parseEnvelope(JSON.stringify(envelope))));
    expect(req.name).toBe('wp_tasks.flaky');
    expect(req.headers.retries).toBe(1);
    expect(req.headers.parent_id).toBe(req.id);
    expect(req.eta).toBe(epochMs(envelope.headers.eta as string));
    expect(req.kwargs).toEqual({ countdown: 6 });
    expect(req.properties.replaced_task_nesting).toBe(0);
    expect(req.properties.origin).toMatch(/^gen\d+@/);
  });

  it('a message restored after a visibility timeout carries redelivered flags', () => {
    const s = loadSample<{ restored_messages_on_queue: RedisCapturedMessage[]; task_id: string }>('redis-broker-unacked-restore');
    const req = decodeTaskMessage(wireFromRedis(s.restored_messages_on_queue[0].raw_string));
    expect(req.id).toBe(s.task_id);
    expect(req.headers.redelivered).toBe(true);
    expect((req.properties.delivery_info as { redelivered: boolean }).redelivered).toBe(true);
  });

  it('celery.chord_unlock from a client without native chords: args [group_id, body], kwargs.result tuples, ignore_result', () => {
    const s = loadSample<{ main_queue_messages: RedisCapturedMessage[]; header_queue_messages: RedisCapturedMessage[]; group_id: string }>('redis-broker-chord-unlock-fallback');
    const unlock = decodeTaskMessage(wireFromRedis(s.main_queue_messages[0].raw_string));
    expect(unlock.name).toBe('celery.chord_unlock');
    expect(unlock.args[0]).toBe(s.group_id);
    expect((unlock.args[1] as SignatureDict).task).toBe('wp_tasks.tsum');
    expect(unlock.kwargs).toMatchObject({ interval: null, max_retries: null });
    expect(unlock.kwargs.result).toHaveLength(2);
    expect(unlock.headers.ignore_result).toBe(true);
    expect(unlock.eta).toBe(epochMs(s.main_queue_messages[0].envelope.headers.eta as string));
    for (const m of s.header_queue_messages) {
      const r = decodeTaskMessage(wireFromRedis(m.raw_string));
      expect(r.headers.group).toBe(s.group_id);
      expect((r.embed.chord as SignatureDict).options.task_id).toBe((unlock.args[1] as SignatureDict).options.task_id);
    }
  });
});

interface ForeignCase {
  pushed_envelope: Record<string, unknown>;
  metas_after_worker: Record<string, { status: string } | null>;
}

describe('hand-made (foreign) messages a Python worker accepted or rejected', () => {
  const foreign = loadSample<{ redis: Record<string, ForeignCase | unknown>; amqp: Record<string, { published_properties: AmqpCapturedMessage['properties']; published_body: string; meta_after_worker: unknown }> }>(
    'foreign-messages-accepted-by-python-worker',
  );
  const redisCases = Object.entries(foreign.redis).filter(([k]) => !k.startsWith('_')) as Array<[string, ForeignCase]>;

  it.each(redisCases.filter(([, c]) => Object.values(c.metas_after_worker).some((m) => m !== null)))('Redis %s: decodes, as Celery ran it', (_name, c) => {
    const req = decodeTaskMessage(wireFromRedis(JSON.stringify(c.pushed_envelope)));
    expect(Object.keys(c.metas_after_worker)).toContain(req.id);
    expect(req.name).toBe('wp_tasks.add');
    expect(req.args).toHaveLength(2);
    expect(req.headers.root_id).toBe((c.pushed_envelope.headers as { root_id?: string }).root_id ?? req.id);
    expect(req.headers.retries).toBe(0);
    expect(req.headers.timelimit).toEqual([null, null]);
  });

  it('Redis: a body that is a raw JSON array instead of a string is rejected, as kombu rejects it', () => {
    const c = foreign.redis['no-body_encoding-body-is-json-array'] as ForeignCase;
    expect(Object.values(c.metas_after_worker)).toEqual([null]);
    expectMalformed(() => wireFromRedis(JSON.stringify(c.pushed_envelope)), /body must be a string/);
  });

  it('celery-node style: camelCase properties and embed {} give an empty embed', () => {
    const c = foreign.redis['celery-node-0.5.9-style'] as ForeignCase;
    const req = decodeTaskMessage(wireFromRedis(JSON.stringify(c.pushed_envelope)));
    expect(req.headers.lang).toBe('js');
    expect(req.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(req.properties.correlationId).toBe(req.id);
  });

  it('a naive eta is taken as UTC', () => {
    const c = foreign.redis['naive-eta-no-timezone'] as ForeignCase;
    const req = decodeTaskMessage(wireFromRedis(JSON.stringify(c.pushed_envelope)));
    expect(req.eta).toBe(Date.UTC(2026, 10, 21, 23, 15, 5));
  });

  it('a chain of minimal signature dicts (task/args/kwargs/options only) is accepted and rebuilt', () => {
    const c = foreign.redis['chain-with-minimal-signature-dicts'] as ForeignCase;
    const req = decodeTaskMessage(wireFromRedis(JSON.stringify(c.pushed_envelope)));
    const chain = req.embed.chain as SignatureDict[];
    expect(chain.map((s) => s.task)).toEqual(['wp_tasks.mul', 'wp_tasks.add']);
    const next = fromDict(chain[chain.length - 1]);
    expect([next.task, next.args, next.immutable, next.subtaskType]).toEqual(['wp_tasks.add', [3], false, null]);
  });

  it('chord header parts from a foreign client: group, group_index and a minimal body', () => {
    const c = foreign.redis['chord-header-part-b (with .s key set)'] as ForeignCase;
    const req = decodeTaskMessage(wireFromRedis(JSON.stringify(c.pushed_envelope)));
    expect(req.headers.group).toBe('c8db4df9-c588-4ddc-999c-35676857a236');
    expect(req.headers.group_index).toBe(1);
    expect(req.embed.chord).toEqual({ task: 'wp_tasks.echo', args: [], kwargs: {}, options: { task_id: 'dc306635-8280-4fe0-87c9-53998d13cc77' } });
  });

  it('protocol v1 body (empty headers) is converted to the v2 shape', () => {
    const c = foreign.redis['protocol-v1-body'] as ForeignCase;
    const req = decodeTaskMessage(wireFromRedis(JSON.stringify(c.pushed_envelope)));
    expect(req.name).toBe('wp_tasks.add');
    expect(req.id).toBe('0dd2a889-4f40-4922-845b-f47f822a4ced');
    expect(req.args).toEqual([2, 3]);
    expect(req.kwargs).toEqual({});
    expect(req.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(req.headers.root_id).toBe(req.id);
    expect([req.eta, req.expires]).toEqual([null, null]);
  });

  it.each(Object.entries(foreign.amqp))('AMQP %s: decodes with only task and id headers', (_name, c) => {
    const req = decodeTaskMessage(wireFromAmqp({ properties: c.published_properties, raw_body: c.published_body }));
    expect(req.id).toBe((c.meta_after_worker as { task_id: string }).task_id);
    expect([req.name, req.args, req.kwargs]).toEqual(['wp_tasks.add', [4, 5], {}]);
  });
});

function v2(body: string, headers: Record<string, unknown> = { task: 'wp_tasks.add', id: 'a1b2c3d4-0000-4000-8000-000000000001' }): WireMessage {
  return { headers, properties: {}, body, contentType: 'application/json', contentEncoding: 'utf-8' };
}

function expectMalformed(fn: () => unknown, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MalformedMessageError);
  expect((caught as Error).name).toBe('MalformedMessageError');
  expect((caught as Error).message).toMatch(message);
}

describe('embed forms Celery workers accept', () => {
  it.each([
    ['null (the protocol doc example, foreign-message-embed-null.json)', '[[1, 2], {}, null]'],
    ['{}', '[[1, 2], {}, {}]'],
    ['missing (two-element body)', '[[1, 2], {}]'],
    ['only some keys', '[[1, 2], {}, {"chord": null}]'],
  ])('embed %s decodes as all four keys null', (_what, body) => {
    const req = decodeTaskMessage(v2(body));
    expect(req.args).toEqual([1, 2]);
    expect(req.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
  });

  it('the embed-null capture: the Python worker ran such a message and stored SUCCESS 3', () => {
    const s = loadSample<{ success: { status: string; result: unknown } }>('foreign-message-embed-null');
    expect([s.success.status, s.success.result]).toEqual(['SUCCESS', 3]);
    expect(decodeTaskMessage(v2('[[1, 2], {}, null]')).embed.callbacks).toBeNull();
  });
});

describe('protocol v1 and hybrid bodies', () => {
  it('v1: group/taskset, retries, eta, expires, timelimit [hard, soft], callbacks and errbacks', () => {
    const sig = { task: 'wp_tasks.mul', args: [2], kwargs: {}, options: {}, subtask_type: null, immutable: false };
    const body = JSON.stringify({
      task: 'wp_tasks.add',
      id: 'b1',
      args: [1, 2],
      kwargs: { z: 1 },
      taskset: 'g1',
      retries: 2,
      eta: '2026-01-02T03:04:05.600000',
      expires: '2026-01-02T04:04:05+00:00',
      utc: true,
      callbacks: [sig],
      errbacks: [sig],
      timelimit: [30, 20],
      chord: null,
    });
    const req = decodeTaskMessage(v2(body, {}));
    expect([req.name, req.id, req.args, req.kwargs]).toEqual(['wp_tasks.add', 'b1', [1, 2], { z: 1 }]);
    expect(req.headers.group).toBe('g1');
    expect(req.headers.retries).toBe(2);
    expect(req.headers.timelimit).toEqual([30, 20]);
    expect(req.eta).toBe(Date.UTC(2026, 0, 2, 3, 4, 5, 600));
    expect(req.expires).toBe(Date.UTC(2026, 0, 2, 4, 4, 5));
    expect(req.embed).toEqual({ callbacks: [sig], errbacks: [sig], chain: null, chord: null });
  });

  it('hybrid: v2 headers with a v1-style {args, kwargs, callbacks} payload', () => {
    const sig = { task: 'wp_tasks.mul', args: [2], kwargs: {}, options: {}, subtask_type: null, immutable: false };
    const req = decodeTaskMessage(v2(JSON.stringify({ args: [1], kwargs: { y: 2 }, callbacks: [sig] })));
    expect([req.name, req.args, req.kwargs]).toEqual(['wp_tasks.add', [1], { y: 2 }]);
    expect(req.embed).toEqual({ callbacks: [sig], errbacks: null, chain: null, chord: null });
  });
});

describe('malformed input is a MalformedMessageError that says what is wrong', () => {
  const ok = { task: 'wp_tasks.add', id: 'a1b2c3d4-0000-4000-8000-000000000001' };

  it('an envelope that is not JSON', () => {
    expectMalformed(() => parseEnvelope('{"body": '), /message is not JSON/);
  });

  it('an envelope that is not an object', () => {
    expectMalformed(() => parseEnvelope('[1, 2]'), /envelope must be an object/);
  });

  it('a body in an unknown body_encoding', () => {
    const env = parseEnvelope(JSON.stringify({ body: 'x', headers: ok, properties: { body_encoding: 'rot13', delivery_info: {}, delivery_tag: 't' } }));
    expectMalformed(() => fromEnvelope(env), /unsupported body_encoding "rot13"/);
  });

  it('a body that is not JSON', () => {
    const raw = JSON.stringify({ body: Buffer.from('not json').toString('base64'), 'content-type': 'application/json', 'content-encoding': 'utf-8', headers: ok, properties: { body_encoding: 'base64' } });
    expectMalformed(() => decodeTaskMessage(wireFromRedis(raw)), /body is not valid JSON/);
  });

  it('a content type other than JSON (pickle)', () => {
    expectMalformed(() => decodeTaskMessage({ ...v2('[[], {}, {}]'), contentType: 'application/x-python-serialize' }), /unsupported content type "application\/x-python-serialize"/);
  });

  it.each([
    ['an object without args', '{"foo": 1}', /body must be \[args, kwargs, embed\]/],
    ['a one-element list', '[[1]]', /body must be \[args, kwargs, embed\]/],
    ['a four-element list', '[[1], {}, {}, 1]', /body must be \[args, kwargs, embed\]/],
    ['a string', '"hello"', /body must be \[args, kwargs, embed\]/],
    ['args that are not a list', '[1, {}, {}]', /args must be a list/],
    ['kwargs that are not an object', '[[], [], {}]', /kwargs must be an object/],
    ['an embed that is not an object', '[[], {}, "x"]', /embed must be an object/],
    ['embed.chain that is not a list', '[[], {}, {"chain": {}}]', /embed\.chain must be a list of signatures/],
    ['embed.callbacks holding a non-signature', '[[], {}, {"callbacks": [42]}]', /embed\.callbacks holds something that is not a signature/],
    ['embed.chord that is not a signature', '[[], {}, {"chord": {"args": []}}]', /embed\.chord holds something that is not a signature/],
  ])('a v2 body that is %s', (_what, body, message) => {
    expectMalformed(() => decodeTaskMessage(v2(body)), message);
  });

  it('a v2 message without an id header', () => {
    expectMalformed(() => decodeTaskMessage(v2('[[], {}, {}]', { task: 'wp_tasks.add' })), /header "id" is missing/);
  });

  it('a v2 body without a task header names the missing header', () => {
    expectMalformed(() => decodeTaskMessage(v2('[[2, 3], {}, {}]', { id: 'x1' })), /header "task" is missing/);
  });

  it('a v1 body without an id', () => {
    expectMalformed(() => decodeTaskMessage(v2('{"task": "wp_tasks.add", "args": []}', {})), /"id" is missing/);
  });

  it('an eta that is not a time', () => {
    expectMalformed(() => decodeTaskMessage(v2('[[], {}, {}]', { ...ok, eta: 'tomorrow' })), /invalid time "tomorrow"/);
  });
});
