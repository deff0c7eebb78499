/**
 * Celery task messages, protocol v2: headers, properties and the
 * `[args, kwargs, embed]` body (celery-wire.md §1). Protocol v1 bodies are
 * read and converted to the v2 shape (§1.12).
 */
import { randomUUID } from 'node:crypto';
import { decodeJson, encodeJson, formatPythonDatetime } from './json.js';
import { MalformedMessageError } from './exceptions.js';
import { argsRepr, kwargsRepr } from './repr.js';

/** A signature in its dict form, exactly as Celery writes it (C-001). */
export interface SignatureDict {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  chord_size?: number | null;
  [extra: string]: unknown;
}

/** The `embed` element of a v2 body. */
export interface Embed {
  callbacks: SignatureDict[] | null;
  errbacks: SignatureDict[] | null;
  chain: SignatureDict[] | null;
  chord: SignatureDict | null;
}

/** Protocol v2 headers (celery-wire.md §1.1); unknown headers are kept. */
export interface TaskHeaders {
  lang: string;
  task: string;
  id: string;
  shadow: string | null;
  eta: string | null;
  expires: string | null;
  group: string | null;
  group_index: number | null;
  retries: number;
  timelimit: [number | null, number | null];
  root_id: string;
  parent_id: string | null;
  argsrepr: string;
  kwargsrepr: string;
  origin: string;
  ignore_result: boolean;
  [extra: string]: unknown;
}

/** Message properties (celery-wire.md §1.2). */
export interface TaskProperties {
  correlation_id: string;
  reply_to: string;
  delivery_mode: number;
  priority?: number;
  expiration?: string;
  [extra: string]: unknown;
}

/**
 * An encoded message as brokers carry it: headers and properties as objects,
 * the body as serialized text. This is what every transport moves.
 */
export interface WireMessage {
  headers: Record<string, unknown>;
  properties: Record<string, unknown>;
  body: string;
  contentType: string;
  contentEncoding: string;
  /** @internal set by encodeTaskMessage when a chain's rest went into `body` as text (see chainRest). */
  prepared?: PreparedBody;
}

/** What the sender decides; `encodeTaskMessage` turns it into a WireMessage. */
export interface TaskSendSpec {
  name: string;
  id: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
  eta?: Date | null;
  expires?: Date | null;
  groupId?: string | null;
  groupIndex?: number | null;
  retries?: number;
  timeLimit?: number | null;
  softTimeLimit?: number | null;
  rootId?: string | null;
  parentId?: string | null;
  shadow?: string | null;
  ignoreResult?: boolean;
  origin: string;
  replyTo: string;
  priority?: number | null;
  extraHeaders?: Record<string, unknown> | null;
  /** The sender's clock (epoch ms) that `eta`/`expires` were computed from; the `expiration` TTL is taken from it. Default: `Date.now()`. */
  now?: number;
}

/**
 * A chain's rest is sent on with every step: in a long chain it is most of
 * each message. A rest made by `chainRest` from a chain decoded here keeps the
 * JSON text it arrived as, and `encodeTaskMessage` writes that text instead of
 * encoding the signatures again. A message whose rest went in as text carries
 * its body without it (`WireMessage.prepared`), so the worker that takes the
 * message it sent itself does not parse the rest again either.
 */
const chainSources = new WeakMap<readonly SignatureDict[], { body: string; data: TaskRequestData; items: readonly SignatureDict[] }>();
/**
 * A chain array's JSON text without its closing bracket: each rest is then a
 * slice of the text it came from (V8 shares a slice's characters with its
 * source, where adding the bracket back would copy them at every step).
 */
const chainTexts = new WeakMap<readonly SignatureDict[], { open: string; items: readonly SignatureDict[] }>();

/**
 * Whether a chain array still holds the signatures its text was taken for
 * (none added, removed or replaced; a signature changed in place is not
 * seen, and goes on as it arrived).
 */
function unchanged(chain: readonly SignatureDict[], items: readonly SignatureDict[]): boolean {
  if (chain.length !== items.length) return false;
  for (let i = 0; i < items.length; i++) if (chain[i] !== items[i]) return false;
  return true;
}

