"""Test script: 32 threads at once in every region (each reserves 8 MB of address space)."""

import concurrent.futures as cf
import time


def collect(session, region, account):
    with cf.ThreadPoolExecutor(32) as pool:
        slept = list(pool.map(lambda n: time.sleep(0.05) or n, range(64)))
    yield {"threads": len(slept)}
