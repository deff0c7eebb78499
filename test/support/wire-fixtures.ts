/**
 * Reading the raw Celery 5.2.6 captures in test/fixtures/wire-samples (written
 * by research/wire-probe) and turning them into the WireMessage every
 * celeriac transport hands to the protocol module.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromEnvelope, parseEnvelope, type KombuEnvelope, type WireMessage } from '../../src/protocol/index.js';

/** Where the captures live. */
export const SAMPLES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'wire-samples');

/** One message as the Redis probe captured it (`LRANGE` of the queue list). */
export interface RedisCapturedMessage {
  redis_key: string;
  raw_string: string;
  envelope: KombuEnvelope;
  decoded_body: [unknown[], Record<string, unknown>, Record<string, unknown> | null];
}

/** One message as the AMQP probe captured it (`basic_get` on a queue with no consumer). */
export interface AmqpCapturedMessage {
  queue: string;
  delivery_info: { redelivered: boolean; exchange: string; routing_key: string; message_count: number };
  properties: Record<string, unknown> & { content_type: string; content_encoding: string; application_headers: Record<string, unknown> };
  raw_body: string;
  decoded_body: [unknown[], Record<string, unknown>, Record<string, unknown> | null];
}

/** A `*-broker-*.json` capture: what a Python client published, before any worker ran. */
export interface BrokerSample<M> {
  _scenario: string;
  _note: string;
  _queue: string;
  returned_result_id: string;
  messages: M[];
  backend_keys_after_send?: Record<string, { type: string; raw: string; value: unknown }>;
}

/** Read one capture by file name (with or without `.json`). */
export function loadSample<T = Record<string, unknown>>(name: string): T {
  const file = name.endsWith('.json') ? name : `${name}.json`;
  return JSON.parse(readFileSync(join(SAMPLES_DIR, file), 'utf8')) as T;
}

/** File names of the message captures of one transport (`redis` or `amqp`): every `<transport>-broker-*.json` that holds messages. */
export function brokerSampleFiles(transport: 'redis' | 'amqp'): string[] {
  return readdirSync(SAMPLES_DIR)
    .filter((f) => f.startsWith(`${transport}-broker-`) && f.endsWith('.json'))
    .filter((f) => Array.isArray((loadSample(f) as { messages?: unknown }).messages))
    .sort();
}

/** The WireMessage a Redis transport reads from a list entry: the kombu envelope, parsed and unwrapped. */
export function wireFromRedis(raw: string): WireMessage {
  return fromEnvelope(parseEnvelope(raw));
}

/** The WireMessage an AMQP transport builds from a basic.deliver: application headers, the other properties, the body text. */
export function wireFromAmqp(m: Pick<AmqpCapturedMessage, 'properties' | 'raw_body'>): WireMessage {
  const { content_type, content_encoding, application_headers, ...properties } = m.properties;
  return {
    headers: application_headers ?? {},
    properties,
    body: m.raw_body,
    contentType: content_type,
    contentEncoding: content_encoding,
  };
}

/** Headers of an AMQP capture (its `application_headers`). */
export function amqpHeaders(m: AmqpCapturedMessage): Record<string, unknown> {
  return m.properties.application_headers;
}

/** The AMQP properties a transport sets from a WireMessage's `properties` (content type, encoding and headers are carried apart). */
export function amqpMessageProperties(m: AmqpCapturedMessage): Record<string, unknown> {
  const { content_type: _t, content_encoding: _e, application_headers: _h, ...rest } = m.properties;
  return rest;
}

/**
 * Python's repr of tuples written as lists, so a Celery `argsrepr`/`kwargsrepr`
 * can be compared with ours (JavaScript has no tuples): `(2, 3)` → `[2, 3]`,
 * `(1,)` → `[1]`, `()` → `[]`. Only for reprs without parentheses inside strings.
 */
export function tuplesAsLists(repr: string): string {
  let out = repr;
  for (let prev = ''; prev !== out; ) {
    prev = out;
    out = out.replace(/\(([^()]*?),?\)/g, '[$1]');
  }
  return out;
}

/** The Redis captures list newest first (LPUSH + LRANGE); this gives publish order. */
export function inPublishOrder<M>(sample: BrokerSample<M>, transport: 'redis' | 'amqp'): M[] {
  return transport === 'redis' ? [...sample.messages].reverse() : [...sample.messages];
}
