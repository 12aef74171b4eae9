"""What a run cost: each invocation's usage, added to the run item once, and its price.

Every Director, Worker and Notifier invocation on Lambda measures what it is billed for (its
duration rounded up to 1 ms, its memory and architecture, the DynamoDB request units its store
calls consumed, its PutMetricData requests) and reports it with `report_usage`: a usage item
keyed by (function, attempt) is written only if absent, and only the call that wrote it adds the
usage to the run item's `usage_*` counters (atomic ADDs). So the same attempt reporting twice
adds once, while a retried Worker (a new attempt, which really was billed) adds its own usage.

The cost is computed when read, not stored: `cost_of_run(run_item, region)` prices the counters
with `lambda_src.pricing`, so usage that lands after the run completed (the Notifier's own, a
late retry) still counts. What is not counted: Lambda's INIT phase of a cold start (before the
handler runs), the few writes of the report itself beyond an estimate, CloudWatch Logs, SES/SNS
messages, and data transfer.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from lambda_src import names, runs, table
from lambda_src.architectures import ARM64, X86_64, architecture
from lambda_src.table import Item, ItemStore

# The price table, and a cost's report (run_report, run_summary), only when a cost is priced
# (the Notifier, the CLI): a Worker reports its usage, never prices it.
if TYPE_CHECKING:
    from lambda_src.run_report import RunCost

log = logging.getLogger(__name__)

USAGE_PREFIX = "usage_"
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
# The report's own writes (its usage item and the run item's ADD), counted before they happen.
REPORT_WRITE_UNITS = 2
# Metric series every Worker sends to CloudWatch (`lambda_src.metrics`): Records per script,
# Errors and AccountDuration. They are the same for every Worker of a run, so they are counted
# from the run's scripts, not added up; the Notifier's series (sent once a run) are counted as
# it sends them (`usage_metric_series`). Update these when the Worker's metrics change.
WORKER_SERIES_PER_SCRIPT = 1
WORKER_FIXED_SERIES = 2
# Before any run: the Notifier's series (RunRecords, RunErrors, RunAccountsFailed,
# DeliveryFailures, RunDuration).
ASSUMED_NOTIFIER_SERIES = 5
CENT_DIGITS = Decimal("0.000001")  # parts are kept to a millionth of a dollar


@dataclass(frozen=True)
class Usage:
    """What invocations were billed for; each field is a `usage_<field>` counter on the run."""

    invocations: int = 0
    billed_ms: int = 0
    mb_ms_x86_64: int = 0  # memory (MB) x billed duration (ms), by architecture
    mb_ms_arm64: int = 0
    write_units: int = 0
    read_units_strong: int = 0  # strongly consistent reads: one unit per 4 KB
    read_units_eventual: int = 0  # eventually consistent 4 KB reads: half a unit each
    metric_requests: int = 0  # PutMetricData calls
    metric_series: int = 0  # distinct metrics the Notifier sent (see WORKER_FIXED_SERIES)

    def counters(self) -> dict[str, int]:
        """The run item's attributes and what to add to them (zeros left out)."""
        return {
            f"{USAGE_PREFIX}{f.name}": getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name)
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Usage:
        """The usage counters of a run item (absent ones are 0)."""
        return cls(
            **{
                f.name: int(item.get(f"{USAGE_PREFIX}{f.name}", 0) or 0)
                for f in dataclasses.fields(cls)
            }
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            **{
                f.name: getattr(self, f.name) + getattr(other, f.name)
                for f in dataclasses.fields(self)
            }
        )

    @property
    def any(self) -> bool:
        return self.invocations > 0


def invocation_usage(
    elapsed_s: float,
    memory_mb: int,
    machine: str,
    meter: MeteredStore | None = None,
    metric_requests: int = 0,
    metric_series: int = 0,
) -> Usage:
    """One invocation's usage: `elapsed_s` billed rounded up to the millisecond, at `memory_mb`
    on the architecture of `platform.machine()`, plus what its store and CloudWatch counted."""
    billed_ms = max(1, math.ceil(elapsed_s * 1000))
    arch = architecture(machine)
    mb_ms = memory_mb * billed_ms
    measured = meter.usage() if meter is not None else Usage()
    return Usage(
        invocations=1,
        billed_ms=billed_ms,
        mb_ms_x86_64=mb_ms if arch == X86_64 else 0,
        mb_ms_arm64=mb_ms if arch == ARM64 else 0,
        write_units=measured.write_units + REPORT_WRITE_UNITS,
        read_units_strong=measured.read_units_strong,
        read_units_eventual=measured.read_units_eventual,
        metric_requests=metric_requests,
        metric_series=metric_series,
    )


