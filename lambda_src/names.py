"""Every name lambdafan gives: resource names, ARNs (with their partition) and table keys.

Resources are found by these deterministic names, never through a state file. Nothing else in
`lambda_src` or `lambdafan` formats an ARN or a table key (tests/test_names.py scans for that).
Pure functions, no AWS calls.

Results table layout (single table, on-demand, TTL attribute `expires_at`):

| item              | pk                        | sk                                          |
|-------------------|---------------------------|---------------------------------------------|
| run               | RUN#<run_id>              | RUN                                         |
| account done      | RUN#<run_id>              | ACCT#<account_id>                           |
| error             | RUN#<run_id>              | ERR#<account_id>#<script>#<region>#<attempt> |
| usage reported    | RUN#<run_id>              | USAGE#<function>#<attempt>                  |
| record            | RUN#<run_id>#<account_id> | REC#<script>#<region>#<attempt>#<digest>    |

Run items also carry `gsi1pk = "RUNS"`, `gsi1sk = <run_id>`: the sparse index `runs` lists runs
newest first. They list the run's `accounts`.

Records get a partition per (run, account) so a large run spreads its writes; everything else
about a run sits in its own partition, read with one strongly consistent Query.
Each Worker invocation is an *attempt* with its own id in its records' and errors' keys; the
account's done item, written once, names the attempt that counts, so a duplicate or retried
Worker never mixes its records with another attempt's. Record digests are of the script's `KEY`
fields when it declares them, else of the whole record.

Every part of a key is checked here (`KeyPartError`): no key is built from text that could
contain the `#` separator or that is not what its name says.
"""

from __future__ import annotations

import hashlib
import re

# --- resource names -------------------------------------------------------------------------

FLEET_TAG = "lambdafan:fleet"
KINDS = ("director", "worker", "notifier")
HANDLERS = {kind: f"lambda_src.handlers.{kind}" for kind in KINDS}


def function_name(fleet: str, kind: str) -> str:
    """Name of the fleet's `director`, `worker` or `notifier` function."""
    return f"{fleet}-{kind}"


def role_name(fleet: str, kind: str) -> str:
    """Name of the execution role of the fleet's `kind` function."""
    return f"{fleet}-{kind}"


def inline_policy_name(fleet: str, kind: str) -> str:
    """Name of the one inline policy of the `kind` function's execution role."""
    return f"{fleet}-{kind}"


def log_group_name(fleet: str, kind: str) -> str:
    """The group Lambda writes to by default, created by deploy first so it has a retention."""
    return f"/aws/lambda/{function_name(fleet, kind)}"


def table_name(fleet: str) -> str:
    """Name of the fleet's results table."""
    return f"{fleet}-results"


def rule_name(fleet: str) -> str:
    """Name of the EventBridge rule that starts the Director on the schedule."""
    return f"{fleet}-schedule"


def permission_id(fleet: str) -> str:
    """Statement id of the permission letting the schedule rule invoke the Director."""
    return f"{fleet}-schedule"


def dlq_name(fleet: str) -> str:
    """Name of the SQS queue the Notifier's failed async events go to (its on-failure
    destination): a lost notification is kept there, and `status` counts it."""
    return f"{fleet}-notifier-dlq"


# --- S3 export and its Glue catalog (`results.export: s3`) ---------------------------------

BUCKET_NAME_MAX = 63  # S3's limit; bucket names are global, hence the account and region
EXPORT_ROOT = "records"
EXPORT_OBJECT = "part-0.json.gz"  # one object per (run, script, account, region)
ATHENA_RESULTS = "athena-results/"  # default Athena output prefix, in the export bucket
_GLUE_UNSAFE = re.compile(r"[^a-z0-9_]")


def export_bucket_name(fleet: str, account_id: str, region: str) -> str:
    """The fleet's export bucket: `<fleet>-records-<account>-<region>` (at most 63 chars).

    A fleet name too long for S3's limit is cut and given a digest of the whole name, so two
    long fleets never share a bucket.
    """
    tail = f"-records-{account_part(account_id)}-{region_part(region)}"
    if len(fleet) + len(tail) <= BUCKET_NAME_MAX:
        return f"{fleet}{tail}"
    digest = hashlib.sha256(fleet.encode()).hexdigest()[:8]
    keep = BUCKET_NAME_MAX - len(tail) - len(digest) - 1
    return f"{fleet[:keep].rstrip('-')}-{digest}{tail}"


def export_prefix(fleet: str, run_id: str | None = None) -> str:
    """Key prefix of a fleet's exported records, or of one run's (Hive-style `k=v/` parts)."""
    prefix = f"{EXPORT_ROOT}/fleet={fleet}/"
    return prefix if run_id is None else f"{prefix}run={run_id_part(run_id)}/"


