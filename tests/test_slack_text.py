"""Slack gets text from accounts, records and errors inert: escaped, in a code block it cannot
close. Email and SNS get the same summary as plain text, untouched."""

from __future__ import annotations

import re
from typing import Any

from lambda_src import status
from lambda_src.delivery import (
    ZERO_WIDTH_SPACE,
    Channels,
    deliver,
    slack_code_block,
    slack_escape,
    slack_message,
)
from lambda_src.run_summary import ErrorLine, RunSummary, format_summary, subject_line
from lambda_src.settings import NotifySettings

HOSTILE_ACCOUNT = "```<!channel> pwned```"
HOSTILE_MESSAGE = "AccessDenied & more: see <https://evil.example|click> <@U123> <!here>"


def shown(text: str) -> str:
    """What Slack displays for mrkdwn `text`: its three entities decoded, zero-width spaces
    invisible."""
    text = text.replace(ZERO_WIDTH_SPACE, "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def assert_inert(payload_text: str) -> None:
    """No mention, link or closed code block can be spelled in what Slack parses."""
    assert "<" not in payload_text and ">" not in payload_text
    assert re.search(r"&(?!amp;|lt;|gt;)", payload_text) is None, "a bare & starts an entity"
    # The summary's own fences are the only runs of three backticks.
    assert payload_text.count("```") == 2
    assert payload_text.endswith("\n```")


def hostile_summary() -> RunSummary:
    return RunSummary(
        run_id="2024-05-01T06-00-00Z-abc",
        status=status.COMPLETE_WITH_FAILURES,
        started_at="2024-05-01T06:00:00+00:00",
        finished_at="2024-05-01T06:01:00+00:00",
        accounts_expected=2,
        accounts_done=2,
        accounts_failed=1,
        records_by_script={"ec2_instances": 3},
        errors=[
            ErrorLine(
                account_id="111111111111",
                account_name=HOSTILE_ACCOUNT,
                script="ec2_instances",
                region="eu-west-1",
                error_type="ClientError",
                message=HOSTILE_MESSAGE,
            )
        ],
        silent_accounts=[],
    )


def test_slack_escape_escapes_exactly_slacks_control_characters() -> None:
    assert slack_escape("a & b <c> d") == "a &amp; b &lt;c&gt; d"
    # An entity already in the text is shown as typed, not decoded.
    assert slack_escape("&lt;") == "&amp;lt;"
    assert shown(slack_escape("&lt;")) == "&lt;"
    plain = "lambdafan run r1: OK *bold* _it_ ~s~ `x` 100%"
    assert slack_escape(plain) == plain


def test_an_account_name_cannot_close_the_code_block_or_mention_the_channel() -> None:
    block = slack_code_block(f"errors:\n  {HOSTILE_ACCOUNT} (111111111111)")
    assert_inert(block)
    assert "<!channel>" not in block and "&lt;!channel&gt;" in block
    assert block.startswith("```\n") and block.endswith("\n```")
    # Displayed, it is the name exactly as the account has it.
    assert shown(block) == f"```\nerrors:\n  {HOSTILE_ACCOUNT} (111111111111)\n```"


def test_backticks_at_the_edges_still_cannot_form_a_fence() -> None:
    for text in ("`", "``", "```", "a``", "``b", "`" * 7):
        block = slack_code_block(text)
        assert block.count("```") == 2, text
        assert shown(block) == f"```\n{text}\n```"


def test_the_message_of_a_hostile_run_is_inert_and_still_reads_right() -> None:
    summary = hostile_summary()
    subject = subject_line(summary, "prod")
    text = format_summary(summary)
    payload = slack_message(subject, text)
    assert set(payload) == {"text"}
    assert_inert(payload["text"])
    assert "<https://evil.example|click>" not in payload["text"]
    assert "&lt;https://evil.example|click&gt;" in payload["text"]
    assert "AccessDenied &amp; more" in payload["text"]
    # What the reader sees is the normal summary: bold subject, the plain text in a block.
    assert shown(payload["text"]) == f"*{subject}*\n```\n{text}\n```"
    assert shown(payload["text"]).splitlines()[:3] == [
        "*lambdafan prod: run 2024-05-01T06-00-00Z-abc 1 error(s), 3 records*",
        "```",
        "lambdafan run 2024-05-01T06-00-00Z-abc: 1 error(s)",
    ]


def test_a_subject_stays_one_bold_line() -> None:
    payload = slack_message("run r1 failed to start: a\n```b``` <!here> & c", "body")
    first = payload["text"].split("\n", 1)[0]
    assert first.startswith("*") and first.endswith("*")
    assert_inert(payload["text"])
    assert shown(first) == "*run r1 failed to start: a ```b``` <!here> & c*"


def test_deliver_escapes_for_slack_only() -> None:
    """Slack gets the inert payload; email and SNS the same summary as plain text."""
    posted: list[dict[str, Any]] = []
    emails: list[dict[str, Any]] = []
    published: list[dict[str, Any]] = []

    class Ssm:
        def get_parameter(self, **_: Any) -> dict[str, Any]:
            return {"Parameter": {"Value": "https://hooks.slack.example/T/B/x"}}

    class Ses:
        def send_email(self, **params: Any) -> None:
            emails.append(params)

    class Sns:
        def publish(self, **params: Any) -> None:
            published.append(params)

    notify = NotifySettings(
        slack_webhook_parameter="/lf/slack",
        email_sender="ops@x.io",
        email_recipients=("team@x.io",),
        sns_topic_arn="arn:aws:sns:us-east-1:123456789012:runs",
    )
    channels = Channels(ssm=Ssm(), ses=Ses(), sns=Sns(), post=lambda _, p: posted.append(p))
    text = format_summary(hostile_summary())
    results = deliver("subject", text, notify, channels)
    assert [(r.channel, r.ok) for r in results] == [("slack", True), ("email", True), ("sns", True)]
    (payload,) = posted
    assert_inert(payload["text"])
    assert HOSTILE_ACCOUNT in text and HOSTILE_MESSAGE in text
    assert emails[0]["Message"]["Body"]["Text"]["Data"] == text
    assert published[0]["Message"] == text
