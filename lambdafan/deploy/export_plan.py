"""The S3 export's part of the plan: what AWS reports of the bucket, the Glue database and its
tables, and the changes that make them the model's. Pure, no AWS calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from lambda_src import names
from lambdafan.deploy.changes import Change, FieldChange, change, differ, our_tags
from lambdafan.deploy.export_model import (
    BucketSpec,
    Column,
    ExpiryRule,
    ExportSpec,
    GlueDatabaseSpec,
    GlueTableSpec,
    merge_columns,
)


@dataclass(frozen=True)
class BucketState:
    encryption: str | None  # the default encryption's algorithm, None when there is none
    public_access_blocked: bool  # all four settings of the bucket's public access block on
    expiry: tuple[ExpiryRule, ...]  # our lifecycle rules (found by their ids)
    tags: dict[str, str]


@dataclass(frozen=True)
class GlueDatabaseState:
    description: str


@dataclass(frozen=True)
class GlueTableState:
    location: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...]
    parameters: dict[str, str]
    serde: str
    serde_parameters: dict[str, str]
    input_format: str
    output_format: str

    @property
    def owner(self) -> str | None:
        """The fleet whose deploy made the table (its `lambdafan:fleet` parameter); None for
        a table someone else made, a view or a CTAS in the database, say."""
        return self.parameters.get(names.FLEET_TAG)


def export_changes(
    fleet: str,
    export: ExportSpec | None,
    bucket: BucketState | None,
    database: GlueDatabaseState | None,
    tables: Mapping[str, GlueTableState],
) -> list[Change]:
    """The export's bucket, database and tables; a table this fleet made for a script no longer
    in the config is deleted (its objects stay, and expire), any other table is left be (the
    database is Athena's default one for `query`). Export turned off leaves everything be."""
    if export is None:
        return []
    changes = [
        change("bucket", export.bucket.name, export.bucket, bucket, _bucket_fields),
        change("glue database", export.database.name, export.database, database, _database_fields),
    ]
    wanted = {t.name for t in export.tables}
    for table in export.tables:
        current = tables.get(table.name)
        if current is not None:
            # Columns are learnt: the ones the table has stay, new fields join them.
            table = replace(table, columns=merge_columns(current.columns, table.columns))
        label = glue_table_label(table.database, table.name)
        changes.append(change("glue table", label, table, current, _glue_table_fields))
    changes += [
        Change("delete", "glue table", glue_table_label(export.database.name, name))
        for name, current in sorted(tables.items())
        if name not in wanted and current.owner == fleet
    ]
    return changes


def glue_table_label(database: str, table: str) -> str:
    """How a plan names a Glue table: `database.table`, as Athena's SQL does."""
    return f"{database}.{table}"


def _bucket_fields(spec: BucketSpec, current: BucketState) -> list[FieldChange]:
    # SSE-KMS someone chose instead is encryption too: not ours to downgrade to SSE-S3.
    encryption = spec.encryption if current.encryption else None
    return [
        *differ("encryption", encryption, spec.encryption),
        *differ("public_access_blocked", current.public_access_blocked, True),
        *differ("expiry", current.expiry, tuple(sorted(spec.expiry, key=lambda r: r.rule_id))),
        *our_tags(current.tags, spec.tags),
    ]


def _database_fields(spec: GlueDatabaseSpec, current: GlueDatabaseState) -> list[FieldChange]:
    return differ("description", current.description, spec.description)


def _subset(current: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, str | None]:
    """`current`'s values of the keys we set (Glue and Athena add keys of their own)."""
    return {key: current.get(key) for key in desired}


def _glue_table_fields(spec: GlueTableSpec, current: GlueTableState) -> list[FieldChange]:
    serde_parameters = dict(spec.serde_parameters)
    return [
        *differ("location", current.location, spec.location),
        *differ("columns", current.columns, spec.columns),
        *differ("partition_keys", current.partition_keys, spec.partition_keys),
        *differ("parameters", _subset(current.parameters, spec.parameters), spec.parameters),
        *differ("serde", current.serde, spec.serde),
        *differ(
            "serde_parameters",
            _subset(current.serde_parameters, serde_parameters),
            serde_parameters,
        ),
        *differ("input_format", current.input_format, spec.input_format),
        *differ("output_format", current.output_format, spec.output_format),
    ]
