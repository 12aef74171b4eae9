"""The runtime's role check: which functions called what, against their roles' policies in IAM.

`role_audit` names actions and matches policies (pure); this reads the policies from moto's IAM
and says each finding once, in the log of the invocation that ended after it appeared.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from lambdafan.local_cloud.role_audit import Finding, RoleAudit, describe


class RoleCheck:
    """Counts the actions each invocation's role credentials were used for (thread-safe)."""

    def __init__(self, iam: Callable[[], Any]) -> None:
        self.audit = RoleAudit()
        self._iam = iam  # a client to moto's IAM, made when first needed
        self._roles: dict[str, str] = {}  # function name -> its role's ARN
        self._reported: set[tuple[str, str]] = set()  # (function, action) said already
        self._lock = threading.Lock()

    def register(self, access_key_id: str, function: str, role_arn: str, request_id: str) -> None:
        """Credentials issued for one invocation of `function`, as its role."""
        with self._lock:
            self._roles[function] = role_arn
        self.audit.register(access_key_id, function, request_id)

    def findings(self) -> list[Finding]:
        """Every action a function called that its role's policies do not allow."""
        return self.audit.findings(self.policies)

    def new_findings(self, function: str) -> list[str]:
        """The function's findings not said before, one line each (for its invocation's log)."""
        found = self.audit.findings(lambda name: self.policies(name) if name == function else [])
        lines = []
        with self._lock:
            for finding in found:
                key = (finding.function, finding.action)
                if finding.function == function and key not in self._reported:
                    self._reported.add(key)
                    lines.append(describe(finding))
        return lines

    def policies(self, function: str) -> list[dict[str, Any]]:
        """The policy documents of the function's role: inline and attached."""
        with self._lock:
            role_arn = self._roles.get(function)
        if role_arn is None:
            return []
        iam = self._iam()
        role = role_arn.rsplit("/", 1)[-1]
        documents = [
            _document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
        ]
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            answer = iam.get_policy_version(PolicyArn=arn, VersionId=version)
            documents.append(_document(answer["PolicyVersion"]["Document"]))
        return documents


def _document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: parsed by boto3, or URL-encoded JSON text."""
    if isinstance(value, str):
        value = json.loads(urllib.parse.unquote(value))
    return dict(value)
