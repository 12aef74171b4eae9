"""A run's Slack message in Block Kit: header, counts, failures, changes, cost.

Every piece of text from accounts, records, scripts and errors goes through `inert` (escaped,
backticks broken, on one line), and every block is kept within Slack's limits (docs.slack.dev,
reference/block-kit): 50 blocks a message, header text 150 characters, section text 3,000,
10 fields of 2,000 each. What does not fit ends with "… and N more".
"""

from __future__ import annotations

from typing import Any

from lambda_src import mail_html as plain
from lambda_src.run_report import RunReport, ScriptChanges

MAX_BLOCKS = 50
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
# Slack truncates a message's `text` at 40,000 characters; it is only the notification and
# fallback here, so a short one.
FALLBACK_LIMIT = 3000
# Slack also rejects blocks whose text adds up to about 13,000 characters (msg_blocks_too_long,
# undocumented: slackapi/bolt-js#2509), so the whole message keeps under this.
TOTAL_LIMIT = 11000
# Each part's share of TOTAL_LIMIT, so that a huge run still shows its failures and changes.
MAX_ERROR_GROUPS = 6
MAX_SCRIPTS_CHANGED = 6
LIST_LIMIT = 1200  # records per script; failures by account
GROUP_LIMIT = 600  # one error class
CHANGES_LIMIT = 800  # one script's changes
PIECE_LIMIT = 200  # one account name, record or message, before escaping
# Put after each backtick, so no run of three can open or close a code block.
ZERO_WIDTH_SPACE = "\u200b"


def slack_escape(text: str) -> str:
    """`text` as Slack shows it literally: `&`, `<` and `>` escaped, the only characters Slack's
    mrkdwn decodes, so no mention (`<!channel>`, `<@U123>`) or link (`<https://…|click>`) can be
    spelled by the text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert_backticks(text: str) -> str:
    return text.replace("`", "`" + ZERO_WIDTH_SPACE)


def inert(text: object, limit: int = PIECE_LIMIT) -> str:
    """Untrusted text for mrkdwn: on one line, clipped, escaped, its backticks broken."""
    return inert_backticks(slack_escape(plain.one_line(str(text), limit)))


def clip(text: str, limit: int) -> str:
    """Escaped `text` cut to `limit` characters without leaving half an entity (`&am`)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def pack(lines: list[str], limit: int, title: str = "") -> str:
    """`title` then as many `lines` as fit in `limit` characters, then `… and N more`."""
    out = [title] if title else []
    room = limit - len(title) - 40  # kept for the "… and N more" line
    for index, line in enumerate(lines):
        if len(line) + 1 > room:
            out.append(f"… and {len(lines) - index} more")
            break
        out.append(line)
        room -= len(line) + 1
    return clip("\n".join(out), limit)


def names_list(names: list[str], limit: int = 250, shown: int = 5) -> str:
    """`prod, staging, dev … and 4 more`, escaped."""
    picked = [inert(n, 60) for n in names[:shown]]
    while picked and len(", ".join(picked)) > limit:
        picked.pop()
    more = len(names) - len(picked)
    return ", ".join(picked) + (f" … and {more} more" if more else "")


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack does not turn bare URLs, #channel or @here in the text into links.
    return {"type": "mrkdwn", "text": text or " ", "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(clip(text, SECTION_LIMIT))}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(clip(text, SECTION_LIMIT))]}


def _icon(report: RunReport) -> str:
    summary = report.summary
    if summary.ok:
        return ":white_check_mark:"
    return ":x:" if summary.errors or summary.error else ":warning:"


def header_text(report: RunReport) -> str:
    s = report.summary
    fleet, verdict = inert(report.fleet, 60), inert(s.verdict, 60)
    return f"{_icon(report)} {verdict} · {fleet} · run {inert(s.run_id, 40)}"


def _counts(report: RunReport) -> list[dict[str, Any]]:
    s = report.summary
    accounts = f"{s.accounts_done}/{s.accounts_expected} done" + (
        f", {s.accounts_failed} failed" if s.accounts_failed else ""
    )
    fields = [f"*Accounts*\n{accounts}", f"*Records*\n{s.records:,}", f"*Errors*\n{len(s.errors)}"]
    if report.cost is not None:
        fields.append(f"*Cost*\n{plain.usd(report.cost.total_usd)}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "fields": [_mrkdwn(clip(f, FIELD_LIMIT)) for f in fields[:MAX_FIELDS]]}
    ]
    if s.error:
        blocks.append(_section(f"*Why:* {inert(s.error, 1000)}"))
    if s.silent_accounts:
        blocks.append(_section(f"*Never reported:* {names_list(list(s.silent_accounts))}"))
    if s.printed_only:
        blocks.append(
            _section(f"*Printed but yielded no records:* {names_list(list(s.printed_only))}")
        )
    if s.records_by_script:
        lines = [
            f"• {inert(script, 100)}: {count:,}"
            for script, count in sorted(s.records_by_script.items())
        ]
        blocks.append(_section(pack(lines, LIST_LIMIT, "*Records per script*")))
    return blocks


def _failures(report: RunReport) -> list[dict[str, Any]]:
    errors = report.summary.errors
    if not errors:
        return []
    accounts = {e.account_id for e in errors}
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        _section(f"*Failures:* {len(errors)} error(s) in {len(accounts)} account(s)"),
    ]
    groups = plain.failure_groups(errors)
    for g in groups[:MAX_ERROR_GROUPS]:
        e = g.example
        text = (
            f"*{inert(g.error_type, 80)}* — {g.count} error(s) in {len(g.accounts)} "
            f"account(s): {names_list(list(g.accounts))}\n"
            f"e.g. {inert(e.account_name or e.account_id, 40)} {inert(e.script, 40)} "
            f"{inert(e.region, 20)}: {inert(e.message, 200)}"
        )
        blocks.append(_section(clip(text, GROUP_LIMIT)))
    if len(groups) > MAX_ERROR_GROUPS:
        blocks.append(_context(f"… and {len(groups) - MAX_ERROR_GROUPS} more error classes"))
    lines = [
        f"• {inert(account, 80)}: {count} — {', '.join(inert(k, 60) for k in kinds)}"
        for account, count, kinds in plain.failures_by_account(errors)
    ]
    blocks.append(_section(pack(lines, LIST_LIMIT, "*By account*")))
    return blocks


