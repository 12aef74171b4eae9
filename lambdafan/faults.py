"""Fault injection for tests: AWS errors by service, operation and seeded probability.

An `Injector` hooks a boto3/botocore session's (or one client's) event system. On
`before-send`, the last step before bytes would leave for AWS, it answers some attempts itself:
with a fake HTTP error response (status code and error body in the service's protocol), or by
raising botocore's connection error. Everything after that is botocore's own: the response is
parsed into the usual `ClientError`, and the retry handler (legacy, standard or adaptive) sees
it exactly as it sees a real one, so a throttle is retried and an AccessDenied is not. Each
attempt is decided separately, so a throttle at 0.3 usually succeeds on a retry.

A faulted attempt never reaches the service, not even in-process moto (also a `before-send`
handler): the fake write did not happen, as with a real throttle.

Only clients made from the session *after* `install` are covered: botocore copies the
session's handlers into each client when it is created. `attach(client)` covers an older one.

Testing the CLI: `Aws.connect` installs faults from two environment variables.

    LAMBDAFAN_FAULTS=FAULT[,FAULT...]
        FAULT = service:Operation:kind:probability[@account[+account...]]
    LAMBDAFAN_FAULTS_SEED=integer  (default 0)

- service: a boto3 client name (`dynamodb`, `sts`, `logs`) or `*`;
- Operation: an API operation name (`BatchWriteItem`) or `*`;
- kind: one of `KINDS` (throttle, server_error, unavailable, connection, connection_closed,
  access_denied, expired_token);
- probability: 0 to 1, per attempt;
- @accounts: only calls whose parameters name one of these 12-digit accounts, as the account
  of an ARN (AssumeRole's RoleArn) or as a whole value (an AccountId).

e.g. `dynamodb:BatchWriteItem:throttle:0.3,sts:AssumeRole:access_denied:1@111111111111`.
A bad value is a one-line usage error.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import botocore.loaders
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

from lambda_src import names
from lambdafan.errors import UsageError

ENV_FAULTS = "LAMBDAFAN_FAULTS"
ENV_SEED = "LAMBDAFAN_FAULTS_SEED"

KINDS = (
    "throttle",
    "server_error",
    "unavailable",
    "connection",
    "connection_closed",
    "access_denied",
    "expired_token",
)
ANY = "*"
_ACCOUNT = re.compile(r"\d{12}")
_OPERATION = re.compile(r"[A-Z][A-Za-z0-9]*")
# Where a call's service, protocol and named accounts wait for its attempts' `before-send`:
# botocore passes the same context dict to `before-parameter-build` and to every attempt.
_CONTEXT_KEY = "lambdafan.faults"
# Services that throttle with their own code and status (all are in botocore's retryable set).
_THROTTLE = {
    "dynamodb": (400, "ProvisionedThroughputExceededException"),
    "lambda": (429, "TooManyRequestsException"),
    "ec2": (503, "RequestLimitExceeded"),
}
_JSON_PROTOCOLS = ("json", "rest-json", "smithy-rpc-v2-cbor")


@dataclass(frozen=True)
class Fault:
    """Answer attempts of `service`'s `operation` with `kind`, with this probability each."""

    service: str
    operation: str
    kind: str
    probability: float = 1.0
    accounts: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of: {', '.join(KINDS)})")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability {self.probability} is not between 0 and 1")
        if self.operation != ANY and not _OPERATION.fullmatch(self.operation):
            raise ValueError(f"{self.operation!r} is not an operation name like BatchWriteItem")
        bad = sorted(a for a in self.accounts if not _ACCOUNT.fullmatch(a))
        if bad:
            raise ValueError(f"{bad[0]!r} is not a 12-digit account id")

    def matches(self, service: str, operation: str, accounts: frozenset[str]) -> bool:
        """True when this fault applies to a call of `service.operation` naming `accounts`."""
        return (
            self.service in (ANY, service)
            and self.operation in (ANY, operation)
            and (not self.accounts or bool(self.accounts & accounts))
        )


def parse(spec: str) -> list[Fault]:
    """The faults of a LAMBDAFAN_FAULTS value (ValueError naming the bad part)."""
    faults = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        head, at, accounts = part.partition("@")
        fields = head.split(":")
        if len(fields) != 4:
            raise ValueError(f"{part!r} is not service:Operation:kind:probability[@accounts]")
        service, operation, kind, probability = (f.strip() for f in fields)
        try:
            chance = float(probability)
        except ValueError:
            raise ValueError(f"{part!r}: probability {probability!r} is not a number") from None
        named = frozenset(a.strip() for a in accounts.split("+")) if at else frozenset()
        try:
            faults.append(Fault(service, operation, kind, chance, named))
        except ValueError as exc:
            raise ValueError(f"{part!r}: {exc}") from None
    if not faults:
        raise ValueError("no faults given")
    check_names(faults)
    return faults


