"""The Notifier's channels: Slack (webhook URL in SSM), SES email, SNS; each on its own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from lambda_src.delivery import Channels, Delivery, deliver, deliver_report, sns_subject
from lambda_src.mail_html import mail_parts
from lambda_src.run_summary import ErrorLine
from lambda_src.settings import NotifySettings
from tests.test_slack_blocks import HOSTILE, check_block_kit, sample_report, shown, texts

REGION = "us-east-1"


def no_sleep(_: float) -> None:
    raise AssertionError("nothing to wait for")


@dataclass
class Webhook:
    """A Slack-like webhook on 127.0.0.1: records what it is sent, answers from `replies`
    (status, headers, body) in turn, then 200 `ok`."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    replies: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
def hook() -> Iterator[Webhook]:
    state = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.received.append(json.loads(self.rfile.read(length)))
            code, headers, body = state.replies.pop(0) if state.replies else (200, {}, b"ok")
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def webhook(hook: Webhook) -> tuple[str, list[dict[str, Any]]]:
    return hook.url, hook.received


def channels() -> Channels:
    return Channels(
        ssm=boto3.client("ssm", region_name=REGION),
        ses=boto3.client("ses", region_name=REGION),
        sns=boto3.client("sns", region_name=REGION),
    )


def sent_emails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def test_every_configured_channel_gets_the_summary(
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    with mock_aws():
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/lf/slack", Value=url, Type="SecureString"
        )
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress="ops@x.io")
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="runs")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        notify = NotifySettings(
            slack_webhook_parameter="/lf/slack",
            email_sender="ops@x.io",
            email_recipients=("team@x.io",),
            sns_topic_arn=topic,
        )

        results = deliver("subject line", "the summary", notify, channels())

        assert [(r.channel, r.ok) for r in results] == [
            ("slack", True), ("email", True), ("sns", True),
        ]  # fmt: skip
        assert "the summary" in received[0]["text"] and "subject line" in received[0]["text"]
        [email] = sent_emails()
        assert (email.source, email.destinations["ToAddresses"]) == ("ops@x.io", ["team@x.io"])
        assert email.subject == "subject line" and email.body == "the summary"
        message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
        assert (message["Subject"], message["Message"]) == ("subject line", "the summary")


def test_a_failing_channel_does_not_stop_the_others(
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    with mock_aws():
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name="/lf/slack", Value=url, Type="SecureString"
        )
        # The sender is not verified in SES: the email is rejected.
        notify = NotifySettings(
            slack_webhook_parameter="/lf/slack",
            email_sender="nobody@x.io",
            email_recipients=("team@x.io",),
            sns_topic_arn="arn:aws:sns:us-east-1:123456789012:missing",
        )
        results = deliver("s", "t", notify, channels())
    assert [(r.channel, r.ok) for r in results] == [
        ("slack", True), ("email", False), ("sns", False),
    ]  # fmt: skip
    assert "MessageRejected" in results[1].detail
    assert len(received) == 1


def test_no_channels_configured_sends_nothing() -> None:
    assert deliver("s", "t", NotifySettings(), Channels()) == []


# A run's report: Slack Block Kit over HTTP, retried as Slack asks; SNS text.


SLACK_ONLY = NotifySettings(slack_webhook_parameter="/lf/slack")


