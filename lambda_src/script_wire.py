"""What crosses the pipe between the script sandbox and the Worker: one JSON object per line.

The sandbox runs untrusted code, so the Worker only ever parses JSON from it (never pickle) and
checks every message's shape. A record travels as DynamoDB's own typed JSON (`{"N": "1.5"}`,
binary as base64), so numbers and bytes arrive exactly as the Worker would have stored them.

Messages from the sandbox, each about one region of the job's script (`r`):
  {"e": "start", "r": region}                  the pair is running (its time limit starts)
  {"e": "rec", "r": region, "d": {...}}        one record, DynamoDB-typed
  {"e": "big", "r": region}                    one record too large to store, not sent
  {"e": "err", "r": region, "t": type, "m": message}   the pair failed (also "w": file:line;
                                               "tb": the whole traceback, when the job asks)
  {"e": "end", "r": region}                    the pair finished ("printed": n, characters its
                                               collect printed, when it yielded no record)
  {"e": "ready"}                               the script imported (import checks only)
  {"e": "exit", "status": n}                   the script's process ended (its wait status)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer

from lambda_src.records import to_dynamo

# A record whose line is longer cannot fit DynamoDB's 400 KB item; the Worker stops reading a
# line at this length, so a script cannot make it buffer an unbounded one.
MAX_LINE = 512 * 1024

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class WireError(ValueError):
    """A message from the sandbox that is not one the Worker understands."""


def encode(message: Mapping[str, Any]) -> bytes:
    """One message as a line."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"


def record_message(region: str, record: Mapping[str, Any]) -> bytes | None:
    """The line carrying one record, or None when it is too large to store."""
    typed = _binary_to_text(_serializer.serialize(to_dynamo(record)))
    line = encode({"e": "rec", "r": region, "d": typed})
    return line if len(line) <= MAX_LINE else None


def decode(line: bytes) -> dict[str, Any]:
    """Parse and check one line from the sandbox."""
    try:
        message: Any = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("e"), str):
        raise WireError("not a message")
    if "r" in message and not isinstance(message["r"], str):
        raise WireError("region is not text")
    return message


def record_of(message: Mapping[str, Any]) -> dict[str, Any]:
    """The record a `rec` message carries, as `to_dynamo` made it."""
    typed = message.get("d")
    if not isinstance(typed, dict) or "M" not in typed:
        raise WireError("a record must be a map")
    try:
        value = _deserializer.deserialize(_text_to_binary(typed))
    except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
        raise WireError(f"not a DynamoDB value: {exc}") from None
    if not isinstance(value, dict):
        raise WireError("a record must be a map")
    record: dict[str, Any] = _unwrap_binary(value)
    return record


def _unwrap_binary(value: Any) -> Any:
    """boto3's `Binary` wrappers back to the bytes `to_dynamo` made."""
    if isinstance(value, Binary):
        return value.__bytes__()
    if isinstance(value, dict):
        return {k: _unwrap_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_binary(v) for v in value]
    return value


def _binary_to_text(typed: Any) -> Any:
    """DynamoDB JSON with binary values as base64, so that it is plain JSON."""
    return _walk(typed, lambda b: base64.b64encode(bytes(b)).decode("ascii"))


def _text_to_binary(typed: Any) -> Any:
    return _walk(typed, lambda text: base64.b64decode(text, validate=True))


def _walk(typed: Any, binary: Any) -> Any:
    """A copy of one DynamoDB-typed value (`{tag: inner}`) with `binary` applied to its bytes."""
    if not isinstance(typed, dict) or len(typed) != 1:
        raise WireError("not a DynamoDB value")
    ((tag, inner),) = typed.items()
    if tag == "M" and isinstance(inner, dict):
        return {"M": {str(k): _walk(v, binary) for k, v in inner.items()}}
    if tag == "L" and isinstance(inner, list):
        return {"L": [_walk(v, binary) for v in inner]}
    if tag == "B":
        return {"B": binary(inner)}
    if tag == "BS" and isinstance(inner, list):
        return {"BS": [binary(v) for v in inner]}
    return {tag: inner}
