"""CloudWatch metrics of a Worker's account."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from lambda_src.metrics import NAMESPACE, account_metrics, put_metrics


def test_account_metrics_shape() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    data = account_metrics("f", {"b": 2, "a": 1}, errors=3, duration_s=1.23456, now=now)
    assert [(d["MetricName"], d["Value"]) for d in data] == [
        ("Records", 1),
        ("Records", 2),
        ("Errors", 3),
        ("AccountDuration", 1.235),
    ]
    assert data[0]["Dimensions"] == [
        {"Name": "Fleet", "Value": "f"},
        {"Name": "Script", "Value": "a"},
    ]


class FakeCloudWatch:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[int] = []

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
        assert Namespace == NAMESPACE
        if self.fail:
            raise RuntimeError("throttled")
        self.calls.append(len(MetricData))


def test_put_metrics_sends_at_most_1000_per_call() -> None:
    cloudwatch = FakeCloudWatch()
    put_metrics(cloudwatch, [{"MetricName": "m", "Value": n} for n in range(2_345)])
    assert cloudwatch.calls == [1000, 1000, 345]


def test_a_metrics_failure_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lambda_src.metrics"):
        put_metrics(FakeCloudWatch(fail=True), [{"MetricName": "m", "Value": 1}])
    assert "could not put CloudWatch metrics" in caplog.text
