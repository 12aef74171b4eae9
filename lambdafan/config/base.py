"""The base of every config model: strict, unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    # strict: YAML already types its values, so "true" or "300" in quotes is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True)
