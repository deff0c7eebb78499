/**
 * The embedded broker (`memory://`): queues in this process, holding the same
 * kombu envelope text that Redis would hold, with Redis's priority steps and
 * ack emulation. Messages do not survive the process; everything else follows
 * the Broker contract.
 */
import { encodeEnvelope, fromEnvelope, parseEnvelope, toEnvelope, type KombuEnvelope, type WireMessage } from '../protocol/index.js';
import { topicMatches, type BroadcastMessage, type Broker, type ConsumeOptions, type Consumer, type Delivery, type PublishTarget } from './types.js';
import { PRIORITY_STEPS, priorityStep } from './priority.js';

export { priorityStep };

class MemoryQueue {
  readonly lists: string[][] = PRIORITY_STEPS.map(() => []);
  get length(): number {
    let n = 0;
    for (const l of this.lists) n += l.length;
    return n;
  }
  shift(): string | undefined {
    for (const l of this.lists) if (l.length) return l.shift();
    return undefined;
  }
}

interface Unacked {
  raw: string;
  queue: string;
}

class MemoryConsumer implements Consumer {
  outstanding = new Map<string, Unacked>();
  /** Settled deliveries still counted against the prefetch (see Consumer.hold). */
  busy = 0;
  cancelled = false;
  constructor(
    readonly broker: MemoryBroker,
    readonly queues: readonly string[],
    readonly onDelivery: (d: Delivery) => void,
    public prefetch: number,
  ) {}
  setPrefetch(n: number): void {
    this.prefetch = Math.max(1, n);
    this.broker.schedule();
  }
  hold(delta: number): void {
    this.busy = Math.max(0, this.busy + delta);
    if (delta < 0) this.broker.schedule();
  }
  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.broker.removeConsumer(this);
    // Each goes back to the head of its queue: the newest first, so that they come again in the order they came.
    for (const u of [...this.outstanding.values()].reverse()) this.broker.restore(u, true);
    this.outstanding.clear();
    this.broker.schedule();
  }
}

/** In-process broker for `memory://`. */
export class MemoryBroker implements Broker {
  readonly url: string;
  private readonly queues = new Map<string, MemoryQueue>();
  private consumers: MemoryConsumer[] = [];
  private rr = 0;
  private scheduled = false;
  private readonly subscribers = new Set<{ exchange: string; pattern: string; fn: (m: BroadcastMessage) => void }>();
  private closed = false;

  constructor(url = 'memory://') {
    this.url = url;
  }

  async connect(): Promise<void> {
    this.closed = false;
  }

