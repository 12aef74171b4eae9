"""Sessions into member accounts: one assume_role per account, clients shared across threads.

A boto3 Session costs ~200 ms and tens of MB to make its first client, so every account shares
the process's one base Session (and its botocore session, loaders and caches); an
`AccountSession` only injects the account's credentials into each client it creates.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

from botocore.config import Config

from lambda_src import names
from lambda_src.shared_handlers import share_handlers

# Throttling at 1,000 accounts is normal (Organizations, STS, describe calls): back off, retry.
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 10})

# A boto3 Session is not thread-safe while it lazily builds its components and loads a
# service's models, i.e. for the first client of each service. Later clients only read that
# state, so they are created without the lock: holding it for every client made 32 threads
# queue behind each other (a lock convoy under the GIL).
_CLIENT_LOCK = threading.Lock()
_warm_services: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


class AccountSession:
    """The `session` a script receives: a boto3.Session look-alike bound to one account.

    `client()` and `resource()` carry the account's credentials and the retry config; clients are
    cached per (service, region), so the threads of one account share them (clients are
    thread-safe). Anything else is delegated to the base Session.
    """

    def __init__(
        self, base: Any, credentials: Mapping[str, str | None] | None, default_region: str
    ) -> None:
        self._base = base
        with _CLIENT_LOCK:  # once per base session: a client per (account, region) costs less
            share_handlers(base)
        self._credentials = credentials or {}
        self._default_region = default_region
        self._clients: dict[tuple[str, str], Any] = {}

    @property
    def region_name(self) -> str:
        return self._default_region

    def _credential_kwargs(self) -> dict[str, str | None]:
        if not self._credentials:
            return {}
        return {
            "aws_access_key_id": self._credentials["AccessKeyId"],
            "aws_secret_access_key": self._credentials["SecretAccessKey"],
            "aws_session_token": self._credentials["SessionToken"],
        }

    def client(self, service_name: str, region_name: str | None = None, **kwargs: Any) -> Any:
        """A client in this account; plain (service, region) ones are cached and shared."""
        region = region_name or self._default_region
        key = (service_name, region)
        cacheable = not kwargs
        if cacheable and key in self._clients:
            return self._clients[key]
        kwargs.setdefault("config", RETRY_CONFIG)
        if service_name in _warm_services.get(self._base, ()):
            made = self._make_client(service_name, region, kwargs)
        else:
            with _CLIENT_LOCK:
                made = self._make_client(service_name, region, kwargs)
                _warm_services.setdefault(self._base, set()).add(service_name)
        if cacheable:
            # Two threads may race to create the same client; either one is fine to keep.
            made = self._clients.setdefault(key, made)
        return made

    def _make_client(self, service_name: str, region: str, kwargs: dict[str, Any]) -> Any:
        return self._base.client(
            service_name, region_name=region, **self._credential_kwargs(), **kwargs
        )

    def resource(self, service_name: str, region_name: str | None = None, **kwargs: Any) -> Any:
        """A boto3 resource in this account (resources are not thread-safe: one per thread)."""
        kwargs.setdefault("config", RETRY_CONFIG)
        with _CLIENT_LOCK:
            return self._base.resource(
                service_name,
                region_name=region_name or self._default_region,
                **self._credential_kwargs(),
                **kwargs,
            )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._base, name)


def assume_member_role(
    sts: Any,
    account_id: str,
    role_name: str,
    *,
    partition: str,
    session_name: str,
    external_id: str | None,
    duration: int,
) -> dict[str, str]:
    """Assume the member role in an account of `partition`; returns the temporary credentials."""
    params: dict[str, Any] = {
        "RoleArn": names.role_arn(partition, account_id, role_name),
        "RoleSessionName": session_name[:64],
        "DurationSeconds": duration,
    }
    if external_id:
        params["ExternalId"] = external_id
    credentials: dict[str, str] = sts.assume_role(**params)["Credentials"]
    return credentials
