"""The price table: us-east-1 list prices, regional Lambda figures, architectures."""

from __future__ import annotations

from decimal import Decimal

from lambda_src import pricing


def test_us_east_1_list_prices_per_unit() -> None:
    prices = pricing.prices_for("us-east-1")
    assert prices.regional
    assert prices.lambda_gb_second == {
        "x86_64": Decimal("0.0000166667"),
        "arm64": Decimal("0.0000133334"),
    }
    assert prices.lambda_request * 1_000_000 == Decimal("0.20")
    assert prices.dynamodb_write_unit * 1_000_000 == Decimal("0.625")
    assert prices.dynamodb_read_unit * 1_000_000 == Decimal("0.125")
    assert prices.cloudwatch_request * 1000 == Decimal("0.01")
    # A metric sent within one hour costs one 730th of its monthly price.
    assert prices.cloudwatch_metric_hour * 730 == Decimal("0.30")


def test_regions_with_their_own_lambda_prices() -> None:
    cape_town = pricing.prices_for("af-south-1")
    assert cape_town.regional
    assert cape_town.lambda_gb_second["x86_64"] == Decimal("0.0000221")
    assert cape_town.lambda_gb_second["arm64"] == Decimal("0.00001768")
    assert pricing.prices_for("ap-east-1").lambda_gb_second["x86_64"] == Decimal("0.00002292")
    # Arm is cheaper than x86 everywhere recorded.
    for region in ("us-east-1", "af-south-1", "ap-east-1", "eu-south-1", "me-south-1"):
        by_arch = pricing.prices_for(region).lambda_gb_second
        assert by_arch["arm64"] < by_arch["x86_64"]


def test_a_region_without_figures_uses_us_east_1_and_says_so() -> None:
    frankfurt = pricing.prices_for("eu-central-1")
    assert not frankfurt.regional
    assert frankfurt.lambda_gb_second == pricing.prices_for("us-east-1").lambda_gb_second
    assert frankfurt.dynamodb_write_unit == pricing.prices_for("us-east-1").dynamodb_write_unit


def test_architecture_of_platform_machine() -> None:
    assert pricing.architecture("aarch64") == "arm64"
    assert pricing.architecture("arm64") == "arm64"
    assert pricing.architecture("x86_64") == "x86_64"
    assert pricing.architecture("AMD64") == "x86_64"