/** A random token no encoded value holds: where a rest's text goes into the body. */
const REST_MARK = `__celeriac_rest_${randomUUID()}`;

/**
 * The rest of a decoded chain after its next step (`chain` less its last
 * item), remembering its JSON text when the chain's own text is known and
 * nothing was added or removed since (the text is checked against what was
 * decoded around it).
 */
export function chainRest(chain: readonly SignatureDict[]): SignatureDict[] {
  const rest = chain.slice(0, -1);
  if (!rest.length) return rest;
  const open = chainOpenText(chain);
  if (open === null) return rest;
  let tail: string;
  try {
    tail = `,${JSON.stringify(chain[chain.length - 1])}`;
  } catch {
    return rest;
  }
  if (open.endsWith(tail)) chainTexts.set(rest, { open: open.slice(0, open.length - tail.length), items: rest.slice() });
  return rest;
}

/**
 * The JSON text of a chain array less its closing bracket: made by
 * chainRest, or cut from the body it was decoded from when laid out as
 * encodeTaskMessage lays it out.
 */
function chainOpenText(chain: readonly SignatureDict[]): string | null {
  const known = chainTexts.get(chain);
  if (known) return unchanged(chain, known.items) ? known.open : null;
  const src = chainSources.get(chain);
  if (!src || !unchanged(chain, src.items)) return null;
  const { body, data } = src;
  const e = data.embed;
  let prefix: string;
  let suffix: string;
  try {
    prefix = `[${JSON.stringify(data.args)},${JSON.stringify(data.kwargs)},{"callbacks":${JSON.stringify(e.callbacks)},"errbacks":${JSON.stringify(e.errbacks)},"chain":`;
    suffix = `],"chord":${JSON.stringify(e.chord)}}]`;
  } catch {
    return null;
  }
  if (body.length <= prefix.length + suffix.length || !body.startsWith(prefix) || !body.endsWith(suffix)) return null;
  const open = body.slice(prefix.length, body.length - suffix.length);
  chainTexts.set(chain, { open, items: src.items });
  return open;
}

/** The body of a message whose chain rest went in as text: the body with the rest marked, and the rest. */
export interface PreparedBody {
  readonly head: string;
  readonly chain: SignatureDict[];
  /** The body in the pieces it was joined from (the rest's text among them), for writing it out without copying it first. */
  readonly parts: readonly string[];
}

/** A decoded task message, ready for the worker. */
export interface TaskRequestData {
  name: string;
  id: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  embed: Embed;
  headers: TaskHeaders;
  properties: Record<string, unknown>;
  /** ETA as epoch milliseconds, or null. */
  eta: number | null;
  /** Expiry as epoch milliseconds, or null. */
  expires: number | null;
}

/** The content type every celeriac message uses. */
export const JSON_CONTENT_TYPE = 'application/json';

/** Encode a task into a protocol v2 message. */
export function encodeTaskMessage(spec: TaskSendSpec): WireMessage {
  const now = spec.now ?? Date.now();
  const headers: Record<string, unknown> = {
    lang: 'ts',
    task: spec.name,
    id: spec.id,
    shadow: spec.shadow ?? null,
    eta: spec.eta ? formatPythonDatetime(spec.eta, '+00:00') : null,
    expires: spec.expires ? formatPythonDatetime(spec.expires, '+00:00') : null,
    group: spec.groupId ?? null,
    group_index: spec.groupIndex ?? null,
    retries: spec.retries ?? 0,
    timelimit: [spec.timeLimit ?? null, spec.softTimeLimit ?? null],
    root_id: spec.rootId ?? spec.id,
    parent_id: spec.parentId ?? null,
    argsrepr: argsRepr(spec.args),
    kwargsrepr: kwargsRepr(spec.kwargs),
    origin: spec.origin,
    ignore_result: spec.ignoreResult ?? false,
  };
  if (spec.extraHeaders) Object.assign(headers, spec.extraHeaders);
  const properties: Record<string, unknown> = {
    correlation_id: spec.id,
    reply_to: spec.replyTo,
    delivery_mode: 2,
    priority: spec.priority ?? 0,
  };
  if (spec.expires) properties.expiration = String(Math.max(0, spec.expires.getTime() - now));
  const chain = spec.embed.chain;
  const rest = chain && chainTexts.get(chain);
  if (chain && rest && unchanged(chain, rest.items)) {
    const head = encodeJson([spec.args, spec.kwargs, { ...spec.embed, chain: REST_MARK }]);
    const at = head.indexOf(`"${REST_MARK}"`);
    const parts = [head.slice(0, at), rest.open, `]${head.slice(at + REST_MARK.length + 2)}`];
    return { headers, properties, body: parts[0] + parts[1] + parts[2], contentType: JSON_CONTENT_TYPE, contentEncoding: 'utf-8', prepared: { head, chain, parts } };
  }
  return {
    headers,
    properties,
    body: encodeJson([spec.args, spec.kwargs, spec.embed]),
    contentType: JSON_CONTENT_TYPE,
    contentEncoding: 'utf-8',
  };
}

