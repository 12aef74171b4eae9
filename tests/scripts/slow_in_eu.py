"""Test script: instant in us-east-1; in eu-west-1 it stores one record, then is stuck until the
test opens GATE (for Worker deadlines: the test, not the machine's speed, decides what is late)."""

import threading

STARTED = threading.Event()  # eu-west-1's first record is stored; the pair is now stuck
GATE = threading.Event()


def collect(session, region, account):
    yield {"step": "start", "region": region}
    if region == "eu-west-1":
        STARTED.set()
        GATE.wait(timeout=60)
        yield {"step": "late"}
