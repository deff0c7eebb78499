/**
 * One timer for all the result waits of a process. A `get()` that finds its
 * result not ready sleeps until a notification wakes it or until its poll
 * interval (or its timeout) is up; most are woken by the notification long
 * before. Giving each sleep a timer of its own made and cancelled a timer
 * per round trip; here each sleep is an entry in a set, and one timer is
 * armed for the earliest due among them.
 *
 * The timer holds the process open only while someone sleeps (it is unref'd
 * when the last sleeper goes, as a cancelled timer of its own would have
 * let go), and it is armed again only when it fires or when a sleep is due
 * before it.
 */

/** A sleep registered with the clock. */
interface Sleeper {
  /** When it is due (ms, performance.now()'s clock). */
  due: number;
  wake: () => void;
}

class WakeClock {
  private readonly sleepers = new Set<Sleeper>();
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (Infinity: none armed). */
  private armedFor = Number.POSITIVE_INFINITY;

  /** Call `wake` once `due` (performance.now() ms) has passed, unless the returned function is called first. */
  sleep(due: number, wake: () => void): () => void {
    const s: Sleeper = { due, wake };
    this.sleepers.add(s);
    if (due < this.armedFor) this.arm(due);
    else if (this.sleepers.size === 1) this.timer?.ref();
    return () => {
      if (this.sleepers.delete(s) && this.sleepers.size === 0) this.timer?.unref();
    };
  }

  private arm(due: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = due;
    this.timer = setTimeout(() => this.fire(), Math.max(0, due - performance.now()));
  }

  private fire(): void {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    const woken: Sleeper[] = [];
    // A Set may lose members while iterated: the due ones leave as they are found.
    for (const s of this.sleepers) {
      if (s.due > now) next = Math.min(next, s.due);
      else {
        this.sleepers.delete(s);
        woken.push(s);
      }
    }
    if (next < Number.POSITIVE_INFINITY) this.arm(next);
    for (const s of woken) s.wake();
  }
}

const clock = new WakeClock();

/**
 * Sleep until `due` (performance.now() ms) on the process's shared result-wait
 * timer; returns the function that cancels the sleep (`wake` is then not
 * called).
 */
export function sleepUntil(due: number, wake: () => void): () => void {
  return clock.sleep(due, wake);
}
