#!/usr/bin/env python3
"""Target groups no load balancer uses, in every region, as JSON (exit 1 if any)."""

import json
import sys

import boto3

s = boto3.session.Session()


def idle_target_groups(region):
    elbv2 = s.client("elbv2", region_name=region)
    found = []
    for tg in elbv2.describe_target_groups()["TargetGroups"]:
        if not tg["LoadBalancerArns"]:
            found.append({"name": tg["TargetGroupName"], "arn": tg["TargetGroupArn"]})
    return found


if __name__ == "__main__":
    results = []
    for region in s.get_available_regions("elbv2"):
        results.extend(idle_target_groups(region))
    json.dump(results, sys.stdout, indent=2)
    sys.exit(1 if results else 0)
