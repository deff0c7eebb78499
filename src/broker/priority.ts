/**
 * kombu's Redis priority steps (celery-wire.md §2.2), shared by the memory
 * and Redis transports: a queue is one list per step, and lower numbers are
 * consumed first.
 */

/** kombu's default `priority_steps`. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** The priority step list index for a message priority (Redis semantics: lower first). */
export function priorityStep(priority: unknown): number {
  const p = typeof priority === 'number' && Number.isInteger(priority) ? Math.min(9, Math.max(0, priority)) : 0;
  let idx = 0;
  for (let i = 0; i < PRIORITY_STEPS.length; i++) if (PRIORITY_STEPS[i] <= p) idx = i;
  return idx;
}