def export_key(fleet: str, run_id: str, script: str, account_id: str, region: str) -> str:
    """Key of the one gzipped JSON Lines object holding a (script, region) pair's records."""
    script = _checked(script, _SCRIPT, "script")
    return (
        f"{export_prefix(fleet, run_id)}script={script}/account={account_part(account_id)}/"
        f"region={region_part(region)}/{EXPORT_OBJECT}"
    )


def export_run_template(fleet: str, script: str, run: str) -> str:
    """A script's folder in a run whose id is `run`, unchecked: a placeholder (`${run}`) for a
    Glue table's partition projection."""
    script = _checked(script, _SCRIPT, "script")
    return f"{export_prefix(fleet)}run={run}/script={script}/"


def s3_uri(bucket: str, key: str = "") -> str:
    """`s3://bucket/key` (a Glue table location, an Athena output location)."""
    return f"s3://{bucket}/{key}"


def glue_name(text: str) -> str:
    """A Glue/Athena identifier: lowercase, digits and `_` (`-` and the rest become `_`)."""
    return _GLUE_UNSAFE.sub("_", text.lower())


def glue_database_name(fleet: str) -> str:
    """The fleet's Glue database: `lambdafan_<fleet>` with `-` as `_`."""
    return glue_name(f"lambdafan_{fleet}")


def glue_table_name(script: str) -> str:
    """The Glue table of one script's exported records (same rule as the database)."""
    return glue_name(script)


# --- partitions ----------------------------------------------------------------------------