class Ssm:
    """The one SSM call Slack delivery makes (moto's SSM is tested above)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, Any]:
        assert (Name, WithDecryption) == ("/lf/slack", True)
        return {"Parameter": {"Value": self.url}}


def to(hook: Webhook) -> Channels:
    return Channels(ssm=Ssm(hook.url))


def test_a_report_arrives_in_slack_as_block_kit_its_text_inert(hook: Webhook) -> None:
    errors = [ErrorLine("111111111111", HOSTILE, "s3", "us-east-1", "AccessDenied", HOSTILE)]
    report = sample_report(errors=errors, fleet=HOSTILE)

    results = deliver_report(report, SLACK_ONLY, to(hook), sleep=no_sleep)

    assert results == [Delivery("slack", True)]
    [payload] = hook.received
    check_block_kit(payload)
    assert "AccessDenied" in payload["blocks"][5]["text"]["text"]
    for text in texts(payload):
        assert "<" not in text and ">" not in text and "``" not in text
    assert HOSTILE in shown(json.dumps(payload, ensure_ascii=False))


def test_slack_429_is_retried_after_the_seconds_it_asks(hook: Webhook) -> None:
    hook.replies.append((429, {"Retry-After": "2"}, b"rate_limited"))
    slept: list[float] = []

    results = deliver_report(sample_report(), SLACK_ONLY, to(hook), sleep=slept.append)

    assert results == [Delivery("slack", True)] and slept == [2.0]
    assert len(hook.received) == 2 and hook.received[0] == hook.received[1]


def test_slack_5xx_is_retried_a_bounded_number_of_times(hook: Webhook) -> None:
    hook.replies += [(503, {}, b"")] * 3
    slept: list[float] = []

    [result] = deliver_report(sample_report(), SLACK_ONLY, to(hook), sleep=slept.append)

    assert not result.ok and "HTTP 503" in result.detail and hook.url not in result.detail
    assert len(hook.received) == 3 and slept == [1.0, 2.0]  # no Retry-After: our own backoff


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        ((404, {}, b"<html>no such hook</html>"), "HTTP 404"),  # a body that is not Slack's word
        ((429, {"Retry-After": "3600"}, b""), "HTTP 429"),  # beyond the wait allowed in all
    ],
)
def test_slack_refusals_not_worth_waiting_for_fail_at_once(
    hook: Webhook, reply: tuple[int, dict[str, str], bytes], detail: str
) -> None:
    hook.replies.append(reply)
    slept: list[float] = []

    [result] = deliver_report(sample_report(), SLACK_ONLY, to(hook), sleep=slept.append)

    assert not result.ok and result.detail == f"DeliveryError: the Slack webhook answered {detail}"
    assert len(hook.received) == 1 and slept == []


def test_a_report_on_sns_is_its_text_under_a_subject_sns_accepts(aws: Any) -> None:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="runs")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
    report = sample_report(fleet="équipe\nprod — " + "x" * 200)

    results = deliver_report(report, NotifySettings(sns_topic_arn=topic), channels())

    assert results == [Delivery("sns", True)]
    message = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert message["Message"] == mail_parts(report)[0]
    subject = message["Subject"]
    assert subject.startswith("lambdafan equipe prod - xxx") and subject.endswith("...")
    assert len(subject) == 100 and all(" " <= c <= "~" for c in subject)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("lambdafan prod: run 1 OK, 3 records", "lambdafan prod: run 1 OK, 3 records"),
        ("a\r\nb\tc\x00d", "a b c d"),
        ("run … 4 error(s) — ✓ naïve", "run ... 4 error(s) - naive"),
        ("\n✓\n", "lambdafan"),
        ("y" * 150, "y" * 97 + "..."),
    ],
)
def test_sns_subjects_are_printable_ascii_on_one_line(subject: str, expected: str) -> None:
    assert sns_subject(subject) == expected


def test_blocks_slack_refuses_are_sent_again_as_plain_text(hook: Webhook) -> None:
    hook.replies.append((400, {}, b"invalid_blocks"))
    report = sample_report()

    [result] = deliver_report(report, SLACK_ONLY, to(hook), sleep=no_sleep)

    assert result.ok
    assert (
        result.detail == "sent as plain text: Slack refused the blocks: HTTP 400 (invalid_blocks)"
    )
    blocks, plain = hook.received
    assert "blocks" in blocks and set(plain) == {"text"}
    assert plain["text"].startswith("*lambdafan prod-fleet: run 20261127T140000Z-abc 4 error(s)")
    assert "+2 new public buckets in prod" in plain["text"]


def test_a_plain_notice_slack_refuses_is_not_retried(hook: Webhook) -> None:
    hook.replies.append((400, {}, b"invalid_payload"))

    [result] = deliver("s", "t", SLACK_ONLY, to(hook), sleep=no_sleep)

    assert result == Delivery(
        "slack", False, "DeliveryError: the Slack webhook answered HTTP 400 (invalid_payload)"
    )
    assert len(hook.received) == 1
