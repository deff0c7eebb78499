"""A Python Celery app whose task names match examples/tasks-basic.ts.

  cd examples/python && /usr/bin/python3 -m celery -A tasks worker -P solo -Q py -l info
"""
import os

from celery import Celery

app = Celery(
    'tasks',
    broker=os.environ.get('BROKER_URL', 'redis://127.0.0.1:6379/0'),
    backend=os.environ.get('RESULT_BACKEND', 'redis://127.0.0.1:6379/1'),
)
app.conf.update(task_serializer='json', result_serializer='json', accept_content=['json'])


@app.task(name='tasks.add')
def add(x, y):
    return x + y


@app.task(name='tasks.mul')
def mul(x, y):
    return x * y


@app.task(name='tasks.tsum')
def tsum(numbers):
    return sum(numbers)


@app.task(name='tasks.fail')
def fail():
    raise ValueError('boom', 42)
