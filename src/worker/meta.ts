/** Building task metas in Celery's field order (celery-wire.md §4.1). */
import { celeryDateDone, READY_STATES, type TaskMeta, type TaskState } from '../backend/index.js';
import type { AnyResult } from '../result/index.js';
import type { TaskRequest } from './request.js';

/** Extended fields, written only with `resultExtended`. */
export interface MetaContext {
  now: number;
  extended: boolean;
}

/** A meta for a request, with the fields Celery writes and in its order. */
export function buildMeta(
  req: Pick<TaskRequest, 'id' | 'groupId' | 'parentId' | 'name' | 'args' | 'kwargs' | 'hostname' | 'retries' | 'deliveryInfo'>,
  status: TaskState,
  result: unknown,
  traceback: string | null,
  children: readonly AnyResult[],
  ctx: MetaContext,
): TaskMeta {
  // Fields are added in Celery's order (task_id last), without deleting any: the object keeps a fast shape.
  const meta = {
    status,
    result,
    traceback,
    children: children.length ? children.map((c) => c.asTuple()) : [],
    date_done: READY_STATES.has(status) ? celeryDateDone(ctx.now) : null,
  } as TaskMeta;
  if (req.groupId) meta.group_id = req.groupId;
  if (req.parentId) meta.parent_id = req.parentId;
  if (ctx.extended) {
    meta.name = req.name;
    meta.args = req.args;
    meta.kwargs = req.kwargs;
    meta.worker = req.hostname;
    meta.retries = req.retries;
    meta.queue = req.deliveryInfo.routingKey || req.deliveryInfo.queue;
  }
  meta.task_id = req.id;
  return meta;
}
