"""CloudWatch metrics of a Worker's account."""

from __future__ import annotations

import datetime as dt

from lambda_src.metrics import account_metrics


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
