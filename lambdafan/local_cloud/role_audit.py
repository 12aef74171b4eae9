"""Which AWS actions each function called, and which its role's inline policies do not allow.

The cloud registers the access key it issues for an invocation's role; the proxy names the IAM
action of every request (`action_of`) and reports it with the request's key. `findings` then
checks each function's actions against its role's policy documents:

    audit = RoleAudit()
    audit.register(key, "fleet-worker", request_id)      # when the role's credentials are made
    audit.observe(key, action_of(method, path, query, headers, body))   # per proxied request
    for finding in audit.findings(policies_for):
        print(describe(finding))

Pure logic: botocore's service models are read (to name REST operations), no client is made.
"""

from __future__ import annotations

import functools
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import botocore.session
from botocore.exceptions import UnknownServiceError

# SigV4 signing names that differ from the service's IAM action prefix.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
# Signing names whose REST operations are described by a model of another name (SES v1 is a
# query service; its REST requests are SES v2's).
_REST_MODEL = {"ses": "sesv2", "email": "sesv2"}
# Operations whose IAM action is not `prefix:Operation`; any other falls back to its own name.
_RENAMES: dict[str, dict[str, str]] = {
    "lambda": {
        "Invoke": "InvokeFunction",
        "InvokeWithResponseStream": "InvokeFunction",
    },
    "s3": {
        "ListBuckets": "ListAllMyBuckets",
        "HeadBucket": "ListBucket",
        "ListObjects": "ListBucket",
        "ListObjectsV2": "ListBucket",
        "ListObjectVersions": "ListBucketVersions",
        "HeadObject": "GetObject",
        "CopyObject": "PutObject",
        "CreateMultipartUpload": "PutObject",
        "UploadPart": "PutObject",
        "UploadPartCopy": "PutObject",
        "CompleteMultipartUpload": "PutObject",
        "SelectObjectContent": "GetObject",
        "DeleteObjects": "DeleteObject",
        "ListMultipartUploads": "ListBucketMultipartUploads",
        "ListParts": "ListMultipartUploadParts",
        "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
        "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
        "GetBucketEncryption": "GetEncryptionConfiguration",
        "PutBucketEncryption": "PutEncryptionConfiguration",
        "DeleteBucketEncryption": "PutEncryptionConfiguration",
        "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
        "DeleteBucketLifecycle": "PutLifecycleConfiguration",
        "GetBucketReplication": "GetReplicationConfiguration",
        "PutBucketReplication": "PutReplicationConfiguration",
        "DeleteBucketReplication": "PutReplicationConfiguration",
        "GetBucketNotificationConfiguration": "GetBucketNotification",
        "PutBucketNotificationConfiguration": "PutBucketNotification",
        "GetBucketCors": "GetBucketCORS",
        "PutBucketCors": "PutBucketCORS",
        "DeleteBucketCors": "PutBucketCORS",
        "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
        "DeleteBucketTagging": "PutBucketTagging",
        "DeleteBucketWebsite": "DeleteBucketWebsite",
        "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
    },
}
_QUERY_ACTION = re.compile(rb"(?:^|&)Action=([^&]*)")
_CBOR_PATH = re.compile(r"/service/[^/]+/operation/([^/]+)")
_LABEL = re.compile(r"\{([^}]+)\}")


class Headers(Protocol):
    """What `action_of` reads headers through: a Mapping, http.client's HTTPMessage, ..."""

    def get(self, name: str, /) -> str | None: ...


