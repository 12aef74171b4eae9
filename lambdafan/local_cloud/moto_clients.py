"""Clients to moto's server itself, as a given caller: how the runtime reads what it needs.

The runtime plays AWS's part, so it talks to moto directly (never through the proxy, never to
real AWS, whatever AWS_ENDPOINT_URL says) and without the user-facing layer of `lambdafan.aws`
(profiles, fault injection, adaptive retries): hence botocore's own client factory, pinned to
moto's endpoint. moto does not check signatures; it takes the access key (and an assumed
role's session token) to know which account a call is in.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.config
import botocore.session

# moto maps an access key it did not issue to its default account.
RUNTIME_ACCESS_KEY = "localcloudruntime"
CLIENT_CONFIG = botocore.config.Config(retries={"mode": "standard", "max_attempts": 3})


class MotoClients:
    """botocore clients to `endpoint`, made once per (service, access key, token, region)."""

    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint
        self._session = botocore.session.get_session()
        self._clients: dict[tuple[str, str, str | None, str], Any] = {}
        self._lock = threading.Lock()

    def get(
        self, service: str, region: str, access_key_id: str | None, session_token: str | None
    ) -> Any:
        key = access_key_id or RUNTIME_ACCESS_KEY
        cache_key = (service, key, session_token, region)
        with self._lock:  # a botocore session is not thread-safe while it builds a client
            client = self._clients.get(cache_key)
            if client is None:
                client = self._session.create_client(
                    service,
                    region_name=region,
                    endpoint_url=self._endpoint,
                    aws_access_key_id=key,
                    aws_secret_access_key="local-cloud",
                    aws_session_token=session_token,
                    config=CLIENT_CONFIG,
                )
                self._clients[cache_key] = client
            return client
