"""`lambdafan notify`: a run's messages rendered (--dry-run) or sent again, in this process
against moto's server, on two runs written to the fleet's table."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from lambda_src import runs
from tests.conftest import cli
from tests.test_cli_diff import R1, R2, create_fleet_table, write_run
from tests.test_cli_run import A, write_config
from tests.test_run_diff import FIRST, SECOND

TOPIC = "lambdafan-notices"
TOPIC_ARN = f"arn:aws:sns:us-east-1:123456789012:{TOPIC}"


@pytest.fixture
def config(server: str, tmp_path: Path) -> Path:
    """The fleet of the diff tests (R1 then R2: instances added, removed and changed), telling
    an SNS topic whose messages land in a queue the test reads."""
    store = create_fleet_table()
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND)
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name=TOPIC)["TopicArn"]
    return write_config(tmp_path, ["inventory", "buckets"], notify={"sns": {"topic_arn": topic}})


def _inbox(topic: str) -> str:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    boto3.client("sns", region_name="us-east-1").subscribe(
        TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )  # fmt: skip
    return str(url)


def test_dry_run_renders_every_configured_message_and_sends_nothing(
    config: Path, tmp_path: Path
) -> None:
    page = tmp_path / "mail.html"
    done = cli("notify", "-c", str(config), "--run", R2, "--dry-run", "--html", str(page))

    assert done.returncode == 0, done.stderr
    assert f"SNS: lambdafan e2e: run {R2}" in done.stdout
    assert "inventory: 2 new, 1 gone, 1 changed" in done.stdout  # the diff, against R1
    assert "dry run: nothing was sent" in done.stderr
    assert not page.exists()  # no email channel configured: no HTML written
    topic = f"arn:aws:sns:us-east-1:123456789012:{TOPIC}"
    subscriptions = boto3.client("sns", region_name="us-east-1").list_subscriptions_by_topic(
        TopicArn=topic
    )
    assert subscriptions["Subscriptions"] == []


def test_dry_run_of_a_config_with_slack_and_email_shows_blocks_and_saves_the_html(
    server: str, tmp_path: Path
) -> None:
    store = create_fleet_table()
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND)
    notify = {
        "slack": {"webhook_parameter": "/lambdafan/slack"},
        "email": {"sender": "ops@example.com", "recipients": ["team@example.com"]},
    }
    config = write_config(tmp_path, ["inventory", "buckets"], notify=notify)
    page = tmp_path / "mail.html"

    done = cli("notify", "-c", str(config), "--dry-run", "--html", str(page))

    assert done.returncode == 0, done.stderr
    start = done.stdout.index("{")
    end = done.stdout.index("\nSlack (preview")
    payload = json.loads(done.stdout[start:end])
    assert payload["blocks"][0]["type"] == "header" and payload["text"]
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "i-4" in html


def test_notify_sends_the_report_to_sns(config: Path) -> None:
    topic = f"arn:aws:sns:us-east-1:123456789012:{TOPIC}"
    inbox = _inbox(topic)

    done = cli("notify", "-c", str(config), "--run", R2)

    assert done.returncode == 0, done.stderr
    assert "sent sns" in done.stdout
    messages = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=inbox)
    [message] = messages["Messages"]
    assert R2 in message["Body"] and "inventory: 2 new, 1 gone, 1 changed" in message["Body"]


def test_bad_input_is_one_line(config: Path) -> None:
    html_alone = cli("notify", "-c", str(config), "--html", "x.html")
    assert html_alone.returncode == 2 and "add --dry-run" in html_alone.stderr
    unknown = cli("notify", "-c", str(config), "--run", "20990101T000000Z-ffffff", "--dry-run")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_a_running_run_is_not_sent_and_its_dry_run_says_so(server: str, tmp_path: Path) -> None:
    store = create_fleet_table()
    runs.start_run(store, R1, accounts=[A], scripts=["inventory"], trigger="manual",
                   now=runs.utcnow(), ttl_days=1, worker_timeout_s=900)  # fmt: skip
    config = write_config(
        tmp_path, ["inventory", "buckets"], notify={"sns": {"topic_arn": TOPIC_ARN}}
    )

    sent = cli("notify", "-c", str(config), "--run", R1)
    assert sent.returncode == 2 and "is still running" in sent.stderr

    dry = cli("notify", "-c", str(config), "--run", R1, "--dry-run", "--html", "m.html")
    assert dry.returncode == 0, dry.stderr
    assert "still running: these are its messages so far" in dry.stderr
    assert "no email channel in notify: no HTML part to save" in dry.stderr
