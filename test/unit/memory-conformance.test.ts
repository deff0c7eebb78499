import { MemoryBackend } from '../../src/backend/index.js';
import { MemoryBroker } from '../../src/broker/index.js';
import { runBackendConformance, runBrokerConformance } from '../../src/testing/index.js';

runBrokerConformance({
  name: 'memory',
  create: async () => new MemoryBroker(),
  priority: 'lower-first',
  injectRaw: async (queue, raw, broker) => (broker as MemoryBroker).pushRaw(queue, raw),
});

runBackendConformance({
  name: 'memory',
  create: async () => new MemoryBackend(),
});
