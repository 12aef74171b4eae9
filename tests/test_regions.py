"""The regions a Worker covers when the fleet lists none: the account's enabled regions in the
home region's partition."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from lambda_src.regions import enabled_regions


def test_enabled_regions_against_moto(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")  # read when the backend is built
    ec2 = aws.client("ec2", region_name="us-east-1")
    listed = ec2.describe_regions(AllRegions=False)["Regions"]
    assert len(listed) == 38  # moto ignores the filter, other partitions included

    regions = enabled_regions(ec2)

    assert regions == sorted(regions)
    assert len(set(regions)) == len(regions)
    assert "us-east-1" in regions
    assert "eu-west-1" in regions
    assert not [r for r in regions if r.startswith(("cn-", "us-gov-", "us-iso"))]
    not_opted_in = {r["RegionName"] for r in listed if r["OptInStatus"] == "not-opted-in"}
    assert not_opted_in  # moto lists 17 of them
    assert not set(regions) & not_opted_in
    expected = {
        r["RegionName"]
        for r in listed
        if r["OptInStatus"] in ("opt-in-not-required", "opted-in")
        and not r["RegionName"].startswith(("cn-", "us-gov-"))
    }
    assert set(regions) == expected


def test_enabled_regions_keeps_opted_in_and_unstated() -> None:
    class FakeEc2:
        class meta:  # mimics botocore's client.meta
            region_name = "eu-west-1"

        def describe_regions(self, **params: Any) -> dict[str, Any]:
            assert params == {"AllRegions": False}
            return {
                "Regions": [
                    {"RegionName": "us-west-2", "OptInStatus": "opt-in-not-required"},
                    {"RegionName": "af-south-1", "OptInStatus": "opted-in"},
                    {"RegionName": "ap-east-1", "OptInStatus": "not-opted-in"},
                    {"RegionName": "eu-west-1"},
                    {"RegionName": "cn-north-1", "OptInStatus": "opt-in-not-required"},
                    {"RegionName": "us-gov-west-1"},
                    {"RegionName": "us-isob-east-1", "OptInStatus": "opt-in-not-required"},
                ]
            }

    assert enabled_regions(FakeEc2()) == ["af-south-1", "eu-west-1", "us-west-2"]


def test_enabled_regions_in_another_partition_stay_in_it() -> None:
    class FakeEc2:
        class meta:
            region_name = "cn-north-1"

        def describe_regions(self, **params: Any) -> dict[str, Any]:
            return {
                "Regions": [
                    {"RegionName": "cn-northwest-1"},
                    {"RegionName": "cn-north-1"},
                    {"RegionName": "us-east-1"},
                ]
            }

    assert enabled_regions(FakeEc2()) == ["cn-north-1", "cn-northwest-1"]
