/**
 * kombu's virtual-transport envelope (celery-wire.md §2.1): the JSON text a
 * Redis list holds for each message. The memory transport stores the same
 * text, so both carry byte-for-byte what a Python peer would read.
 */
import { randomUUID } from 'node:crypto';
import { MalformedMessageError } from './exceptions.js';
import { encodeJson } from './json.js';
import type { WireMessage } from './message.js';

/** The envelope as JSON, keys in kombu's order. */
export interface KombuEnvelope {
  body: string;
  'content-encoding': string;
  'content-type': string;
  headers: Record<string, unknown>;
  properties: Record<string, unknown> & {
    delivery_info: { exchange: string; routing_key: string; redelivered?: boolean };
    delivery_tag: string;
    body_encoding?: string;
    priority?: number;
  };
}

/** A message body's UTF-8 bytes; a body joined from pieces is written piece by piece (not copied into one string first). */
function utf8(msg: WireMessage): Buffer {
  const parts = msg.prepared?.parts;
  if (!parts) return Buffer.from(msg.body, 'utf8');
  let size = 0;
  for (const p of parts) size += Buffer.byteLength(p);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const p of parts) at += out.write(p, at, 'utf8');
  return out;
}

/**
 * Wrap a message for a virtual transport: base64 body, delivery info, a fresh
 * delivery tag. `lazyBody`: the body is left empty for `fillBody` to write
 * once the envelope's text is needed (a message this process may run
 * without ever writing it anywhere).
 */
export function toEnvelope(msg: WireMessage, exchange: string, routingKey: string, lazyBody = false): KombuEnvelope {
  return {
    body: lazyBody ? '' : base64Body(msg),
    'content-encoding': msg.contentEncoding,
    'content-type': msg.contentType,
    headers: msg.headers,
    properties: {
      ...msg.properties,
      delivery_info: { exchange, routing_key: routingKey },
      priority: typeof msg.properties.priority === 'number' ? msg.properties.priority : 0,
      body_encoding: 'base64',
      delivery_tag: randomUUID(),
    },
  };
}

/** Write the base64 body of an envelope made by toEnvelope with `lazyBody`, from the message it wraps. */
export function fillBody(env: KombuEnvelope, msg: WireMessage): KombuEnvelope {
  env.body = base64Body(msg);
  return env;
}

/** A message body as a virtual transport carries it (`body_encoding: base64`). */
function base64Body(msg: WireMessage): string {
  return utf8(msg).toString('base64');
}

/**
 * The JSON text of an envelope made by toEnvelope. Its base64 body, most of a
 * large message, needs no escaping: it goes in as it is instead of being
 * scanned by the encoder.
 */
export function encodeEnvelope(env: KombuEnvelope): string {
  const body = env.body;
  if (env.properties.body_encoding !== 'base64' || body.length < 256) return encodeJson(env);
  return `${BODY_OPEN}${body}${afterBody(env)}`;
}

/** What an envelope's JSON text starts with: the base64 body follows, unescaped. */
const BODY_OPEN = '{"body":"';

/** An envelope's JSON text after its body: the body's closing quote onwards (`","content-encoding":…`). */
function afterBody(env: KombuEnvelope): string {
  return encodeJson({ ...env, body: '' }).slice(BODY_OPEN.length);
}

/** Bodies from this size (base64 characters) on are written as bytes by envelopeBytes. */
const LARGE_BODY = 4096;

/**
 * An envelope made by toEnvelope, as what a transport writes: the JSON text
 * of encodeEnvelope, as bytes when the body is large. Its base64 body then
 * goes straight into the buffer instead of into another string that the
 * socket write turns into bytes again: a large message (a long chain's
 * step) is copied once less, and outside V8's heap.
 */
export function envelopeBytes(env: KombuEnvelope): string | Buffer {
  const body = env.body;
  if (env.properties.body_encoding !== 'base64' || body.length < LARGE_BODY) return encodeEnvelope(env);
  const tail = afterBody(env);
  const at = BODY_OPEN.length;
  const out = Buffer.allocUnsafe(at + body.length + Buffer.byteLength(tail));
  out.write(BODY_OPEN, 0, 'latin1');
  out.write(body, at, 'latin1');
  out.write(tail, at + body.length, 'utf8');
  return out;
}

/** Parse an envelope's JSON text; throws MalformedMessageError with the reason. */
export function parseEnvelope(raw: string): KombuEnvelope {
  let env: unknown;
  try {
    env = JSON.parse(raw);
  } catch (err) {
    throw new MalformedMessageError(`message is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!env || typeof env !== 'object' || Array.isArray(env)) throw new MalformedMessageError('message envelope must be an object');
  const e = env as Partial<KombuEnvelope>;
  if (e.properties === undefined || typeof e.properties !== 'object' || e.properties === null) {
    (e as KombuEnvelope).properties = { delivery_info: { exchange: '', routing_key: '' }, delivery_tag: randomUUID() };
  }
  const p = (e as KombuEnvelope).properties;
  if (!p.delivery_info || typeof p.delivery_info !== 'object') p.delivery_info = { exchange: '', routing_key: '' };
  if (typeof p.delivery_tag !== 'string') p.delivery_tag = randomUUID();
  return e as KombuEnvelope;
}

/**
 * Unwrap an envelope into a WireMessage (decoding the body encoding), or,
 * given `decoded`, with that body (an envelope this process just made).
 */
export function fromEnvelope(env: KombuEnvelope, decoded?: string): WireMessage {
  let body: string;
  const raw = env.body as unknown;
  if (typeof raw !== 'string') {
    throw new MalformedMessageError('envelope body must be a string (a raw JSON array is not accepted, as in kombu)');
  }
  const enc = env.properties.body_encoding;
  if (decoded !== undefined) body = decoded;
  else if (enc === 'base64') body = Buffer.from(raw, 'base64').toString('utf8');
  else if (enc === undefined || enc === null || enc === 'utf-8' || enc === 'utf8') body = raw;
  else throw new MalformedMessageError(`unsupported body_encoding ${JSON.stringify(enc)}`);
  return {
    headers: env.headers && typeof env.headers === 'object' ? env.headers : {},
    properties: env.properties,
    body,
    contentType: env['content-type'] ?? 'application/json',
    contentEncoding: env['content-encoding'] ?? 'utf-8',
  };
}
