"""Run metrics to Wavefront: the line format, a local HTTP server as the instance (path, query,
token header, body), the token read from an SSM SecureString, and never in a log or an error."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambda_src import wavefront
from lambda_src.metrics import account_metrics
from lambda_src.wavefront import (
    Metric,
    WavefrontError,
    from_cloudwatch,
    read_token,
    send_to_wavefront,
    url_problem,
    wavefront_lines,
)

TOKEN = "wf-token-0123456789abcdef"
NOW = dt.datetime(2026, 11, 27, 6, 0, 5, tzinfo=dt.timezone.utc)
EPOCH = 1795759205  # NOW


class Instance:
    """A Wavefront instance on 127.0.0.1 that records each request and answers `status`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 202
        instance = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                instance.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                self.send_response(instance.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def instance() -> Iterator[Instance]:
    found = Instance()
    thread = threading.Thread(target=found.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()
    thread.join(5)


def test_lines_follow_wavefronts_data_format() -> None:
    lines = wavefront_lines(
        [
            Metric("RunRecords", 42),
            ("RunDuration", 12.5, {}),
            Metric("Added", 3, {"script": "ec2_instances", "fleet": "other"}),
            Metric("run.cost_usd", Decimal("0.0123")),
            Metric("RunAccountsFailed", True),
        ],
        "acme-prod",
        NOW,
    )
    assert lines == [
        f'lambdafan.run.records 42 {EPOCH} source=lambdafan fleet="acme-prod"',
        f'lambdafan.run.duration 12.5 {EPOCH} source=lambdafan fleet="acme-prod"',
        f'lambdafan.added 3 {EPOCH} source=lambdafan fleet="acme-prod" script="ec2_instances"',
        f'lambdafan.run.cost_usd 0.0123 {EPOCH} source=lambdafan fleet="acme-prod"',
        f'lambdafan.run.accounts.failed 1 {EPOCH} source=lambdafan fleet="acme-prod"',
    ]


def test_names_tags_and_values_are_made_safe_for_the_format(
    caplog: pytest.LogCaptureFixture,
) -> None:
    lines = wavefront_lines(
        [
            Metric("Weird Name/1", 1, {"odd key!": 'say "hi"\nthere\\'}),
            Metric("lambdafan.already", 2, {"long": "x" * 400}),
            Metric("Broken", float("nan")),
        ],
        "f",
        EPOCH,
        source="my host",
    )
    first, second = lines  # the NaN is left out, and said so
    assert first == (
        f'lambdafan.weird_name_1 1 {EPOCH} source=my_host fleet="f" odd_key_="say \\"hi\\" there/"'
    )
    tag = second.split(" ")[-1]
    assert second.startswith(f"lambdafan.already 2 {EPOCH} ")
    assert len(tag) - len('=""') == 254 and tag.startswith('long="xxx')
    assert "Broken" in caplog.text


def test_cloudwatch_metric_data_gives_the_same_values_as_tags() -> None:
    data = account_metrics("acme", {"s3_buckets": 7}, 2, 1.5, NOW)
    assert from_cloudwatch(data) == [
        Metric("Records", 7, {"script": "s3_buckets"}),
        Metric("Errors", 2, {}),
        Metric("AccountDuration", 1.5, {}),
    ]
    assert wavefront_lines(from_cloudwatch(data), "acme", NOW)[0] == (
        f'lambdafan.records 7 {EPOCH} source=lambdafan fleet="acme" script="s3_buckets"'
    )


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        wavefront_lines([Metric("x", 1)], "f", NOW.replace(tzinfo=None))


def test_the_instance_receives_the_lines_with_the_token_header(
    instance: Instance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lines = wavefront_lines([Metric("RunRecords", 42), Metric("RunErrors", 0)], "acme", NOW)

    sent = send_to_wavefront(instance.url + "/", TOKEN, lines, timeout=5)

    assert sent == 2
    (request,) = instance.requests
    assert request["path"] == "/report?f=wavefront"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["body"].decode().split("\n") == [*lines, ""]
    assert TOKEN not in caplog.text
    assert "sent 2 points" in caplog.text


def test_nothing_to_send_sends_nothing(instance: Instance) -> None:
    assert send_to_wavefront(instance.url, TOKEN, []) == 0
    assert instance.requests == []


@pytest.mark.parametrize("status", [401, 500])
def test_a_refusal_raises_without_the_token(
    instance: Instance, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    instance.status = status
    with pytest.raises(WavefrontError) as caught:
        send_to_wavefront(instance.url, TOKEN, ["lambdafan.x 1 source=lambdafan"], timeout=5)
    assert str(caught.value) == f"Wavefront at {instance.url} answered HTTP {status}"
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert TOKEN not in caplog.text


def test_unreachable_and_malformed_token_raise_without_the_token(instance: Instance) -> None:
    url = instance.url
    instance.server.shutdown()
    instance.server.server_close()
    with pytest.raises(WavefrontError, match="could not be reached") as down:
        send_to_wavefront(url, TOKEN, ["lambdafan.x 1 source=lambdafan"], timeout=5)
    # http.client's own error for a bad header value quotes the value, token and all.
    bad = TOKEN + "\nX-Injected: 1"
    with pytest.raises(WavefrontError, match="could not be reached") as malformed:
        send_to_wavefront(url, bad, ["lambdafan.x 1 source=lambdafan"], timeout=5)
    for caught in (down, malformed):
        assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)


def test_the_opener_is_injectable() -> None:
    seen: list[Any] = []

    def opener(request: Any, timeout: float) -> Any:
        seen.append((request.full_url, timeout))
        raise TimeoutError("timed out")

    with pytest.raises(WavefrontError, match=r"could not be reached \(TimeoutError\)"):
        send_to_wavefront("https://acme.wavefront.com", TOKEN, ["x"], opener=opener, timeout=3)
    assert seen == [("https://acme.wavefront.com/report?f=wavefront", 3)]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://acme.wavefront.com", None),
        ("http://127.0.0.1:8080", None),
        ("http://localhost:1", None),
        ("http://[::1]:1", None),
        ("http://acme.wavefront.com", "must use https"),
        ("ftp://acme.wavefront.com", "is not a Wavefront URL"),
        ("acme.wavefront.com", "is not a Wavefront URL"),
        ("https://user:pw@acme.wavefront.com", "must not hold a user or password"),
        ("https://acme.wavefront.com/?t=1", "without a ?query"),
        ("https://[::1", "is not a Wavefront URL"),
    ],
)
def test_url_problems(url: str, problem: str | None) -> None:
    found = url_problem(url)
    assert found is None if problem is None else problem in (found or "")


def test_a_bad_url_is_refused_before_sending() -> None:
    def opener(request: Any, timeout: float) -> Any:
        raise AssertionError("must not be called")

    with pytest.raises(WavefrontError, match="must use https"):
        send_to_wavefront("http://acme.wavefront.com", TOKEN, ["x"], opener=opener)


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def test_the_token_is_read_decrypted_from_a_securestring(
    ssm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=wavefront.__name__)
    ssm.put_parameter(Name="/lf/wavefront", Value=TOKEN + "\n", Type="SecureString")
    assert read_token(ssm, "/lf/wavefront") == TOKEN
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("put", "message"),
    [
        (None, r"could not read the Wavefront token from /lf/wavefront \(ParameterNotFound\)"),
        ({"Value": TOKEN, "Type": "String"}, "is a String parameter: keep the Wavefront token"),
        ({"Value": " ", "Type": "SecureString"}, "holds no Wavefront token"),
    ],
)
def test_a_missing_plain_or_empty_token_is_refused(
    ssm: Any, put: dict[str, str] | None, message: str
) -> None:
    if put:
        ssm.put_parameter(Name="/lf/wavefront", **put)
    with pytest.raises(WavefrontError, match=message) as caught:
        read_token(ssm, "/lf/wavefront")
    assert TOKEN not in str(caught.value)
