"""What changed between two runs of a fleet: per script, the records added, removed and changed.

A record's identity is its script's `KEY` fields when the script declares them (and the record
has them all), else the whole record. Only what both runs looked at is compared, so a failure is
never reported as everything having disappeared:
- an account is compared when it finished in both runs without an account-wide error;
- an account that only one run had at all (it joined or left the fleet) counts as all added or
  all removed; one that the other run expected but that did not finish or failed is skipped;
- a (script, region) with an error in either run is skipped in that account (its records may
  be partial), unless its only error is its S3 export's (`ExportError`: the table has every
  record);
- against no run (the fleet's first), every record of the run is added.
Skips are told to `on_skip`. Reads are Queries only, one account at a time, so memory is bounded
by one account's records. Runs in the Notifier: standard library and `lambda_src` only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_src import s3_export, status, table
from lambda_src.records import from_dynamo
from lambda_src.run_report import MAX_EXAMPLES, ChangeExample, RunDiff, ScriptChanges
from lambda_src.table import Item, ItemStore

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
KINDS = (ADDED, REMOVED, CHANGED)
# A run that ended with every account reported: what it found is a full picture to compare
# with. Incomplete, interrupted and never-started runs are not.
COMPARABLE = frozenset({status.COMPLETE, status.COMPLETE_WITH_FAILURES})

KeyFor = Callable[[str], Sequence[str]]


class RunNotFound(LookupError):
    """A run id with no run item in the table."""


@dataclass(frozen=True)
class Skipped:
    """Part of an account left out of the diff, and why; script and region `*`: all of it."""

    account_id: str
    script: str
    region: str
    reason: str


# --- reading the runs (Queries only) --------------------------------------------------------


def previous_complete_run(store: ItemStore, run_id: str) -> Item | None:
    """The newest run before `run_id` that is complete (with or without failures), or None.
    A full run is compared with full runs only: a run started for some accounts or scripts
    (`run --now --account X`) says nothing of the others."""
    current = table.get_run(store, run_id)
    full = current is not None and not current.get("partial")
    # Run ids sort by start time and the `runs` index lists them newest first.
    for run in store.query_runs():
        if str(run["run_id"]) >= run_id or run.get("status") not in COMPARABLE:
            continue
        if full and run.get("partial"):
            continue
        return run
    return None


class OutOfTime(RuntimeError):
    """The diff was stopped: its caller's time ran out (a Notifier must still tell the run)."""


@dataclass(frozen=True)
class _Side:
    """What one run says about its accounts: the finished ones, the expected ones, the errors."""

    run_id: str
    scripts: tuple[str, ...]
    expected: frozenset[str]
    done: Mapping[str, Item]
    errors: frozenset[tuple[str, str, str]]  # (account, script, region); script `*`: all
    partial: bool = False  # started for some accounts or scripts only

    def account_failed(self, account_id: str) -> bool:
        return (account_id, table.ACCOUNT_WIDE, table.ACCOUNT_WIDE) in self.errors

    def failed_pairs(self, account_id: str) -> set[tuple[str, str]]:
        return {(s, r) for a, s, r in self.errors if a == account_id}

    def records(self, store: ItemStore, account_id: str) -> list[Item]:
        done = self.done.get(account_id)
        if done is None:
            return []
        attempt = str(done.get("attempt", ""))
        return list(table.account_records(store, self.run_id, account_id, attempt=attempt))


def _read_side(store: ItemStore, run_id: str) -> _Side:
    run = table.get_run(store, run_id)
    if run is None:
        raise RunNotFound(f"run {run_id} not found")
    done = {str(a["account_id"]): a for a in table.account_items(store, run_id)}
    counted = {a: str(item.get("attempt", "")) for a, item in done.items()}
    errors = frozenset(
        (str(e["account_id"]), str(e["script"]), str(e["region"]))
        for e in table.run_errors(store, run_id, counted=counted)
        if e.get("error_type") != s3_export.EXPORT_ERROR  # says nothing of the records
    )
    return _Side(
        run_id=run_id,
        scripts=tuple(str(s) for s in run.get("scripts") or ()),
        expected=frozenset(str(a) for a in run.get("accounts") or ()) | frozenset(done),
        done=done,
        errors=errors,
        partial=bool(run.get("partial")),
    )


def diff_runs(
    store: ItemStore,
    run_id: str,
    against_id: str | None,
    *,
    key_for: KeyFor = lambda script: (),
    max_examples: int = MAX_EXAMPLES,
    on_skip: Callable[[Skipped], None] | None = None,
    out_of_time: Callable[[], bool] = lambda: False,
) -> RunDiff:
    """Run `run_id` against run `against_id` (None: all new); `key_for(script)` is its KEY.
    A partial run (some accounts or scripts) is compared on what it covered only. Raises
    `OutOfTime` when `out_of_time()` says so, checked before each account."""
    new = _read_side(store, run_id)
    old = None if against_id is None else _read_side(store, against_id)
    tally = Tally(max_examples)
    scripts = new.scripts if new.partial else (*new.scripts, *(old.scripts if old else ()))
    for script in scripts:
        tally.script(script)
    accounts = set(new.done) if new.partial else {*new.done, *(old.done if old else ())}
    for compared, account_id in enumerate(sorted(accounts)):
        if out_of_time():
            raise OutOfTime(f"run {run_id}: out of time after comparing {compared} accounts")
        reason = None if old is None else _why_skipped(account_id, new, old)
        if reason is not None:
            if on_skip is not None:
                on_skip(Skipped(account_id, table.ACCOUNT_WIDE, table.ACCOUNT_WIDE, reason))
            continue
        skip: set[tuple[str, str]] = set()
        if old is not None:
            skip = new.failed_pairs(account_id) | old.failed_pairs(account_id)
            for script, region in sorted(skip):
                if on_skip is not None and script != table.ACCOUNT_WIDE:
                    on_skip(Skipped(account_id, script, region, "an error in either run"))
        # One account's records of both runs at a time: the memory bound.
        new_items = new.records(store, account_id)
        old_items = old.records(store, account_id) if old is not None else []
        if new.partial:  # the scripts it did not run say nothing of what changed
            old_items = [i for i in old_items if str(i.get("script")) in new.scripts]
        name = _account_name(account_id, new, old)
        for kind, script, region, identity in compare_account(new_items, old_items, key_for, skip):
            tally.add(script, ChangeExample(kind, account_id, name, region, identity))
    return tally.result(run_id, against_id)


