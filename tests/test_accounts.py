"""Which accounts a run covers: config lists and AWS Organizations discovery (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from lambda_src.accounts import discover_accounts, resolve_accounts
from lambda_src.scripts import Account
from tests.conftest import make_settings

MEMBERS = 120
MANAGEMENT_ID = "123456789012"  # moto's default account: the organization's management account


@dataclass
class Org:
    """An organization in moto: 120 members, some in OUs (`prod` holds the nested `prod-eu`)."""

    client: Any
    management: str
    root: str
    names: dict[str, str]  # every ACTIVE account id -> name, management included
    prod: str = ""
    prod_eu: str = ""
    dev: str = ""
    in_ou: dict[str, set[str]] = field(default_factory=dict)  # OU id -> accounts directly in it
    calls: dict[str, int] = field(default_factory=dict)

    def count_calls(self, operation: str) -> None:
        self.calls[operation] = 0

        def bump(**_: Any) -> None:
            self.calls[operation] += 1

        self.client.meta.events.register(f"before-call.organizations.{operation}", bump)


@pytest.fixture
def org(aws: boto3.Session) -> Iterator[Org]:
    client = aws.client("organizations")
    management = client.create_organization(FeatureSet="ALL")["Organization"]["MasterAccountId"]
    for i in range(MEMBERS):
        status = client.create_account(AccountName=f"member-{i:03}", Email=f"m{i}@example.com")
        assert status["CreateAccountStatus"]["State"] == "SUCCEEDED"
    names = {
        a["Id"]: a["Name"]
        for page in client.get_paginator("list_accounts").paginate()
        for a in page["Accounts"]
    }
    members = sorted(i for i in names if i != management)
    assert len(members) == MEMBERS
    root = client.list_roots()["Roots"][0]["Id"]

    def new_ou(parent: str, name: str) -> str:
        ou = client.create_organizational_unit(ParentId=parent, Name=name)
        return str(ou["OrganizationalUnit"]["Id"])

    result = Org(client=client, management=management, root=root, names=names)
    result.prod = new_ou(root, "prod")
    result.prod_eu = new_ou(result.prod, "prod-eu")
    result.dev = new_ou(root, "dev")
    # 30 directly in prod (more than one page of moto's list_accounts_for_parent), 10 in the
    # nested prod-eu, 20 in dev; the remaining 60 stay under the root.
    layout = {result.prod: members[:30], result.prod_eu: members[30:40], result.dev: members[40:60]}
    for ou, accounts in layout.items():
        for account in accounts:
            client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
        result.in_ou[ou] = set(accounts)
    yield result


def ids(accounts: list[Account]) -> list[str]:
    return [a.id for a in accounts]


# --- Organizations discovery against moto ----------------------------------------------------


def test_whole_organization_finds_every_active_account_with_its_name(org: Org) -> None:
    settings = make_settings(accounts=(), organization=True)

    accounts = resolve_accounts(settings, org.client)

    assert len(accounts) == MEMBERS + 1
    assert ids(accounts) == sorted(org.names)
    assert org.management in ids(accounts)
    assert {a.id: a.name for a in accounts} == org.names
    assert {a.name for a in accounts if a.id != org.management} == {
        f"member-{i:03}" for i in range(MEMBERS)
    }


def test_list_accounts_is_followed_across_pages(org: Org) -> None:
    org.count_calls("ListAccounts")
    tokens: list[str | None] = []
    org.client.meta.events.register(
        "before-parameter-build.organizations.ListAccounts",
        lambda params, **_: tokens.append(params.get("NextToken")),
    )

    found = list(discover_accounts(org.client))

    # moto pages list_accounts by 100: 121 accounts need two calls, the second with a token.
    assert org.calls["ListAccounts"] > 1
    assert tokens[0] is None
    assert all(tokens[1:])
    assert len(found) == MEMBERS + 1
    assert len({a.id for a in found}) == len(found)


def test_ou_filter_is_recursive_into_nested_ous(org: Org) -> None:
    org.count_calls("ListAccountsForParent")
    settings = make_settings(accounts=(), organization=True, organization_ous=(org.prod,))

    accounts = resolve_accounts(settings, org.client)

    expected = org.in_ou[org.prod] | org.in_ou[org.prod_eu]
    assert set(ids(accounts)) == expected
    assert len(accounts) == 40
    assert ids(accounts) == sorted(expected)
    assert all(a.name == org.names[a.id] for a in accounts)
    # 30 accounts directly in prod take two pages in moto, plus one call for prod-eu.
    assert org.calls["ListAccountsForParent"] >= 3


def test_nested_ou_alone_and_several_ous(org: Org) -> None:
    only_nested = resolve_accounts(
        make_settings(accounts=(), organization=True, organization_ous=(org.prod_eu,)),
        org.client,
    )
    assert set(ids(only_nested)) == org.in_ou[org.prod_eu]

    # prod-eu is reachable twice (listed, and under prod): still listed once.
    several = resolve_accounts(
        make_settings(
            accounts=(), organization=True, organization_ous=(org.prod_eu, org.dev, org.prod)
        ),
        org.client,
    )
    expected = org.in_ou[org.prod] | org.in_ou[org.prod_eu] | org.in_ou[org.dev]
    assert ids(several) == sorted(expected)


def test_root_as_ou_covers_the_whole_tree(org: Org) -> None:
    accounts = resolve_accounts(
        make_settings(accounts=(), organization=True, organization_ous=(org.root,)), org.client
    )
    assert ids(accounts) == sorted(org.names)


def test_exclusions_explicit_accounts_and_only(org: Org) -> None:
    members = sorted(i for i in org.names if i != org.management)
    excluded = (members[0], members[1], org.management, "999999999999")
    renamed = members[5]
    settings = make_settings(
        accounts=(renamed, "000000000042"),  # make_settings names them acct-<first 3 digits>
        organization=True,
        exclude_accounts=excluded,
    )

    accounts = resolve_accounts(settings, org.client)
    by_id = {a.id: a for a in accounts}

    assert not set(excluded) & set(by_id)
    assert len(accounts) == MEMBERS + 1 - 3 + 1
    # Explicit accounts are merged; their configured name wins over the Organizations one.
    assert by_id[renamed].name == f"acct-{renamed[:3]}"
    assert by_id["000000000042"].name == "acct-000"
    assert by_id[members[6]].name == org.names[members[6]]
    assert ids(accounts) == sorted(by_id)

    only = resolve_accounts(settings, org.client, only=[members[0], members[7], "000000000042"])
    assert ids(only) == sorted([members[7], "000000000042"])
    assert resolve_accounts(settings, org.client, only=[]) == []


def test_exclusion_of_an_explicit_account_wins() -> None:
    settings = make_settings(
        accounts=("111111111111", "222222222222"), exclude_accounts=("222222222222",)
    )
    assert resolve_accounts(settings, None) == [Account(id="111111111111", name="acct-111")]


def test_organization_discovery_needs_a_client() -> None:
    with pytest.raises(ValueError, match="Organizations client"):
        resolve_accounts(make_settings(accounts=(), organization=True), None)


def test_without_organization_the_client_is_not_used() -> None:
    class Exploding:
        def get_paginator(self, name: str) -> Any:
            raise AssertionError(f"unexpected Organizations call {name}")

    accounts = resolve_accounts(make_settings(), Exploding())
    assert ids(accounts) == ["111111111111", "222222222222"]


# --- account states, with canned pages -------------------------------------------------------


def account(account_id: str, **state: str) -> dict[str, Any]:
    return {"Id": account_id, "Name": f"name-{account_id[-2:]}", **state}


def test_only_active_accounts_are_kept_across_stubbed_pages() -> None:
    client = boto3.client("organizations", region_name="us-east-1")
    page_one = [
        account("100000000001", Status="ACTIVE"),
        account("100000000002", Status="SUSPENDED"),
        account("100000000003", Status="PENDING_CLOSURE"),
    ]
    page_two = [
        account("100000000004", State="ACTIVE"),  # the new field only
        account("100000000005", State="CLOSED", Status="SUSPENDED"),
        account("100000000006", State="SUSPENDED", Status="ACTIVE"),  # State is authoritative
        account("100000000007", State="PENDING_ACTIVATION"),
        {"Id": "100000000008", "State": "ACTIVE"},  # no name: the id stands in
    ]
    with Stubber(client) as stubber:
        stubber.add_response(
            "list_accounts", {"Accounts": page_one, "NextToken": "page-2"}, expected_params={}
        )
        stubber.add_response(
            "list_accounts", {"Accounts": page_two}, expected_params={"NextToken": "page-2"}
        )

        found = list(discover_accounts(client))

        stubber.assert_no_pending_responses()
    assert found == [
        Account(id="100000000001", name="name-01"),
        Account(id="100000000004", name="name-04"),
        Account(id="100000000008", name="100000000008"),
    ]


class FakeOrganizations:
    """A client whose paginators return canned pages, keyed by (operation, ParentId)."""

    def __init__(self, pages: dict[tuple[str, str | None], list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
                fake.requests.append((operation, params))
                yield from fake.pages.get((operation, params.get("ParentId")), [])

        return Paginator()


def test_suspended_accounts_are_dropped_in_ou_discovery() -> None:
    client = FakeOrganizations(
        {
            ("list_accounts_for_parent", "ou-a"): [
                {"Accounts": [{"Id": "200000000001", "Name": "ok", "Status": "ACTIVE"}]},
                {"Accounts": [{"Id": "200000000002", "Name": "gone", "Status": "SUSPENDED"}]},
            ],
            ("list_organizational_units_for_parent", "ou-a"): [
                {"OrganizationalUnits": [{"Id": "ou-b"}]}
            ],
            ("list_accounts_for_parent", "ou-b"): [
                {
                    "Accounts": [
                        {"Id": "200000000003", "Name": "new", "State": "ACTIVE"},
                        {"Id": "200000000004", "Name": "closed", "State": "CLOSED"},
                    ]
                }
            ],
        }
    )
    settings = make_settings(accounts=(), organization=True, organization_ous=("ou-a",))

    accounts = resolve_accounts(settings, client)

    assert accounts == [Account("200000000001", "ok"), Account("200000000003", "new")]
    assert ("list_organizational_units_for_parent", {"ParentId": "ou-b"}) in client.requests
