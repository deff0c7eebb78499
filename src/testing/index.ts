/**
 * `celeriac/testing`: the conformance suites every broker and result backend
 * adapter passes. They define vitest suites, so import them from test files.
 */
export { runBrokerConformance, type BrokerConformanceOptions, type PriorityOrder } from './broker-conformance.js';
export { runBackendConformance, type BackendConformanceOptions } from './backend-conformance.js';
