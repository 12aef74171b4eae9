#!/usr/bin/env python3
"""Find unattached EBS volumes in every region (they cost money and nobody uses them)."""

import json

import boto3

# The caller's default region is only used to list the regions.
ec2 = boto3.client("ec2")
REGIONS = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]


def main():
    total = 0
    for region_name in REGIONS:
        regional = boto3.client("ec2", region_name=region_name)
        paginator = regional.get_paginator("describe_volumes")
        for page in paginator.paginate(Filters=[{"Name": "status", "Values": ["available"]}]):
            for volume in page["Volumes"]:
                total += volume["Size"]
                print(
                    json.dumps(
                        {
                            "volume_id": volume["VolumeId"],
                            "size_gb": volume["Size"],
                            "type": volume["VolumeType"],
                            "region": region_name,
                        },
                        default=str,
                    )
                )
    print(f"Total unattached: {total} GiB")


if __name__ == "__main__":
    main()
