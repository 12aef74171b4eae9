#!/usr/bin/env python3
"""Security groups open to the world (0.0.0.0/0), in every region, to open_sgs.csv."""

import csv
import sys

import boto3

FIELDS = ["GroupId", "GroupName", "VpcId"]
ec2 = None


def get_regions():
    return [r["RegionName"] for r in ec2.describe_regions()["Regions"]]


def open_to_world(sg):
    return any(
        r.get("CidrIp") == "0.0.0.0/0" for p in sg["IpPermissions"] for r in p.get("IpRanges", [])
    )


def main():
    global ec2
    ec2 = boto3.client("ec2", region_name="us-east-1")
    with open("open_sgs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        for region in get_regions():
            regional = boto3.client("ec2", region_name=region)
            for sg in regional.describe_security_groups()["SecurityGroups"]:
                if open_to_world(sg):
                    writer.writerow(sg)
    print("wrote open_sgs.csv", file=sys.stderr)


if __name__ == "__main__":
    main()
