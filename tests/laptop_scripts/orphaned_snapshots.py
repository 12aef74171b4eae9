#!/usr/bin/env python3
"""EBS snapshots whose volume is gone: usually forgotten backups, still billed."""

import argparse

import boto3


def find_orphaned_snapshots(region, min_size):
    ec2 = boto3.client("ec2", region_name=region)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    count = 0
    for snap in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        if snap["VolumeId"] not in volumes and snap["VolumeSize"] >= min_size:
            print(snap["SnapshotId"], snap["VolumeId"], snap["VolumeSize"], sep=",")
            count += 1
    print(f"{count} orphaned snapshots in {region}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--min-size", type=int, default=1)
    args = parser.parse_args()
    find_orphaned_snapshots(args.region, args.min_size)


if __name__ == "__main__":
    main()
