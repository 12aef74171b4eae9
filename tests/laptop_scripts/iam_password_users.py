"""IAM users with a console password, from the credential report."""

import csv
import io
import time

import boto3

iam = boto3.client("iam")


def credential_report():
    # The report takes a few seconds to generate; poll until it is ready.
    while iam.generate_credential_report()["State"] != "COMPLETE":
        time.sleep(2)
    content = iam.get_credential_report()["Content"].decode("utf-8")
    return list(csv.DictReader(io.StringIO(content)))


def main():
    for row in credential_report():
        if row["password_enabled"] != "true":
            continue
        user = row["user"]
        last_used = row["password_last_used"]
        mfa = row["mfa_active"]
        print(user, last_used, mfa)


if __name__ == "__main__":
    main()
