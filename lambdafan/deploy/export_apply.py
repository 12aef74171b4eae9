"""Apply the S3 export's changes: the bucket (encrypted, public access blocked, expiring,
tagged), the Glue database and its tables. Called by the Applier, in the plan's order."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdafan.aws import error_code
from lambdafan.deploy.changes import Change
from lambdafan.deploy.export_model import BucketSpec, GlueDatabaseSpec, GlueTableSpec
from lambdafan.deploy.export_state import (
    GLUE_MISSING,
    PUBLIC_ACCESS_SETTINGS,
    bucket_tags,
    is_ours,
    lifecycle_rules,
)

# S3 refuses a LocationConstraint naming us-east-1 (its default).
_NO_LOCATION_CONSTRAINT = "us-east-1"


def apply_bucket(s3: Any, change: Change) -> None:
    spec = change.spec
    assert isinstance(spec, BucketSpec)
    create = change.action == "create"
    if create:
        location = (
            {}
            if spec.region == _NO_LOCATION_CONSTRAINT
            else {"CreateBucketConfiguration": {"LocationConstraint": spec.region}}
        )
        s3.create_bucket(Bucket=spec.name, **location)
    if create or change.changes("public_access_blocked"):
        s3.put_public_access_block(
            Bucket=spec.name,
            PublicAccessBlockConfiguration=dict.fromkeys(PUBLIC_ACCESS_SETTINGS, True),
        )
    if create or change.changes("encryption"):
        s3.put_bucket_encryption(
            Bucket=spec.name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": spec.encryption},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
    if create or change.changes("expiry"):
        _put_expiry(s3, spec)
    if create or change.changes("tags"):
        # A put replaces every tag: someone else's stay.
        tags = {**bucket_tags(s3, spec.name), **spec.tags}
        s3.put_bucket_tagging(
            Bucket=spec.name,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
        )


def _put_expiry(s3: Any, spec: BucketSpec) -> None:
    # A put replaces every rule: someone else's stay, ours are replaced.
    others = [r for r in lifecycle_rules(s3, spec.name) if not is_ours(r)]
    ours = [
        {
            "ID": rule.rule_id,
            "Status": "Enabled",
            "Filter": {"Prefix": rule.prefix},
            "Expiration": {"Days": rule.days},
        }
        for rule in sorted(spec.expiry, key=lambda r: r.rule_id)
    ]
    s3.put_bucket_lifecycle_configuration(
        Bucket=spec.name, LifecycleConfiguration={"Rules": others + ours}
    )


def apply_glue_database(glue: Any, change: Change) -> None:
    spec = change.spec
    assert isinstance(spec, GlueDatabaseSpec)
    database = {"Name": spec.name, "Description": spec.description}
    if change.action == "create":
        glue.create_database(DatabaseInput=database)
    else:
        glue.update_database(Name=spec.name, DatabaseInput=database)


def apply_glue_table(glue: Any, change: Change) -> None:
    if change.action == "delete":
        database, _, name = change.name.partition(".")
        try:
            glue.delete_table(DatabaseName=database, Name=name)
        except ClientError as exc:
            if error_code(exc) != GLUE_MISSING:
                raise
        return
    spec = change.spec
    assert isinstance(spec, GlueTableSpec)
    if change.action == "create":
        glue.create_table(DatabaseName=spec.database, TableInput=spec.table_input())
    else:
        glue.update_table(DatabaseName=spec.database, TableInput=spec.table_input())
