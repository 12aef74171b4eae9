"""The S3 export's resources, as data (`results.export: s3`): the bucket the Workers write to and
the Glue database with one table per script that Athena reads it through. Pure, no AWS calls.

Each Glue table reads one script's objects with the OpenX JSON SerDe. Its one partition key is
`run`, projected (`injected`: a query names its run(s), `WHERE run = '…'` or `run IN (…)`), so
no crawler or partition ever needs adding; `account_id` and `region` are ordinary columns,
since Athena reads every object under a run's `script=<s>/` folder, account and region folders
included, and a projection of accounts would need them all known at deploy. The columns are the
origin columns plus the script's fields as seen in its latest records (`export_fields`), added
to the columns earlier deploys learnt (a run without some field never drops its column); a
field not yet seen is not a column until a later deploy, and the SerDe skips fields it has no
column for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_src import names
from lambda_src.s3_export import ORIGIN, RUN_PARTITION
from lambdafan.config import Config
from lambdafan.deploy.fleet_arns import FleetArns

SSE_ALGORITHM = "AES256"  # SSE-S3: no KMS key the Worker or the CLI would need granting
EXPIRE_RECORDS_RULE = "lambdafan-expire-records"
EXPIRE_ATHENA_RULE = "lambdafan-expire-athena-results"
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
INPUT_FORMAT = "org.apache.hadoop.mapred.TextInputFormat"
OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
Column = tuple[str, str]  # (name, Glue/Hive type)


@dataclass(frozen=True)
class ExpiryRule:
    """A lifecycle rule of ours: objects under `prefix` expire after `days`."""

    rule_id: str
    prefix: str
    days: int


@dataclass(frozen=True)
class BucketSpec:
    name: str
    region: str
    expiry: tuple[ExpiryRule, ...]
    tags: dict[str, str]
    encryption: str = SSE_ALGORITHM


@dataclass(frozen=True)
class GlueDatabaseSpec:
    name: str
    description: str


@dataclass(frozen=True)
class GlueTableSpec:
    database: str
    name: str
    script: str
    location: str  # the fleet's prefix; the projection's template names each run's folder
    location_template: str
    columns: tuple[Column, ...]
    parameters: dict[str, str]
    partition_keys: tuple[Column, ...] = ((RUN_PARTITION, "string"),)
    serde: str = JSON_SERDE
    serde_parameters: tuple[tuple[str, str], ...] = (("ignore.malformed.json", "true"),)
    input_format: str = INPUT_FORMAT
    output_format: str = OUTPUT_FORMAT

    def table_input(self) -> dict[str, Any]:
        """The TableInput of create_table/update_table."""
        return {
            "Name": self.name,
            "Description": f"lambdafan: records of script {self.script}",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": dict(self.parameters),
            "PartitionKeys": [{"Name": n, "Type": t} for n, t in self.partition_keys],
            "StorageDescriptor": {
                "Columns": [{"Name": n, "Type": t} for n, t in self.columns],
                "Location": self.location,
                "InputFormat": self.input_format,
                "OutputFormat": self.output_format,
                "Compressed": True,
                "SerdeInfo": {
                    "SerializationLibrary": self.serde,
                    "Parameters": dict(self.serde_parameters),
                },
            },
        }


@dataclass(frozen=True)
class ExportSpec:
    bucket: BucketSpec
    database: GlueDatabaseSpec
    tables: tuple[GlueTableSpec, ...]


def export_spec(
    config: Config,
    arns: FleetArns,
    fields: Mapping[str, Sequence[Column]] | None = None,
) -> ExportSpec | None:
    """The export's resources, or None when the config exports nothing; `fields`: each
    script's known fields (name, type), made columns after the origin columns."""
    if config.results.export != "s3":
        return None
    fleet = config.fleet
    bucket = arns.export_bucket
    days = config.results.ttl_days
    expiry = [ExpiryRule(EXPIRE_RECORDS_RULE, f"{names.EXPORT_ROOT}/", days)]
    if config.results.athena.output_location is None:  # Athena's results land in our bucket
        expiry.append(ExpiryRule(EXPIRE_ATHENA_RULE, names.ATHENA_RESULTS, days))
    database = names.glue_database_name(fleet)
    return ExportSpec(
        bucket=BucketSpec(
            name=bucket, region=arns.region, expiry=tuple(expiry), tags={names.FLEET_TAG: fleet}
        ),
        database=GlueDatabaseSpec(name=database, description=f"lambdafan fleet {fleet}"),
        tables=tuple(
            _table(fleet, bucket, database, script.stem, (fields or {}).get(script.stem, ()))
            for script in config.script_paths()
        ),
    )


def _table(
    fleet: str, bucket: str, database: str, script: str, fields: Sequence[Column]
) -> GlueTableSpec:
    # Athena puts each run id the query names in place of the placeholder.
    folder = names.export_run_template(fleet, script, "${" + RUN_PARTITION + "}")
    template = names.s3_uri(bucket, folder)
    return GlueTableSpec(
        database=database,
        name=names.glue_table_name(script),
        script=script,
        location=names.s3_uri(bucket, names.export_prefix(fleet)),
        location_template=template,
        columns=table_columns(fields),
        parameters={
            "EXTERNAL": "TRUE",
            "classification": "json",
            "compressionType": "gzip",
            "projection.enabled": "true",
            f"projection.{RUN_PARTITION}.type": "injected",
            "storage.location.template": template,
            names.FLEET_TAG: fleet,
        },
    )


def widen(current: str | None, seen: str | None) -> str | None:
    """The type that holds values of both types (numbers widen to double, else string)."""
    if current is None:
        return seen
    if seen is None or seen == current:
        return current
    if {current, seen} <= {"bigint", "double"}:
        return "double"
    return "string"


def merge_columns(current: Sequence[Column], wanted: Sequence[Column]) -> tuple[Column, ...]:
    """`wanted` (origin columns, then the fields seen now) after the field columns the table
    already has, each type widened to hold what both saw."""
    origin = [c for c in wanted if c[0] in ORIGIN]
    merged = {name: kind for name, kind in current if name not in ORIGIN}
    for name, kind in wanted:
        if name not in ORIGIN:
            merged[name] = widen(merged.get(name), kind) or kind
    return (*origin, *merged.items())


def table_columns(fields: Sequence[Column]) -> tuple[Column, ...]:
    """The origin columns (strings), then each field once (Glue names: lowercase), skipping a
    field that clashes with an origin column or the partition key."""
    columns: dict[str, str] = {name: "string" for name in ORIGIN}
    taken = set(columns) | {RUN_PARTITION}
    for name, kind in fields:
        column = name.lower()
        if column in taken:
            continue
        taken.add(column)
        columns[column] = kind
    return tuple(columns.items())