def _script_changes(changes: ScriptChanges) -> str:
    lines = []
    for kind, account, examples in plain.example_groups(changes):
        headline = plain.change_headline(kind, len(examples), changes.script, account)
        records = ", ".join(inert(e.text, 100) for e in examples[:3])
        more = f" … and {len(examples) - 3} more" if len(examples) > 3 else ""
        lines.append(f"{inert(headline, 120)}: {records}{more}")
    if hidden := plain.not_shown(changes):
        lines.append(f"… and {hidden} more not listed")
    title = f"*{inert(changes.script, 80)}*: {plain.change_counts(changes)}"
    return pack(lines, CHANGES_LIMIT, title)


def _changes(report: RunReport) -> list[dict[str, Any]]:
    diff = report.diff
    if diff is None:
        return []
    blocks: list[dict[str, Any]] = [
        {"type": "divider"},
        _section(f"*{inert(plain.diff_title(diff), 300)}*"),
    ]
    changed = [c for c in diff.scripts if c.any]
    blocks += [_section(_script_changes(c)) for c in changed[:MAX_SCRIPTS_CHANGED]]
    if len(changed) > MAX_SCRIPTS_CHANGED:
        more = len(changed) - MAX_SCRIPTS_CHANGED
        blocks.append(_context(f"… and {more} more scripts with changes"))
    return blocks


def _cost(report: RunReport) -> list[dict[str, Any]]:
    if report.cost is None:
        return []
    return [_context(f"Cost at list prices: {inert(plain.cost_text(report.cost), 1000)}")]


def _text_length(block: dict[str, Any]) -> int:
    texts = [block.get("text"), *block.get("fields", []), *block.get("elements", [])]
    return sum(len(t["text"]) for t in texts if isinstance(t, dict) and "text" in t)


def _within_limits(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most MAX_BLOCKS blocks and TOTAL_LIMIT characters; the last says what was left out."""
    kept: list[dict[str, Any]] = []
    total = 0
    for index, block in enumerate(blocks):
        size = _text_length(block)
        if len(kept) == MAX_BLOCKS - 1 or total + size > TOTAL_LIMIT - 100:
            kept.append(_context(f"… and {len(blocks) - index} more sections not shown"))
            return kept
        kept.append(block)
        total += size
    return kept


def fallback_text(report: RunReport) -> str:
    """The message's `text`: what notifications and clients without blocks show."""
    s = report.summary
    text = (
        f"lambdafan {inert(report.fleet, 80)}: run {inert(s.run_id, 40)} "
        f"{inert(s.verdict, 80)}, {s.records:,} records"
    )
    if report.diff is not None and report.diff.any:
        added = sum(c.added for c in report.diff.scripts)
        removed = sum(c.removed for c in report.diff.scripts)
        changed = sum(c.changed for c in report.diff.scripts)
        text += f", {added} new, {removed} gone" + (f", {changed} changed" if changed else "")
    return clip(text, FALLBACK_LIMIT)


def slack_blocks(report: RunReport) -> dict[str, Any]:
    """The webhook payload for a run: `text` (the fallback) and `blocks`."""
    header = {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": clip(header_text(report), HEADER_LIMIT),
            "emoji": True,
        },
    }
    blocks = [
        header,
        *_counts(report),
        *_failures(report),
        *_changes(report),
        *_cost(report),
    ]
    return {"text": fallback_text(report), "blocks": _within_limits(blocks)}
