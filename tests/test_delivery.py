"""The Notifier's channels: Slack (webhook URL in SSM), SES email, SNS; each on its own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from lambda_src.delivery import Channels, deliver
from lambda_src.settings import NotifySettings

REGION = "us-east-1"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A Slack-like webhook on 127.0.0.1 that records what it is sent."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


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