  private queue(name: string): MemoryQueue {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new MemoryQueue()));
    return q;
  }

  async publish(message: WireMessage, target: PublishTarget): Promise<void> {
    this.push(message, target);
    this.schedule();
  }

  async publishMany(items: ReadonlyArray<{ message: WireMessage; target: PublishTarget }>): Promise<void> {
    for (const { message, target } of items) this.push(message, target);
    this.schedule();
  }

  private push(message: WireMessage, target: PublishTarget): void {
    if (this.closed) throw new Error('memory broker is closed');
    const env = toEnvelope(message, target.exchange ?? '', target.routingKey ?? target.queue);
    this.queue(target.queue).lists[priorityStep(env.properties.priority)].push(encodeEnvelope(env));
  }

  /** Put raw message text on a queue as-is (tests use this for malformed input). */
  pushRaw(queue: string, raw: string): void {
    this.queue(queue).lists[0].push(raw);
    this.schedule();
  }

  /** Give a message back to its queue, marked redelivered, at the consumer-near end. */
  restore(u: Unacked, redelivered: boolean): void {
    let raw = u.raw;
    if (redelivered) {
      try {
        const env = JSON.parse(raw) as KombuEnvelope;
        env.headers = { ...(env.headers ?? {}), redelivered: true };
        env.properties.delivery_info = { ...env.properties.delivery_info, redelivered: true };
        raw = JSON.stringify(env);
      } catch {
        // A message we could not parse goes back unchanged.
      }
    }
    const q = this.queue(u.queue);
    let step = 0;
    try {
      step = priorityStep((JSON.parse(raw) as KombuEnvelope).properties?.priority);
    } catch {
      step = 0;
    }
    q.lists[step].unshift(raw);
  }

  async consume(queues: readonly string[], onDelivery: (d: Delivery) => void, options: ConsumeOptions): Promise<Consumer> {
    const c = new MemoryConsumer(this, [...queues], onDelivery, Math.max(1, options.prefetch));
    this.consumers.push(c);
    this.schedule();
    return c;
  }

  removeConsumer(c: MemoryConsumer): void {
    this.consumers = this.consumers.filter((x) => x !== c);
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    let progressed = true;
    while (progressed) {
      progressed = false;
      const n = this.consumers.length;
      for (let k = 0; k < n; k++) {
        const c = this.consumers[(this.rr + k) % n];
        if (!c || c.cancelled || c.outstanding.size + c.busy >= c.prefetch) continue;
        const got = this.take(c);
        if (!got) continue;
        this.rr = (this.rr + k + 1) % Math.max(1, n);
        this.deliver(c, got.raw, got.queue);
        progressed = true;
        break;
      }
    }
  }

  private take(c: MemoryConsumer): Unacked | null {
    // Priority step first, then queue order (kombu's BRPOP key order).
    for (let step = 0; step < PRIORITY_STEPS.length; step++) {
      for (const name of c.queues) {
        const q = this.queues.get(name);
        const raw = q?.lists[step].shift();
        if (raw !== undefined) return { raw, queue: name };
      }
    }
    return null;
  }

  private deliver(c: MemoryConsumer, raw: string, queue: string): void {
    let message: WireMessage | null = null;
    let error: Error | null = null;
    let redelivered = false;
    let tag: string = `mem-${Math.random().toString(36).slice(2)}`;
    try {
      const env = parseEnvelope(raw);
      tag = env.properties.delivery_tag;
      redelivered = env.properties.delivery_info.redelivered === true || env.headers?.redelivered === true;
      message = fromEnvelope(env);
    } catch (err) {
      error = err as Error;
    }
    const key = `${tag}:${Math.random()}`;
    c.outstanding.set(key, { raw, queue });
    let settled = false;
    const settle = (requeue: boolean): void => {
      if (settled) return;
      settled = true;
      const u = c.outstanding.get(key);
      c.outstanding.delete(key);
      if (requeue && u) this.queue(u.queue).lists[0].push(u.raw);
      this.schedule();
    };
    const delivery: Delivery = {
      message,
      error,
      queue,
      redelivered,
      deliveryTag: tag,
      ack: async () => settle(false),
      reject: async (requeue: boolean) => settle(requeue),
    };
    try {
      c.onDelivery(delivery);
    } catch {
      // A consumer callback that throws must not stop dispatch; the delivery stays unsettled.
    }
  }

  async broadcast(exchange: string, routingKey: string, message: WireMessage): Promise<void> {
    const text = encodeEnvelope(toEnvelope(message, exchange, routingKey));
    for (const s of [...this.subscribers]) {
      if (s.exchange !== exchange || !topicMatches(s.pattern, routingKey)) continue;
      const m = fromEnvelope(parseEnvelope(text));
      setImmediate(() => s.fn({ exchange, routingKey, message: m }));
    }
  }

  async subscribe(exchange: string, pattern: string, onMessage: (m: BroadcastMessage) => void): Promise<() => Promise<void>> {
    const s = { exchange, pattern, fn: onMessage };
    this.subscribers.add(s);
    return async () => {
      this.subscribers.delete(s);
    };
  }

  async queueLength(queue: string): Promise<number> {
    return this.queues.get(queue)?.length ?? 0;
  }

  async purge(queue: string): Promise<number> {
    const q = this.queues.get(queue);
    if (!q) return 0;
    const n = q.length;
    for (const l of q.lists) l.length = 0;
    return n;
  }

  async close(): Promise<void> {
    for (const c of [...this.consumers]) await c.cancel();
    this.subscribers.clear();
    this.closed = true;
  }
}
