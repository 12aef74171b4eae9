"""Bench script: one cheap AWS call, then 0.2 s of waiting, like a typical describe-and-wait."""

import time


def collect(session, region, account):
    identity = session.client("sts", region_name=region).get_caller_identity()
    time.sleep(0.2)
    yield {"caller": identity["Account"], "region": region}
