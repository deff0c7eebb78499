"""The Python Celery 5 peer of `npm run bench`: the same three tasks as
bench/tasks.ts, under the same names, on the queue `bench`.

The broker and result backend come from BENCH_BROKER_URL / BENCH_RESULT_BACKEND
(bench/run.ts sets them). Celery's defaults otherwise: JSON, prefetch
multiplier 4, results stored in Redis, early ack.
"""
import os
import sys

from celery import Celery
from celery.signals import worker_ready

app = Celery(
    'bench',
    broker=os.environ.get('BENCH_BROKER_URL', 'redis://127.0.0.1:6379/0'),
    backend=os.environ.get('BENCH_RESULT_BACKEND', 'redis://127.0.0.1:6379/0'),
)
app.conf.update(
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    task_default_queue='bench',
    broker_connection_retry_on_startup=True,
)


@app.task(name='bench.noop')
def noop():
    return None


@app.task(name='bench.add')
def add(x, y):
    return x + y


@app.task(name='bench.xsum')
def xsum(numbers):
    return sum(numbers)


@worker_ready.connect
def _announce(**_kwargs):
    # bench/run.ts waits for this line instead of parsing Celery's log (which would need -l info,
    # and -l info logs every task, which slows the worker down).
    sys.stdout.write('BENCH-READY\n')
    sys.stdout.flush()