def report_usage(
    store: ItemStore,
    run_id: str,
    usage: Usage,
    *,
    function: str,
    attempt: str,
    now: dt.datetime,
    ttl_days: int,
) -> bool:
    """Add one invocation's usage to its run, once per (function, attempt): True when this
    call added it. The usage item's conditional write is the gate; the run item's counters
    follow it whatever the run's status (a Notifier's or a late retry's usage comes after the
    run completed)."""
    counters = usage.counters()
    if not counters:
        return False  # nothing billed: nothing to add (and ADD of nothing is no expression)
    item = table.usage_item(
        run_id,
        function,
        attempt,
        counters=counters,
        recorded_at=runs.iso(now),
        expires_at=runs.expiry(now, ttl_days),
    )
    if not store.put_new(item):
        return False
    # `kind` is "run" on every run item: the condition only requires the item to exist.
    added = store.add_counters(names.run_pk(run_id), names.RUN_SK, counters, when=("kind", "run"))
    return added is not None


def metric_series(scripts: int, notifier_series: int = ASSUMED_NOTIFIER_SERIES) -> int:
    """How many CloudWatch metric series a run of `scripts` scripts sends."""
    return scripts * WORKER_SERIES_PER_SCRIPT + WORKER_FIXED_SERIES + notifier_series


def run_cost(usage: Usage, region: str, metric_series: int = 0) -> RunCost:
    """The cost of `usage` at `region`'s list prices (pure): parts `lambda`, `dynamodb`,
    `cloudwatch`, each to a millionth of a dollar, and their sum. `metric_series` custom
    metrics are charged one metric-hour each (see `lambda_src.pricing`)."""
    from lambda_src import pricing
    from lambda_src.run_report import RunCost

    prices = pricing.prices_for(region)
    mb_ms_per_gb_s = Decimal(1024 * 1000)
    compute = (
        Decimal(usage.mb_ms_x86_64) * prices.lambda_gb_second[pricing.X86_64]
        + Decimal(usage.mb_ms_arm64) * prices.lambda_gb_second[pricing.ARM64]
    ) / mb_ms_per_gb_s
    lambda_usd = compute + usage.invocations * prices.lambda_request
    read_units = Decimal(usage.read_units_strong) + Decimal(usage.read_units_eventual) / 2
    dynamodb_usd = (
        usage.write_units * prices.dynamodb_write_unit + read_units * prices.dynamodb_read_unit
    )
    cloudwatch_usd = (
        usage.metric_requests * prices.cloudwatch_request
        + metric_series * prices.cloudwatch_metric_hour
    )
    parts = {
        "lambda": _round(lambda_usd),
        "dynamodb": _round(dynamodb_usd),
        "cloudwatch": _round(cloudwatch_usd),
    }
    return RunCost(total_usd=sum(parts.values(), Decimal(0)), parts_usd=parts)


def cost_of_run(run: Mapping[str, Any], region: str | None = None) -> RunCost | None:
    """The cost of a run item so far, at the list prices of `region` (default: the run's
    `home_region`, else us-east-1); None when no invocation reported usage (a local run, or
    one from before usage was recorded). What the Notifier and `lambdafan runs` show."""
    from lambda_src import pricing

    usage = Usage.from_item(run)
    if not usage.any:
        return None
    scripts = len(run.get("scripts") or ())
    series = metric_series(scripts, usage.metric_series) if usage.metric_requests else 0
    where = region or str(run.get("home_region") or pricing.DEFAULT_REGION)
    return run_cost(usage, where, series)


def cost_of_run_id(store: ItemStore, run_id: str, region: str | None = None) -> RunCost | None:
    """`cost_of_run` of a run by id (one GetItem); None when the run or its usage is missing.
    For the Notifier: `cost_for=lambda run_id: cost_of_run_id(store, run_id, home_region)`."""
    run = table.get_run(store, run_id)
    return None if run is None else cost_of_run(run, region)


