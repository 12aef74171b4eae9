"""A run's email: a text part (the summary, changes, cost) and a self-contained HTML part with
every piece of text escaped; sent through SES with both."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from lambda_src.delivery import Channels, Delivery, deliver_report
from lambda_src.mail_html import mail_parts
from lambda_src.run_report import ChangeExample, ScriptChanges
from lambda_src.run_summary import ErrorLine, format_summary
from lambda_src.settings import NotifySettings
from tests.test_slack_blocks import sample_report

REGION = "us-east-1"
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"
VOID = {"meta", "br", "hr", "img", "input", "link"}


class Tags(HTMLParser):
    """The elements and attributes of a document, and whether every element closes."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()
        self.attributes: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        self.attributes |= {name for name, _ in attrs}
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, tag

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parsed(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    assert tags.open == []
    return tags


def test_the_text_part_is_the_summary_then_changes_and_cost() -> None:
    report = sample_report()
    text, _ = mail_parts(report)
    summary = format_summary(report.summary)
    assert text.startswith(summary + "\n")
    assert text[len(summary) + 1 :].splitlines() == [
        "Changes since run 20261126T140000Z-abc",
        "  public_buckets: 2 new, 1 gone",
        "    +2 new public buckets in prod",
        '      us-east-1 {"bucket":"b0"}',
        '      us-east-1 {"bucket":"b1"}',
        "    -1 public buckets gone from staging",
        '      {"bucket":"old"}',
        "cost: $0.0123 (dynamodb $0.0023, lambda $0.0100)",
    ]


def test_the_html_part_is_a_self_contained_document_with_tables() -> None:
    report = sample_report()
    _, html = mail_parts(report)
    tags = parsed(html)
    assert html.startswith("<!DOCTYPE html>") and {"html", "body", "table", "h1"} <= tags.seen
    # Inline styles only: nothing a mail client would fetch, nothing that runs.
    assert tags.attributes <= {"style", "charset"}
    assert not {"script", "link", "img", "style", "iframe", "object"} & tags.seen
    assert "url(" not in html and "@import" not in html
    shown = " ".join(tags.text)
    for words in ("AccessDenied", "prod, staging, dev", "public_buckets", '{"bucket":"b0"}'):
        assert words in shown
    assert "Cost: $0.0123" in " ".join(shown.split())
    rows = html.split("<tr>")
    assert all(
        row.count("<td") in (0, 5) for row in rows if "ec2" in row or "public_buckets" in row
    )


def test_every_piece_of_text_in_the_html_is_escaped() -> None:
    errors = [ErrorLine("111111111111", HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE)]
    example = ChangeExample("added", "111111111111", HOSTILE, HOSTILE, HOSTILE)
    scripts = (ScriptChanges(HOSTILE, added=3, examples=(example,)),)
    report = sample_report(errors=errors, scripts=scripts, fleet=HOSTILE, records={HOSTILE: 1})

    _, html = mail_parts(report)

    tags = parsed(html)
    assert tags.seen <= {"html", "head", "meta", "title", "body", "h1", "h2", "span", "p", "b"} | {
        "table", "tr", "th", "td",
    }  # fmt: skip
    assert tags.attributes <= {"style", "charset"}
    assert HOSTILE in "".join(tags.text)  # shown as written, never as markup
    assert "&amp;amp;" in html


def test_ses_sends_both_parts(aws: Any) -> None:
    ses = aws.client("ses")
    ses.verify_email_identity(EmailAddress="ops@x.io")
    sent: list[dict[str, Any]] = []
    # moto keeps one body per message (the HTML one when there are both): the request itself
    # shows the text part.
    ses.meta.events.register(
        "provide-client-params.ses.SendEmail", lambda params, **_: sent.append(params)
    )
    notify = NotifySettings(email_sender="ops@x.io", email_recipients=("team@x.io", "b@x.io"))
    report = sample_report(fleet="prod\nfleet")

    assert deliver_report(report, notify, Channels(ses=ses)) == [Delivery("email", True)]

    text, html = mail_parts(report)
    [email] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    assert email.source == "ops@x.io" and email.destinations["ToAddresses"] == [
        "team@x.io",
        "b@x.io",
    ]
    assert email.subject.startswith("lambdafan prod fleet: run 20261127T140000Z-abc 4 error(s)")
    assert email.body == html
    [params] = sent
    assert params["Message"]["Body"]["Text"] == {"Data": text, "Charset": "UTF-8"}
    assert params["Message"]["Body"]["Html"] == {"Data": html, "Charset": "UTF-8"}


def test_pairs_that_printed_and_yielded_nothing_are_named_in_both_parts() -> None:
    report = sample_report(errors=[])
    report.summary.printed_only = ["prod (111111111111) volumes us-east-1"]
    text, html = mail_parts(report)
    assert "printed output and yielded no records in the whole run" in text
    assert "  prod (111111111111) volumes us-east-1" in text.splitlines()
    assert "Printed but yielded no records:</b> prod (111111111111) volumes us-east-1" in html
