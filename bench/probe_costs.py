"""Bench script: what a script's first clients and calls cost where it runs (a sandbox runner
forked from the zygote, or a thread of the Worker). One record, with times in milliseconds."""

import json
import time

LOADED = time.perf_counter()  # CLOCK_MONOTONIC: comparable across the Worker's processes


def _timed(times, label, make):
    began = time.perf_counter()
    value = make()
    times[label] = round(1000 * (time.perf_counter() - began), 2)
    return value


def collect(session, region, account):
    started = time.perf_counter()
    times = {}
    ec2 = _timed(times, "ec2_client_first", lambda: session.client("ec2", region_name=region))
    _timed(times, "ec2_client_again", lambda: session.client("ec2", region_name="eu-west-1"))
    _timed(times, "lambda_client_first", lambda: session.client("lambda", region_name=region))
    _timed(times, "lambda_client_again", lambda: session.client("lambda", region_name="eu-west-2"))
    _timed(times, "s3_client_first", lambda: session.client("s3", region_name=region))
    _timed(times, "iam_client_first", lambda: session.client("iam", region_name=region))
    _timed(times, "ec2_call_first", ec2.describe_security_groups)
    _timed(times, "ec2_call_again", ec2.describe_security_groups)
    yield {"loaded": LOADED, "started": started, "ms": json.dumps(times)}
