"""A run's Slack message in Block Kit: what it says, within Slack's limits, every untrusted piece
of text inert."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from lambda_src import status
from lambda_src.run_report import ChangeExample, RunCost, RunDiff, RunReport, ScriptChanges
from lambda_src.run_summary import ErrorLine, RunSummary
from lambda_src.slack_blocks import ZERO_WIDTH_SPACE, _within_limits, slack_blocks

HOSTILE = "```<!channel> <https://x|y> `x`"


def error(name: str, account_id: str, kind: str = "AccessDenied", message: str = "no") -> ErrorLine:
    return ErrorLine(account_id, name, "s3_public", "us-east-1", kind, message)


def sample_report(
    *,
    errors: list[ErrorLine] | None = None,
    scripts: tuple[ScriptChanges, ...] | None = None,
    fleet: str = "prod-fleet",
    records: dict[str, int] | None = None,
) -> RunReport:
    """A run with failures, changes since the run before and a cost."""
    if errors is None:
        errors = [
            error("prod", "111111111111"),
            error("staging", "222222222222"),
            error("dev", "333333333333"),
            error("prod", "111111111111", "Throttling", "Rate exceeded"),
        ]
    if scripts is None:
        added = [
            ChangeExample("added", "111111111111", "prod", "us-east-1", f'{{"bucket":"b{i}"}}')
            for i in range(2)
        ]
        removed = ChangeExample("removed", "222222222222", "staging", "", '{"bucket":"old"}')
        scripts = (
            ScriptChanges("public_buckets", added=2, removed=1, examples=(*added, removed)),
            ScriptChanges("ec2_instances"),
        )
    summary = RunSummary(
        run_id="20261127T140000Z-abc",
        status=status.COMPLETE_WITH_FAILURES if errors else status.COMPLETE,
        started_at="2026-11-27T14:00:00+00:00",
        finished_at="2026-11-27T14:01:00+00:00",
        accounts_expected=4,
        accounts_done=4,
        accounts_failed=1 if errors else 0,
        records_by_script=records if records is not None else {"public_buckets": 7, "ec2": 3},
        errors=errors,
    )
    diff = RunDiff(run_id=summary.run_id, against="20261126T140000Z-abc", scripts=scripts)
    cost = RunCost(Decimal("0.0123"), {"lambda": Decimal("0.0100"), "dynamodb": Decimal("0.0023")})
    return RunReport(fleet=fleet, summary=summary, diff=diff, cost=cost)


TEXT_TYPES = {"plain_text", "mrkdwn"}


def check_text(obj: Any, limit: int, types: set[str] = TEXT_TYPES) -> int:
    assert isinstance(obj, dict) and obj["type"] in types, obj
    assert isinstance(obj["text"], str) and 1 <= len(obj["text"]) <= limit, obj
    assert set(obj) <= {"type", "text", "emoji", "verbatim"}, obj
    return len(obj["text"])


def check_block_kit(payload: dict[str, Any]) -> None:
    """What Slack validates in a message payload (docs.slack.dev reference/block-kit)."""
    assert set(payload) == {"text", "blocks"}
    assert isinstance(payload["text"], str) and 0 < len(payload["text"]) <= 3000
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    total = 0
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            assert set(block) == {"type", "text"}
            total += check_text(block["text"], 150, {"plain_text"})
        elif kind == "section":
            assert set(block) <= {"type", "text", "fields"} and (
                "text" in block or "fields" in block
            )
            if "text" in block:
                total += check_text(block["text"], 3000)
            assert len(block.get("fields", ())) <= 10
            total += sum(check_text(f, 2000) for f in block.get("fields", ()))
        elif kind == "context":
            assert set(block) == {"type", "elements"} and 1 <= len(block["elements"]) <= 10
            total += sum(check_text(e, 3000) for e in block["elements"])
        else:
            assert kind == "divider" and set(block) == {"type"}
    assert total <= 12000  # Slack refuses ~13,000 characters of blocks (bolt-js#2509)
    json.dumps(payload)


def all_text(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def shown(text: str) -> str:
    """What Slack displays: its three entities decoded, zero-width spaces invisible."""
    text = text.replace(ZERO_WIDTH_SPACE, "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def texts(payload: dict[str, Any]) -> list[str]:
    found: list[str] = [payload["text"]]
    for block in payload["blocks"]:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if obj:
                found.append(obj["text"])
    return found


def test_a_run_with_failures_changes_and_cost_reads_as_one_message() -> None:
    payload = slack_blocks(sample_report())
    check_block_kit(payload)
    header = payload["blocks"][0]["text"]["text"]
    assert header.startswith(":x: 4 error(s)") and "prod-fleet" in header
    body = "\n".join(texts(payload))
    assert "*Accounts*\n4/4 done, 1 failed" in body and "*Cost*\n$0.0123" in body
    assert "• public_buckets: 7" in body
    assert "*AccessDenied* — 3 error(s) in 3 account(s): prod, staging, dev" in body
    assert "• prod (111111111111): 2 — AccessDenied, Throttling" in body
    assert "*public_buckets*: 2 new, 1 gone" in body
    assert '+2 new public buckets in prod: {"bucket":"b0"}, {"bucket":"b1"}' in body
    assert '-1 public buckets gone from staging: {"bucket":"old"}' in body
    assert "ec2_instances" not in body.split("Changes since")[1]  # no change, not listed
    assert "lambda $0.0100" in body
    assert payload["text"].endswith("10 records, 2 new, 1 gone")


def test_a_clean_first_run_says_everything_is_new() -> None:
    report = sample_report(errors=[])
    report = RunReport(
        report.fleet,
        report.summary,
        RunDiff(report.summary.run_id, None, report.diff.scripts if report.diff else ()),
    )
    payload = slack_blocks(report)
    check_block_kit(payload)
    assert payload["blocks"][0]["text"]["text"].startswith(":white_check_mark: OK")
    body = "\n".join(texts(payload))
    assert "no previous complete run, every record is new" in body
    assert "Failures" not in body and "Cost" not in body


def test_an_oversized_run_is_cut_to_slacks_limits_with_and_n_more() -> None:
    """600 errors in 60 classes, 80 scripts with changes, 400 scripts, 5,000-character names."""
    long = "x" * 5000
    errors = [
        error(f"acct-{i}-{long}", f"{i:012d}", f"Error{i % 60}{long}", long) for i in range(600)
    ]
    scripts = tuple(
        ScriptChanges(
            f"script_{i}_{long}",
            added=500,
            removed=500,
            examples=tuple(
                ChangeExample("added", f"{j:012d}", f"a{j}{long}", "us-east-1", long)
                for j in range(5)
            ),
        )
        for i in range(80)
    )
    records = {f"script_{i}_{'y' * 100}": i for i in range(400)}
    report = sample_report(errors=errors, scripts=scripts, fleet="f" * 500, records=records)

    payload = slack_blocks(report)

    check_block_kit(payload)
    body = "\n".join(texts(payload))
    assert "… and 54 more error classes" in body and "… and 74 more scripts with changes" in body
    assert "… and 390 more" in body  # records per script
    assert "Cost at list prices" in body  # failures and changes left room for the rest
    assert len(payload["blocks"][0]["text"]["text"]) <= 150


def test_untrusted_text_arrives_inert() -> None:
    errors = [ErrorLine("111111111111", HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE)]
    example = ChangeExample("added", "111111111111", HOSTILE, "us-east-1", HOSTILE)
    scripts = (ScriptChanges(HOSTILE, added=1, examples=(example,)),)
    report = sample_report(errors=errors, scripts=scripts, fleet=HOSTILE, records={HOSTILE: 1})

    payload = slack_blocks(report)

    check_block_kit(payload)
    for text in texts(payload):
        assert "<" not in text and ">" not in text  # no mention, no link can be spelled
        assert "``" not in text  # no code block can be opened or closed
    # ... and people still read what the account is called.
    assert HOSTILE in shown("\n".join(texts(payload)))
    assert all(block.get("text", {}).get("verbatim", True) for block in payload["blocks"][1:])


def test_no_more_than_50_blocks_the_last_saying_what_was_left_out() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 80
    kept = _within_limits(blocks)
    assert len(kept) == 50 and kept[:49] == blocks[:49]
    assert kept[-1]["elements"][0]["text"] == "… and 31 more sections not shown"


def test_the_notification_text_counts_changed_records_too() -> None:
    changed = ChangeExample("changed", "111111111111", "prod", "us-east-1", '{"id":"i-1"}')
    scripts = (ScriptChanges("ec2_instances", added=1, changed=1, examples=(changed,)),)
    payload = slack_blocks(sample_report(scripts=scripts))
    assert payload["text"].endswith("records, 1 new, 0 gone, 1 changed")


def test_pairs_that_printed_and_yielded_nothing_are_named() -> None:
    report = sample_report(errors=[])
    report.summary.printed_only = ["prod (111111111111) volumes us-east-1"]
    body = "\n".join(texts(slack_blocks(report)))
    assert "*Printed but yielded no records:* prod (111111111111) volumes us-east-1" in body