const EMPTY_EMBED: Readonly<Embed> = Object.freeze({ callbacks: null, errbacks: null, chain: null, chord: null });

/** A fresh embed with every key null. */
export function emptyEmbed(): Embed {
  return { ...EMPTY_EMBED };
}

/** Parse an ISO-8601 time as Celery writes it; a naive time is UTC. */
export function parseCeleryTime(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number') return v * 1000;
  const s = String(v);
  const naive = !/(Z|[+-]\d\d:?\d\d)$/.test(s);
  // Trim fractions past milliseconds, which Date.parse does not take everywhere.
  const trimmed = s.replace(/(\.\d{3})\d+/, '$1');
  const ms = Date.parse(naive ? `${trimmed}Z` : trimmed);
  if (Number.isNaN(ms)) throw new MalformedMessageError(`invalid time ${JSON.stringify(s)}`);
  return ms;
}

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new MalformedMessageError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function sigList(v: unknown, what: string): SignatureDict[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) throw new MalformedMessageError(`embed.${what} must be a list of signatures`);
  for (const s of v) checkSignatureDict(s, what);
  return v as SignatureDict[];
}

function checkSignatureDict(s: unknown, what: string): void {
  if (s === null || typeof s !== 'object' || typeof (s as SignatureDict).task !== 'string') {
    throw new MalformedMessageError(`embed.${what} holds something that is not a signature`);
  }
}

