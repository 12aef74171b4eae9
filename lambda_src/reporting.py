"""A finished run's report, as the Notifier sends it: the summary, what changed since the
previous complete run, what it cost; whether `notify.only_on` wants it told; its metrics.

Each part beyond the summary is best effort: a diff or a cost that cannot be computed is left
out (and logged), never a reason not to tell people how the run went.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lambda_src import run_diff
from lambda_src.run_report import RunCost, RunReport
from lambda_src.run_summary import RunSummary
from lambda_src.scripts import ScriptError, describe_script
from lambda_src.settings import FleetSettings, NotifySettings, resolve_script_path
from lambda_src.table import ItemStore

log = logging.getLogger(__name__)

CostFor = Callable[[str], RunCost | None]  # run id -> its cost


def script_keys(
    settings: FleetSettings, resolve: Callable[[Any], Path] = resolve_script_path
) -> run_diff.KeyFor:
    """Each configured script's KEY: as the bundle's settings carry it, else read from its
    source; a script the config no longer names (or that cannot be read) is identified by
    whole records."""
    keys: dict[str, Sequence[str]] = {}
    for ref in settings.scripts:
        try:
            keys[ref.name] = ref.key or describe_script(resolve(ref), ref.name).key
        except (ScriptError, OSError):
            keys[ref.name] = ()
    return lambda script: keys.get(script, ())


def build_report(
    store: ItemStore,
    settings: FleetSettings,
    summary: RunSummary,
    *,
    key_for: run_diff.KeyFor | None = None,
    cost_for: CostFor | None = None,
    out_of_time: Callable[[], bool] = lambda: False,
) -> RunReport:
    """The run's report: its diff against the previous complete run (given up when
    `out_of_time()`), and its cost."""
    diff = None
    try:
        previous = run_diff.previous_complete_run(store, summary.run_id)
        against = str(previous["run_id"]) if previous else None
        keys = key_for if key_for is not None else script_keys(settings)
        diff = run_diff.diff_runs(
            store, summary.run_id, against, key_for=keys, out_of_time=out_of_time
        )
    except Exception:
        log.warning("could not compare run %s with the previous one", summary.run_id, exc_info=True)
    cost = None
    if cost_for is not None:
        try:
            cost = cost_for(summary.run_id)
        except Exception:
            log.warning("could not price run %s", summary.run_id, exc_info=True)
    return RunReport(fleet=settings.fleet, summary=summary, diff=diff, cost=cost)


def wanted(report: RunReport, settings: FleetSettings) -> bool:
    """Whether `notify.only_on` wants this run told. A diff that could not be computed counts as
    a change: a run is never kept quiet for want of knowing."""
    changed = report.diff is None or report.diff.any
    return settings.notify.wants(changed=changed, failed=not report.summary.ok)


def configured_channels(notify: NotifySettings) -> list[str]:
    """The channels the fleet's config names, in the order they are sent."""
    named = {
        "slack": bool(notify.slack_webhook_parameter),
        "email": bool(notify.email_sender and notify.email_recipients),
        "sns": bool(notify.sns_topic_arn),
    }
    return [channel for channel, on in named.items() if on]


def change_metrics(report: RunReport, now: dt.datetime) -> list[dict[str, Any]]:
    """CloudWatch MetricData for what the report adds: records added/removed/changed per
    script, and the run's cost."""
    fleet = {"Fleet": report.fleet}
    data: list[dict[str, Any]] = []
    for changes in report.diff.scripts if report.diff else ():
        script = {**fleet, "Script": changes.script}
        data.append(_datum("RecordsAdded", changes.added, "Count", script, now))
        data.append(_datum("RecordsRemoved", changes.removed, "Count", script, now))
        data.append(_datum("RecordsChanged", changes.changed, "Count", script, now))
    if report.cost is not None:
        data.append(_datum("RunCostUSD", float(report.cost.total_usd), "None", fleet, now))
    return data


def _datum(
    name: str, value: float, unit: str, dimensions: dict[str, str], now: dt.datetime
) -> dict[str, Any]:
    return {
        "MetricName": name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Timestamp": now,
        "Value": value,
        "Unit": unit,
    }
