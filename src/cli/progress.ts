/**
 * Progress of a long wait: how many of the tasks behind a result (group
 * members, chord header and body, chain steps) are done. A cli-progress bar on
 * stderr when it is a terminal, plain `progress: done/total` lines otherwise.
 */
import cliProgress from 'cli-progress';
import { READY_STATES } from '../backend/index.js';
import type { AnyResult, AsyncResult } from '../result/index.js';

/** Receives counts as they change. */
export interface ProgressSink {
  start(total: number): void;
  update(done: number): void;
  stop(): void;
}

/** A sink for `stream`: a bar on a TTY, lines otherwise, nothing when disabled. */
export function progressSink(stream: NodeJS.WriteStream = process.stderr, enabled = true): ProgressSink {
  if (!enabled) return { start() {}, update() {}, stop() {} };
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      { stream, format: 'waiting |{bar}| {value}/{total} tasks done', hideCursor: true, clearOnComplete: false },
      cliProgress.Presets.shades_classic,
    );
    return {
      start: (total) => bar.start(total, 0),
      update: (done) => bar.update(done),
      stop: () => bar.stop(),
    };
  }
  let total = 0;
  let last = -1;
  return {
    start(t) {
      total = t;
    },
    update(done) {
      if (done === last) return;
      last = done;
      stream.write(`progress: ${done}/${total} tasks done\n`);
    },
    stop() {},
  };
}

function isGroupLike(r: AnyResult): r is AnyResult & { results: AnyResult[] } {
  return Array.isArray((r as { results?: unknown }).results);
}

/** Every single-task result behind `r`: its members when a group, then its parents', each once. */
export function leafResults(r: AnyResult): AsyncResult[] {
  const out: AsyncResult[] = [];
  const seen = new Set<string>();
  const visit = (node: AnyResult | null): void => {
    for (let n: AnyResult | null = node; n; n = n.parent) {
      if (isGroupLike(n)) for (const m of n.results) visit(m);
      else if (!seen.has(n.id)) {
        seen.add(n.id);
        out.push(n as AsyncResult);
      }
    }
  };
  visit(r);
  return out;
}

/**
 * Poll the leaves of `r` every `intervalMs` and report how many are ready,
 * until the returned stop function is called. Only shown for more than one task.
 */
export function watchProgress(r: AnyResult, sink: ProgressSink, intervalMs = 250): () => Promise<void> {
  const leaves = leafResults(r);
  if (leaves.length < 2) return async () => undefined;
  const ready = new Set<string>();
  let stopped = false;
  let wake: (() => void) | null = null;
  const count = async (): Promise<void> => {
    for (const leaf of leaves) {
      if (ready.has(leaf.id)) continue;
      // A failed read (a connection blip) is counted on the next round.
      const state = await leaf.state().catch(() => 'PENDING');
      if (READY_STATES.has(state)) ready.add(leaf.id);
    }
    sink.update(ready.size);
  };
  sink.start(leaves.length);
  const loop = (async () => {
    while (!stopped) {
      await count();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  })();
  return async () => {
    stopped = true;
    wake?.();
    await loop;
    await count(); // so the bar ends where the work ended
    sink.stop();
  };
}
