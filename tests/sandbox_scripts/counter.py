"""Test script: counts how often its module ran in this process (1 in a fresh sandbox)."""

import lambda_src.records as shared

shared.IMPORTS = getattr(shared, "IMPORTS", 0) + 1


def collect(session, region, account):
    yield {"imports": shared.IMPORTS, "region": region}
