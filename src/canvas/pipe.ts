/**
 * The composition table of Celery's `|` (C-032), as `a.pipe(b)`. Operands are
 * cloned, never changed (C-037).
 */
import { Chain } from './chain.js';
import { Chord } from './chord.js';
import { Group } from './group.js';
import { setPipe, Signature } from './signature.js';

function pipe(left: Signature, right: Signature): Signature {
  const host = left.host ?? right.host;
  if (left instanceof Group) {
    // group | x is a chord whose body is x; a one-member group stays a chord (C-034).
    if (right instanceof Group && right.tasks.length === 0 && left.tasks.length) return left.clone();
    return new Chord(left.clone(), right.clone(), {}, host);
  }
  if (left instanceof Chord) {
    if (right instanceof Chain) return new Chain([left.clone(), ...right.clone().tasks], {}, host);
    if (right instanceof Group) {
      if (right.tasks.length === 1) return withBody(left, pipe(left.body as Signature, right.tasks[0]));
      return new Chain([left.clone(), right.clone()], {}, host);
    }
    // chord | task, chord | chord: appended to the body.
    return withBody(left, pipe(left.body as Signature, right));
  }
  if (left instanceof Chain) {
    const tasks = left.clone().tasks;
    if (!tasks.length) {
      if (right instanceof Chain) return right.clone();
      // An empty chain piped into a group returns the group, unrolled when it has one member (C-034).
      if (right instanceof Group) return right.tasks.length === 1 ? right.tasks[0].clone() : right.clone();
      return new Chain([right.clone()], {}, host);
    }
    const last = tasks[tasks.length - 1];
    if (right instanceof Chain) {
      let acc: Signature = left;
      for (const t of right.clone().tasks) acc = pipe(acc, t);
      copyChainLinks(right, acc);
      return acc;
    }
    if (right instanceof Group) {
      if (right.tasks.length === 1) return new Chain([...tasks, right.tasks[0].clone()], { ...left.options }, host);
      if (last instanceof Chord) return new Chain([...tasks.slice(0, -1), withBody(last, pipe(last.body as Signature, right))], { ...left.options }, host);
      return new Chain([...tasks, right.clone()], { ...left.options }, host);
    }
    if (last instanceof Group) return new Chain([...tasks.slice(0, -1), new Chord(last, right.clone(), {}, host)], { ...left.options }, host);
    if (last instanceof Chord) return new Chain([...tasks.slice(0, -1), withBody(last, pipe(last.body as Signature, right))], { ...left.options }, host);
    return new Chain([...tasks, right.clone()], { ...left.options }, host);
  }
  // A plain signature on the left.
  if (right instanceof Chain) {
    const inner = right.clone();
    const errbacks = (inner.options.link_error as Signature[] | undefined) ?? [];
    const tasks = inner.tasks;
    for (const e of errbacks) for (const t of tasks) t.linkError(e);
    const links = (inner.options.link as Signature[] | undefined) ?? [];
    if (tasks.length) for (const l of links) tasks[tasks.length - 1].link(l);
    return new Chain([left.clone(), ...tasks], {}, host);
  }
  if (right instanceof Group && right.tasks.length === 1) return new Chain([left.clone(), right.tasks[0].clone()], {}, host);
  return new Chain([left.clone(), right.clone()], {}, host);
}

function withBody(c: Chord, body: Signature): Chord {
  const copy = c.clone();
  copy.body = body;
  return copy;
}

function copyChainLinks(from: Chain, to: Signature): void {
  if (!(to instanceof Chain) || !to.tasks.length) return;
  for (const e of (from.options.link_error as Signature[] | undefined) ?? []) for (const t of to.tasks) t.linkError(e);
  for (const l of (from.options.link as Signature[] | undefined) ?? []) to.tasks[to.tasks.length - 1].link(l);
}

/**
 * chain()'s step: `acc | right`, where `acc` is a chain that only chain()
 * holds, so a plain task is appended to its steps instead of every step
 * being copied into a new chain (building a chain of n steps copies n
 * signatures, not n²/2). Anything else goes through pipe.
 */
function pipeOnto(acc: Signature, right: Signature): Signature {
  if (acc instanceof Chain && acc.tasks.length && !(right instanceof Chain) && !(right instanceof Group)) {
    const last = acc.tasks[acc.tasks.length - 1];
    if (!(last instanceof Group) && !(last instanceof Chord)) {
      acc.tasks.push(right.clone());
      return acc;
    }
  }
  return pipe(acc, right);
}

setPipe(pipe);

export { pipe, pipeOnto };
