#!/usr/bin/env python3
"""EBS volumes that are not encrypted, as CSV (only those of at least --min-size GiB)."""

import argparse
import csv
import sys

import boto3


def main(min_size):
    ec2 = boto3.client("ec2")
    writer = csv.writer(sys.stdout)
    writer.writerow(["volume_id", "size_gb", "state"])
    for page in ec2.get_paginator("describe_volumes").paginate():
        for volume in page["Volumes"]:
            # Encryption at rest is on by default in new accounts, but not in old ones.
            if not volume["Encrypted"] and volume["Size"] >= min_size:
                writer.writerow([volume["VolumeId"], volume["Size"], volume["State"]])
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min-size", type=int, default=10, help="in GiB")
    args = parser.parse_args()
    sys.exit(main(args.min_size))
