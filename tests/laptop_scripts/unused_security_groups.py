"""Security groups that no instance, load balancer or database uses."""

import boto3

ec2 = boto3.client("ec2")
elb = boto3.client("elb")
elbv2 = boto3.client("elbv2")
rds = boto3.client("rds")

used = set()

# Network interfaces cover instances, Lambda in VPCs, endpoints...
for eni in ec2.describe_network_interfaces()["NetworkInterfaces"]:
    for group in eni["Groups"]:
        used.add(group["GroupId"])

for lb in elb.describe_load_balancers()["LoadBalancerDescriptions"]:
    used.update(lb.get("SecurityGroups", []))

for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
    used.update(lb.get("SecurityGroups", []))

for db in rds.describe_db_instances()["DBInstances"]:
    for group in db["VpcSecurityGroups"]:
        used.add(group["VpcSecurityGroupId"])

for sg in ec2.describe_security_groups()["SecurityGroups"]:
    if sg["GroupName"] == "default" or sg["GroupId"] in used:
        continue
    print(sg["GroupId"], sg["GroupName"], sg["VpcId"])
