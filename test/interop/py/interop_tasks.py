"""Celery app and tasks of the interop suite (run with /usr/bin/python3, Celery 5.2.6).

test/support/interop-tasks.ts registers the same task names for celeriac, so
either side can run any step; which side ran a step shows in `side`/`trail`
results ('py' here, 'ts' there) and in the marks written to Redis.

Configured from the environment:
  INTEROP_BROKER   broker URL   (default redis://127.0.0.1:6379/8)
  INTEROP_BACKEND  backend URL  (default redis://127.0.0.1:6379/9)
  INTEROP_QUEUE    default queue of this process (default interop-py)
"""
import json
import os

from celery import Celery

SIDE = 'py'
BROKER = os.environ.get('INTEROP_BROKER', 'redis://127.0.0.1:6379/8')
BACKEND = os.environ.get('INTEROP_BACKEND', 'redis://127.0.0.1:6379/9')
QUEUE = os.environ.get('INTEROP_QUEUE', 'interop-py')

app = Celery('interop_tasks', broker=BROKER, backend=BACKEND)
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
    result_expires=600,
)


def _mark(key, payload):
    """Write a JSON mark to the backend's Redis, where the test reads it."""
    payload = dict(payload, side=SIDE)
    app.backend.client.set(key, json.dumps(payload), ex=600)


@app.task
def add(x, y):
    return x + y


@app.task
def sub(x, y):
    return x - y


@app.task
def mul(x, y):
    return x * y


@app.task
def tsum(numbers):
    return sum(numbers)


@app.task
def fail(*args):
    raise ValueError('boom', 42)


@app.task(bind=True, max_retries=5)
def flaky(self, x):
    """Retries twice, then returns [x, retries]."""
    if self.request.retries < 2:
        raise self.retry(exc=RuntimeError('transient'), countdown=0.1)
    return [x, self.request.retries]


@app.task
def side(x):
    """[x, 'py']: shows which side ran it."""
    return [x, SIDE]


@app.task
def trail(acc=None):
    """Appends this side to a list: a chain of trails records where each step ran."""
    return list(acc or []) + [SIDE]


@app.task
def summarize(parts):
    """A chord body recording who ran the header parts and the body."""
    return {'parts': parts, 'body': SIDE}


@app.task
def mark(value, key):
    """A link callback: records the parent's value under interop:mark:<key>."""
    _mark('interop:mark:' + key, {'value': value})
    return value


@app.task(bind=True)
def mark_error(self, task_id):
    """An old-style errback (bound, so Celery sends it as a message): records the failed id."""
    _mark('interop:errback:' + task_id, {'style': 'old'})
    return task_id


@app.task
def on_error(request, exc, traceback):
    """A new-style errback, called inline by the worker that saw the failure."""
    _mark('interop:errback:' + request.id, {'style': 'new', 'exc_type': type(exc).__name__, 'args': list(exc.args)})