@functools.cache
def _loader() -> Any:
    return botocore.loaders.create_loader()


def check_names(faults: Sequence[Fault]) -> None:
    """ValueError unless every service and operation exists in botocore's models."""
    services = set(_loader().list_available_services("service-2"))
    for fault in faults:
        if fault.service == ANY:
            continue
        if fault.service not in services:
            raise ValueError(f"unknown service {fault.service!r}")
        if fault.operation == ANY:
            continue
        operations = _loader().load_service_model(fault.service, "service-2")["operations"]
        if fault.operation not in operations:
            raise ValueError(f"{fault.service} has no operation {fault.operation!r}")


def draw(seed: int, service: str, operation: str, attempt: int, index: int) -> float:
    """A number in [0, 1) fixed by its arguments: fault `index`'s dice for that attempt."""
    key = f"{seed}|{service}|{operation}|{attempt}|{index}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class Injector:
    """Decides and injects faults on the emitters it is attached to; counts what it injected.

    Determinism: the n-th attempt of each (service, operation) gets the same decision for the
    same seed, whatever else runs. With threads, which caller makes the n-th attempt may vary;
    the number of faults per (service, operation) for a given number of attempts does not.
    """

    def __init__(self, faults: Sequence[Fault], seed: int = 0) -> None:
        check_names(faults)
        self.faults = tuple(faults)
        self.seed = seed
        self.injected: Counter[tuple[str, str, str]] = Counter()
        self.attempts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._emitters: list[Any] = []
        self._id = f"lambdafan-faults-{id(self)}"
        self._by_account = any(f.accounts for f in self.faults)

    def count(self, service: str = ANY, operation: str = ANY, kind: str = ANY) -> int:
        """How many faults were injected, optionally of one service, operation and/or kind."""
        with self._lock:
            return sum(
                n
                for (s, o, k), n in self.injected.items()
                if service in (ANY, s) and operation in (ANY, o) and kind in (ANY, k)
            )

    def decide(self, service: str, operation: str, accounts: frozenset[str]) -> Fault | None:
        """The fault for the next attempt of `service.operation` (None: let it through)."""
        with self._lock:
            attempt = self.attempts[(service, operation)]
            self.attempts[(service, operation)] += 1
            for index, fault in enumerate(self.faults):
                if not fault.matches(service, operation, accounts):
                    continue
                if draw(self.seed, service, operation, attempt, index) < fault.probability:
                    self.injected[(service, operation, fault.kind)] += 1
                    return fault
        return None

    def attach(self, target: Any) -> Injector:
        """Hook a client, or a boto3/botocore Session: the clients made from it from now on."""
        events = _emitter_of(target)
        # First, so a faulted attempt is decided before in-process moto answers it.
        # botocore keys unique ids across all events: one per (injector, event).
        events.register_first(
            "before-parameter-build", self._note_call, unique_id=self._id + "-call"
        )
        events.register_first("before-send", self._before_send, unique_id=self._id + "-send")
        self._emitters.append(events)
        return self

    def uninstall(self) -> None:
        """Stop injecting on every emitter this was attached to."""
        for events in self._emitters:
            events.unregister("before-parameter-build", unique_id=self._id + "-call")
            events.unregister("before-send", unique_id=self._id + "-send")
        self._emitters.clear()

    def __enter__(self) -> Injector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    def _note_call(self, model: Any, params: Any, context: dict[str, Any], **_: Any) -> None:
        service_model = model.service_model
        accounts = frozenset(_accounts_named(params)) if self._by_account else frozenset()
        # The protocol the client speaks: the first of the model's `protocols` botocore supports
        # (CloudWatch lists CBOR first, yet this botocore speaks JSON to it).
        protocol = getattr(service_model, "resolved_protocol", service_model.protocol)
        context[_CONTEXT_KEY] = (service_model.service_name, model.name, protocol, accounts)

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        call = (getattr(request, "context", None) or {}).get(_CONTEXT_KEY)
        if call is None:  # not made through a client's API call (nothing to name it by)
            return None
        service, operation, protocol, accounts = call
        fault = self.decide(service, operation, accounts)
        if fault is None:
            return None
        if fault.kind == "connection":
            raise EndpointConnectionError(endpoint_url=request.url)
        if fault.kind == "connection_closed":
            raise ConnectionClosedError(endpoint_url=request.url)
        response = error_response(fault.kind, service, protocol, request.url)
        # Later before-send handlers still run (botocore calls them all, the first answer
        # wins): point this discarded request nowhere so in-process moto does not execute it.
        # botocore builds a new request for every attempt.
        request.url = "https://lambdafan-fault-injected.invalid/"
        return response


