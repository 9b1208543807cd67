"""The one adapter over other vendors' Open Service Brokers (API v2.17): an HTTP client on httpx.

chartkit buys services from a marketplace broker with the same calls the platform makes to chartkit's own
broker: catalog, provision / update / deprovision (asynchronous, polled through ``last_operation``), bind,
fetch a binding, unbind. Answers are plain dicts; a refusal becomes ``BrokerError`` with the broker's status,
error code and description. Credentials (basic auth) travel in the Authorization header only; the credentials a
bind returns are handed to the caller and never logged.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

from toolkit.errors import BrokerError

__all__ = ["API_VERSION", "BrokerClient", "BrokerEndpoint"]

log = logging.getLogger(__name__)

API_VERSION = "2.17"


@dataclass(frozen=True)
class BrokerEndpoint:
    """Where a broker listens and how to authenticate to it (``password`` never shown)."""

    url: str
    username: str = ""
    password: str = ""
    ca_file: Path | None = None
    timeout: float = 60.0

    def __repr__(self) -> str:  # dataclass's repr would print the password
        return f"BrokerEndpoint(url={self.url!r}, username={self.username!r})"


def _path(*parts: str) -> str:
    return "/v2/" + "/".join(quote(p, safe="") for p in parts)


class BrokerClient:
    """One broker; a context manager (it keeps one connection pool)."""

    def __init__(self, endpoint: BrokerEndpoint, *, originating_identity: str | None = None) -> None:
        import httpx

        self.endpoint = endpoint
        headers = {"X-Broker-API-Version": API_VERSION}
        if originating_identity:
            headers["X-Broker-API-Originating-Identity"] = originating_identity
        auth = (endpoint.username, endpoint.password) if endpoint.username else None
        verify: Any = ssl.create_default_context(cafile=str(endpoint.ca_file)) if endpoint.ca_file else True
        self._http = httpx.Client(base_url=endpoint.url.rstrip("/"), headers=headers, auth=auth, verify=verify,
                                  timeout=endpoint.timeout)

    def __enter__(self) -> BrokerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, what: str, *, query: Mapping[str, Any] | None = None,
              body: Mapping[str, Any] | None = None, ok: tuple[int, ...] = (200, 201, 202)) -> tuple[int, dict]:
        import httpx

        params = {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in (query or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=params, json=dict(body) if body is not None else None)
        except httpx.HTTPError as exc:
            raise BrokerError(f'unable to {what} at broker "{self.endpoint.url}": {exc}',
                              hint="is the broker running and reachable? check the URL and CA") from exc
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        if response.status_code not in ok:
            cause = data.get("description") or data.get("error") or response.reason_phrase
            hint = "check the marketplace credentials (chartkit marketplace add)" if response.status_code == 401 else None
            raise BrokerError(f'unable to {what} at broker "{self.endpoint.url}": {response.status_code} {cause}',
                              hint=hint, status=response.status_code, error=str(data.get("error") or ""))
        log.debug("%s %s -> %s", method, path, response.status_code)  # never the body: it may hold credentials
        return response.status_code, data

    # -- catalog ------------------------------------------------------------------------------------------------

    def catalog(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v2/catalog", "read the catalog")[1].get("services") or [])

    # -- service instances --------------------------------------------------------------------------------------

    def provision(self, instance_id: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._call("PUT", _path("service_instances", instance_id), f'provision "{instance_id}"',
                          query={"accepts_incomplete": True}, body=body)

    def update(self, instance_id: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._call("PATCH", _path("service_instances", instance_id), f'update "{instance_id}"',
                          query={"accepts_incomplete": True}, body=body)

    def deprovision(self, instance_id: str, *, service_id: str, plan_id: str) -> tuple[int, dict[str, Any]]:
        return self._call("DELETE", _path("service_instances", instance_id), f'deprovision "{instance_id}"',
                          query={"accepts_incomplete": True, "service_id": service_id, "plan_id": plan_id},
                          ok=(200, 202, 410))

    def instance(self, instance_id: str) -> dict[str, Any]:
        return self._call("GET", _path("service_instances", instance_id), f'fetch "{instance_id}"')[1]

    def last_operation(self, instance_id: str, *, operation: str | None = None, service_id: str | None = None,
                       plan_id: str | None = None) -> tuple[int, dict[str, Any]]:
        """``(status, body)``; status 410 means a deprovision finished (the instance is gone)."""
        return self._call("GET", _path("service_instances", instance_id, "last_operation"),
                          f'poll the last operation of "{instance_id}"', ok=(200, 410),
                          query={"operation": operation, "service_id": service_id, "plan_id": plan_id})

    # -- bindings -----------------------------------------------------------------------------------------------

    def bind(self, instance_id: str, binding_id: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        return self._call("PUT", _path("service_instances", instance_id, "service_bindings", binding_id),
                          f'bind "{instance_id}"', query={"accepts_incomplete": True}, body=body)

    def binding(self, instance_id: str, binding_id: str) -> dict[str, Any]:
        return self._call("GET", _path("service_instances", instance_id, "service_bindings", binding_id),
                          f'fetch binding "{binding_id}"')[1]

    def binding_last_operation(self, instance_id: str, binding_id: str, *,
                               operation: str | None = None) -> tuple[int, dict[str, Any]]:
        return self._call("GET", _path("service_instances", instance_id, "service_bindings", binding_id,
                                       "last_operation"), f'poll binding "{binding_id}"', ok=(200, 410),
                          query={"operation": operation})

    def unbind(self, instance_id: str, binding_id: str, *, service_id: str, plan_id: str) -> tuple[int, dict]:
        return self._call("DELETE", _path("service_instances", instance_id, "service_bindings", binding_id),
                          f'unbind "{binding_id}"', ok=(200, 202, 410),
                          query={"accepts_incomplete": True, "service_id": service_id, "plan_id": plan_id})