def _why_skipped(account_id: str, new: _Side, old: _Side) -> str | None:
    """Why an account cannot be compared between the runs; None when it can."""
    for side in (new, old):
        if account_id in side.done:
            if side.account_failed(account_id):
                return f"failed in run {side.run_id}"
        elif account_id in side.expected:
            return f"did not finish in run {side.run_id}"
    return None


def _account_name(account_id: str, new: _Side, old: _Side | None) -> str:
    done = new.done.get(account_id) or (old.done.get(account_id) if old else None) or {}
    return str(done.get("account_name", ""))


# --- comparing (pure) -----------------------------------------------------------------------


def compare_account(
    new_items: Iterable[Item],
    old_items: Iterable[Item],
    key_for: KeyFor,
    skip: Iterable[tuple[str, str]] = (),
) -> Iterator[tuple[str, str, str, str]]:
    """(kind, script, region, identity text) of each difference between one account's record
    items in two runs, by (script, region) in order; pairs in `skip` are left out."""
    new_pairs, old_pairs = _by_pair(new_items), _by_pair(old_items)
    skipped = set(skip)
    for pair in sorted(new_pairs.keys() | old_pairs.keys()):
        if pair in skipped:
            continue
        script, region = pair
        for kind, identity in compare_records(
            new_pairs.get(pair, ()), old_pairs.get(pair, ()), key_for(script)
        ):
            yield kind, script, region, identity


def _by_pair(items: Iterable[Item]) -> dict[tuple[str, str], list[Any]]:
    pairs: dict[tuple[str, str], list[Any]] = {}
    for item in items:
        pair = (str(item["script"]), str(item["region"]))
        pairs.setdefault(pair, []).append(from_dynamo(item.get("data") or {}))
    return pairs


def compare_records(
    new: Iterable[Any], old: Iterable[Any], key: Sequence[str] = ()
) -> Iterator[tuple[str, str]]:
    """(kind, identity text) of each record added, removed or (same `key`, other fields)
    changed from `old` to `new`, in identity order. A repeated identity counts each time."""
    new_index, old_index = _index(new, key), _index(old, key)
    for identity in sorted(new_index.keys() | old_index.keys()):
        now, before = new_index.get(identity, []), old_index.get(identity, [])
        for _ in range(len(now) - len(before)):
            yield ADDED, identity
        for _ in range(len(before) - len(now)):
            yield REMOVED, identity
        # Without KEY the identity is the whole record: nothing else can have changed.
        if key and now and before and set(now) != set(before):
            yield CHANGED, identity


def identity_text(record: Any, key: Sequence[str] = ()) -> str:
    """A record's identity as compact JSON: its `key` fields when it has them all, else all."""
    if key and isinstance(record, Mapping) and all(k in record for k in key):
        record = {k: record[k] for k in key}
    return _compact(record)


def _index(records: Iterable[Any], key: Sequence[str]) -> dict[str, list[str]]:
    """Identity text → the whole records (as compact JSON) with that identity."""
    index: dict[str, list[str]] = {}
    for record in records:
        index.setdefault(identity_text(record, key), []).append(_compact(record))
    return index


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


class Tally:
    """Counts per script and kind, and the first `max_examples` examples of each."""

    def __init__(self, max_examples: int = MAX_EXAMPLES) -> None:
        self.max_examples = max_examples
        self._counts: dict[str, dict[str, int]] = {}
        self._examples: dict[str, list[ChangeExample]] = {}

    def script(self, script: str) -> dict[str, int]:
        """The counts of `script`, which appears in the result even with no change."""
        return self._counts.setdefault(script, dict.fromkeys(KINDS, 0))

    def add(self, script: str, example: ChangeExample) -> None:
        counts = self.script(script)
        counts[example.kind] += 1
        if counts[example.kind] <= self.max_examples:
            self._examples.setdefault(script, []).append(example)

    def result(self, run_id: str, against: str | None) -> RunDiff:
        scripts = tuple(
            ScriptChanges(
                script=script,
                added=counts[ADDED],
                removed=counts[REMOVED],
                changed=counts[CHANGED],
                # Grouped by kind (added, removed, changed), in the order found within each.
                examples=tuple(
                    sorted(self._examples.get(script, ()), key=lambda e: KINDS.index(e.kind))
                ),
            )
            for script, counts in self._counts.items()
        )
        return RunDiff(run_id=run_id, against=against, scripts=scripts)
