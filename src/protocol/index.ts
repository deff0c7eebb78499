/** Celery protocol v2, its JSON encoding and its exception format. */
export * from './json.js';
export * from './exceptions.js';
export * from './message.js';
export * from './envelope.js';
export * from './repr.js';
