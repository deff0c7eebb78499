/** celeriac: Celery's Canvas for TypeScript, on Celery's wire. Explicit named exports only. */
export { Celeriac } from './app.js';
export type { CeleriacOptions, ResolvedOptions, Clock, Logger, Route } from './options.js';
export { systemClock } from './options.js';
export { Task, type TaskOptions, type ErrorClass } from './task.js';
export { Signature, Chain, Group, Chord, Chunks, chain, group, chord, fromDict, maybeSignature, xmap, xstarmap, chordSize } from './canvas/index.js';
export type { ApplyOptions, FreezeOptions, SkewOptions, AnySignature, InOf, OutOf, ResOf, Immutable, ChainLinkMismatch } from './canvas/index.js';
export { AsyncResult, GroupResult, ResultSet, DependencyGraph } from './result/index.js';
export type { AnyResult, GetOptions, JoinOptions, RevokeOptions } from './result/index.js';
export { EagerResult } from './result/eager.js';
export { States, READY_STATES, EXCEPTION_STATES, PROPAGATE_STATES } from './backend/index.js';
export type { TaskState, TaskMeta, ResultBackend, ChordPart, ChordPartRef, StoreOutcome, ResultTuple } from './backend/index.js';
export { MemoryBackend, createBackend } from './backend/index.js';
export type { Broker, Delivery, Consumer, PublishTarget, ConsumeOptions, BroadcastMessage, BrokerConnectionOptions } from './broker/index.js';
export { MemoryBroker, createBroker } from './broker/index.js';
export { Worker, type WorkerOptions } from './worker/worker.js';
export { tuneHeap, WORKER_HEAP, type HeapSettings } from './worker/heap.js';
export type { TaskContext, TaskRequest, RetryOptions, DeliveryInfo } from './worker/request.js';
export { Control, receiveEvents, EventDispatcher, type CeleryEvent, type Replies, type BroadcastOptions } from './control/index.js';
export {
  TaskError,
  ChordError,
  TaskRevokedError,
  NotRegistered,
  MaxRetriesExceededError,
  EncodeError,
  TimeLimitExceeded,
  SoftTimeLimitExceeded,
  TimeoutError,
  IncompleteStream,
  Retry,
  Ignore,
  BackendError,
  SecurityError,
  ConfigurationError,
  MalformedMessageError,
  remoteErrorClass,
  serializeException,
  deserializeException,
  encodeTaskMessage,
  decodeTaskMessage,
  encodeJson,
  decodeJson,
} from './protocol/index.js';
export type { ExceptionInfo, SignatureDict, WireMessage, TaskHeaders, Embed } from './protocol/index.js';
