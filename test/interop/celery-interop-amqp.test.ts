/**
 * The interop suite (interop-suite.ts) with RabbitMQ as the broker, in a
 * vhost of this file's own (created before, deleted after), and Redis as the
 * result backend (database 15, flushed before and after). It holds the AMQP
 * test lock throughout, since amqp-restart.test.ts restarts RabbitMQ.
 */
import * as amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { dropVhost, freshVhost, listing, lockRabbit, probe, unreachable, until, vhostUrl } from '../integration/amqp-support.js';
import { interopSuite } from './interop-suite.js';

const VHOST = 'celeriac_test_interop';

interopSuite({
  label: 'RabbitMQ broker, Redis backend',
  url: vhostUrl(VHOST),
  backendDb: 15,
  async prepare() {
    const problem = await probe();
    if (problem) throw unreachable(problem);
    const unlock = await lockRabbit();
    try {
      await freshVhost(VHOST);
    } catch (err) {
      unlock();
      throw err;
    }
    return async () => {
      try {
        await dropVhost(VHOST);
      } finally {
        unlock();
      }
    };
  },
  extra({ pyQueue, tsQueue, client, py, tsWorkerOutput }) {
    describe('expires on RabbitMQ', () => {
      // A queue nobody consumes: messages wait there until RabbitMQ drops them.
      const idle = `interop-idle-${process.pid.toString(36)}`;

      it('a Python client and celeriac give a task sent with expires=120 the same expiration TTL, "120000" ms', async () => {
        const fromPy = await py('send-expiring', '120', idle);
        const fromTs = await client.app.sendTask('interop_tasks.add', [1, 1], {}, { queue: idle, expires: 120 });
        const conn = await amqp.connect(vhostUrl(VHOST));
        try {
          const ch = await conn.createChannel();
          const got = [await ch.get(idle, { noAck: true }), await ch.get(idle, { noAck: true })].map((m) => (m === false ? null : m));
          expect(got.map((m) => (m?.properties.headers as Record<string, unknown> | undefined)?.id)).toEqual([fromPy.id, fromTs.id]);
          expect(got.map((m) => m?.properties.expiration)).toEqual(['120000', '120000']);
        } finally {
          await conn.close();
        }
      });

      it('RabbitMQ drops tasks from either client that waited in the queue past expires: no result, PENDING', async () => {
        const fromPy = await py('send-expiring', '0.3', idle);
        const fromTs = await client.app.sendTask('interop_tasks.add', [1, 1], {}, { queue: idle, expires: 0.3 });
        const broker = await client.app.broker();
        await until('RabbitMQ to drop both', async () => (await broker.queueLength(idle)) === 0, 5000);
        expect(await client.app.asyncResult(fromPy.id as string).state()).toBe('PENDING');
        expect(await fromTs.state()).toBe('PENDING');
      });
    });

    describe('RabbitMQ entities both sides declare', () => {
      it("declares both workers' queues as Celery does (durable, not auto-delete, no arguments), with no mismatch warning", async () => {
        const rows = await listing('list_queues', VHOST, ['name', 'durable', 'auto_delete', 'exclusive', 'arguments']);
        expect(rows).toContain(`${pyQueue}\ttrue\tfalse\tfalse\t[]`);
        expect(rows).toContain(`${tsQueue}\ttrue\tfalse\tfalse\t[]`);
        const exchanges = await listing('list_exchanges', VHOST, ['name', 'type', 'durable', 'auto_delete']);
        expect(exchanges).toContain(`${pyQueue}\tdirect\ttrue\tfalse`);
        expect(exchanges).toContain(`${tsQueue}\tdirect\ttrue\tfalse`);
        expect(tsWorkerOutput()).not.toMatch(/exists with other settings|PRECONDITION_FAILED/);
      });
    });
  },
});
