"""The results table, read back fast: Query pages decoded one item at a time.

`open_table` gives the `ResultsStore` every reading command uses (`results`, `runs`, `cost`,
`notify`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary

from lambda_src.dynamo_store import DynamoStore
from lambda_src.settings import FleetSettings
from lambda_src.table import Item
from lambdafan.aws import Aws


def open_table(aws: Aws, settings: FleetSettings) -> ResultsStore:
    """The fleet's table in its home region (where deploy puts it, whatever --region says).

    No DescribeTable first: a missing table shows up as ResourceNotFoundException on the first
    read, which `missing_table` turns into a message.
    """
    return ResultsStore(aws.client("dynamodb", settings.home_region), settings.table_name)


# The raw body of a Query page, handed from botocore's `before-parse` event to the caller.
_RAW_BODY = "LambdafanRawBody"
_RAW_QUERY_HANDLER = "lambdafan-results-raw-query"
_raw = threading.local()


def _keep_raw_body(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore `before-parse` handler: for a Query `ResultsStore` makes in this thread, keep
    the page's JSON as it came and give the parser an empty body instead (errors are parsed as
    usual)."""
    if getattr(_raw, "on", False) and response_dict.get("status_code") == 200:
        customized_response_dict[_RAW_BODY] = response_dict["body"]
        response_dict["body"] = b"{}"


class ResultsStore(DynamoStore):
    """`DynamoStore` for reading a run back. Its Queries decode a page's JSON one item at a time
    straight into items (the values boto3's TypeDeserializer gives: Decimal, set, Binary),
    skipping botocore's shape-walking parser and the deserializer (most of the time of a big
    read), and never hold more than the page's text and the item at hand: memory stays that of
    one page (at most 1 MB of JSON) whatever the size of the run or of its pages."""

    def __init__(self, client: Any, table: str) -> None:
        super().__init__(client, table)
        client.meta.events.register(
            "before-parse.dynamodb.Query", _keep_raw_body, unique_id=_RAW_QUERY_HANDLER
        )

    def query(
        self, pk: str, sk_prefix: str = "", *, newest_first: bool = False, consistent: bool = False
    ) -> Iterator[Item]:
        request = {
            "TableName": self.table,
            **self._query_request(pk, sk_prefix, newest_first=newest_first, consistent=consistent),
        }
        while True:
            rest: dict[str, Any] = {}
            for raw in self._page(request, rest):
                yield wire_item(raw)
            last = rest.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _page(self, request: dict[str, Any], rest: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The items of one Query page as they are decoded; its other fields go to `rest`."""
        _raw.on = True
        try:
            response = self.client.query(**request)
        finally:
            _raw.on = False
        body = response.pop(_RAW_BODY, None)
        if body is None:  # the hook did not run: botocore parsed the page
            items = response.pop("Items", None) or []
            rest.update(response)  # without the page's items: `rest` outlives them
            yield from items
            return
        yield from page_items(body.decode("utf-8"), rest)


_JSON = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def page_items(text: str, rest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The elements of a JSON object's `Items` array, decoded one at a time (the whole page is
    never a tree of Python objects at once); its other fields are put in `rest`."""
    decode = _JSON.raw_decode
    i = _expect(text, _skip(text, 0), "{")
    if text[i : i + 1] == "}":
        return
    while True:
        key, i = decode(text, i)
        i = _expect(text, _skip(text, i), ":")
        if key == "Items":
            i = _expect(text, i, "[")
            more = text[i : i + 1] != "]"
            while more:
                item, i = decode(text, i)
                yield item
                i = _skip(text, i)
                more = text[i : i + 1] == ","
                if more:
                    i = _expect(text, i, ",")
            i = _expect(text, i, "]")
        else:
            rest[key], i = decode(text, i)
            i = _skip(text, i)
        if text[i : i + 1] == "}":
            return
        i = _expect(text, i, ",")


def _expect(text: str, i: int, char: str) -> int:
    """The position after `char` at `i` and any white space; ValueError if `char` is not there."""
    if text[i : i + 1] != char:
        raise ValueError(f"malformed Query page at {i}: expected {char!r}")
    return _skip(text, i + 1)


def _skip(text: str, i: int) -> int:
    """The position of the first character at or after `i` that is not JSON white space."""
    space = _SPACE.match(text, i)
    return space.end() if space else i


def wire_item(item: dict[str, Any]) -> Item:
    """A DynamoDB JSON item as boto3's TypeDeserializer would give it."""
    return {name: _wire_value(value) for name, value in item.items()}


def _wire_value(value: dict[str, Any]) -> Any:
    ((kind, inner),) = value.items()
    if kind == "S":
        return inner
    if kind == "N":
        return DYNAMODB_CONTEXT.create_decimal(inner)
    if kind == "M":
        return {name: _wire_value(v) for name, v in inner.items()}
    if kind == "L":
        return [_wire_value(v) for v in inner]
    if kind == "BOOL":
        return inner
    if kind == "NULL":
        return None
    if kind == "B":
        return _binary(inner)
    if kind == "SS":
        return set(inner)
    if kind == "NS":
        return {DYNAMODB_CONTEXT.create_decimal(n) for n in inner}
    if kind == "BS":
        return {_binary(b) for b in inner}
    raise ValueError(f"unknown DynamoDB type {kind}")


def _binary(value: str | bytes) -> Binary:
    # Base64 in the JSON; bytes when botocore parsed the page after all.
    return Binary(value if isinstance(value, bytes) else base64.b64decode(value))
