"""S3 buckets whose ACL grants access to everyone."""

import sys

import boto3
from botocore.exceptions import ClientError

PUBLIC = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)

session = boto3.Session(profile_name=sys.argv[1] if len(sys.argv) > 1 else None)
s3 = session.client("s3")

if __name__ == "__main__":
    print("bucket,permission,grantee")
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        try:
            acl = s3.get_bucket_acl(Bucket=name)
        except ClientError as err:
            print(f"skipping {name}: {err}")
            continue
        for grant in acl["Grants"]:
            uri = grant["Grantee"].get("URI")
            if uri in PUBLIC:
                print({"bucket": name, "permission": grant["Permission"], "grantee": uri})