# Region-name prefixes of the non-commercial partitions (botocore's partitions.json regexes);
# longer prefixes first, so `us-isob-` is not taken for `us-iso-`.
_PARTITIONS = (
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("us-iso-", "aws-iso"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
    ("cn-", "aws-cn"),
)


def partition_for(region: str) -> str:
    """The partition of a region: `aws-cn` for `cn-*`, `aws-us-gov` for `us-gov-*`, ...; `aws`."""
    return next((p for prefix, p in _PARTITIONS if region.startswith(prefix)), "aws")


# --- ARNs --------------------------------------------------------------------------------------


_ARN_ACCOUNT = re.compile(r"\barn:[^:\s]*:[^:\s]*:[^:\s]*:(\d{12}):")


def arn(partition: str, service: str, region: str, account_id: str, resource: str) -> str:
    """An ARN; `region` and `account_id` are empty for services without them."""
    return f"arn:{partition}:{service}:{region}:{account_id}:{resource}"


def is_arn(value: str) -> bool:
    """Whether a user-supplied value is already an ARN rather than a name."""
    return value.startswith("arn:")


def arn_accounts(text: str) -> list[str]:
    """The account ids of the ARNs in `text` (an ARN's fifth field), in order."""
    return _ARN_ACCOUNT.findall(text)


def arn_partition(value: str) -> str:
    """The partition of an ARN (its second field: `aws`, `aws-cn`, ...); '' if not an ARN."""
    fields = value.split(":", 2)
    return fields[1] if is_arn(value) and len(fields) == 3 else ""


def role_arn(partition: str, account_id: str, role: str) -> str:
    """An IAM role; `account_id` `*` makes the pattern matching that role in every account."""
    return arn(partition, "iam", "", account_id, f"role/{role}")


def aws_managed_policy_arn(partition: str, policy: str) -> str:
    """An AWS-managed IAM policy (`ReadOnlyAccess`, `SecurityAudit`, ...)."""
    return arn(partition, "iam", "", "aws", f"policy/{policy}")


def function_arn(partition: str, region: str, account_id: str, function: str) -> str:
    """A Lambda function (unqualified)."""
    return arn(partition, "lambda", region, account_id, f"function:{function}")


def table_arn(partition: str, region: str, account_id: str, table: str) -> str:
    """A DynamoDB table."""
    return arn(partition, "dynamodb", region, account_id, f"table/{table}")


def table_index_arn(table: str, index: str) -> str:
    """One index of the table whose ARN is `table`."""
    return f"{table}/index/{index}"


def queue_arn(partition: str, region: str, account_id: str, queue: str) -> str:
    """An SQS queue."""
    return arn(partition, "sqs", region, account_id, queue)


def log_group_arn(partition: str, region: str, account_id: str, group: str) -> str:
    """A CloudWatch Logs group, without the `:*` suffix that covers its streams."""
    return arn(partition, "logs", region, account_id, f"log-group:{group}")


def ssm_parameter_arn(partition: str, region: str, account_id: str, parameter: str) -> str:
    """A parameter given by name (`/a/b` or `a`), or as an ARN (returned as is)."""
    if is_arn(parameter):
        return parameter
    # Hierarchical names keep their leading slash: parameter/a/b, not parameter//a/b.
    path = parameter if parameter.startswith("/") else f"/{parameter}"
    return arn(partition, "ssm", region, account_id, f"parameter{path}")


def ses_identity_arn(partition: str, region: str, account_id: str, identity: str) -> str:
    """An SES identity: an email address or a domain."""
    return arn(partition, "ses", region, account_id, f"identity/{identity}")


def s3_bucket_arn(partition: str, bucket: str) -> str:
    """An S3 bucket (no region or account: bucket names are global)."""
    return arn(partition, "s3", "", "", bucket)


def s3_objects_arn(partition: str, bucket: str, prefix: str) -> str:
    """Every object of `bucket` under `prefix` (a key prefix ending in `/`)."""
    return arn(partition, "s3", "", "", f"{bucket}/{prefix}*")


# --- table keys (layout in the module docstring) -------------------------------------------

RUN_SK = "RUN"
RUNS_INDEX = "runs"
RUNS_INDEX_PK = "RUNS"  # gsi1pk of every run item: the sparse index lists runs
ACCOUNT_SK_PREFIX = "ACCT#"
ERROR_SK_PREFIX = "ERR#"
RECORD_SK_PREFIX = "REC#"
USAGE_SK_PREFIX = "USAGE#"  # one item per invocation that added its usage to the run item
WILDCARD = "*"  # script and region of an error that stops a whole account

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_ACCOUNT_ID = re.compile(r"\d{12}")
_SCRIPT = re.compile(r"[A-Za-z0-9_-]{1,128}")
_REGION = re.compile(r"[a-z0-9-]{1,32}")
_ATTEMPT = re.compile(r"[a-z0-9-]{1,32}")
_DIGEST = re.compile(r"[0-9a-f]{1,64}(\.\d+)?")


class KeyPartError(ValueError):
    """Text that may not go into a table key (a malformed run id, account id, script…)."""


def _checked(value: str, pattern: re.Pattern[str], what: str, *extra: str) -> str:
    if value in extra or (value.isascii() and pattern.fullmatch(value)):
        return value
    raise KeyPartError(f"{what} {value[:80]!r} is not valid in a table key")


def run_id_part(run_id: str) -> str:
    """`run_id` if it is a valid run id (letters, digits, `_.:-`; no `#`), else KeyPartError."""
    return _checked(run_id, _RUN_ID, "run id")


def region_part(region: str) -> str:
    """`region` if it is a region name (lowercase letters, digits, `-`), else KeyPartError."""
    return _checked(region, _REGION, "region")


def account_part(account_id: str) -> str:
    """`account_id` if it is 12 digits, else KeyPartError."""
    return _checked(account_id, _ACCOUNT_ID, "account id")


def run_pk(run_id: str) -> str:
    """Partition of a run's own items: the run, its finished accounts, its errors."""
    return f"RUN#{run_id_part(run_id)}"


def records_pk(run_id: str, account_id: str) -> str:
    """Partition of one account's records in a run."""
    return f"{run_pk(run_id)}#{account_part(account_id)}"


def account_sk(account_id: str) -> str:
    """Sort key of the item marking an account finished."""
    return f"{ACCOUNT_SK_PREFIX}{account_part(account_id)}"


def error_sk(account_id: str, script: str, region: str, attempt: str) -> str:
    """Sort key of the error of one (account, script, region) in one attempt."""
    script = _checked(script, _SCRIPT, "script", WILDCARD)
    region = _checked(region, _REGION, "region", WILDCARD)
    attempt = _checked(attempt, _ATTEMPT, "attempt")
    return f"{error_sk_prefix(account_id)}{script}#{region}#{attempt}"


def error_sk_prefix(account_id: str | None = None) -> str:
    """Sort-key prefix selecting every error of a run, or those of one account."""
    if account_id is None:
        return ERROR_SK_PREFIX
    return f"{ERROR_SK_PREFIX}{account_part(account_id)}#"


def record_sk_prefix(script: str | None = None, region: str | None = None) -> str:
    """Sort-key prefix selecting records of one script (and region) within an account."""
    if script is None:
        return RECORD_SK_PREFIX
    prefix = f"{RECORD_SK_PREFIX}{_checked(script, _SCRIPT, 'script')}#"
    return prefix if region is None else f"{prefix}{region_part(region)}#"


def usage_sk(function: str, attempt: str) -> str:
    """Sort key of the item saying one invocation (function, attempt) reported its usage."""
    return f"{USAGE_SK_PREFIX}{function}#{_checked(attempt, _ATTEMPT, 'attempt')}"


def record_sk(script: str, region: str, attempt: str, digest: str) -> str:
    """Sort key of one record of one attempt; `digest` identifies it (plus an occurrence)."""
    attempt = _checked(attempt, _ATTEMPT, "attempt")
    return f"{record_sk_prefix(script, region)}{attempt}#{_checked(digest, _DIGEST, 'digest')}"
