"""Test script: breaks the modules a Worker would use to store records."""

import lambda_src.script_wire
import lambda_src.table

lambda_src.table.too_large = lambda item: True
lambda_src.script_wire.MAX_LINE = 0
PATCHED = True


def collect(session, region, account):
    yield {"patched": region}
