/**
 * Which broker and backend the shared canvas suites run on. Unit files use
 * memory://; test/integration/canvas-on-*.test.ts set Redis or RabbitMQ
 * before importing the same suites, so every canvas test runs on each.
 */
export interface Transport {
  broker: string;
  backend: string;
  /** Give every app its own queue (needed when apps share a real broker). */
  uniqueQueues: boolean;
}

let current: Transport = { broker: 'memory://', backend: 'memory://', uniqueQueues: false };

/** Choose the transport for apps made after this call. */
export function setTransport(t: Transport): void {
  current = t;
}

/** The transport in force. */
export function transport(): Transport {
  return current;
}
