"""The config's `results:` section: the table's TTL and backups, and the S3 export beside it
with the Athena settings `query --engine athena` runs with."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from lambda_src import names
from lambda_src.settings import EXPORTS
from lambdafan.config.base import StrictModel
from lambdafan.config.errors import Invalid
from lambdafan.config.values import TtlDays, null_is_empty

_WORKGROUP = re.compile(r"[A-Za-z0-9._-]{1,128}")
_S3_LOCATION = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?")


class Athena(StrictModel):
    """Where `query --engine athena` runs its SQL."""

    workgroup: str = "primary"
    # None: `athena-results/` in the fleet's export bucket.
    output_location: str | None = None

    @field_validator("workgroup")
    @classmethod
    def _workgroup(cls, value: str) -> str:
        if not _WORKGROUP.fullmatch(value):
            raise ValueError(f"{value!r} is not an Athena workgroup name")
        return value

    @field_validator("output_location")
    @classmethod
    def _output_location(cls, value: str | None) -> str | None:
        if value is not None and not _S3_LOCATION.fullmatch(value):
            raise ValueError(f"{value!r} is not an S3 location like s3://bucket/prefix/")
        return value

    def output(self, bucket: str) -> str:
        """The output location: the configured one, or `athena-results/` in `bucket`."""
        return self.output_location or names.s3_uri(bucket, names.ATHENA_RESULTS)


class Results(StrictModel):
    """The results table, and the S3 export beside it."""

    ttl_days: TtlDays = 30
    point_in_time_recovery: bool = False
    # "s3": Workers also write each pair's records to the fleet's export bucket, which deploy
    # creates with a Glue table per script for Athena.
    export: str = "none"
    athena: Annotated[Athena, BeforeValidator(null_is_empty)] = Field(default_factory=Athena)

    @field_validator("export")
    @classmethod
    def _export(cls, value: str) -> str:
        if value not in EXPORTS:
            raise ValueError(f"must be {' or '.join(EXPORTS)}, got {value!r}")
        return value


def glue_table_clashes(scripts: Sequence[Path]) -> list[Invalid]:
    """A problem for each script whose Glue table is an earlier script's: Glue names are
    lowercase with `_` for `-`, so `a-b.py` and `a_b.py`, or `EC2.py` and `ec2.py`, share one."""
    first: dict[str, int] = {}
    problems = []
    for index, path in enumerate(scripts):
        table = names.glue_table_name(path.stem)
        if table not in first:
            first[table] = index
            continue
        earlier = first[table]
        problems.append(
            Invalid(
                f"{path.name} and {scripts[earlier].name} (scripts[{earlier}]) are both Glue "
                f"table {table!r}: with results.export s3 each script needs a table of its "
                "own; rename one",
                at=("scripts", index),
            )
        )
    return problems
