/** Result handles: AsyncResult, GroupResult, ResultSet, DependencyGraph. */
export { AsyncResult, resultFromTuple, type AnyResult, type GetOptions } from './async-result.js';
export { GroupResult, ResultSet, type JoinOptions } from './group-result.js';
export { DependencyGraph } from './graph.js';
export type { ResultHost, RevokeOptions } from './host.js';
