"""A run's metrics to Wavefront (VMware Aria Operations for Applications) by direct ingestion.

One POST of lines in Wavefront's data format to `<url>/report?f=wavefront`, authenticated with
`Authorization: Bearer <token>` — the format and endpoint of docs.wavefront.com
(wavefront_data_format.html, direct_ingestion.html) and of Wavefront's own Python SDK:

    <metricName> <metricValue> [<timestamp>] source=<source> [pointTags]

The API token is a secret: it is read from an SSM SecureString when the metrics are sent, and
never written to the config, the bundle, the environment, a log line or an error message.
"""

from __future__ import annotations

import datetime as dt
import http.client
import ipaddress
import logging
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

PREFIX = "lambdafan."
SOURCE = "lambdafan"
TIMEOUT_S = 10
REPORT_PATH = "/report"
# Point tag key and value together: at most 254 characters, or Wavefront rejects the point.
TAG_LIMIT = 254
_NAME_INVALID = re.compile(r"[^A-Za-z0-9._-]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LOOPBACK_NAMES = ("localhost",)


class WavefrontError(Exception):
    """Wavefront could not be sent to; the message never contains the API token."""


class Metric(NamedTuple):
    """One value: its name (`RunRecords`, `run.records`), its value, and its tags besides the
    fleet (`{"script": "ec2_instances"}`). A plain `(name, value, tags)` tuple works too."""

    name: str
    value: float | int | Decimal
    tags: Mapping[str, str] = {}


def url_problem(url: str) -> str | None:
    """What is wrong with a Wavefront instance URL, or None: https, or http to this machine
    only (127.0.0.1, ::1, localhost: a test's server), a host, and nothing secret in it."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unclosed [IPv6 address
        host = ""
    if not host or parts.scheme not in ("https", "http"):
        return f"{url!r} is not a Wavefront URL like https://example.wavefront.com"
    if parts.scheme == "http" and not _is_loopback(host):
        return f"{url!r} must use https (http is allowed only to 127.0.0.1 or localhost, for tests)"
    if parts.username is not None or parts.password is not None:
        # Not quoted: what is there may be a secret.
        return "must not hold a user or password: the token goes in token_parameter"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "must be the instance's address, without a ?query or #fragment"
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def metric_name(name: str) -> str:
    """`RunAccountsFailed` → `lambdafan.run.accounts.failed`: CloudWatch's names, dotted
    lowercase under the `lambdafan.` prefix; characters Wavefront refuses become `_`."""
    dotted = _CAMEL.sub(".", name.strip()).lower()
    dotted = _NAME_INVALID.sub("_", dotted)
    if not dotted:
        raise ValueError("a metric needs a name")
    return dotted if dotted.startswith(PREFIX) else PREFIX + dotted


def _tag_key(key: str) -> str:
    cleaned = _NAME_INVALID.sub("_", key.strip())
    if not cleaned:
        raise ValueError("a point tag needs a key")
    return cleaned


def _tag_value(key: str, value: str) -> str:
    """A quoted point tag value: quotes escaped, and what the format cannot carry replaced —
    a line break (it would end the line) and a backslash (one may not end the value, and the
    format defines no escape for it)."""
    text = _CONTROL.sub(" ", str(value)).replace("\\", "/")
    text = text[: max(TAG_LIMIT - len(key), 1)]
    return '"' + text.replace('"', '\\"') + '"'


def _number(value: float | int | Decimal) -> str | None:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    number = float(value)
    if not math.isfinite(number):
        return None
    return repr(number)


def _epoch_seconds(timestamp: dt.datetime | float | int) -> int:
    if isinstance(timestamp, dt.datetime):
        if timestamp.tzinfo is None:
            raise ValueError("the timestamp needs a time zone")
        return int(timestamp.timestamp())
    return int(timestamp)


def from_cloudwatch(metric_data: Iterable[Mapping[str, Any]]) -> list[Metric]:
    """The same values as CloudWatch MetricData (`metrics.account_metrics`, the Notifier's
    `run_metrics`): each dimension but `Fleet` (a tag of every line) a lowercase point tag."""
    return [
        Metric(
            name=str(datum["MetricName"]),
            value=datum["Value"],
            tags={
                str(dim["Name"]).lower(): str(dim["Value"])
                for dim in datum.get("Dimensions", ())
                if dim["Name"] != "Fleet"
            },
        )
        for datum in metric_data
    ]


def wavefront_lines(
    metrics: Iterable[tuple[str, float | int | Decimal, Mapping[str, str]]],
    fleet: str,
    timestamp: dt.datetime | float | int,
    *,
    source: str = SOURCE,
) -> list[str]:
    """One line per metric, `lambdafan.<name> <value> <epoch seconds> source=<source>
    fleet="<fleet>" <tag>="<value>"…` (pure). A value that is not finite is left out: Wavefront
    would reject the line."""
    seconds = _epoch_seconds(timestamp)
    source_text = _NAME_INVALID.sub("_", source)[:1023] or SOURCE
    lines = []
    for name, value, tags in metrics:
        number = _number(value)
        if number is None:
            log.warning("left out of Wavefront: %s is %s", name, value)
            continue
        # The fleet's tag wins over a metric's own `fleet` tag.
        point_tags = {**{_tag_key(k): v for k, v in tags.items()}, "fleet": fleet}
        rendered = " ".join(f"{k}={_tag_value(k, v)}" for k, v in sorted(point_tags.items()))
        lines.append(f"{metric_name(name)} {number} {seconds} source={source_text} {rendered}")
    return lines


def read_token(ssm_client: Any, parameter: str) -> str:
    """The API token from its SSM SecureString parameter (decrypted); never logged."""
    try:
        found = ssm_client.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise WavefrontError(
            f"could not read the Wavefront token from {parameter} ({code})"
        ) from None
    except BotoCoreError as exc:
        raise WavefrontError(
            f"could not read the Wavefront token from {parameter} ({type(exc).__name__})"
        ) from None
    if found.get("Type") != "SecureString":
        raise WavefrontError(
            f"{parameter} is a {found.get('Type')} parameter: keep the Wavefront token in a "
            "SecureString"
        )
    token = str(found.get("Value", "")).strip()
    if not token:
        raise WavefrontError(f"{parameter} holds no Wavefront token")
    return token


def send_to_wavefront(
    url: str,
    token: str,
    lines: Iterable[str],
    *,
    opener: Callable[..., Any] = urllib.request.urlopen,
    timeout: float = TIMEOUT_S,
) -> int:
    """POST `lines` to the instance at `url` (direct ingestion); returns how many were sent.
    Any failure raises `WavefrontError`, whose message names the URL but never the token."""
    body_lines = [line for line in lines if line]
    if not body_lines:
        return 0
    problem = url_problem(url)
    if problem:
        raise WavefrontError(f"bad Wavefront URL: {problem}")
    endpoint = url.rstrip("/") + REPORT_PATH + "?" + urllib.parse.urlencode({"f": "wavefront"})
    request = urllib.request.Request(
        endpoint,
        data=("\n".join(body_lines) + "\n").encode("utf-8"),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/octet-stream",
        },
        method="POST",
    )
    try:
        with opener(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        raise WavefrontError(f"Wavefront at {url} answered HTTP {exc.code}") from None
    except (ValueError, OSError, http.client.HTTPException) as exc:
        # Not str(exc): an invalid header's error quotes the header, token included.
        raise WavefrontError(
            f"Wavefront at {url} could not be reached ({type(exc).__name__})"
        ) from None
    log.info("sent %d points to Wavefront at %s", len(body_lines), url)
    return len(body_lines)
