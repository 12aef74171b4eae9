"""Turning a pydantic `ValidationError` into `key.path: problem` lines in the user's terms."""

from __future__ import annotations

from typing import get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from lambdafan.config.errors import Invalid, kind, one_line
from lambdafan.config.schema import Config


def problems(exc: ValidationError) -> list[str]:
    """Every problem, each as one `key.path: problem` line."""
    # An unknown key is usually a misspelt one, which also makes a required key "missing":
    # naming the typo first explains both.
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    lines: list[str] = []
    for error in errors:
        for loc, message in _describe(error):
            where = f"{_format_loc(loc)}: " if loc else ""
            line = one_line(f"{where}{message}")
            if line not in lines:  # an Invalid shared by a union's branches comes once
                lines.append(line)
    return lines


_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "bool_type": "true or false",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
}


def _describe(error: ErrorDetails) -> list[tuple[tuple[str | int, ...], str]]:
    """The key paths an error is about, and what is wrong there, in the user's terms."""
    loc = tuple(error["loc"])
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, Invalid):
        return [(loc + at, message) for at, message in cause.each()]
    return [_describe_one(error, loc, cause)]


def _describe_one(
    error: ErrorDetails, loc: tuple[str | int, ...], cause: object
) -> tuple[tuple[str | int, ...], str]:
    kind_of_error = error["type"]
    if isinstance(cause, Exception):
        return loc, str(cause)
    if kind_of_error == "missing":
        return loc, "required key missing"
    if kind_of_error == "extra_forbidden":
        parent = loc[:-1]
        expected = ", ".join(_keys_at(parent))
        return parent, f"unknown key {loc[-1]!r} (expected one of: {expected})"
    if kind_of_error in _EXPECTED:
        return loc, f"expected {_EXPECTED[kind_of_error]}, got {kind(error['input'])}"
    if kind_of_error == "too_short":
        return loc, "must not be empty"
    return loc, error["msg"]


def _format_loc(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _keys_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys the model at `loc` accepts, as spelled in YAML."""
    model: type[BaseModel] | None = Config
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part), None
        )
        model = _model_in(field.annotation) if field else None
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found:
            return found
    return None
