"""A run's email: a plain-text part and a small self-contained HTML part (inline styles only).

Also the channel-neutral pieces every rendering shares (failures grouped, change lines, dollars),
as plain text: each channel escapes them its own way (HTML here, Slack in `slack_blocks`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from lambda_src.run_report import ChangeExample, RunCost, RunDiff, RunReport, ScriptChanges
from lambda_src.run_summary import ErrorLine, format_summary

MAX_ERROR_GROUPS = 10
MAX_ERROR_ROWS = 50  # the HTML part's table of single errors


def usd(amount: Decimal) -> str:
    """Dollars as people read them: cents from a dollar up, else four decimals ($0.0042)."""
    return f"${amount:,.2f}" if amount >= 1 else f"${amount:.4f}"


def one_line(text: str, limit: int = 300) -> str:
    """`text` on one line (whitespace collapsed) and at most `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class FailureGroup:
    """The errors of one error class: how many, in which accounts, and one of its messages."""

    error_type: str
    count: int
    accounts: tuple[str, ...]  # account names (the id when unnamed), first seen first
    example: ErrorLine


def account_label(name: str, account_id: str) -> str:
    return name or account_id


def failure_groups(errors: Iterable[ErrorLine]) -> list[FailureGroup]:
    """Errors grouped by error class, the most frequent first."""
    grouped: dict[str, list[ErrorLine]] = {}
    for error in errors:
        grouped.setdefault(error.error_type, []).append(error)
    groups = [
        FailureGroup(
            error_type=kind,
            count=len(lines),
            accounts=tuple(
                dict.fromkeys(account_label(e.account_name, e.account_id) for e in lines)
            ),
            example=lines[0],
        )
        for kind, lines in grouped.items()
    ]
    return sorted(groups, key=lambda g: -g.count)


def failures_by_account(errors: Iterable[ErrorLine]) -> list[tuple[str, int, list[str]]]:
    """(account, number of errors, its error classes), the account with most errors first."""
    by_account: dict[str, list[ErrorLine]] = {}
    for error in errors:
        label = f"{account_label(error.account_name, error.account_id)} ({error.account_id})"
        by_account.setdefault(label, []).append(error)
    rows = [
        (label, len(lines), list(dict.fromkeys(e.error_type for e in lines)))
        for label, lines in by_account.items()
    ]
    return sorted(rows, key=lambda row: -row[1])


KIND_WORDS = {"added": ("+", "new"), "removed": ("-", "gone"), "changed": ("~", "changed")}


def change_counts(changes: ScriptChanges) -> str:
    """`3 new, 1 gone, 2 changed` (only the kinds that happened)."""
    parts = [
        f"{count} {KIND_WORDS[kind][1]}"
        for kind, count in (
            ("added", changes.added),
            ("removed", changes.removed),
            ("changed", changes.changed),
        )
        if count
    ]
    return ", ".join(parts) or "no change"


def example_groups(
    changes: ScriptChanges,
) -> list[tuple[str, str, list[ChangeExample]]]:
    """The examples by (kind, account), in the order added, removed, changed."""
    grouped: dict[tuple[str, str], list[ChangeExample]] = {}
    for example in changes.examples:
        label = account_label(example.account_name, example.account_id)
        grouped.setdefault((example.kind, label), []).append(example)
    order = list(KIND_WORDS)
    keys = sorted(grouped, key=lambda k: order.index(k[0]) if k[0] in order else len(order))
    return [(kind, label, grouped[(kind, label)]) for kind, label in keys]


def change_headline(kind: str, count: int, script: str, account: str) -> str:
    """`+2 new public buckets in prod`: the script's name read as what it lists."""
    what = script.replace("_", " ")
    if kind == "added":
        return f"+{count} new {what} in {account}"
    if kind == "removed":
        return f"-{count} {what} gone from {account}"
    return f"~{count} {what} changed in {account}"


def not_shown(changes: ScriptChanges) -> int:
    """How many of the script's changes no example shows."""
    return max(0, changes.added + changes.removed + changes.changed - len(changes.examples))


def diff_title(diff: RunDiff) -> str:
    if diff.against is None:
        return "Changes: no previous complete run, every record is new"
    return f"Changes since run {diff.against}" + ("" if diff.any else ": none")


def cost_text(cost: RunCost) -> str:
    """`$0.0123 (lambda $0.0100, dynamodb $0.0023)`."""
    parts = ", ".join(f"{name} {usd(value)}" for name, value in sorted(cost.parts_usd.items()))
    return usd(cost.total_usd) + (f" ({parts})" if parts else "")


# The text part.


def mail_text(report: RunReport) -> str:
    """The plain-text part: the summary the Notifier has always sent, then changes and cost."""

    lines = [format_summary(report.summary)]
    if report.diff is not None:
        lines.append(diff_title(report.diff))
        for changes in report.diff.scripts:
            if not changes.any:
                continue
            lines.append(f"  {changes.script}: {change_counts(changes)}")
            for kind, account, examples in example_groups(changes):
                lines.append(f"    {change_headline(kind, len(examples), changes.script, account)}")
                lines += [
                    f"      {' '.join(filter(None, (e.region, one_line(e.text))))}"
                    for e in examples
                ]
            if hidden := not_shown(changes):
                lines.append(f"    … and {hidden} more")
    if report.cost is not None:
        lines.append(f"cost: {cost_text(report.cost)}")
    return "\n".join(lines)


# The HTML part: every piece of text goes through `_h` (html.escape, quotes too).

_CELL = "padding:4px 8px;border:1px solid #ddd;text-align:left;vertical-align:top"
_TABLE = "border-collapse:collapse;margin:8px 0;font-size:14px"
_H2 = "font-size:16px;margin:16px 0 4px"
_COLOURS = {"ok": "#1a7f37", "bad": "#cf222e", "warn": "#9a6700"}


def _h(text: object) -> str:
    return html.escape(str(text), quote=True)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f'<th style="{_CELL};background:#f6f8fa">{_h(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{_h(cell)}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return f'<table style="{_TABLE}"><tr>{head}</tr>{body}</table>'


def _verdict_colour(report: RunReport) -> str:
    summary = report.summary
    if summary.ok:
        return _COLOURS["ok"]
    return _COLOURS["bad"] if summary.errors or summary.error else _COLOURS["warn"]


def mail_html(report: RunReport) -> str:
    """The HTML part: a self-contained document (no external resources, no scripts)."""
    s = report.summary
    title = f"lambdafan {report.fleet}: run {s.run_id}"
    parts = [
        f'<h1 style="font-size:18px;margin:0 0 8px">{_h(title)}: '
        f'<span style="color:{_verdict_colour(report)}">{_h(s.verdict)}</span></h1>'
    ]
    if s.error:
        parts.append(f"<p><b>Why:</b> {_h(s.error)}</p>")
    if s.silent_accounts:
        parts.append(f"<p><b>Never reported:</b> {_h(', '.join(s.silent_accounts))}</p>")
    if s.printed_only:
        more = len(s.printed_only) - 10
        printed = ", ".join(s.printed_only[:10]) + (f" … and {more} more" if more > 0 else "")
        parts.append(f"<p><b>Printed but yielded no records:</b> {_h(printed)}</p>")
    accounts = f"{s.accounts_done}/{s.accounts_expected} done" + (
        f", {s.accounts_failed} failed" if s.accounts_failed else ""
    )
    parts.append(_table(("Accounts", "Records", "Errors"), [(accounts, s.records, len(s.errors))]))
    if s.records_by_script:
        rows: list[tuple[object, ...]] = []
        changes = {c.script: c for c in (report.diff.scripts if report.diff else ())}
        for script, count in sorted(s.records_by_script.items()):
            c = changes.get(script)
            counts = (c.added, c.removed, c.changed) if c else ("", "", "")
            rows.append((script, count, *(counts if changes else ())))
        header = ("Script", "Records", *(("Added", "Removed", "Changed") if changes else ()))
        parts.append(f'<h2 style="{_H2}">Records per script</h2>' + _table(header, rows))
    if s.errors:
        parts.append(f'<h2 style="{_H2}">Failures</h2>')
        groups = failure_groups(s.errors)
        parts.append(
            _table(
                ("Error", "Errors", "Accounts", "Example"),
                [
                    (
                        g.error_type,
                        g.count,
                        ", ".join(g.accounts),
                        f"{g.example.script} {g.example.region}: {g.example.message}",
                    )
                    for g in groups[:MAX_ERROR_GROUPS]
                ],
            )
        )
        if len(groups) > MAX_ERROR_GROUPS:
            parts.append(f"<p>… and {len(groups) - MAX_ERROR_GROUPS} more error classes</p>")
        parts.append(
            _table(
                ("Account", "Script", "Region", "Error", "Message"),
                [
                    (
                        f"{e.account_name} ({e.account_id})",
                        e.script,
                        e.region,
                        e.error_type,
                        e.message,
                    )
                    for e in s.errors[:MAX_ERROR_ROWS]
                ],
            )
        )
        if len(s.errors) > MAX_ERROR_ROWS:
            parts.append(f"<p>… and {len(s.errors) - MAX_ERROR_ROWS} more errors</p>")
    if report.diff is not None:
        parts.append(f'<h2 style="{_H2}">{_h(diff_title(report.diff))}</h2>')
        for c in report.diff.scripts:
            if not c.any:
                continue
            parts.append(f"<p><b>{_h(c.script)}</b>: {_h(change_counts(c))}</p>")
            rows = [
                (KIND_WORDS.get(e.kind, ("", e.kind))[1], f"{e.account_name} ({e.account_id})",
                 e.region, e.text)
                for e in c.examples
            ]  # fmt: skip
            if rows:
                parts.append(_table(("", "Account", "Region", "Record"), rows))
            if hidden := not_shown(c):
                parts.append(f"<p>… and {hidden} more</p>")
    if report.cost is not None:
        parts.append(f"<p><b>Cost:</b> {_h(cost_text(report.cost))}</p>")
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{_h(title)}</title></head>\n"
        '<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;'
        f'color:#1f2328;margin:16px">\n{body}\n</body></html>\n'
    )


def mail_parts(report: RunReport) -> tuple[str, str]:
    """The email's (text, html) parts."""
    return mail_text(report), mail_html(report)
