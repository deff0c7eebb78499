"""Python Celery client scenarios of the interop suite; each prints one JSON line.

  python3 client.py <scenario> [arg]

Sends to INTEROP_QUEUE (the celeriac worker's queue in the Python-client cases)
unless a scenario routes steps itself, waits with a timeout, and prints
{"result": ...} or {"error": {"type", "module", "args", "message"}} plus
scenario details (ids, timings).
"""
import json
import os
import sys
import time

from celery import chain, chord, group
from celery.result import AsyncResult

import interop_tasks as t

TIMEOUT = 20
PY_Q = os.environ.get('INTEROP_PY_QUEUE', 'interop-py')
TS_Q = os.environ.get('INTEROP_TS_QUEUE', 'interop-ts')


def err(e):
    return {'type': type(e).__name__, 'module': type(e).__module__, 'args': [a if isinstance(a, (int, float, str, bool, type(None))) else repr(a) for a in e.args], 'message': str(e)}


def outcome(res, **extra):
    try:
        value = res.get(timeout=TIMEOUT)
        out = {'result': value}
    except Exception as e:  # noqa: BLE001 - every failure is reported
        out = {'error': err(e)}
    out['id'] = res.id
    out.update(extra)
    return out


def q(name):
    """A queue name from argv-style spec: py/ts become the suite's queues."""
    return {'py': PY_Q, 'ts': TS_Q}[name]


def scenario(name, arg):
    if name == 'kwargs':
        return outcome(t.sub.apply_async(kwargs={'x': 10, 'y': 3}))
    if name == 'args-kwargs':
        return outcome(t.sub.apply_async((10,), {'y': 4}))
    if name == 'chain':
        return outcome(chain(t.add.s(1, 2), t.add.s(3), t.mul.s(10)).apply_async())
    if name == 'partial-order':
        return outcome(chain(t.add.s(10, 5), t.sub.s(3)).apply_async())
    if name == 'group':
        return outcome(group(t.add.s(i, i) for i in range(5)).apply_async())
    if name == 'chord':
        return outcome(chord((t.add.s(i, i) for i in range(5)), t.tsum.s()).apply_async())
    if name == 'chord-in-chain':
        return outcome(chain(t.add.s(1, 1), group(t.add.s(1), t.mul.s(10)), t.tsum.s()).apply_async())
    if name == 'chunks':
        return outcome(t.add.chunks(list(zip(range(10), range(10))), 3).apply_async())
    if name == 'map':
        return outcome(t.tsum.map([[1, 2], [3, 4], [5, 6]]).apply_async())
    if name == 'starmap':
        return outcome(t.add.starmap([(1, 2), (3, 4)]).apply_async())
    if name == 'link':
        res = t.add.apply_async((2, 2), link=t.mark.s(arg))
        return outcome(res)
    if name == 'link-error-old':
        res = t.fail.apply_async(link_error=t.mark_error.s())
        return outcome(res)
    if name == 'link-error-new':
        res = t.fail.apply_async(link_error=t.on_error.s())
        return outcome(res)
    if name == 'countdown':
        start = time.time()
        res = t.add.apply_async((1, 1), countdown=1.5)
        out = outcome(res)
        out['elapsed'] = time.time() - start
        return out
    if name == 'retry':
        return outcome(t.flaky.delay(7))
    if name == 'fail':
        return outcome(t.fail.delay())
    if name == 'expires-before-eta':
        # Expires (0.4 s) long before its ETA (1.2 s): the worker holds it and then finds it expired.
        res = t.add.apply_async((1, 1), countdown=1.2, expires=0.4)
        out = outcome(res)
        out['state'] = res.state
        # The stored result as JSON (the backend's get_task_meta would rebuild the exception).
        raw = t.app.backend.client.get(t.app.backend.get_key_for_task(res.id))
        out['meta'] = json.loads(raw)['result'] if raw else None
        return out
    if name == 'send-expiring':
        # Send only, with expires=<arg> seconds; a test reads the message or sees it dropped.
        return {'id': t.add.apply_async((1, 1), expires=float(arg)).id}
    if name == 'send':
        # Send only; a later `get` reads it back.
        return {'id': t.add.delay(20, 22).id}
    if name == 'get':
        res = AsyncResult(arg, app=t.app)
        out = outcome(res)
        out['state'] = res.state
        return out
    # Mixed: steps routed by queue to the Python worker (py) and the celeriac worker (ts).
    if name == 'mixed-chain':
        sig = chain(
            t.trail.s([]).set(queue=q('py')),
            t.trail.s().set(queue=q('ts')),
            t.trail.s().set(queue=q('py')),
            t.trail.s().set(queue=q('ts')),
        )
        return outcome(sig.apply_async())
    if name == 'mixed-chord':
        header, body = arg.split(':')
        sig = chord([t.side.s(i).set(queue=q(header)) for i in range(3)], t.summarize.s().set(queue=q(body)))
        return outcome(sig.apply_async())
    raise SystemExit('unknown scenario ' + name)


if __name__ == '__main__':
    out = scenario(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print(json.dumps(out))
