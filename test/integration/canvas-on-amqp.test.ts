/**
 * The guide and the canvas-semantics suites, unchanged, with RabbitMQ as the
 * broker (a vhost of this file's own) and Redis as the result backend
 * (database 6, flushed before and after).
 */
import { afterAll } from 'vitest';
import { dropVhost, freshVhost, lockRabbit, probe, unreachable, vhostUrl } from './amqp-support.js';
import { flushDb, requireRedis } from '../support/redis-db.js';
import { setTransport } from '../support/transport.js';

const VHOST = 'celeriac_test_canvas';
const problem = await probe();
if (problem) throw unreachable(problem);
await requireRedis();
const unlock = await lockRabbit();
await freshVhost(VHOST);
await flushDb(6);
setTransport({ broker: vhostUrl(VHOST), backend: 'redis://127.0.0.1:6379/6', uniqueQueues: true });

await import('../unit/smoke.test.js');
await import('../unit/guide.test.js');
await import('../unit/canvas-semantics.test.js');
await import('../unit/canvas-semantics-more.test.js');
await import('../unit/control.test.js');

afterAll(async () => {
  try {
    await dropVhost(VHOST);
    await flushDb(6);
  } finally {
    unlock();
  }
});