def install(target: Any, faults: Sequence[Fault], seed: int = 0) -> Injector:
    """An Injector attached to `target` (a boto3 Session, botocore Session or client)."""
    return Injector(faults, seed).attach(target)


def install_from_env(target: Any, environ: Mapping[str, str] = os.environ) -> Injector | None:
    """Install LAMBDAFAN_FAULTS (seeded by LAMBDAFAN_FAULTS_SEED) on `target`, if set."""
    spec = environ.get(ENV_FAULTS, "").strip()
    if not spec:
        return None
    try:
        faults = parse(spec)
    except ValueError as exc:
        raise UsageError(f"{ENV_FAULTS}: {exc}") from None
    seed_text = environ.get(ENV_SEED, "0").strip() or "0"
    try:
        seed = int(seed_text)
    except ValueError:
        raise UsageError(f"{ENV_SEED}: {seed_text!r} is not an integer") from None
    return install(target, faults, seed)


def error_response(kind: str, service: str, protocol: str, url: str) -> AWSResponse:
    """The HTTP response AWS would send for `kind`, in the service's wire protocol."""
    status, code = error_code(kind, service, protocol)
    message = f"{kind} injected by lambdafan.faults"
    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = "lambdafan-fault"
    if protocol == "smithy-rpc-v2-cbor":
        headers["Content-Type"] = "application/cbor"
        headers["smithy-protocol"] = "rpc-v2-cbor"
        body = _cbor_text_map({"__type": code, "message": message})
    elif protocol in _JSON_PROTOCOLS:
        headers["Content-Type"] = "application/x-amz-json-1.0"
        headers["x-amzn-ErrorType"] = code
        body = json.dumps({"__type": code, "message": message}).encode()
    else:
        headers["Content-Type"] = "text/xml"
        body = _xml_error(protocol, code, message).encode()
    return AWSResponse(url, status, headers, _RawBody(body))


def error_code(kind: str, service: str, protocol: str) -> tuple[int, str]:
    """(HTTP status, AWS error code) of an injected fault of `kind`."""
    json_like = protocol in _JSON_PROTOCOLS
    if kind == "throttle":
        return _THROTTLE.get(service, (400, "ThrottlingException"))
    if kind == "server_error":
        return 500, "InternalFailure"
    if kind == "unavailable":
        return 503, "ServiceUnavailable"
    if kind == "access_denied":
        if protocol == "ec2":
            return 403, "UnauthorizedOperation"
        return 403, "AccessDeniedException" if json_like else "AccessDenied"
    if kind == "expired_token":
        return 400, "ExpiredTokenException" if json_like else "ExpiredToken"
    raise ValueError(f"{kind!r} is not an HTTP error fault")


def _xml_error(protocol: str, code: str, message: str) -> str:
    error = f"<Code>{code}</Code><Message>{message}</Message>"
    if protocol == "ec2":
        return (
            f"<Response><Errors><Error>{error}</Error></Errors>"
            "<RequestID>lambdafan-fault</RequestID></Response>"
        )
    if protocol == "rest-xml":
        return f"<Error>{error}<RequestId>lambdafan-fault</RequestId></Error>"
    return (  # query
        f"<ErrorResponse><Error><Type>Sender</Type>{error}</Error>"
        "<RequestId>lambdafan-fault</RequestId></ErrorResponse>"
    )


def _cbor_text_map(values: dict[str, str]) -> bytes:
    """CBOR (RFC 8949) of a small map of short strings: all an rpc-v2-cbor error body needs."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")

    out = head(5, len(values))
    for key, value in values.items():
        for text in (key.encode(), value.encode()):
            out += head(3, len(text)) + text
    return out


class _RawBody(io.BytesIO):
    """The `raw` of an AWSResponse: botocore reads the body through `stream()`."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def _emitter_of(target: Any) -> Any:
    meta = getattr(target, "meta", None)
    if meta is not None and hasattr(meta, "events"):
        return meta.events  # a client
    if hasattr(target, "get_component"):
        return target.get_component("event_emitter")  # a botocore Session
    if hasattr(target, "events"):
        return target.events  # a boto3 Session
    raise TypeError(f"cannot install faults on {type(target).__name__}: not a session or client")


def _accounts_named(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if _ACCOUNT.fullmatch(value):
            yield value
        yield from names.arn_accounts(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _accounts_named(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _accounts_named(item)
