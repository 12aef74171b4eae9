"""The one place the CLI side talks to AWS: one session, lazy clients, one botocore Config.

Every command gets an `Aws` from the global options; nothing else under `lambdafan/` makes a
boto3 Session or client (a test checks). Error codes and "not found" are decided here too, so
"the table is missing" means the same thing to every command.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from lambdafan import faults
from lambdafan.errors import UsageError

# botocore's default pool holds 10 connections: with more threads than that sharing a client,
# the rest wait for a connection (and log "Connection pool is full"). Size it to the threads.
DEFAULT_POOL = 10
# Throttling at 1,000 accounts is normal: back off and retry, as the Lambda side does.
RETRIES: Any = {"mode": "adaptive", "max_attempts": 10}  # Any: boto3-stubs' TypedDict
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60

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


def client_config(threads: int = DEFAULT_POOL) -> Config:
    """Retries, timeouts and a connection pool big enough for `threads` callers."""
    return Config(
        retries=RETRIES,
        max_pool_connections=max(DEFAULT_POOL, threads),
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
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

    def __init__(self, session: Any, *, threads: int = DEFAULT_POOL) -> None:
        self.session = session
        self.config = client_config(threads)
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def connect(
        cls, profile: str | None = None, region: str | None = None, *, threads: int = DEFAULT_POOL
    ) -> Aws:
        """The caller's credentials (profile or the usual chain; AWS_ENDPOINT_URL honoured)."""
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except BotoCoreError as exc:  # e.g. ProfileNotFound
            raise UsageError(str(exc)) from None
        faults.install_from_env(session)  # testing only: LAMBDAFAN_FAULTS, see lambdafan/faults.py
        return cls(session, threads=threads)

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
                self._clients[key] = self.session.client(
                    service, region_name=region, config=self.config
                )
            return self._clients[key]

    def assume_role(self, role_arn: str, session_name: str) -> Aws:
        """An `Aws` in another account, through STS AssumeRole with this one's credentials."""
        response = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)
        return Aws.with_credentials(response["Credentials"], self.region)
