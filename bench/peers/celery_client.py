"""The Python Celery producer of `npm run bench`: reads one JSON command per
line on stdin, runs it, writes one JSON reply per line on stdout.

  {"cmd": "enqueue", "n": N}          N x noop.delay(), one after another
      -> {"t0": ms, "t1": ms, "ids": [...]}
  {"cmd": "rt", "n": N, "warmup": W}  W, then N sequential add.delay(1, 1).get()
      -> {"lat": [ms, ...]}
  {"cmd": "chord", "n": N}            chord(add(i, i) for i < N)(xsum), submit -> value
      -> {"ms": ms, "value": v}
  {"cmd": "chain", "n": N}            chain(add(0, 1), add(1) x N-1), submit -> value
      -> {"ms": ms, "value": v}
  {"cmd": "quit"}
Times are epoch milliseconds (t0, t1) and durations in milliseconds.
"""
import json
import sys
import time
import traceback

from celery import chain, chord

from celery_app import add, app, noop, xsum

TIMEOUT = float(__import__('os').environ.get('BENCH_TIMEOUT', '120'))


def now_ms():
    return time.time() * 1000.0


def enqueue(n):
    ids = []
    t0 = now_ms()
    for _ in range(n):
        ids.append(noop.delay().id)
    t1 = now_ms()
    return {'t0': t0, 't1': t1, 'ids': ids}


def roundtrips(n, warmup):
    lat = []
    for i in range(warmup + n):
        s = time.perf_counter()
        v = add.delay(1, 1).get(timeout=TIMEOUT)
        e = time.perf_counter()
        if v != 2:
            raise RuntimeError('add(1, 1) returned %r' % (v,))
        if i >= warmup:
            lat.append((e - s) * 1000.0)
    return {'lat': lat}


def run_chord(n):
    s = time.perf_counter()
    v = chord([add.s(i, i) for i in range(n)])(xsum.s()).get(timeout=TIMEOUT)
    return {'ms': (time.perf_counter() - s) * 1000.0, 'value': v}


def run_chain(n):
    s = time.perf_counter()
    v = chain(add.s(0, 1), *[add.s(1) for _ in range(n - 1)]).delay().get(timeout=TIMEOUT)
    return {'ms': (time.perf_counter() - s) * 1000.0, 'value': v}


def main():
    app.connection_for_write().ensure_connection(max_retries=3)
    sys.stdout.write(json.dumps({'ready': True}) + '\n')
    sys.stdout.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cmd = json.loads(line)
        try:
            c = cmd['cmd']
            if c == 'quit':
                break
            if c == 'enqueue':
                out = enqueue(int(cmd['n']))
            elif c == 'rt':
                out = roundtrips(int(cmd['n']), int(cmd.get('warmup', 0)))
            elif c == 'chord':
                out = run_chord(int(cmd['n']))
            elif c == 'chain':
                out = run_chain(int(cmd['n']))
            else:
                raise ValueError('unknown command %r' % (c,))
        except Exception as exc:  # reported to bench/run.ts, which records the failure
            out = {'error': '%s: %s' % (type(exc).__name__, exc), 'trace': traceback.format_exc()}
        sys.stdout.write(json.dumps(out) + '\n')
        sys.stdout.flush()


if __name__ == '__main__':
    main()
