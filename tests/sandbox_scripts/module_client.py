"""Test script: the laptop habit of a module-level client, plus every other way to reach boto3's
defaults (boto3.client, boto3.resource, boto3.Session) inside collect. Each must see the account
being scanned, never the caller's."""

import boto3

ec2 = boto3.client("ec2")  # at import: the home region
sts = boto3.client("sts")
WHO = sts.get_caller_identity()["Account"]


def volume_ids(client):
    return sorted(v["VolumeId"] for v in client.describe_volumes()["Volumes"])


def collect(session, region, account):
    yield {
        "import_identity": WHO,
        "module_client": volume_ids(ec2) if region == ec2.meta.region_name else None,
        "boto3_client": volume_ids(boto3.client("ec2", region_name=region)),
        "boto3_session": volume_ids(boto3.Session().client("ec2", region_name=region)),
        "boto3_resource": sorted(
            v.id for v in boto3.resource("ec2", region_name=region).volumes.all()
        ),
        "default_region": boto3.Session().region_name,
    }
