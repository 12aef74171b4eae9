"""Test script: instant in us-east-1, far too slow in eu-west-1 (for Worker deadlines)."""

import time


def collect(session, region, account):
    yield {"step": "start", "region": region}
    if region == "eu-west-1":
        time.sleep(3)
        yield {"step": "late"}
