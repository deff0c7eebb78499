/** What chain and group share: a signature whose `kwargs.tasks` is a list of signatures. */
import type { SignatureDict } from '../protocol/index.js';
import type { AnyResult } from '../result/index.js';
import type { CanvasHost } from './host.js';
import type { WireOptions } from './options.js';
import { Signature } from './signature.js';

/** A signature holding a list of signatures (`celery.chain`, `celery.group`). */
export abstract class TaskListSignature<In extends unknown[], Out, Res extends AnyResult> extends Signature<In, Out, Res> {
  constructor(kind: 'chain' | 'group', tasks: readonly Signature[], options: WireOptions, host: CanvasHost | null) {
    super({ task: `celery.${kind}`, args: [], kwargs: { tasks: [...tasks] }, options, subtaskType: kind }, host ?? tasks.find((t) => t.host)?.host ?? null);
  }

  /** The signatures held, in order. */
  get tasks(): Signature[] {
    return this.kwargs.tasks as Signature[];
  }

  set tasks(tasks: Signature[]) {
    this.kwargs.tasks = tasks;
  }

  override nested(): Signature[] {
    return [...this.tasks, ...super.nested()];
  }

  protected override copy(): this {
    const c = super.copy();
    c.kwargs = { ...c.kwargs, tasks: this.tasks.map((t) => t.clone()) };
    return c;
  }

  override toDict(): SignatureDict {
    const d = super.toDict();
    d.kwargs = { ...d.kwargs, tasks: this.tasks.map((t) => t.toDict()) };
    return d;
  }
}
