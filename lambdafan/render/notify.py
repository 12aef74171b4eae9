"""What `lambdafan notify` prints: each channel's message as it would be sent, or what was sent."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape

from lambda_src.delivery import Delivery, sns_subject
from lambda_src.mail_html import mail_parts
from lambda_src.run_report import RunReport
from lambda_src.run_summary import subject_line
from lambda_src.slack_blocks import fallback_text, slack_blocks
from lambdafan.render.console import console, note


def print_messages(report: RunReport, channels: Sequence[str], told: bool, html: Path) -> None:
    """Every configured channel's message, rendered; the email's HTML saved to `html`."""
    subject = subject_line(report.summary, report.fleet)
    text, page = mail_parts(report)
    if not channels:
        note("notify: names no channel in the config; showing every channel's message")
        channels = ("slack", "email", "sns")
    for channel in channels:
        if channel == "slack":
            payload = slack_blocks(report)
            _heading("Slack (the webhook's JSON)")
            _plain(json.dumps(payload, indent=2, ensure_ascii=False))
            _heading("Slack (preview: the notification text)")
            _plain(fallback_text(report))
        elif channel == "email":
            html.write_text(page, encoding="utf-8")
            _heading(f"Email: {subject}")
            _plain(text)
            note(f"the email's HTML part is saved in {html}")
        elif channel == "sns":
            _heading(f"SNS: {sns_subject(subject)}")
            _plain(text)
    verdict = "would be sent" if told else "would NOT be sent (notify.only_on)"
    note(f"dry run: nothing was sent; on its own, this run {verdict}")


def print_deliveries(delivered: Sequence[Delivery]) -> None:
    """One line per channel: sent, or why not."""
    for delivery in delivered:
        if delivery.ok:
            console.print(f"[green]sent[/] {delivery.channel} {escape(delivery.detail)}".rstrip())
        else:
            console.print(f"[red]failed[/] {delivery.channel}: {escape(delivery.detail)}")


def _heading(text: str) -> None:
    console.print(f"\n[bold]{escape(text)}[/]", soft_wrap=True)


def _plain(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)
