"""Celery app of the remote-control interop suite (test/interop/control-redis.test.ts).

`celery -A control_app inspect/control/events` run against it, and it is the
Python worker (`celery -A control_app worker -P solo`) that `celeriac inspect`
and `celeriac control` talk to. Run with /usr/bin/python3 (Celery 5.2.6).

Configured from the environment:
  CTL_BROKER   broker URL   (default redis://127.0.0.1:6379/13)
  CTL_BACKEND  backend URL  (default: the broker URL)
  CTL_QUEUE    default queue of this process (default ctl-py)
"""
import json
import os
import sys
import time

from celery import Celery

BROKER = os.environ.get('CTL_BROKER', 'redis://127.0.0.1:6379/13')
BACKEND = os.environ.get('CTL_BACKEND', BROKER)

app = Celery('control_app', broker=BROKER, backend=BACKEND)
app.conf.update(
    task_default_queue=os.environ.get('CTL_QUEUE', 'ctl-py'),
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    worker_hijack_root_logger=False,
    result_expires=600,
)


@app.task
def add(x, y):
    return x + y


@app.task
def sleep(seconds, value=None):
    time.sleep(seconds)
    return value


def receive(node, task_id, timeout):
    """Capture events with celery.events.EventReceiver, one JSON line each.

    Prints {"ready": true} once a heartbeat from `node` shows the receiver is
    subscribed, and stops after task-succeeded for `task_id` (or `timeout`).
    """
    from celery.events import EventReceiver

    state = {'ready': False, 'deadline': time.monotonic() + timeout}

    def on_event(event):
        print(json.dumps(event, default=str), flush=True)
        if not state['ready'] and event.get('hostname') == node and event.get('type') == 'worker-heartbeat':
            state['ready'] = True
            print(json.dumps({'ready': True}), flush=True)
        if event.get('type') == 'task-succeeded' and event.get('uuid') == task_id:
            recv.should_stop = True
        if time.monotonic() > state['deadline']:
            recv.should_stop = True

    with app.connection() as conn:
        recv = EventReceiver(conn, handlers={'*': on_event}, app=app)
        recv.capture(limit=None, timeout=timeout, wakeup=False)


if __name__ == '__main__' and len(sys.argv) == 5 and sys.argv[1] == 'receive':
    receive(sys.argv[2], sys.argv[3], float(sys.argv[4]))
