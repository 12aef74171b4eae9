"""IAM users who can sign in or call the API (console password or access keys) but have no MFA.

These are the credentials most worth attacking: a leaked password or key is enough on its own.
Keep it to chase users into enabling MFA, or to find old users and keys nobody uses any more
(see password_last_used). IAM is global, so this runs once per account.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

SCOPE = "account"
KEY = ("arn",)

IAM_REGION = "us-east-1"


def _has_console_password(iam: Any, user: str) -> bool:
    try:
        iam.get_login_profile(UserName=user)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return False
        raise
    return True


def _count(iam: Any, operation: str, key: str, user: str) -> int:
    return sum(
        len(page.get(key, [])) for page in iam.get_paginator(operation).paginate(UserName=user)
    )


def collect(session: Any, region: str, account: Any) -> Iterator[dict[str, Any]]:
    iam = session.client("iam", region_name=IAM_REGION)
    for page in iam.get_paginator("list_users").paginate():
        for user in page.get("Users", []):
            name = user["UserName"]
            if _count(iam, "list_mfa_devices", "MFADevices", name):
                continue
            has_password = _has_console_password(iam, name)
            access_keys = _count(iam, "list_access_keys", "AccessKeyMetadata", name)
            if not has_password and not access_keys:
                continue
            yield {
                "user": name,
                "arn": user["Arn"],
                "created": user.get("CreateDate"),
                "password_last_used": user.get("PasswordLastUsed"),
                "has_console_password": has_password,
                "access_key_count": access_keys,
            }