/** Decode a WireMessage into a task request; v1 bodies are converted. Throws MalformedMessageError. */
export function decodeTaskMessage(msg: WireMessage): TaskRequestData {
  if (msg.contentType && msg.contentType !== JSON_CONTENT_TYPE) {
    throw new MalformedMessageError(`unsupported content type ${JSON.stringify(msg.contentType)} (only application/json)`);
  }
  let body: unknown;
  try {
    body = decodeJson(msg.prepared ? msg.prepared.head : msg.body);
  } catch (err) {
    throw new MalformedMessageError(`body is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const h = msg.headers ?? {};
  if (typeof h.task !== 'string') {
    // A v2 body ([args, kwargs, embed]) without the task header is not a v1 message either.
    if (Array.isArray(body)) throw new MalformedMessageError('header "task" is missing (a protocol v2 message names its task in the headers)');
    return decodeV1(body, msg);
  }
  if (typeof h.id !== 'string' || !h.id) throw new MalformedMessageError('header "id" is missing');
  let args: unknown;
  let kwargs: unknown;
  let rawEmbed: unknown;
  if (Array.isArray(body)) {
    if (body.length < 2 || body.length > 3) throw new MalformedMessageError('body must be [args, kwargs, embed]');
    [args, kwargs, rawEmbed] = body;
  } else if (body && typeof body === 'object' && 'args' in body) {
    // Hybrid: v2 headers with a v1-style payload.
    const b = body as Record<string, unknown>;
    args = b.args;
    kwargs = b.kwargs ?? {};
    rawEmbed = { callbacks: b.callbacks ?? null, errbacks: b.errbacks ?? null, chain: null, chord: b.chord ?? null };
  } else throw new MalformedMessageError('body must be [args, kwargs, embed]');
  if (!Array.isArray(args)) throw new MalformedMessageError('args must be a list');
  const kw = kwargs === null || kwargs === undefined ? {} : asObject(kwargs, 'kwargs');
  const e = rawEmbed === null || rawEmbed === undefined ? {} : asObject(rawEmbed, 'embed');
  if (msg.prepared && e.chain === REST_MARK) e.chain = msg.prepared.chain;
  const embed: Embed = {
    callbacks: sigList(e.callbacks, 'callbacks'),
    errbacks: sigList(e.errbacks, 'errbacks'),
    chain: sigList(e.chain, 'chain'),
    chord: e.chord === null || e.chord === undefined ? null : (checkSignatureDict(e.chord, 'chord'), e.chord as SignatureDict),
  };
  const headers = normaliseHeaders(h);
  const data: TaskRequestData = {
    name: headers.task,
    id: headers.id,
    args,
    kwargs: kw,
    embed,
    headers,
    properties: msg.properties ?? {},
    eta: parseCeleryTime(headers.eta),
    expires: parseCeleryTime(headers.expires),
  };
  if (embed.chain && embed.chain.length > 1 && !msg.prepared) chainSources.set(embed.chain, { body: msg.body, data, items: embed.chain.slice() });
  return data;
}

function normaliseHeaders(h: Record<string, unknown>): TaskHeaders {
  const id = h.id as string;
  const tl = Array.isArray(h.timelimit) ? h.timelimit : [null, null];
  return {
    ...h,
    lang: typeof h.lang === 'string' ? h.lang : 'py',
    task: h.task as string,
    id,
    shadow: (h.shadow as string | null) ?? null,
    eta: (h.eta as string | null) ?? null,
    expires: (h.expires as string | null) ?? null,
    group: (h.group as string | null) ?? null,
    group_index: typeof h.group_index === 'number' ? h.group_index : null,
    retries: typeof h.retries === 'number' ? h.retries : 0,
    timelimit: [numOrNull(tl[0]), numOrNull(tl[1])],
    root_id: typeof h.root_id === 'string' ? h.root_id : id,
    parent_id: typeof h.parent_id === 'string' ? h.parent_id : null,
    argsrepr: typeof h.argsrepr === 'string' ? h.argsrepr : '',
    kwargsrepr: typeof h.kwargsrepr === 'string' ? h.kwargsrepr : '',
    origin: typeof h.origin === 'string' ? h.origin : '',
    ignore_result: h.ignore_result === true,
  };
}

function numOrNull(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

function decodeV1(body: unknown, msg: WireMessage): TaskRequestData {
  const b = asObject(body, 'protocol v1 body');
  if (typeof b.task !== 'string') throw new MalformedMessageError('header "task" is missing');
  if (typeof b.id !== 'string') throw new MalformedMessageError('"id" is missing');
  if (b.args !== undefined && !Array.isArray(b.args)) throw new MalformedMessageError('args must be a list');
  const tl = Array.isArray(b.timelimit) ? b.timelimit : [null, null];
  const headers = normaliseHeaders({
    task: b.task,
    id: b.id,
    group: b.group ?? b.taskset ?? null,
    retries: b.retries ?? 0,
    eta: b.eta ?? null,
    expires: b.expires ?? null,
    timelimit: tl,
  });
  return {
    name: b.task,
    id: b.id,
    args: (b.args as unknown[] | undefined) ?? [],
    kwargs: b.kwargs === undefined || b.kwargs === null ? {} : asObject(b.kwargs, 'kwargs'),
    embed: {
      callbacks: sigList(b.callbacks, 'callbacks'),
      errbacks: sigList(b.errbacks, 'errbacks'),
      chain: null,
      chord: (b.chord as SignatureDict | null | undefined) ?? null,
    },
    headers,
    properties: msg.properties ?? {},
    eta: parseCeleryTime(headers.eta),
    expires: parseCeleryTime(headers.expires),
  };
}

/** A uuid4 text, as Celery uses for task ids. */
export function newTaskId(): string {
  return randomUUID();
}
