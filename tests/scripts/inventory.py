"""Test script: `COUNT` fake instances per account and region, identified by KEY.

Tests steer it through its module globals: `STATE` (instance id → state) and `FAIL_IN` (regions
that raise).
"""

KEY = ("instance_id",)
COUNT = 30
STATE: dict = {}
FAIL_IN: set = set()


def collect(session, region, account):
    if region in FAIL_IN:
        raise RuntimeError(f"inventory failed in {region}")
    for n in range(COUNT):
        instance = f"i-{account.id[-4:]}-{region}-{n:03d}"
        yield {"instance_id": instance, "state": STATE.get(instance, "running")}
