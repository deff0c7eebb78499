/** Redis connections shared by the Redis broker and the Redis result backend. */
export { parseRedisUrl, openRedis, oneWritePerTurn, ensureConnected, shutdown, retryDelay, type RedisLogger, type RedisUrlInfo } from './connection.js';
export { TurnBatch } from './turn-batch.js';
export { luaSource } from './lua.js';
