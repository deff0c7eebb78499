/**
 * A WireMessage as an AMQP 0-9-1 message (celery-wire.md §1.2, §3.2): the
 * headers are the `application_headers` field table, the properties map onto
 * basic properties, and the body is the serialized text itself (no base64,
 * no envelope), as py-amqp sends it.
 */
import { isUtf8 } from 'node:buffer';
import { brotliDecompressSync, inflateSync } from 'node:zlib';
import type { Message, Options } from 'amqplib';
import { MalformedMessageError, type WireMessage } from '../protocol/index.js';

/** Celery's `task_default_delivery_mode`: persistent. */
export const PERSISTENT = 2;
/** Events and pidbox messages are transient. */
export const TRANSIENT = 1;

/** Body bytes of a message in its content encoding ('binary' keeps each char as one byte, as kombu's raw bytes). */
export function bodyBytes(message: WireMessage): Buffer {
  return Buffer.from(message.body, isBinaryEncoding(message.contentEncoding) ? 'latin1' : 'utf8');
}

function isBinaryEncoding(enc: string | undefined | null): boolean {
  const e = (enc ?? '').toLowerCase();
  return e === 'binary' || e === 'latin1' || e === 'latin-1' || e === 'iso-8859-1';
}

/**
 * amqplib publish options for a message. Only the basic properties AMQP has
 * are sent; transport-specific ones (a Redis envelope's `delivery_info`,
 * `delivery_tag`, `body_encoding`) are not properties on AMQP and are left out.
 */
export function publishOptions(message: WireMessage, deliveryMode: number | null, mandatory: boolean): Options.Publish {
  const p = message.properties;
  const o: Options.Publish = {
    headers: message.headers,
    deliveryMode: deliveryMode ?? (p.delivery_mode === 1 || p.delivery_mode === 2 ? p.delivery_mode : PERSISTENT),
    mandatory,
  };
  if (message.contentType) o.contentType = message.contentType;
  if (message.contentEncoding) o.contentEncoding = message.contentEncoding;
  if (typeof p.correlation_id === 'string') o.correlationId = p.correlation_id;
  if (typeof p.reply_to === 'string') o.replyTo = p.reply_to;
  if (typeof p.priority === 'number' && Number.isInteger(p.priority)) o.priority = Math.min(255, Math.max(0, p.priority));
  if (p.expiration !== undefined && p.expiration !== null) {
    // A TTL in ms as a string (kombu: str(int(expires * 1000))); a negative one is clamped to 0 as kombu does.
    const ms = Math.max(0, Math.floor(Number(p.expiration)));
    if (Number.isFinite(ms)) o.expiration = String(ms);
  }
  if (typeof p.message_id === 'string') o.messageId = p.message_id;
  if (typeof p.type === 'string') o.type = p.type;
  if (typeof p.app_id === 'string') o.appId = p.app_id;
  if (typeof p.timestamp === 'number') o.timestamp = Math.floor(p.timestamp);
  return o;
}

/** Where a message came from, as kombu's `delivery_info`. */
export interface AmqpDeliveryInfo {
  exchange: string;
  routing_key: string;
  redelivered: boolean;
}

/**
 * Turn a received AMQP message into a WireMessage. Throws
 * MalformedMessageError when the body cannot be read as text: bytes that are
 * not valid in the stated text encoding, an encoding or a kombu compression
 * that celeriac does not know. A body in another content type (pickle,
 * msgpack) is still returned; the worker refuses it by its content type.
 *
 * A redelivered message also gets `headers.redelivered = true`, as kombu's
 * virtual transports write it, so a worker sees one shape on every transport.
 */
export function wireMessageOf(msg: Message, redelivered: boolean): WireMessage {
  const props = msg.properties;
  const headers = normaliseTable(props.headers ?? {});
  let content = msg.content;
  if (headers.compression !== undefined && headers.compression !== null) {
    content = decompress(content, String(headers.compression));
    // The body handed on is plain; a re-publish of these headers must not claim it is compressed.
    delete headers.compression;
  }
  const contentEncoding = typeof props.contentEncoding === 'string' && props.contentEncoding ? props.contentEncoding : 'utf-8';
  const body = decodeText(content, contentEncoding);
  if (redelivered && headers.redelivered === undefined) headers.redelivered = true;
  const info: AmqpDeliveryInfo = { exchange: msg.fields.exchange, routing_key: msg.fields.routingKey, redelivered };
  const properties: Record<string, unknown> = {};
  if (props.correlationId !== undefined) properties.correlation_id = props.correlationId;
  if (props.replyTo !== undefined) properties.reply_to = props.replyTo;
  if (props.deliveryMode !== undefined) properties.delivery_mode = props.deliveryMode;
  if (props.priority !== undefined) properties.priority = props.priority;
  if (props.expiration !== undefined) properties.expiration = String(props.expiration);
  if (props.messageId !== undefined) properties.message_id = props.messageId;
  if (props.timestamp !== undefined) properties.timestamp = props.timestamp;
  if (props.type !== undefined) properties.type = props.type;
  if (props.appId !== undefined) properties.app_id = props.appId;
  if (props.userId !== undefined) properties.user_id = props.userId;
  properties.delivery_info = info;
  return {
    headers,
    properties,
    body,
    contentType: typeof props.contentType === 'string' && props.contentType ? props.contentType : 'application/json',
    contentEncoding,
  };
}

function decodeText(content: Buffer, encoding: string): string {
  const enc = encoding.toLowerCase();
  if (enc === 'utf-8' || enc === 'utf8' || enc === 'ascii' || enc === 'us-ascii') {
    if (!isUtf8(content)) throw new MalformedMessageError(`message body is not valid ${encoding} text`);
    return content.toString('utf8');
  }
  if (isBinaryEncoding(enc)) return content.toString('latin1');
  throw new MalformedMessageError(`unsupported content encoding ${JSON.stringify(encoding)} (celeriac reads utf-8 and binary bodies)`);
}

/** kombu's compression header values (kombu.compression) that Node can undo. */
function decompress(content: Buffer, kind: string): Buffer {
  try {
    switch (kind) {
      case 'application/x-gzip':
      case 'zlib':
      case 'gzip':
        return inflateSync(content);
      case 'application/x-brotli':
      case 'brotli':
        return brotliDecompressSync(content);
    }
  } catch (err) {
    throw new MalformedMessageError(`message body does not decompress as ${kind}: ${(err as Error).message}`, { cause: err });
  }
  throw new MalformedMessageError(`unsupported compression ${JSON.stringify(kind)} (celeriac undoes zlib and brotli)`);
}

/**
 * Field-table values as plain JSON values: amqplib gives timestamps and
 * decimals as `{'!': type, value}` objects and byte arrays as Buffers, which
 * Celery's JSON headers never hold but a foreign publisher may send.
 */
function normaliseTable(t: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(t)) out[k] = normaliseValue(t[k]);
  return out;
}

function normaliseValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(normaliseValue);
  if (Buffer.isBuffer(v)) return isUtf8(v) ? v.toString('utf8') : v.toString('latin1');
  const o = v as Record<string, unknown>;
  if (typeof o['!'] === 'string' && 'value' in o) {
    if (o['!'] === 'timestamp') return new Date(Number(o.value) * 1000).toISOString();
    if (o['!'] === 'decimal') {
      const d = o.value as { places: number; digits: number };
      return d.digits / 10 ** d.places;
    }
  }
  return normaliseTable(o);
}
