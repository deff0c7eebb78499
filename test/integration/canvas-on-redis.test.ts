/**
 * The guide and the canvas-semantics suites, unchanged, on a real Redis:
 * broker in database 4, result backend in database 5 (flushed before and
 * after), each app with its own queue.
 */
import { afterAll } from 'vitest';
import { flushDb, requireRedis } from '../support/redis-db.js';
import { setTransport } from '../support/transport.js';

await requireRedis();
await flushDb(4);
await flushDb(5);
setTransport({ broker: 'redis://127.0.0.1:6379/4', backend: 'redis://127.0.0.1:6379/5', uniqueQueues: true });

await import('../unit/smoke.test.js');
await import('../unit/guide.test.js');
await import('../unit/canvas-semantics.test.js');
await import('../unit/canvas-semantics-more.test.js');
await import('../unit/control.test.js');

afterAll(async () => {
  await flushDb(4);
  await flushDb(5);
});
