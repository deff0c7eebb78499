/**
 * The celeriac producer of the benchmark (see agent.ts for the protocol).
 * Sends with the public API only: `noop.delay()`, `add.delay(1, 1)` then
 * `get()`, `chord(...).delay()`, `chain(...).delay()`.
 */
import { chain, chord } from '../../src/index.js';
import { add, app, noop, xsum } from '../tasks.js';
import { serve, since, TIMEOUT_S, windowed } from './agent.js';

/** Sends in flight during W1's enqueue (20,000 single sends, as a busy service would issue them). */
const WINDOW = Number(process.env.BENCH_ENQUEUE_WINDOW ?? 1000);

await app.connect();

await serve(
  {
    async enqueue(c) {
      const n = c.n ?? 0;
      const t0 = Date.now();
      const ids = await windowed(n, WINDOW, async () => (await noop.delay()).id);
      return { t0, t1: Date.now(), ids };
    },
    async rt(c) {
      const lat: number[] = [];
      const warmup = c.warmup ?? 0;
      for (let i = 0; i < warmup + (c.n ?? 0); i++) {
        const t = performance.now();
        const v = await (await add.delay(1, 1)).get({ timeout: TIMEOUT_S });
        const ms = since(t);
        if (v !== 2) throw new Error(`add(1, 1) returned ${String(v)}`);
        if (i >= warmup) lat.push(ms);
      }
      return { lat };
    },
    async chord(c) {
      const n = c.n ?? 0;
      const t = performance.now();
      const header = Array.from({ length: n }, (_, i) => add.s(i, i));
      const value = await (await chord(header, xsum.s()).delay()).get({ timeout: TIMEOUT_S });
      return { ms: since(t), value };
    },
    async chain(c) {
      const n = c.n ?? 0;
      const t = performance.now();
      const value = await (await chain(add.s(0, 1), ...Array.from({ length: n - 1 }, () => add.s(1))).delay()).get({ timeout: TIMEOUT_S });
      return { ms: since(t), value };
    },
  },
  () => app.close(),
);
