"""The checks a command makes before it runs or writes anything: plain functions, no Typer; the
organization's accounts from a fake Organizations client."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdafan.checks import check_account_id, check_organization_accounts, check_run_request
from lambdafan.errors import UsageError
from tests.conftest import make_settings

A, B = "111111111111", "222222222222"  # the accounts of make_settings


def test_a_12_digit_account_id_passes_and_comes_back() -> None:
    assert check_account_id("012345678901") == "012345678901"
    with pytest.raises(UsageError, match=r"^-a: '12345' is not a 12-digit account id$"):
        check_account_id("12345", option="-a")


@pytest.mark.parametrize("bad", ["12345", "1234567890123", "abcdefghijkl", "11111111111a", ""])
def test_anything_but_12_digits_is_a_usage_error_naming_the_option(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_account_id(bad)
    assert str(caught.value) == f"--account: {bad!r} is not a 12-digit account id"
    assert caught.value.exit_code == 2


def test_a_run_with_neither_now_nor_local_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        check_run_request(make_settings(), now=False, local=False)
    assert str(caught.value) == "say where to run: --now (the deployed fleet) or --local (here)"
    assert caught.value.exit_code == 2
    for now, local in ((True, False), (False, True), (True, True)):
        check_run_request(make_settings(), now=now, local=local)


def test_an_unknown_script_is_refused_naming_the_fleets_scripts() -> None:
    settings = make_settings(scripts=("whoami", "buckets"))
    check_run_request(settings, now=True, local=False, scripts=["buckets"])
    with pytest.raises(UsageError) as caught:
        check_run_request(settings, now=True, local=False, scripts=["whoami", "nope", "gone"])
    assert str(caught.value) == "unknown script gone, nope (this fleet has: whoami, buckets)"


def test_a_malformed_account_is_refused_before_fleet_membership() -> None:
    with pytest.raises(UsageError, match=r"^--account: '12345' is not a 12-digit account id$"):
        check_run_request(make_settings(), now=False, local=True, accounts=[A, "12345"])


def test_without_organizations_an_account_outside_the_fleet_is_refused() -> None:
    settings = make_settings()
    check_run_request(settings, now=False, local=True, accounts=[A, B])
    with pytest.raises(UsageError) as caught:
        check_run_request(
            settings, now=False, local=True, accounts=["999999999999", A, "099999999999"]
        )
    assert str(caught.value) == "account 099999999999, 999999999999 is not in this fleet"


def test_an_excluded_account_is_not_in_the_fleet() -> None:
    settings = make_settings(exclude_accounts=(B,))
    with pytest.raises(UsageError, match=f"^account {B} is not in this fleet$"):
        check_run_request(settings, now=False, local=True, accounts=[B])


def test_with_organizations_the_config_alone_leaves_accounts_to_the_organization_check() -> None:
    settings = dataclasses.replace(make_settings(accounts=()), organization=True)
    check_run_request(settings, now=True, local=False, accounts=["999999999999"])


class FakeOrganizations:
    """DescribeAccount and ListParents over a tree {child: parent}; counts the calls."""

    def __init__(self, states: dict[str, str], parents: dict[str, str]) -> None:
        self.states, self.parents, self.calls = states, parents, 0

    def describe_account(self, AccountId: str) -> dict[str, Any]:
        self.calls += 1
        if AccountId not in self.states:
            error = {"Error": {"Code": "AccountNotFoundException", "Message": "no"}}
            raise ClientError(error, "DescribeAccount")  # type: ignore[arg-type]
        return {"Account": {"Id": AccountId, "State": self.states[AccountId]}}

    def list_parents(self, ChildId: str) -> dict[str, Any]:
        self.calls += 1
        parent = self.parents[ChildId]
        return {"Parents": [{"Id": parent, "Type": "ROOT" if parent == "r-1" else "OU"}]}


IN_PROD, IN_PROD_EU, AT_ROOT, SUSPENDED = "300000000001", "300000000002", "300000000003", "3" * 12
ORG = FakeOrganizations(
    {IN_PROD: "ACTIVE", IN_PROD_EU: "ACTIVE", AT_ROOT: "ACTIVE", SUSPENDED: "SUSPENDED"},
    {IN_PROD: "ou-prod", IN_PROD_EU: "ou-prod-eu", "ou-prod-eu": "ou-prod", "ou-prod": "r-1",
     AT_ROOT: "r-1", SUSPENDED: "r-1"},
)  # fmt: skip


def organization_settings(ous: tuple[str, ...] = (), **changes: Any) -> Any:
    return make_settings(organization=True, organization_ous=ous, **changes)


def refused(settings: Any, accounts: list[str]) -> str:
    with pytest.raises(UsageError) as caught:
        check_organization_accounts(settings, accounts, ORG)
    assert caught.value.exit_code == 2
    return str(caught.value)


def test_an_account_the_organization_does_not_hold_or_has_suspended_is_refused() -> None:
    settings = organization_settings()
    check_organization_accounts(settings, [IN_PROD, AT_ROOT, A], ORG)
    assert refused(settings, ["999999999999", IN_PROD]) == (
        "account 999999999999 is not in this fleet"
    )
    assert refused(settings, [SUSPENDED]) == f"account {SUSPENDED} is not in this fleet"


def test_with_ous_only_accounts_below_them_are_in_the_fleet() -> None:
    settings = organization_settings(("ou-prod",))
    check_organization_accounts(settings, [IN_PROD, IN_PROD_EU], ORG)
    assert refused(settings, [AT_ROOT]) == f"account {AT_ROOT} is not in this fleet"
    check_organization_accounts(organization_settings(("r-1",)), [AT_ROOT, IN_PROD_EU], ORG)


def test_an_excluded_account_is_refused_and_a_listed_one_costs_no_call() -> None:
    settings = organization_settings(exclude_accounts=(IN_PROD,))
    assert refused(settings, [IN_PROD]) == f"account {IN_PROD} is not in this fleet"
    before = ORG.calls
    check_organization_accounts(settings, [A, B], ORG)  # both in the config's list
    assert ORG.calls == before


def test_without_organizations_nothing_is_asked() -> None:
    check_organization_accounts(make_settings(), ["999999999999"], None)


def test_an_unwritable_output_is_refused_and_a_writable_one_is_created(tmp_path: Path) -> None:
    missing_folder = tmp_path / "no" / "x.jsonl"
    with pytest.raises(UsageError) as caught:
        check_run_request(make_settings(), now=False, local=True, output=missing_folder)
    assert str(caught.value) == (
        f"--output: cannot write {missing_folder}: No such file or directory"
    )
    assert not missing_folder.parent.exists()

    writable = tmp_path / "records.jsonl"
    check_run_request(make_settings(), now=False, local=True, output=writable)
    assert writable.read_text() == ""


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_a_read_only_output_is_refused(tmp_path: Path) -> None:
    read_only = tmp_path / "records.jsonl"
    read_only.write_text("kept\n")
    read_only.chmod(0o444)
    with pytest.raises(UsageError, match=r"^--output: cannot write .*: Permission denied$"):
        check_run_request(make_settings(), now=False, local=True, output=read_only)
    assert read_only.read_text() == "kept\n"


def test_the_script_check_comes_before_the_account_and_output_checks(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^unknown script nope"):
        check_run_request(
            make_settings(),
            now=False,
            local=True,
            scripts=["nope"],
            accounts=["12345"],
            output=tmp_path / "no" / "x.jsonl",
        )
