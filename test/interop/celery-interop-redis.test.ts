/**
 * The interop suite (interop-suite.ts) with Redis as the broker (database 8)
 * and the result backend (database 9); both flushed before and after.
 */
import { redisOn } from '../support/interop-process.js';
import { interopSuite } from './interop-suite.js';

const BROKER_DB = 8;

async function flushBroker(): Promise<void> {
  const r = await redisOn(BROKER_DB);
  try {
    await r.flushdb();
  } finally {
    r.disconnect();
  }
}

interopSuite({
  label: 'Redis broker',
  url: `redis://127.0.0.1:6379/${BROKER_DB}`,
  backendDb: 9,
  async prepare() {
    await flushBroker();
    return flushBroker;
  },
});
