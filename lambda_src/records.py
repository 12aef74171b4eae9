"""Turn what a script yields into values DynamoDB accepts, in one function."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from decimal import Context, Decimal, Inexact, Rounded
from typing import Any

# DynamoDB numbers carry at most 38 significant digits; anything longer is kept as text.
_DYNAMO_DECIMAL = Context(prec=38, traps=[Inexact, Rounded])
# DynamoDB's number range: magnitudes from 1E-130 up to (not including) 1E+126.
_SMALLEST = Decimal("1E-130")
_TOO_LARGE = Decimal("1E+126")
_MAX_DEPTH = 30  # DynamoDB allows 32 levels of nesting; the item wrapper uses two.


def to_dynamo(value: Any, _depth: int = 0) -> Any:
    """Convert a record (or any value in it) into types boto3's DynamoDB serializer accepts.

    floats become Decimal (NaN/inf and over-precise numbers become strings), datetimes and dates
    ISO-8601 strings, sets and tuples lists, bytes stay binary, mapping keys strings; anything
    unknown is stored as its `str()` so a record is never dropped for its types.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, Decimal)):
        return _number(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if _depth >= _MAX_DEPTH:
        return _too_deep(value)
    if isinstance(value, Mapping):
        return {str(k): to_dynamo(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_dynamo(v, _depth + 1) for v in value]
        # Set order is arbitrary; sort what can be sorted so rewrites of a record are identical.
        if isinstance(value, (set, frozenset)):
            items.sort(key=repr)
        return items
    return str(value)


def _too_deep(value: Any) -> str:
    try:
        return str(value)
    except RecursionError:
        return f"<{type(value).__name__} nested more than {_MAX_DEPTH} levels deep>"


def _number(value: int | float | Decimal) -> Decimal | str:
    """A Decimal DynamoDB stores exactly, or the number as text when it cannot."""
    try:
        # repr() of a float is its shortest round-tripping form: 0.1 stays 0.1.
        number = _DYNAMO_DECIMAL.create_decimal(repr(value) if isinstance(value, float) else value)
    except (Inexact, Rounded):
        return str(value)
    if not number.is_finite() or (number and not _SMALLEST <= abs(number) < _TOO_LARGE):
        return str(value)
    return number


def from_dynamo(value: Any) -> Any:
    """Convert a deserialized DynamoDB value back to plain JSON-able Python."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [from_dynamo(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    # boto3 deserializes binary attributes to its own Binary wrapper.
    if type(value).__name__ == "Binary" and hasattr(value, "value"):
        return base64.b64encode(value.value).decode("ascii")
    return value


def with_origin(
    origin: Mapping[str, Any], data: Any, reserved: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A record as a row: where it came from (`origin`), then its own fields. A field named like
    an origin column (or a `reserved` name) is kept as `record_<name>`: the origin is what
    tables and views group by, and the script's value is not lost. One that only repeats its
    origin column's value (a ported script's `"region": region`) is not shown twice."""
    fields = data if isinstance(data, dict) else {"value": data}
    if origin.keys().isdisjoint(fields) and reserved.isdisjoint(fields):  # nearly always
        return {**origin, **fields}
    row = dict(origin)
    for name, value in fields.items():
        if name in origin and name not in reserved and origin[name] == value:
            continue
        row[f"record_{name}" if name in origin or name in reserved else name] = value
    return row
