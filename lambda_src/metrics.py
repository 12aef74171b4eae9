"""CloudWatch metrics of a Worker's account: records per script, errors, duration."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

NAMESPACE = "lambdafan"
log = logging.getLogger(__name__)


def account_metrics(
    fleet: str,
    records_by_script: Mapping[str, int],
    errors: int,
    duration_s: float,
    now: dt.datetime,
) -> list[dict[str, Any]]:
    """The MetricData of one account's work (pure, so it is tested without CloudWatch)."""
    fleet_dim = {"Name": "Fleet", "Value": fleet}
    data: list[dict[str, Any]] = [
        {
            "MetricName": "Records",
            "Dimensions": [fleet_dim, {"Name": "Script", "Value": script}],
            "Timestamp": now,
            "Value": count,
            "Unit": "Count",
        }
        for script, count in sorted(records_by_script.items())
    ]
    data.append(
        {
            "MetricName": "Errors",
            "Dimensions": [fleet_dim],
            "Timestamp": now,
            "Value": errors,
            "Unit": "Count",
        }
    )
    data.append(
        {
            "MetricName": "AccountDuration",
            "Dimensions": [fleet_dim],
            "Timestamp": now,
            "Value": round(duration_s, 3),
            "Unit": "Seconds",
        }
    )
    return data


def put_metrics(cloudwatch: Any, data: list[dict[str, Any]]) -> None:
    """Send metrics; a failure is logged, never fatal: the records are what matter."""
    try:
        # PutMetricData takes at most 1,000 metrics per call.
        for start in range(0, len(data), 1000):
            cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 1000])
    except Exception:
        log.warning("could not put CloudWatch metrics", exc_info=True)
