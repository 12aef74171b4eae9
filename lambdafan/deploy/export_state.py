"""Read what exists of the S3 export, by name: the bucket's settings, the Glue database and its
tables. Read-only calls only."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdafan.aws import error_code
from lambdafan.deploy.export_model import ExpiryRule
from lambdafan.deploy.export_plan import BucketState, GlueDatabaseState, GlueTableState
from lambdafan.errors import LambdafanError

# What S3 and Glue answer for a thing that is not there (not in `lambdafan.aws.NOT_FOUND`:
# `404` is also what a HEAD of anything missing says, so it stays local to these reads).
BUCKET_MISSING = frozenset({"404", "NoSuchBucket", "NotFound"})
NO_ENCRYPTION = "ServerSideEncryptionConfigurationNotFoundError"
NO_PUBLIC_ACCESS_BLOCK = "NoSuchPublicAccessBlockConfiguration"
NO_LIFECYCLE = "NoSuchLifecycleConfiguration"
NO_TAGS = "NoSuchTagSet"
GLUE_MISSING = "EntityNotFoundException"
OUR_RULES = ("lambdafan-",)  # lifecycle rule ids starting so are ours; others are left alone
PUBLIC_ACCESS_SETTINGS = (
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
)


class BucketNotOurs(LambdafanError):
    """The export bucket's name is taken by another account (bucket names are global)."""


def _or_missing(call: Any, missing: str, **kwargs: Any) -> Any:
    """`call(**kwargs)`, or None when S3 answers `missing`."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if error_code(exc) == missing:
            return None
        raise


def read_bucket(s3: Any, name: str) -> BucketState | None:
    """The bucket's settings lambdafan owns, or None when there is no such bucket."""
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        code = error_code(exc)
        if code in BUCKET_MISSING:
            return None
        if code in ("403", "AccessDenied"):
            raise BucketNotOurs(
                f"bucket {name} exists but this account cannot reach it: another account owns "
                "the name, or the credentials lack s3:ListBucket on it"
            ) from None
        raise
    encryption = _or_missing(s3.get_bucket_encryption, NO_ENCRYPTION, Bucket=name)
    rules = (encryption or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    algorithm = next(
        (
            r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
            for r in rules
            if "ApplyServerSideEncryptionByDefault" in r
        ),
        None,
    )
    block = _or_missing(s3.get_public_access_block, NO_PUBLIC_ACCESS_BLOCK, Bucket=name)
    settings = (block or {}).get("PublicAccessBlockConfiguration", {})
    return BucketState(
        encryption=algorithm,
        public_access_blocked=all(settings.get(k) is True for k in PUBLIC_ACCESS_SETTINGS),
        expiry=our_expiry(lifecycle_rules(s3, name)),
        tags=bucket_tags(s3, name),
    )


def lifecycle_rules(s3: Any, name: str) -> list[dict[str, Any]]:
    """Every lifecycle rule of the bucket (a put replaces them all: ours are merged in)."""
    found = _or_missing(s3.get_bucket_lifecycle_configuration, NO_LIFECYCLE, Bucket=name)
    return list((found or {}).get("Rules", []))


def is_ours(rule: dict[str, Any]) -> bool:
    return str(rule.get("ID", "")).startswith(OUR_RULES)


def our_expiry(rules: list[dict[str, Any]]) -> tuple[ExpiryRule, ...]:
    """Our enabled expiry rules, by id."""
    found = []
    for rule in rules:
        if not is_ours(rule) or rule.get("Status") != "Enabled":
            continue
        prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
        days = rule.get("Expiration", {}).get("Days")
        if isinstance(days, int):
            found.append(ExpiryRule(str(rule["ID"]), str(prefix), days))
    return tuple(sorted(found, key=lambda r: r.rule_id))


def bucket_tags(s3: Any, name: str) -> dict[str, str]:
    """The bucket's tags (a put replaces them all: ours are merged in)."""
    found = _or_missing(s3.get_bucket_tagging, NO_TAGS, Bucket=name)
    return {t["Key"]: t["Value"] for t in (found or {}).get("TagSet", [])}


def read_glue_database(glue: Any, name: str) -> GlueDatabaseState | None:
    database = _or_missing(glue.get_database, GLUE_MISSING, Name=name)
    if database is None:
        return None
    return GlueDatabaseState(description=str(database["Database"].get("Description", "")))


def read_glue_tables(glue: Any, database: str) -> dict[str, GlueTableState]:
    """Every table of the database (none when it does not exist), by name."""
    tables: dict[str, GlueTableState] = {}
    try:
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
            for table in page.get("TableList", []):
                tables[table["Name"]] = glue_table_state(table)
    except ClientError as exc:
        if error_code(exc) == GLUE_MISSING:
            return {}
        raise
    return tables


def _columns(columns: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(c["Name"]), str(c.get("Type", ""))) for c in columns)


def glue_table_state(table: dict[str, Any]) -> GlueTableState:
    storage = table.get("StorageDescriptor", {})
    serde = storage.get("SerdeInfo", {})
    return GlueTableState(
        location=str(storage.get("Location", "")),
        columns=_columns(storage.get("Columns", [])),
        partition_keys=_columns(table.get("PartitionKeys", [])),
        parameters=dict(table.get("Parameters", {})),
        serde=str(serde.get("SerializationLibrary", "")),
        serde_parameters=dict(serde.get("Parameters", {})),
        input_format=str(storage.get("InputFormat", "")),
        output_format=str(storage.get("OutputFormat", "")),
    )
