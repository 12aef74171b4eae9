"""Yields what is not a dict (values, boto3 resources) in us-east-1; fails in eu-west-1 with an
error raised while handling another, and with a module's own exception class."""

import csv
import io


def collect(session, region, account):
    if region == "us-east-1":
        yield "vol-1"
        yield session.resource("ec2", region_name=region).Volume("vol-0123456789abcdef0")
        try:
            {}["Tags"]
        except KeyError:
            csv.writer(io.StringIO(), quoting=csv.QUOTE_NONE).writerow(["a,b"])
    try:
        {}["Tags"]
    except KeyError:
        return undefined_name  # noqa: F821
