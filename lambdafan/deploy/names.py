"""Deterministic names of a fleet's resources: found by name, never through a state file."""

from __future__ import annotations

from lambda_src.settings import FLEET_TAG, function_name, table_name

KINDS = ("director", "worker", "notifier")
HANDLERS = {kind: f"lambda_src.handlers.{kind}" for kind in KINDS}

__all__ = ["FLEET_TAG", "KINDS", "function_name", "table_name"]


def role_name(fleet: str, kind: str) -> str:
    return f"{fleet}-{kind}"


def log_group_name(fleet: str, kind: str) -> str:
    """The group Lambda writes to by default, created by deploy first so it has a retention."""
    return f"/aws/lambda/{function_name(fleet, kind)}"


def rule_name(fleet: str) -> str:
    return f"{fleet}-schedule"


def permission_id(fleet: str) -> str:
    """Statement id of the permission letting the schedule rule invoke the Director."""
    return f"{fleet}-schedule"


def inline_policy_name(fleet: str, kind: str) -> str:
    return f"{fleet}-{kind}"
