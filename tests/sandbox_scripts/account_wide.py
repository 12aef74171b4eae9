"""Test script: account-scoped, it copies the regional idiom
session.client(..., region_name=region), which must be a real region (the home region)."""

SCOPE = "account"


def collect(session, region, account):
    s3 = session.client("s3", region_name=region)
    yield {"given": region, "buckets": len(s3.list_buckets()["Buckets"])}