def action_of(
    method: str, path: str, query: str, headers: Headers, body: bytes | None
) -> str | None:
    """The IAM action ("dynamodb:PutItem") of one SigV4-signed request, None when unknown.

    `path` without the query, `query` the raw query string; `body` only matters when
    `needs_body` says so (a query-protocol form), None otherwise."""
    signing = _signing_name(headers, query)
    if signing is None:
        return None
    prefix = _IAM_PREFIX.get(signing, signing)
    target = _header(headers, "X-Amz-Target")
    if target:  # JSON protocol: "DynamoDB_20120810.PutItem"
        return f"{prefix}:{target.rpartition('.')[2]}"
    # Smithy RPC v2 CBOR; the header keeps an S3 key shaped like this path an S3 key.
    if _header(headers, "Smithy-Protocol") and (match := _CBOR_PATH.fullmatch(path)):
        return f"{prefix}:{match[1]}"
    if signing == "execute-api":
        return "execute-api:Invoke"
    if signing == "apigateway":  # its IAM actions are the HTTP methods
        return f"apigateway:{method.upper()}"
    operation = _query_action(query, headers, body)
    if operation is None:
        if _is_form(headers):
            return None  # a query-protocol request whose body was not given
        operation = _rest_operation(_REST_MODEL.get(signing, signing), method, path, query)
        if operation is None:
            return None
        operation = _RENAMES.get(prefix, {}).get(operation, operation)
    return f"{prefix}:{operation}"


def needs_body(query: str, headers: Headers) -> bool:
    """Whether `action_of` needs this request's body: a form-encoded query-protocol request
    (sts, iam, ec2, sns, ses, old sqs/cloudwatch) whose query string names no Action."""
    return _is_form(headers) and _query_action(query, headers, None) is None


def _header(headers: Headers, name: str) -> str | None:
    # A plain dict may hold the canonical or the lower-case spelling.
    return headers.get(name) or headers.get(name.lower())


def _signing_name(headers: Headers, query: str) -> str | None:
    """The service of the request's SigV4 credential scope (…/region/SERVICE/aws4_request)."""
    authorization = _header(headers, "Authorization")
    if authorization:
        credential = authorization.partition("Credential=")[2].partition(",")[0]
    elif "X-Amz-Credential=" in query:  # a presigned URL
        credential = urllib.parse.parse_qs(query).get("X-Amz-Credential", [""])[0]
    else:
        return None
    scope = credential.strip().split("/")
    return scope[3] if len(scope) == 5 and scope[3] else None


def _is_form(headers: Headers) -> bool:
    content_type = _header(headers, "Content-Type") or ""
    return content_type.startswith("application/x-www-form-urlencoded")


def _query_action(query: str, headers: Headers, body: bytes | None) -> str | None:
    for source in (query.encode("latin-1", "replace"), body if _is_form(headers) else None):
        if source and (match := _QUERY_ACTION.search(source)):
            return urllib.parse.unquote(match[1].decode("latin-1")) or None
    return None


class _Route(NamedTuple):
    rank: tuple[int, int]  # more query literals, then more literal path characters, win
    method: str
    pattern: re.Pattern[str]
    query: tuple[tuple[str, str | None], ...]  # required parameters; None: any value
    operation: str


@functools.cache
def _routes(service: str) -> dict[str, tuple[_Route, ...]]:
    """A REST botocore model's operations by HTTP method, most specific first; {} for others."""
    try:
        model = _session().get_service_model(service)
    except UnknownServiceError:
        return {}
    if model.protocol not in ("rest-json", "rest-xml"):
        return {}
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri_path, _, uri_query = http["requestUri"].partition("?")
        literal = len(_LABEL.sub("", uri_path))
        pattern = "".join(
            (("(.+)" if part.endswith("+") else "([^/]+)") if index % 2 else re.escape(part))
            for index, part in enumerate(_LABEL.split(uri_path))
        )
        if uri_path != "/":
            pattern += "/?"  # a trailing slash names the same operation
        required = tuple(
            (key, value if sep else None)
            for key, sep, value in (p.partition("=") for p in uri_query.split("&") if p)
            if key != "x-id"  # optional: older SDKs do not send it
        )
        routes.append(
            _Route((len(required), literal), http["method"], re.compile(pattern), required, name)
        )
    routes.sort(key=lambda route: route.rank, reverse=True)
    return {
        method: tuple(route for route in routes if route.method == method)
        for method in {route.method for route in routes}
    }


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


