"""Test script: two records per region, but raises in eu-west-1 after the first."""


def collect(session, region, account):
    yield {"n": 1, "price": 0.1}
    if region == "eu-west-1":
        raise RuntimeError("boom in " + region)
    yield {"n": 2, "tags": {"a", "b"}}
