/**
 * `new Celeriac({ brokerOptions })`: resolved once with defaults, checked at
 * construction, and handed through createBroker to the AMQP transport in its
 * units, with the app's logger in place of console. No server needed: the
 * unreachable broker is a closed local port.
 */
import { describe, expect, it } from 'vitest';
import { AmqpBroker, AmqpUnavailableError } from '../../src/broker/amqp.js';
import { Celeriac, ConfigurationError, createBroker, type Logger } from '../../src/index.js';
import { brokerLogger } from '../../src/options.js';

/** A Logger that keeps what it is given. */
function captureLogger(): Logger & { lines: Array<{ level: string; obj: object; msg?: string }> } {
  const lines: Array<{ level: string; obj: object; msg?: string }> = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('resolution', () => {
  it('fills in the defaults: no maxPriority, timeout 30 s, connectTimeout 10 s, connection name celeriac', () => {
    const app = new Celeriac({ broker: 'amqp://127.0.0.1/' });
    expect(app.conf.brokerOptions).toEqual({ maxPriority: undefined, timeout: 30, connectTimeout: 10, connectionName: 'celeriac', tls: undefined, eagerTakeWindow: 5 });
    expect(Object.isFrozen(app.conf.brokerOptions)).toBe(true);
  });

  it('keeps what is given', () => {
    const app = new Celeriac({ broker: 'amqp://127.0.0.1/', brokerOptions: { maxPriority: 10, timeout: 5, connectTimeout: 2, connectionName: 'billing', tls: { servername: 'mq.example' }, eagerTakeWindow: 0 } });
    expect(app.conf.brokerOptions).toEqual({ maxPriority: 10, timeout: 5, connectTimeout: 2, connectionName: 'billing', tls: { servername: 'mq.example' }, eagerTakeWindow: 0 });
  });

  it.each([0, 256, 2.5, -1])('refuses maxPriority %s at construction with a ConfigurationError', (maxPriority) => {
    expect(() => new Celeriac({ brokerOptions: { maxPriority } })).toThrow(ConfigurationError);
    expect(() => new Celeriac({ brokerOptions: { maxPriority } })).toThrow(/maxPriority must be an integer from 1 to 255/);
  });

  it.each([
    ['timeout', 0],
    ['timeout', -3],
    ['connectTimeout', Number.NaN],
    ['connectTimeout', Number.POSITIVE_INFINITY],
  ])('refuses %s %s at construction', (name, value) => {
    expect(() => new Celeriac({ brokerOptions: { [name]: value } })).toThrow(new RegExp(`brokerOptions\\.${name} must be a positive number of seconds`));
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('refuses eagerTakeWindow %s at construction', (eagerTakeWindow) => {
    expect(() => new Celeriac({ brokerOptions: { eagerTakeWindow } })).toThrow(/brokerOptions\.eagerTakeWindow must be 0 or more milliseconds/);
  });

  it('createBroker hands it to the Redis transport (no connection is made)', async () => {
    const b = await createBroker('redis://127.0.0.1:1/0', { eagerTakeWindow: 0 });
    expect((b as unknown as { options: { eagerTakeWindow: number } }).options.eagerTakeWindow).toBe(0);
    const dflt = await createBroker('redis://127.0.0.1:1/0');
    expect((dflt as unknown as { options: { eagerTakeWindow: number } }).options.eagerTakeWindow).toBe(5);
    await b.close();
    await dflt.close();
  });
});

describe('createBroker hands the options to the AMQP transport', () => {
  it('in milliseconds, with maxPriority, the connection name and TLS socket options', async () => {
    const b = await createBroker('amqps://u:p@mq.example:5671/v', { maxPriority: 10, timeout: 5, connectTimeout: 2, connectionName: 'billing', tls: { servername: 'mq.example', rejectUnauthorized: false } });
    expect(b).toBeInstanceOf(AmqpBroker);
    const o = (b as AmqpBroker).options;
    expect(o).toMatchObject({ maxPriority: 10, timeout: 5000, connectTimeout: 2000, connectionName: 'billing', socket: { servername: 'mq.example', rejectUnauthorized: false } });
  });

  it('with the AMQP defaults when nothing is given', async () => {
    const o = ((await createBroker('amqp://127.0.0.1/')) as AmqpBroker).options;
    expect(o).toMatchObject({ maxPriority: undefined, timeout: 30_000, connectTimeout: 10_000, connectionName: 'celeriac', socket: {}, logger: console });
  });

  it("an app's brokerOptions.timeout bounds its wait for RabbitMQ, and its logger gets the retries instead of console", async () => {
    const logger = captureLogger();
    // Port 1 refuses connections: the app gives up after brokerOptions.timeout, having logged each retry.
    const app = new Celeriac({ broker: 'amqp://guest:guest@127.0.0.1:1/', brokerOptions: { timeout: 0.5 }, logger });
    const started = Date.now();
    const err = await app.broker().then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(AmqpUnavailableError);
    expect(err?.message).toMatch(/RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1\/ was not reachable in time/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(logger.lines.some((l) => l.level === 'warn' && /cannot connect to RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1\//.test(l.msg ?? ''))).toBe(true);
    await app.close();
  });
});

describe('brokerLogger', () => {
  it("writes a transport's message-first warnings to the app's structured logger, an error as err", () => {
    const logger = captureLogger();
    const log = brokerLogger(logger);
    const boom = new Error('boom');
    log.warn('reconnected to RabbitMQ');
    log.warn('consumer failed', boom);
    log.warn('odd message', 42, 'x');
    expect(logger.lines).toEqual([
      { level: 'warn', obj: {}, msg: 'reconnected to RabbitMQ' },
      { level: 'warn', obj: { err: boom }, msg: 'consumer failed' },
      { level: 'warn', obj: { details: [42, 'x'] }, msg: 'odd message' },
    ]);
  });
});
