"""Every S3 bucket in the account: region, creation date, Block Public Access and encryption.

S3 listing is global, so this runs once per account. Keep it to find buckets that could be made
public (Block Public Access off or never configured) and buckets without default encryption.
A call that fails for one bucket (AccessDenied from a bucket policy, a bucket deleted while
listing) does not stop the others: that field is None and the record carries the error code in
"error".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

SCOPE = "account"
KEY = ("bucket",)

# Bucket listing and get_bucket_location work from any region; use the oldest one.
LIST_REGION = "us-east-1"
# Errors that mean "not configured" rather than "could not read".
NO_PUBLIC_ACCESS_BLOCK = "NoSuchPublicAccessBlockConfiguration"
NO_ENCRYPTION = "ServerSideEncryptionConfigurationNotFoundError"
PUBLIC_ACCESS_SETTINGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _bucket_region(s3: Any, bucket: str) -> str:
    location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint")
    if not location:
        return "us-east-1"
    if location == "EU":
        return "eu-west-1"
    return str(location)


def _public_access_block(s3: Any, bucket: str) -> bool | None:
    try:
        config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if _code(exc) == NO_PUBLIC_ACCESS_BLOCK:
            return None
        raise
    return all(config.get(setting, False) for setting in PUBLIC_ACCESS_SETTINGS)


def _encryption(s3: Any, bucket: str) -> str | None:
    try:
        config = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    except ClientError as exc:
        if _code(exc) == NO_ENCRYPTION:
            return None
        raise
    for rule in config.get("Rules", []):
        algorithm = rule.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm")
        if algorithm:
            return str(algorithm)
    return None


def collect(session: Any, region: str, account: Any) -> Iterator[dict[str, Any]]:
    s3 = session.client("s3", region_name=LIST_REGION)
    # Per-bucket calls go to the bucket's own region (no redirect round trip); one client each.
    clients: dict[str, Any] = {LIST_REGION: s3}
    for page in s3.get_paginator("list_buckets").paginate():
        for bucket in page.get("Buckets", []):
            name = bucket["Name"]
            record: dict[str, Any] = {"bucket": name, "created": bucket.get("CreationDate")}
            errors: list[str] = []
            try:
                record["region"] = _bucket_region(s3, name)
            except ClientError as exc:
                record["region"] = None
                errors.append(f"region: {_code(exc)}")
            bucket_region = record["region"] or LIST_REGION
            if bucket_region not in clients:
                clients[bucket_region] = session.client("s3", region_name=bucket_region)
            client = clients[bucket_region]
            for field, read in (
                ("public_access_block", _public_access_block),
                ("encryption", _encryption),
            ):
                try:
                    record[field] = read(client, name)
                except ClientError as exc:
                    record[field] = None
                    errors.append(f"{field}: {_code(exc)}")
            if errors:
                record["error"] = "; ".join(errors)
            yield record
