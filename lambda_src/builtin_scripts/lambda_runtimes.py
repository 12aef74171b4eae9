"""Every Lambda function in the region with its runtime, flagging runtimes AWS has deprecated.

Functions on a deprecated runtime get no security patches and, after a while, can no longer be
created or updated. Keep it to find what must be migrated before the next deprecation date.
Container-image functions have no runtime (None) and are never flagged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SCOPE = "region"
KEY = ("function",)

# Runtimes past their deprecation date (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html).
DEPRECATED_RUNTIMES = frozenset(
    {
        "python2.7",
        "python3.6",
        "python3.7",
        "python3.8",
        "nodejs",
        "nodejs4.3",
        "nodejs4.3-edge",
        "nodejs6.10",
        "nodejs8.10",
        "nodejs10.x",
        "nodejs12.x",
        "nodejs14.x",
        "nodejs16.x",
        "ruby2.5",
        "ruby2.7",
        "java8",  # java8.al2 is still supported
        "go1.x",
    }
)


def is_deprecated(runtime: str | None) -> bool:
    if not runtime:
        return False
    return runtime in DEPRECATED_RUNTIMES or runtime.startswith("dotnetcore")


def collect(session: Any, region: str, account: Any) -> Iterator[dict[str, Any]]:
    client = session.client("lambda", region_name=region)
    for page in client.get_paginator("list_functions").paginate():
        for fn in page.get("Functions", []):
            runtime = fn.get("Runtime")
            yield {
                "function": fn["FunctionName"],
                "runtime": runtime,
                "deprecated": is_deprecated(runtime),
                "memory": fn.get("MemorySize"),
                "timeout": fn.get("Timeout"),
                "last_modified": fn.get("LastModified"),
                "code_size": fn.get("CodeSize"),
            }
