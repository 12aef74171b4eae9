"""The one place the CLI side talks to AWS: one session, lazy clients, one botocore Config.

Every command gets an `Aws` from the global options; nothing else under `lambdafan/` makes a
boto3 Session or client (a test checks). Error codes and "not found" are decided here too, so
"the table is missing" means the same thing to every command.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from lambdafan import faults
from lambdafan.errors import UsageError

# botocore's default pool holds 10 connections: with more threads than that sharing a client,
# the rest wait for a connection (and log "Connection pool is full"). Size it to the threads.
DEFAULT_POOL = 10
# Throttling at 1,000 accounts is normal: back off and retry, as the Lambda side does.
RETRIES: Any = {"mode": "adaptive", "max_attempts": 10}  # Any: boto3-stubs' TypedDict
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
# Connection failures are not throttling: nothing listening (a stopped emulator, a wrong
# AWS_ENDPOINT_URL) will not answer the 10th time either. A refused connection gets one more
# try, at once and silently; a connection that timed out, two more, each announced (`on_retry`).
REFUSED_ATTEMPTS = 2
TIMEOUT_ATTEMPTS = 3
# Shell completion runs on every Tab: one attempt, short timeouts.
QUICK_TIMEOUT_S = 2

# The codes AWS uses for "there is no such thing", across the services lambdafan calls. DynamoDB
# says ResourceNotFoundException, except its TTL calls (ResourceNotFound); IAM says NoSuchEntity;
# SQS says QueueDoesNotExist (JSON protocol) or its query-protocol code.
NOT_FOUND = frozenset(
    {
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NoSuchEntity",
        "NoSuchEntityException",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    }
)


def client_config(threads: int = DEFAULT_POOL, *, quick: bool = False) -> Config:
    """Retries, timeouts and a connection pool big enough for `threads` callers; `quick`: one
    attempt and short timeouts, for answers nobody waits long for (shell completion)."""
    if quick:
        return Config(
            retries={"mode": "standard", "max_attempts": 1},
            connect_timeout=QUICK_TIMEOUT_S,
            read_timeout=QUICK_TIMEOUT_S,
        )
    return Config(
        retries=RETRIES,
        max_pool_connections=max(DEFAULT_POOL, threads),
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def session_region(
    flag: str | None,
    environ: Mapping[str, str],
    sdk_region: str | None,
    home_region: str | None,
) -> str | None:
    """The AWS SDKs' region order: --region, AWS_REGION, then what botocore reads itself
    (AWS_DEFAULT_REGION, the profile's region), then the fleet's home region.

    botocore (1.44) reads AWS_DEFAULT_REGION but not AWS_REGION, which the other SDKs and the
    AWS CLI v2 honour first, so lambdafan reads it here.
    """
    return flag or environ.get("AWS_REGION") or sdk_region or home_region


def connection_attempts(exc: BaseException | None) -> int | None:
    """How many attempts a request that failed with `exc` gets; None: botocore decides
    (throttling, 5xx and the rest keep the full RETRIES)."""
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return TIMEOUT_ATTEMPTS
    if isinstance(exc, EndpointConnectionError):
        return REFUSED_ATTEMPTS
    return None


RetryNote = Callable[[str], None]


def limit_connection_retries(client: Any, on_retry: RetryNote | None) -> None:
    """Register, ahead of botocore's retry handler, one that stops retrying a failed connection
    after `connection_attempts` and says when it retries one."""

    def needs_retry(attempts: int, caught_exception: BaseException | None = None, **_: Any) -> Any:
        allowed = connection_attempts(caught_exception)
        if allowed is None:
            return None  # botocore's own handler decides
        if attempts >= allowed:
            return False  # the first answer that is not None wins: no retry
        if on_retry is not None and allowed == TIMEOUT_ATTEMPTS:
            # A timeout took CONNECT_TIMEOUT_S or READ_TIMEOUT_S already: say why it is slow.
            # A refused connection is retried at once, silently.
            on_retry(f"retrying ({attempts + 1} of {allowed}): {caught_exception}")
        return None

    # botocore registers its handler on `needs-retry.<service>`, and the first answer wins:
    # the same event, first in line.
    service = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register_first(
        f"needs-retry.{service}", needs_retry, unique_id="lambdafan-connection-retries"
    )


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def error_message(exc: BaseException) -> str:
    """AWS's own message of a ClientError (str(exc) for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "") or exc)
    return str(exc)


def describe_error(exc: BaseException) -> str:
    """`Code: message`, the way the CLI reports an AWS refusal in one line."""
    return f"{error_code(exc) or 'error'}: {error_message(exc)}"


def is_not_found(exc: BaseException) -> bool:
    """True when AWS said the thing asked for does not exist."""
    return error_code(exc) in NOT_FOUND


class Aws:
    """The user's AWS: one boto3 Session, its clients made lazily once per (service, region)."""

    def __init__(
        self,
        session: Any,
        *,
        threads: int = DEFAULT_POOL,
        quick: bool = False,
        on_retry: RetryNote | None = None,
    ) -> None:
        self.session = session
        self.config = client_config(threads, quick=quick)
        self.on_retry = on_retry
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        profile: str | None = None,
        region: str | None = None,
        *,
        threads: int = DEFAULT_POOL,
        home_region: str | None = None,
        quick: bool = False,
        on_retry: RetryNote | None = None,
    ) -> Aws:
        """The caller's credentials (profile or the usual chain; AWS_ENDPOINT_URL honoured), in
        the region `session_region` picks (`region` is --region, `home_region` the fleet's)."""
        try:
            core = botocore.session.Session(profile=profile)
            # A missing profile is bad input however it was named (--profile or AWS_PROFILE):
            # botocore only notices when it first reads the profile, so read it now.
            core.get_scoped_config()
            chosen = session_region(
                region, os.environ, core.get_config_variable("region"), home_region
            )
            session = boto3.Session(botocore_session=core, region_name=chosen)
        except BotoCoreError as exc:  # ProfileNotFound
            raise UsageError(str(exc)) from None
        faults.install_from_env(session)  # testing only: LAMBDAFAN_FAULTS, see lambdafan/faults.py
        return cls(session, threads=threads, quick=quick, on_retry=on_retry)

    @classmethod
    def with_credentials(cls, credentials: dict[str, str], region: str | None) -> Aws:
        """A session from temporary credentials (as STS AssumeRole returns them)."""
        session = boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
        return cls(session)

    @property
    def region(self) -> str | None:
        """The session's default region."""
        return self.session.region_name  # type: ignore[no-any-return]

    def client(self, service: str, region: str | None = None) -> Any:
        """The client of `service` in `region` (default: the session's), made once."""
        key = (service, region)
        with self._lock:
            # boto3 Sessions are not thread-safe while they build a client: make each under the
            # lock, once; the clients themselves are thread-safe.
            if key not in self._clients:
                client = self.session.client(service, region_name=region, config=self.config)
                limit_connection_retries(client, self.on_retry)
                self._clients[key] = client
            return self._clients[key]

    def assume_role(self, role_arn: str, session_name: str) -> Aws:
        """An `Aws` in another account, through STS AssumeRole with this one's credentials."""
        response = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)
        return Aws.with_credentials(response["Credentials"], self.region)
