"""The price table: what a run's resources cost at AWS list prices, in US dollars, in one place.

Figures are on-demand list prices, first pricing tier, without the free tier or any discount
(a fleet's usage is small next to the tiers' billions of GB-seconds, and the free tier is shared
with everything else in the account, so it is left out: the figures are what a run adds to a
bill once the free tier is spent).

Sources, read on 2026-11-27:
- Lambda, us-east-1: https://aws.amazon.com/lambda/pricing/ — $0.0000166667 per GB-second on
  x86_64, $0.0000133334 on arm64, $0.20 per million requests; duration rounded up to 1 ms.
- Lambda, other regions: the per-region duration figures of that page as tabulated (in units
  of 1e-11 $/GB-s) by a public project's price file that cites it; only the regions below differ
  from us-east-1. Their request prices were NOT found: us-east-1's $0.20 per million is used.
- DynamoDB on-demand, us-east-1: https://aws.amazon.com/dynamodb/pricing/on-demand/ — $0.625
  per million write request units, $0.125 per million read request units (since the price cut
  of 2024-11-01). Regional figures were NOT found: us-east-1's are used everywhere.
- CloudWatch, us-east-1: https://aws.amazon.com/cloudwatch/pricing/ — custom metrics $0.30 per
  metric-month (first 10,000), PutMetricData $0.01 per 1,000 requests. Regional figures were
  NOT found: us-east-1's are used everywhere.

How CloudWatch custom metrics are charged to a run: AWS prorates a metric by the hour in which
it receives data, so a metric costs $0.30 / 730 per hour it is sent. A run sends each of its
metric series (name + dimensions) within about one hour, so it is charged one metric-hour per
series. (A fleet running more often than hourly pays at most $0.30 a month per series: the
per-run figure then overstates it.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from lambda_src.architectures import ARCHITECTURES as ARCHITECTURES
from lambda_src.architectures import ARM64 as ARM64
from lambda_src.architectures import X86_64 as X86_64
from lambda_src.architectures import architecture as architecture

DEFAULT_REGION = "us-east-1"
HOURS_PER_MONTH = Decimal(730)  # AWS's hours in a month for prorated charges

_MILLION = Decimal(1_000_000)
# Lambda duration per GB-second, by region and architecture, where it differs from us-east-1
# (1e-11 $ units in the source table: 2210000 -> $0.0000221).
_LAMBDA_GB_SECOND: dict[str, dict[str, Decimal]] = {
    DEFAULT_REGION: {X86_64: Decimal("0.0000166667"), ARM64: Decimal("0.0000133334")},
    "af-south-1": {X86_64: Decimal("0.0000221"), ARM64: Decimal("0.00001768")},
    "ap-east-1": {X86_64: Decimal("0.00002292"), ARM64: Decimal("0.0000183")},
    "eu-south-1": {X86_64: Decimal("0.0000195172"), ARM64: Decimal("0.0000156138")},
    "me-south-1": {X86_64: Decimal("0.0000206667"), ARM64: Decimal("0.0000165334")},
    "me-central-1": {X86_64: Decimal("0.0000206667"), ARM64: Decimal("0.0000165334")},
}


@dataclass(frozen=True)
class Prices:
    """List prices in one region, each per single unit (not per million)."""

    region: str
    lambda_gb_second: dict[str, Decimal] = field(default_factory=dict)  # by architecture
    lambda_request: Decimal = Decimal("0.20") / _MILLION
    dynamodb_write_unit: Decimal = Decimal("0.625") / _MILLION
    dynamodb_read_unit: Decimal = Decimal("0.125") / _MILLION
    cloudwatch_metric_month: Decimal = Decimal("0.30")
    cloudwatch_request: Decimal = Decimal("0.01") / Decimal(1000)
    # False: no region-specific figure is recorded here, us-east-1's prices stand in.
    regional: bool = False

    @property
    def cloudwatch_metric_hour(self) -> Decimal:
        return self.cloudwatch_metric_month / HOURS_PER_MONTH


def prices_for(region: str) -> Prices:
    """The list prices of `region` (us-east-1's where no regional figure is recorded)."""
    if region in _LAMBDA_GB_SECOND and region != DEFAULT_REGION:
        return Prices(region, dict(_LAMBDA_GB_SECOND[region]), regional=True)
    return Prices(
        region, dict(_LAMBDA_GB_SECOND[DEFAULT_REGION]), regional=region == DEFAULT_REGION
    )
