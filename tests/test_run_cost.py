"""A run's cost: usage priced by hand-computed figures, measured by a metered store, and added
to the run item once per (function, attempt), whatever the retries."""

from __future__ import annotations

import platform
from decimal import Decimal

import boto3
import pytest

from lambda_src import handlers, names, runs, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.run_cost import (
    REPORT_WRITE_UNITS,
    MeteredStore,
    Usage,
    cost_of_run,
    cost_of_run_id,
    invocation_usage,
    metric_series,
    report_usage,
    run_cost,
)
from lambda_src.settings import FleetSettings
from lambdafan.memory_store import MemoryStore
from tests import test_handlers
from tests.test_handlers import FakeContext, create_functions

A = "111111111111"
deployed = test_handlers.deployed  # the fixture: moto, the table, fleet.json, no sandbox
KNOWN = Usage(
    invocations=102,
    mb_ms_arm64=100 * 60_000 * 1024,
    write_units=1_000_000,
    read_units_strong=40_000,
    read_units_eventual=80_000,
    metric_requests=101,
)


def test_a_run_with_known_durations_and_writes_costs_the_expected_figure() -> None:
    # 100 Workers of 60 s at 1,024 MB on arm64 (6,000 GB-s), a Director and a Notifier of no
    # duration worth counting; 1M write units, 40k strong and 80k eventual reads (80k units);
    # 101 PutMetricData calls and 3 scripts' metric series (3 + 2 + 5 = 10 metric-hours).
    cost = run_cost(KNOWN, "us-east-1", metric_series(3))
    # 6,000 x 0.0000133334 + 102 x 0.0000002 = 0.0800004 + 0.0000204
    assert cost.parts_usd["lambda"] == Decimal("0.080021")
    # 1,000,000 x 0.000000625 + 80,000 x 0.000000125 = 0.625 + 0.01
    assert cost.parts_usd["dynamodb"] == Decimal("0.635000")
    # 101 x 0.00001 + 10 x 0.30 / 730 = 0.00101 + 0.0041096
    assert cost.parts_usd["cloudwatch"] == Decimal("0.005120")
    assert cost.total_usd == Decimal("0.720141")
    assert cost.total_usd.quantize(Decimal("0.01")) == Decimal("0.72")


def test_architecture_and_region_change_the_price() -> None:
    one_gb_second = 1024 * 1000  # MB x ms
    x86 = run_cost(Usage(invocations=1, mb_ms_x86_64=one_gb_second * 1000), "us-east-1")
    arm = run_cost(Usage(invocations=1, mb_ms_arm64=one_gb_second * 1000), "us-east-1")
    cape_town = run_cost(Usage(invocations=1, mb_ms_x86_64=one_gb_second * 1000), "af-south-1")
    # 1,000 GB-s: $0.0166667 on x86, $0.0133334 on arm64, $0.0221 in Cape Town; + $0.0000002.
    assert x86.parts_usd["lambda"] == Decimal("0.016667")
    assert arm.parts_usd["lambda"] == Decimal("0.013334")
    assert cape_town.parts_usd["lambda"] == Decimal("0.022100")


def test_billed_duration_is_rounded_up_to_the_millisecond() -> None:
    usage = invocation_usage(1.0004, 512, "aarch64")
    assert (usage.billed_ms, usage.mb_ms_arm64, usage.mb_ms_x86_64) == (1001, 512 * 1001, 0)
    assert usage.invocations == 1 and usage.write_units == REPORT_WRITE_UNITS
    assert invocation_usage(0.0001, 128, "x86_64").mb_ms_x86_64 == 128


def test_metered_store_counts_write_and_read_units() -> None:
    meter = MeteredStore(MemoryStore())
    small = {"pk": "p", "sk": "1", "v": "x"}
    large = {"pk": "p", "sk": "2", "v": "x" * 1500}  # two started KB
    meter.put_items([small, large])
    assert not meter.put_new(dict(small))  # refused, and billed all the same
    assert meter.get("p", "1") is not None
    assert len(list(meter.query("p"))) == 2
    assert len(list(meter.query("p", consistent=True))) == 2
    assert meter.usage() == Usage(write_units=1 + 2 + 1, read_units_strong=2, read_units_eventual=1)


def test_a_run_without_usage_has_no_cost() -> None:
    assert cost_of_run({"run_id": "r", "kind": "run"}) is None


def _one_account_run(deployed: FleetSettings) -> DynamoStore:
    """The deployed fleet's functions, and run r1 started for account A: the store."""
    create_functions(deployed)
    store = DynamoStore(boto3.client("dynamodb"), deployed.table_name)
    runs.start_run(
        store, "r1", accounts=[A], scripts=["whoami"], trigger="test", now=runs.utcnow(),
        ttl_days=1, worker_timeout_s=900, home_region="us-east-1",
    )  # fmt: skip
    return store


def test_a_workers_usage_lands_on_the_run_item_once_per_attempt(deployed: FleetSettings) -> None:
    store = _one_account_run(deployed)
    event = {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": ["us-east-1"]}

    handlers.worker(event, FakeContext())

    run = table.get_run(store, "r1")
    assert run is not None
    usage = Usage.from_item(run)
    arch = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    assert usage.invocations == 1 and usage.billed_ms >= 1
    assert getattr(usage, f"mb_ms_{arch}") == 1024 * usage.billed_ms  # FakeContext's memory
    # Its record, its done item, the run's counters and completion, the report: write units.
    assert usage.write_units >= 4 + REPORT_WRITE_UNITS and usage.metric_requests == 1
    [reported] = store.query(run["pk"], names.USAGE_SK_PREFIX + "worker#")
    attempt = str(reported["attempt"])

    # The same attempt reporting again (a retried call, a bug): nothing is added.
    again = Usage(invocations=1, billed_ms=5, mb_ms_x86_64=5, write_units=9)
    added = report_usage(
        store, "r1", again, function="worker", attempt=attempt, now=runs.utcnow(), ttl_days=1
    )
    assert not added
    assert Usage.from_item(table.get_run(store, "r1") or {}) == usage

    # Lambda delivering the event again: a new attempt, billed, so its usage adds; so does the
    # Notifier's, after the run completed.
    handlers.worker(event, FakeContext())
    handlers.notifier({"run_id": "r1"}, FakeContext())
    final = table.get_run(store, "r1")
    assert final is not None and final["status"] == "complete"
    assert Usage.from_item(final).invocations == 3
    cost = cost_of_run(final)
    assert cost is not None and cost.total_usd > 0
    assert cost_of_run_id(store, "r1", "us-east-1") == cost
    # The Notifier's metric series were counted as it sent them (5 today, more to come).
    assert Usage.from_item(final).metric_series >= 5
    assert set(cost.parts_usd) == {"lambda", "dynamodb", "cloudwatch"}


def test_the_last_workers_usage_is_on_the_run_before_the_notifier_prices_it(
    deployed: FleetSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _one_account_run(deployed)
    seen: list[tuple[str, int]] = []

    def invoke(function: str, payload: dict[str, object]) -> None:
        run = table.get_run(store, "r1") or {}
        seen.append((function, Usage.from_item(run).invocations))

    monkeypatch.setattr(handlers, "_invoker", lambda: invoke)
    event = {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": ["us-east-1"]}
    handlers.worker(event, FakeContext())

    assert seen == [("notifier", 1)]  # this Worker's usage was there when it started it
    assert Usage.from_item(table.get_run(store, "r1") or {}).invocations == 1  # and once only
