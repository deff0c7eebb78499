/**
 * How `inspect` and `control` print worker replies, in the shape `celery
 * inspect` / `celery control` print them, so that eyes and scripts used to
 * Celery's output read ours:
 *
 *     ->  worker1@host: OK
 *             pong
 *
 *     1 node online.
 *
 * `{ok: …}` / `{error: …}` answers print their text (status ERROR for an
 * error), lists print one `* item` per line (`- empty -` when empty), other
 * objects print as JSON with sorted keys and four-space indents.
 */
import { encodeJson, pyRepr } from '../protocol/index.js';

/** Indent every line of `text` by `n` spaces (Celery's `text.indent`). */
export function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (isObject(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

/** JSON with sorted keys and four-space indents (Python's `json.dumps(sort_keys=True, indent=4)`). */
export function prettyJson(v: unknown): string {
  return JSON.stringify(sortKeys(v), (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x), 4) ?? 'null';
}

/** A reply's status word and body, as Celery's `pretty()` gives them. */
export function prettyReply(reply: unknown): { status: 'OK' | 'ERROR'; body: string } {
  if (Array.isArray(reply)) {
    return { status: 'OK', body: reply.length ? reply.map((item) => `* ${typeof item === 'string' ? item : pyRepr(item)}`).join('\n') : '- empty -' };
  }
  if (isObject(reply)) {
    if ('ok' in reply) return { status: 'OK', body: indent(prettyReply(reply.ok).body, 4) };
    if ('error' in reply) return { status: 'ERROR', body: indent(prettyReply(reply.error).body, 4) };
    return { status: 'OK', body: prettyJson(reply) };
  }
  if (typeof reply === 'string') return { status: 'OK', body: reply };
  return { status: 'OK', body: pyRepr(reply) };
}

/** Print every node's reply, then the node count; `--json` prints the replies as one JSON object. */
export function printReplies(replies: Record<string, unknown>, json: boolean, out: NodeJS.WritableStream = process.stdout): void {
  if (json) {
    out.write(`${encodeJson(replies)}\n`);
    return;
  }
  const nodes = Object.keys(replies);
  for (const node of nodes) {
    const { status, body } = prettyReply(replies[node]);
    out.write(`->  ${node}: ${status}\n${indent(body, 4)}\n`);
  }
  out.write(`\n${nodes.length} ${nodes.length === 1 ? 'node' : 'nodes'} online.\n`);
}
