#!/usr/bin/env python3
"""Stopped EC2 instances in every region: they cost nothing to run, but their volumes do."""

import boto3


def check_region(region):
    ec2 = boto3.client("ec2", region_name=region)
    paginator = ec2.get_paginator("describe_instances")
    stopped = [{"Name": "instance-state-name", "Values": ["stopped"]}]
    for page in paginator.paginate(Filters=stopped):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                print(instance["InstanceId"], instance["InstanceType"], instance["State"]["Name"])


def main():
    ec2 = boto3.client("ec2")
    for r in ec2.describe_regions()["Regions"]:
        check_region(r["RegionName"])


if __name__ == "__main__":
    main()
