"""Test script: the buckets visible to the session (account-scoped)."""

SCOPE = "account"


def collect(session, region, account):
    for bucket in session.client("s3", region_name="us-east-1").list_buckets()["Buckets"]:
        yield {"bucket": bucket["Name"], "created": bucket["CreationDate"]}
