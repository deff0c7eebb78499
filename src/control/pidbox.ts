/**
 * Celery's pidbox mailbox messages (celery-wire.md §8.1): requests broadcast
 * on `celery.pidbox`, replies sent to `<oid>.reply.celery.pidbox`.
 */
import { decodeJson, encodeJson, type WireMessage } from '../protocol/index.js';
import { globToRegExp } from '../options.js';

/** The fanout exchange requests go to. */
export const PIDBOX_EXCHANGE = 'celery.pidbox';
/** The direct exchange replies go to. */
export const REPLY_EXCHANGE = 'reply.celery.pidbox';

/** A control request body. */
export interface ControlRequest {
  method: string;
  arguments: Record<string, unknown>;
  destination: string[] | null;
  pattern: string | null;
  matcher: string | null;
  ticket?: string;
  reply_to?: { exchange: string; routing_key: string };
}

/** The reply queue of a client oid (kombu's naming). */
export function replyQueue(oid: string): string {
  return `${oid}.${REPLY_EXCHANGE}`;
}

/** Encode a request. */
export function requestMessage(body: ControlRequest, clock: number, expiresEpochSeconds: number | null): WireMessage {
  return {
    headers: { clock, expires: expiresEpochSeconds },
    properties: { delivery_mode: 2 },
    body: encodeJson(body),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
  };
}

/** Encode a reply `{hostname: result}`. */
export function replyMessage(hostname: string, result: unknown, ticket: string, clock: number): WireMessage {
  return {
    headers: { ticket, clock },
    properties: { delivery_mode: 1 },
    body: encodeJson({ [hostname]: result }),
    contentType: 'application/json',
    contentEncoding: 'utf-8',
  };
}

/** Decode a request body; null when it is not one. */
export function parseRequest(m: WireMessage): ControlRequest | null {
  try {
    const b = decodeJson(m.body) as Partial<ControlRequest>;
    if (!b || typeof b.method !== 'string') return null;
    return {
      method: b.method,
      arguments: b.arguments && typeof b.arguments === 'object' ? b.arguments : {},
      destination: Array.isArray(b.destination) ? b.destination : null,
      pattern: b.pattern ?? null,
      matcher: b.matcher ?? null,
      ticket: b.ticket,
      reply_to: b.reply_to,
    };
  } catch {
    return null;
  }
}

/** Whether a request is addressed to this node (destination list, or a glob/regex pattern, or everyone). */
export function addressedTo(req: ControlRequest, hostname: string): boolean {
  if (req.destination) return req.destination.includes(hostname);
  if (req.pattern) {
    if (req.matcher === 'pcre') return new RegExp(req.pattern).test(hostname);
    return globToRegExp(req.pattern).test(hostname);
  }
  return true;
}