def _round(amount: Decimal) -> Decimal:
    return amount.quantize(CENT_DIGITS, rounding=ROUND_HALF_UP)


# --- measuring --------------------------------------------------------------------------------


def item_bytes(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it, estimated by its JSON (names and values)."""
    return len(json.dumps(item, default=str, separators=(",", ":")).encode("utf-8"))


def write_units(item: Mapping[str, Any]) -> int:
    """Write request units of writing `item`: one per started KB."""
    return max(1, math.ceil(item_bytes(item) / WRITE_UNIT_BYTES))


def read_units(total_bytes: int) -> int:
    """Read units (4 KB each, at least one) of a read returning `total_bytes`."""
    return max(1, math.ceil(total_bytes / READ_UNIT_BYTES))


class MeteredStore:
    """An `ItemStore` that counts the request units its calls consume, estimated from the
    items' sizes (DynamoDB's own ReturnConsumedCapacity would need a change to every call).
    Thread-safe: the Worker's writer thread and its main thread share it. Updates whose item
    size is not known here count one unit."""

    def __init__(self, store: ItemStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._writes = 0
        self._strong = 0
        self._eventual = 0

    def usage(self) -> Usage:
        with self._lock:
            return Usage(
                write_units=self._writes,
                read_units_strong=self._strong,
                read_units_eventual=self._eventual,
            )

    def _count(self, writes: int = 0, strong: int = 0, eventual: int = 0) -> None:
        with self._lock:
            self._writes += writes
            self._strong += strong
            self._eventual += eventual

    def put_items(self, items: Sequence[Item]) -> None:
        self._count(writes=sum(write_units(i) for i in items))
        self._store.put_items(items)

    def put_new(self, item: Item) -> bool:
        self._count(writes=write_units(item))  # a refused conditional write is billed too
        return self._store.put_new(item)

    def delete_items(self, keys: Sequence[tuple[str, str]]) -> None:
        self._count(writes=len(set(keys)))
        self._store.delete_items(keys)

    def get(self, pk: str, sk: str) -> Item | None:
        item = self._store.get(pk, sk)
        self._count(strong=read_units(item_bytes(item) if item else 0))
        return item

    def query(
        self, pk: str, sk_prefix: str = "", *, newest_first: bool = False, consistent: bool = False
    ) -> Iterator[Item]:
        items = self._store.query(pk, sk_prefix, newest_first=newest_first, consistent=consistent)
        return self._metered(items, consistent)

    def query_runs(self) -> Iterator[Item]:
        return self._metered(self._store.query_runs(), consistent=False)

    def _metered(self, items: Iterator[Item], consistent: bool) -> Iterator[Item]:
        size = 0
        try:
            for item in items:
                size += item_bytes(item)
                yield item
        finally:  # also when the reader stops early: what was read was billed
            units = read_units(size)
            if consistent:
                self._count(strong=units)
            else:
                self._count(eventual=units)

    def add_counters(
        self, pk: str, sk: str, counters: Mapping[str, int], when: tuple[str, Any]
    ) -> Item | None:
        updated = self._store.add_counters(pk, sk, counters, when)
        self._count(writes=write_units(updated) if updated else 1)
        return updated

    def update_if(self, pk: str, sk: str, values: Mapping[str, Any], when: tuple[str, Any]) -> bool:
        self._count(writes=1)
        return self._store.update_if(pk, sk, values, when)


class CountingCloudWatch:
    """A CloudWatch client that counts its PutMetricData calls and the distinct metrics
    (name and dimensions) they sent; everything else passes through."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.put_requests = 0
        self._series: set[str] = set()

    @property
    def series(self) -> int:
        return len(self._series)

    def put_metric_data(self, **kwargs: Any) -> Any:
        self.put_requests += 1
        for datum in kwargs.get("MetricData") or ():
            dimensions = sorted((d["Name"], d["Value"]) for d in datum.get("Dimensions") or ())
            key = json.dumps([kwargs.get("Namespace"), datum.get("MetricName"), dimensions])
            self._series.add(key)
        return self._client.put_metric_data(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