def _rest_operation(service: str, method: str, path: str, query: str) -> str | None:
    routes = _routes(service).get(method.upper())
    if not routes:
        return None
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}
    if params.get("x-id"):  # newer SDKs name the S3 operation themselves
        return params["x-id"]
    for route in routes:
        if not route.pattern.fullmatch(path):
            continue
        if all(key in params and value in (None, params[key]) for key, value in route.query):
            return route.operation
    return None


# -- policy documents ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _action_pattern(pattern: str) -> re.Pattern[str]:
    """An IAM action pattern: `*` any run of characters, `?` one; case-insensitive."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE)


def _matches(action: str, patterns: Any) -> bool:
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(_action_pattern(pattern).fullmatch(action) for pattern in patterns)


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _applies(statement: Mapping[str, Any], action: str) -> bool:
    if "Action" in statement:
        return _matches(action, statement["Action"])
    if "NotAction" in statement:
        return not _matches(action, statement["NotAction"])
    return False


def _denies_every_call(statement: Mapping[str, Any]) -> bool:
    """A Deny that applies whatever the call's resource and context: no Condition, Resource `*`.
    A narrower one (lambdafan's "never the excluded accounts' roles") cannot be judged here."""
    resource = statement.get("Resource")
    return "Condition" not in statement and resource in ("*", ["*"])


def allowed(action: str, documents: Iterable[Mapping[str, Any]]) -> bool:
    """Whether some Allow statement covers `action` and no unconditional Deny does. Actions
    only: Resource and Condition are not evaluated, so this flags a missing action, not a
    resource out of scope (and a Deny scoped to some resources or conditions is not decisive)."""
    allow = False
    for document in documents:
        for statement in _statements(document):
            if not _applies(statement, action):
                continue
            if statement.get("Effect") == "Deny":
                if _denies_every_call(statement):
                    return False
                continue
            allow = allow or statement.get("Effect") == "Allow"
    return allow


# -- the audit ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """A function called `action` `count` times and its role does not allow it."""

    function: str
    action: str
    count: int


class _Invocation(NamedTuple):
    function: str
    request_id: str


class RoleAudit:
    """The actions each function called with its role's credentials (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, _Invocation] = {}
        self._calls: dict[str, Counter[str]] = {}

    def register(self, access_key_id: str, function_name: str, request_id: str) -> None:
        """The cloud issued `access_key_id` for the role of one invocation of the function."""
        with self._lock:
            self._keys[access_key_id] = _Invocation(function_name, request_id)
            self._calls.setdefault(function_name, Counter())

    def observe(self, access_key_id: str | None, action: str | None) -> None:
        """One request the proxy saw; ignored unless its key is a registered role's and its
        action was named (a member account's credentials the Worker assumed are not ours)."""
        if access_key_id is None or action is None:
            return
        with self._lock:
            invocation = self._keys.get(access_key_id)
            if invocation is not None:
                self._calls[invocation.function][action] += 1

    def calls(self, function_name: str) -> dict[str, int]:
        """How many times the function called each action, over all its invocations."""
        with self._lock:
            return dict(self._calls.get(function_name, {}))

    def findings(self, policies_for: Callable[[str], Iterable[Mapping[str, Any]]]) -> list[Finding]:
        """The actions a function called that its role's policy documents do not allow."""
        with self._lock:
            snapshot = {function: dict(calls) for function, calls in self._calls.items()}
        found: list[Finding] = []
        for function, calls in sorted(snapshot.items()):
            # A list: a generator would serve only the first action.
            documents = list(policies_for(function))
            found.extend(
                Finding(function, action, count)
                for action, count in sorted(calls.items())
                if not allowed(action, documents)
            )
        return found


def describe(finding: Finding) -> str:
    """One line for a finding."""
    times = "once" if finding.count == 1 else f"{finding.count} times"
    return (
        f"{finding.function} called {finding.action} {times}, "
        "which its role's inline policies do not allow"
    )
