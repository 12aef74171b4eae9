"""Which AWS refusals of a deploy are worth waiting out, and the retry loop that waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

from lambdafan.aws import error_code, error_message

T = TypeVar("T")
Sleep = Callable[[float], None]

RETRY_ATTEMPTS = 10
RETRY_DELAY_S = 2.0


def role_not_assumable_yet(exc: ClientError) -> bool:
    """Lambda rejects a just-created role until IAM has propagated it (several seconds)."""
    message = error_message(exc)
    return error_code(exc) == "InvalidParameterValueException" and "assume" in message.lower()


def function_busy(exc: ClientError) -> bool:
    """An update is still in progress on the function."""
    return error_code(exc) == "ResourceConflictException"


def destination_not_permitted_yet(exc: ClientError) -> bool:
    """Lambda checks that the execution role may reach an on-failure destination; a policy
    put moments ago may not have propagated yet."""
    message = error_message(exc).lower()
    return error_code(exc) == "InvalidParameterValueException" and "permission" in message


def retrying(
    call: Callable[[], T],
    retry_on: Callable[[ClientError], bool],
    sleep: Sleep,
    attempts: int = RETRY_ATTEMPTS,
    delay: float = RETRY_DELAY_S,
) -> T:
    """Call, retrying only the errors `retry_on` accepts; any other error is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as exc:
            if attempt == attempts or not retry_on(exc):
                raise
            sleep(delay)
    raise AssertionError("unreachable")
