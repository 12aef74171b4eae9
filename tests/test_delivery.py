"""The Notifier's channels: Slack (webhook URL in SSM), SES email, SNS; each on its own."""

from __future__ import annotations

import datetime as dt
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

from lambda_src import runs
from lambda_src.delivery import Channels, deliver
from lambda_src.metrics import NAMESPACE
from lambda_src.notifier import NotifierDeps, run_metrics, run_notifier, summarize
from lambda_src.settings import NotifySettings
from lambdafan.memory_store import MemoryStore
from tests.conftest import make_settings

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


def test_notifier_sends_and_puts_run_metrics() -> None:
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    runs.start_run(store, "r1", accounts_expected=1, scripts=["s"], trigger="t", now=now,
                   ttl_days=1)  # fmt: skip
    finish = runs.finish_account(
        store, "r1", "111111111111", "a", records_by_script={"s": 5}, errors=0, failed=False,
        now=now + dt.timedelta(seconds=42), ttl_days=1,
    )  # fmt: skip
    assert finish is runs.Finish.COMPLETED
    with mock_aws():
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress="ops@x.io")
        settings = make_settings(
            notify=NotifySettings(email_sender="ops@x.io", email_recipients=("t@x.io",))
        )
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        response = run_notifier(
            {"run_id": "r1"},
            settings,
            NotifierDeps(store=store, channels=channels(), cloudwatch=cloudwatch),
        )
        assert response["delivered"] == [{"channel": "email", "ok": True, "detail": ""}]
        [email] = sent_emails()
        assert email.subject == "lambdafan test: run r1 OK, 5 records"
        names = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]}
        assert names == {"RunRecords", "RunErrors", "RunAccountsFailed", "RunDuration"}
    duration = [m for m in run_metrics(summarize(store, "r1"), "f", now) if m["Unit"] == "Seconds"]
    assert duration[0]["Value"] == 42.0


def _gave_up(run_id: str, account: str) -> dict[str, Any]:
    """The record Lambda sends to the on-failure destination when a Worker's retries run out."""
    return {
        "version": "1.0",
        "requestContext": {
            "requestId": "r",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:test-worker:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"run_id": run_id, "account": {"id": account, "name": "b"},
                           "regions": None, "scripts": None},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "Task timed out after 900.00 seconds",
                            "errorType": "Sandbox.Timedout"},
    }  # fmt: skip


def test_a_worker_lambda_gave_up_on_is_marked_failed_and_the_run_completes() -> None:
    now = dt.datetime(2026, 11, 26, 22, 41, tzinfo=dt.timezone.utc)
    store = MemoryStore()
    runs.start_run(store, "r1", accounts_expected=2, scripts=["s"], trigger="t", now=now,
                   ttl_days=1)  # fmt: skip
    done = runs.finish_account(store, "r1", "111111111111", "a", records_by_script={"s": 3},
                               errors=0, failed=False, now=now, ttl_days=1)  # fmt: skip
    assert done is runs.Finish.COUNTED
    deps = NotifierDeps(store=store, clock=lambda: now)

    response = run_notifier(_gave_up("r1", "222222222222"), make_settings(), deps)

    summary = response["summary"]
    assert (summary["status"], summary["accounts_done"], summary["accounts_failed"]) == (
        "complete", 2, 1,
    )  # fmt: skip
    [error] = summary["errors"]
    assert (error["account_id"], error["error_type"]) == ("222222222222", "Sandbox.Timedout")
    assert "failed 3 time(s)" in error["message"] and "timed out" in error["message"]
    # The same record delivered twice (at-least-once) changes nothing.
    again = run_notifier(_gave_up("r1", "222222222222"), make_settings(), deps)
    assert again["finish"] == "duplicate"
