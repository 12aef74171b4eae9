"""Test script: one record, then stuck until the test opens GATE (a subprocess: never), for
Ctrl-C and pair time limits: the test, not the machine's speed, decides what is late."""

import threading

GATE = threading.Event()
STARTED: list[tuple[str, str]] = []  # (account id, region) of each pair whose record is handed over


def collect(session, region, account):
    yield {"step": "start", "region": region}
    STARTED.append((account.id, region))
    GATE.wait()
    yield {"step": "late"}
