"""The diff between runs: two runs written to moto's table, compared by record identity (KEY)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import boto3
import pytest

from lambda_src import status, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.run_diff import (
    OutOfTime,
    RunNotFound,
    Skipped,
    Tally,
    compare_records,
    diff_runs,
    previous_complete_run,
)
from lambda_src.run_report import ChangeExample, RunDiff, ScriptChanges
from lambda_src.table import ItemStore
from tests.conftest import create_table, make_settings

A, B, C = "111111111111", "022222222222", "333333333333"
NAMES = {A: "prod", B: "staging", C: "sandbox"}
EXPIRES = 1_900_000_000
KEYS = {"inventory": ("instance_id",)}
R1, R2 = "20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"
R3 = "20260103T000000Z-cccccc"

Found = Mapping[str, Mapping[tuple[str, str], Sequence[dict[str, Any]]]]


def write_run(
    store: ItemStore,
    run_id: str,
    found: Found,
    *,
    run_status: str = status.COMPLETE,
    errors: Sequence[tuple[str, str, str]] = (),
    error_type: str = "RuntimeError",
    not_done: Sequence[str] = (),
    keys: Mapping[str, Sequence[str]] = KEYS,
    partial: bool = False,
) -> None:
    """A finished run as the Workers leave it: per account (script, region) → records, each done
    account's counted attempt, plus a stray attempt's record that must never count."""
    errors_of = {a for a, _, _ in errors}
    accounts = sorted({*found, *errors_of, *not_done})
    scripts = sorted({s for pairs in found.values() for s, _ in pairs})
    run = table.run_item(
        run_id,
        started_at="2026-01-01T00:00:00+00:00",
        accounts_expected=len(accounts),
        scripts=scripts,
        trigger="manual",
        expires_at=EXPIRES,
        deadline_at="2026-01-01T08:00:00+00:00",
        accounts=accounts,
        partial=partial,
    )
    items = [{**run, "status": run_status}]
    for account in accounts:
        if account in not_done:
            continue
        by_script: dict[str, int] = {}
        for (script, region), records in found.get(account, {}).items():
            seen: dict[str, int] = {}
            for attempt, record in [("a1", r) for r in records] + [("a0", {"stray": run_id})]:
                items.append(
                    table.record_item(
                        run_id,
                        account,
                        NAMES[account],
                        script,
                        region,
                        record,
                        collected_at="2026-01-01T00:00:00+00:00",
                        expires_at=EXPIRES,
                        seen=seen,
                        attempt=attempt,
                        key=keys.get(script, ()),
                    )
                )
            by_script[script] = by_script.get(script, 0) + len(records)
        mine = [(s, r) for a, s, r in errors if a == account]
        items += [
            table.error_item(
                run_id,
                account,
                NAMES[account],
                script,
                region,
                error_type=error_type,
                message="boom",
                collected_at="2026-01-01T00:00:00+00:00",
                expires_at=EXPIRES,
                attempt="a1",
            )
            for script, region in mine
        ]
        items.append(
            table.account_done_item(
                run_id,
                account,
                NAMES[account],
                records_by_script=by_script,
                errors=len(mine),
                failed=(table.ACCOUNT_WIDE, table.ACCOUNT_WIDE) in mine,
                finished_at="2026-01-01T00:10:00+00:00",
                expires_at=EXPIRES,
                attempt="a1",
            )
        )
    store.put_items(items)


def inst(instance_id: str, state: str = "running") -> dict[str, Any]:
    return {"instance_id": instance_id, "state": state, "cpus": 2}


def bucket(name: str) -> dict[str, Any]:
    return {"name": name, "public": True}


USE1, EUW1, GLOBAL = "us-east-1", "eu-west-1", "global"

FIRST: Found = {
    A: {
        ("inventory", USE1): [inst("i-1"), inst("i-2"), inst("i-3")],
        ("inventory", EUW1): [inst("i-eu")],
        ("buckets", GLOBAL): [bucket("b1"), bucket("b2")],
    },
    B: {("inventory", USE1): [inst("i-b")]},
}
SECOND: Found = {
    A: {
        # i-2 stopped (changed), i-3 gone (removed), i-4 and i-5 new (added).
        ("inventory", USE1): [inst("i-1"), inst("i-2", "stopped"), inst("i-4"), inst("i-5")],
        ("inventory", EUW1): [inst("i-eu")],
        ("buckets", GLOBAL): [bucket("b1"), bucket("b3")],
    },
    B: {("inventory", USE1): [inst("i-b")]},
}


@pytest.fixture
def store(aws: boto3.Session) -> DynamoStore:
    return create_table(aws, make_settings())


@pytest.fixture
def two_runs(store: DynamoStore) -> DynamoStore:
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND)
    return store


def changes(diff: RunDiff, script: str) -> ScriptChanges:
    return next(s for s in diff.scripts if s.script == script)


def shown(changes: ScriptChanges, kind: str) -> set[tuple[str, str, str]]:
    return {(e.account_id, e.region, e.text) for e in changes.examples if e.kind == kind}


def ident(instance_id: str) -> str:
    return json.dumps({"instance_id": instance_id}, separators=(",", ":"))


def whole(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


class QueriesOnly:
    """A store that records which reads were made, to show the diff never scans."""

    def __init__(self, store: ItemStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.store, name)


def test_instances_added_removed_and_changed_by_key(two_runs: DynamoStore) -> None:
    reads = QueriesOnly(two_runs)
    diff = diff_runs(reads, R2, R1, key_for=lambda s: KEYS.get(s, ()))  # type: ignore[arg-type]

    assert (diff.run_id, diff.against, diff.any) == (R2, R1, True)
    inventory = changes(diff, "inventory")
    assert (inventory.added, inventory.removed, inventory.changed) == (2, 1, 1)
    assert shown(inventory, "added") == {(A, USE1, ident("i-4")), (A, USE1, ident("i-5"))}
    assert shown(inventory, "removed") == {(A, USE1, ident("i-3"))}
    assert shown(inventory, "changed") == {(A, USE1, ident("i-2"))}
    assert {e.account_name for e in inventory.examples} == {"prod"}
    assert [e.kind for e in inventory.examples] == ["added", "added", "removed", "changed"]
    # No KEY: the whole record is the identity.
    buckets = changes(diff, "buckets")
    assert (buckets.added, buckets.removed, buckets.changed) == (1, 1, 0)
    assert shown(buckets, "added") == {(A, GLOBAL, whole(bucket("b3")))}
    assert shown(buckets, "removed") == {(A, GLOBAL, whole(bucket("b2")))}
    assert set(reads.calls) <= {"get", "query", "query_runs"}


def test_without_key_a_changed_record_is_one_removed_and_one_added(two_runs: DynamoStore) -> None:
    inventory = changes(diff_runs(two_runs, R2, R1), "inventory")

    assert (inventory.added, inventory.removed, inventory.changed) == (3, 2, 0)
    assert whole(inst("i-2", "stopped")) in {
        e.text for e in inventory.examples if e.kind == "added"
    }
    assert whole(inst("i-2")) in {e.text for e in inventory.examples if e.kind == "removed"}


def test_the_first_run_reports_every_record_as_added(two_runs: DynamoStore) -> None:
    diff = diff_runs(two_runs, R1, None, key_for=lambda s: KEYS.get(s, ()), max_examples=2)

    assert diff.against is None
    inventory, buckets = changes(diff, "inventory"), changes(diff, "buckets")
    assert (inventory.added, inventory.removed, inventory.changed) == (5, 0, 0)
    assert (buckets.added, buckets.removed, buckets.changed) == (2, 0, 0)
    assert len(inventory.examples) == 2  # the first two, by account then region then identity
    assert [(e.account_id, e.region) for e in inventory.examples] == [(B, USE1), (A, EUW1)]
    assert {e.kind for e in diff.scripts[0].examples} == {"added"}


def test_same_records_no_change_and_every_script_listed(store: DynamoStore) -> None:
    write_run(store, R1, FIRST)
    write_run(store, R2, FIRST)

    diff = diff_runs(store, R2, R1, key_for=lambda s: KEYS.get(s, ()))

    assert not diff.any
    assert {s.script for s in diff.scripts} == {"inventory", "buckets"}


def test_a_script_in_one_run_only_is_all_added_or_all_removed(store: DynamoStore) -> None:
    write_run(store, R1, {A: {("buckets", GLOBAL): [bucket("b1")]}})
    write_run(store, R2, {A: {("inventory", USE1): [inst("i-1"), inst("i-2")]}})

    diff = diff_runs(store, R2, R1, key_for=lambda s: KEYS.get(s, ()))

    assert [(s.script, s.added, s.removed) for s in diff.scripts] == [
        ("inventory", 2, 0),
        ("buckets", 0, 1),
    ]


def test_failures_are_skipped_never_reported_as_removed(store: DynamoStore) -> None:
    write_run(store, R1, {**FIRST, C: {("inventory", USE1): [inst("i-c")]}})
    write_run(
        store,
        R2,
        # B could not be assumed; A's inventory failed in eu-west-1 and found nothing there;
        # C did not finish (the run is incomplete).
        {A: {**SECOND[A], ("inventory", EUW1): []}},
        run_status=status.INCOMPLETE,
        errors=[(B, "*", "*"), (A, "inventory", EUW1)],
        not_done=[C],
    )
    skipped: list[Skipped] = []

    diff = diff_runs(store, R2, R1, key_for=lambda s: KEYS.get(s, ()), on_skip=skipped.append)

    inventory = changes(diff, "inventory")
    assert (inventory.added, inventory.removed, inventory.changed) == (2, 1, 1)
    assert {e.account_id for e in inventory.examples} == {A}
    assert skipped == [
        Skipped(B, "*", "*", f"failed in run {R2}"),
        Skipped(A, "inventory", EUW1, "an error in either run"),
        Skipped(C, "*", "*", f"did not finish in run {R2}"),
    ]


def test_a_pair_whose_only_error_is_its_s3_export_is_compared(store: DynamoStore) -> None:
    """A failed upload says nothing of the records (the table has them all): its changes show,
    so `notify.only_on: changes` still sees them."""
    write_run(store, R1, FIRST)
    write_run(store, R2, SECOND, errors=[(A, "inventory", USE1)], error_type="ExportError",
              run_status=status.COMPLETE_WITH_FAILURES)  # fmt: skip
    skipped: list[Skipped] = []

    diff = diff_runs(store, R2, R1, key_for=lambda s: KEYS.get(s, ()), on_skip=skipped.append)

    inventory = changes(diff, "inventory")
    assert (inventory.added, inventory.removed, inventory.changed) == (2, 1, 1)
    assert diff.any and skipped == []


def test_an_account_that_joined_or_left_the_fleet_is_all_added_or_removed(
    store: DynamoStore,
) -> None:
    write_run(store, R1, {A: FIRST[A]})
    write_run(store, R2, {B: FIRST[B]})

    inventory = changes(diff_runs(store, R2, R1, key_for=lambda s: KEYS.get(s, ())), "inventory")

    assert (inventory.added, inventory.removed) == (1, 4)
    assert shown(inventory, "added") == {(B, USE1, ident("i-b"))}


def test_previous_complete_run_skips_runs_that_did_not_report(store: DynamoStore) -> None:
    ended = [
        ("20260101T000000Z-r1", status.COMPLETE),
        ("20260102T000000Z-r2", status.COMPLETE_WITH_FAILURES),
        ("20260103T000000Z-r3", status.INCOMPLETE),
        ("20260104T000000Z-r4", status.INTERRUPTED),
        ("20260105T000000Z-r5", status.FAILED_TO_START),
        ("20260106T000000Z-r6", status.RUNNING),
        ("20260107T000000Z-r7", status.COMPLETE),
    ]
    for run_id, run_status in ended:
        write_run(store, run_id, {}, run_status=run_status)

    def previous(run_id: str) -> str | None:
        run = previous_complete_run(store, run_id)
        return None if run is None else str(run["run_id"])

    assert previous("20260106T000000Z-r6") == "20260102T000000Z-r2"
    assert previous("20260102T000000Z-r2") == "20260101T000000Z-r1"
    assert previous("20260101T000000Z-r1") is None


def test_an_unknown_run_is_named(two_runs: DynamoStore) -> None:
    with pytest.raises(RunNotFound, match="run 20260109T000000Z-zz not found"):
        diff_runs(two_runs, R2, "20260109T000000Z-zz")


# --- the comparison alone -------------------------------------------------------------------


def test_a_repeated_identity_counts_each_time() -> None:
    same = {"instance_id": "i-1", "state": "running"}

    found = list(compare_records([same, same, same], [same], ("instance_id",)))

    assert found == [("added", ident("i-1")), ("added", ident("i-1"))]


def test_a_record_missing_a_key_field_is_identified_by_all_of_it() -> None:
    found = list(compare_records([{"state": "on"}], [{"state": "off"}], ("instance_id",)))

    assert found == [("removed", '{"state":"off"}'), ("added", '{"state":"on"}')]


def test_examples_are_capped_per_script_and_kind_counts_are_not() -> None:
    tally = Tally(max_examples=2)
    for n in range(5):
        for kind in ("removed", "added"):
            tally.add("s", ChangeExample(kind, A, "prod", USE1, str(n)))

    (s,) = tally.result("r2", "r1").scripts

    assert (s.added, s.removed, s.changed) == (5, 5, 0)
    assert [(e.kind, e.text) for e in s.examples] == [
        ("added", "0"),
        ("added", "1"),
        ("removed", "0"),
        ("removed", "1"),
    ]


def test_a_run_for_some_accounts_or_scripts_is_compared_on_what_it_covered(
    store: DynamoStore,
) -> None:
    # A full run, then `run --now --account A --script buckets` (nothing changed), then a full
    # run again (nothing changed): no change is reported at all.
    write_run(store, R1, FIRST)
    write_run(store, R2, {A: {("buckets", GLOBAL): [bucket("b1"), bucket("b2")]}}, partial=True)
    write_run(store, R3, FIRST)

    partial = diff_runs(store, R2, R1, key_for=lambda s: KEYS.get(s, ()))
    assert [(c.script, c.any) for c in partial.scripts] == [("buckets", False)]
    # The full run is compared with the full run before it, not with the partial one.
    previous = previous_complete_run(store, R3)
    assert previous is not None and previous["run_id"] == R1
    assert not diff_runs(store, R3, R1, key_for=lambda s: KEYS.get(s, ())).any


def test_a_diff_out_of_time_stops_with_out_of_time(two_runs: DynamoStore) -> None:
    with pytest.raises(OutOfTime):
        diff_runs(two_runs, R2, R1, out_of_time=lambda: True)
