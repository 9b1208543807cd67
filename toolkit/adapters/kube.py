"""The one adapter over the Kubernetes API.

A generic layer over plain dicts (lightkube's shape): requests are built from ``apiVersion``/``kind`` through
discovery, sent with the kubernetes client's ``ApiClient`` (which handles kubeconfig auth: certs, tokens, exec
plugins) and answered as dicts, so fields the client's typed models do not know survive. The ``kubernetes``
package is imported lazily: it is slow to import and ``chartkit --help`` must stay fast.

Foreign errors become ``ClusterError`` here, with the HTTP status kept in ``status``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import quote, urlencode

from toolkit.errors import KubeError

__all__ = [
    "ApiResource",
    "Kube",
    "KubeError",
    "SKIPPED_WHEN_LISTING",
]

log = logging.getLogger(__name__)

_METADATA_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"

#: (group, resource) pairs list_namespace_objects leaves out by default: records about objects, not objects
SKIPPED_WHEN_LISTING: frozenset[tuple[str, str]] = frozenset({
    ("", "events"), ("events.k8s.io", "events"),
})


@dataclass(frozen=True)
class ApiResource:
    """One resource type the server serves, as discovery describes it."""

    group: str
    version: str
    kind: str
    name: str  # plural, the URL segment
    namespaced: bool
    verbs: tuple[str, ...]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, *, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.name}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base


def _hint(status: int) -> str | None:
    return {
        0: "is the cluster running? `chartkit env` shows the kubeconfig chartkit uses",
        401: "the kubeconfig's credentials were refused; check --kubeconfig/--kube-context",
        403: "the kubeconfig's user lacks RBAC permission for this",
        409: "another field manager owns these fields; re-apply with force or resolve the conflict",
        422: "the object is invalid; fix the named field",
    }.get(status)


class Kube:
    """A client for one cluster, from a kubeconfig (default: $KUBECONFIG or ~/.kube/config) and context."""

    def __init__(self, kubeconfig: Path | str | None = None, context: str | None = None, *,
                 timeout: float = 30.0) -> None:
        from kubernetes import config as kconfig  # lazy: slow import
        import yaml  # the kubernetes client's own YAML parser
        from kubernetes.config.config_exception import ConfigException

        self.kubeconfig = Path(kubeconfig) if kubeconfig else None
        self.context = context
        self.timeout = timeout
        try:
            self._api = kconfig.new_client_from_config(
                # $KUBECONFIG read now, not at the client's import; the client merges a:b like kubectl and helm
                config_file=str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or None,
                context=context, persist_config=False)
        except (ConfigException, FileNotFoundError, OSError) as exc:
            raise KubeError(f'unable to load kubeconfig "{kubeconfig or "default"}" (context {context or "current"}):'
                            f" {exc}", hint="pass --kubeconfig/--kube-context, or run `invoke up`") from exc
        except (yaml.YAMLError, TypeError, AttributeError) as exc:
            # the client parses the file with PyYAML and indexes it as a map: bad YAML or another shape lands here
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            cause = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise KubeError(f'unable to load kubeconfig "{kubeconfig or "default"}": {cause}{where}',
                            hint="fix the file (a kubeconfig is a YAML map: clusters, users, contexts), "
                                 "or pass another with --kubeconfig") from exc
        self._resources: dict[tuple[str, str], ApiResource] | None = None
        self._preferred: set[str] = set()

    @property
    def server(self) -> str:
        return self._api.configuration.host

    # -- raw requests ---------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None,
                content_type: str = "application/json", what: str | None = None,
                accept: str = "application/json") -> Any:
        """One API request; returns the decoded JSON answer (None for an empty one)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        url = self.server + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()},
                                   doseq=True)
        headers = {"Accept": accept, "Content-Type": content_type}
        headers.update(self._api.default_headers)
        self._api.update_params_for_auth(headers, [], ["BearerToken"], path, method, body)
        target = what or f"{method} {path}"
        try:
            response = self._api.rest_client.request(method, url, headers=headers, body=body,
                                                     _request_timeout=self.timeout)
            data = response.read()
        except ApiException as exc:
            raise KubeError(f'unable to {target}: {exc.reason}', hint=_hint(exc.status or 0),
                            status=exc.status or 0, reason=str(exc.reason)) from exc
        except (HTTPError, OSError) as exc:
            raise KubeError(f"unable to {target}: {exc}", hint=_hint(0)) from exc
        if not 200 <= response.status < 300:
            try:
                status = json.loads(data)
                message, reason = status.get("message", ""), status.get("reason", "")
            except ValueError:
                message, reason = data.decode(errors="replace")[:300], ""
            raise KubeError(f"unable to {target}: {message or response.reason}", hint=_hint(response.status),
                            status=response.status, reason=reason)
        return json.loads(data) if data else None

    # -- discovery ------------------------------------------------------------------------------------------

    def resources(self, *, refresh: bool = False) -> list[ApiResource]:
        """Every top-level resource type the server serves (all versions; subresources left out)."""
        if self._resources is None or refresh:
            found: dict[tuple[str, str], ApiResource] = {}
            preferred: set[str] = set()
            group_versions: list[tuple[str, str, bool]] = [
                ("", v, i == 0) for i, v in enumerate(self.request("GET", "/api", what="discover APIs")["versions"])]
            for group in self.request("GET", "/apis", what="discover API groups")["groups"]:
                pref = group.get("preferredVersion", {}).get("version")
                group_versions += [(group["name"], v["version"], v["version"] == pref) for v in group["versions"]]
            for group, version, is_preferred in group_versions:
                path = f"/apis/{group}/{version}" if group else f"/api/{version}"
                try:
                    listing = self.request("GET", path, what=f"discover {path}")
                except KubeError as exc:
                    # an aggregated API that is down must not break everything else
                    log.warning("skipping %s: %s", path, exc)
                    continue
                for res in listing.get("resources", []):
                    if "/" in res["name"]:
                        continue
                    item = ApiResource(group, version, res["kind"], res["name"], bool(res["namespaced"]),
                                       tuple(res.get("verbs", ())))
                    found[(item.api_version, item.kind)] = item
                    if is_preferred:
                        preferred.add(item.api_version)
            self._resources, self._preferred = found, preferred
        return list(self._resources.values())

    def resource(self, api_version: str, kind: str) -> ApiResource:
        """The resource type for ``apiVersion``/``kind``; discovery is refreshed once on a miss (new CRDs)."""
        self.resources()
        assert self._resources is not None
        found = self._resources.get((api_version, kind))
        if found is None:
            self.resources(refresh=True)
            found = self._resources.get((api_version, kind))
        if found is None:
            raise KubeError(f'unable to find kind "{kind}" in "{api_version}" on {self.server}',
                            hint="check apiVersion/kind, or install the CRD that defines it", status=404)
        return found

    # -- objects --------------------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
            missing_ok: bool = False) -> dict[str, Any] | None:
        res = self.resource(api_version, kind)
        try:
            return self.request("GET", res.path(namespace=namespace, name=name),
                                what=f'read {kind} "{_ref(namespace, name)}"')
        except KubeError as exc:
            if missing_ok and exc.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str | None = None, *,
             selector: str | None = None, metadata_only: bool = False) -> list[dict[str, Any]]:
        """Objects of one kind (all namespaces when ``namespace`` is None), each with apiVersion and kind set.

        ``metadata_only``: only each object's metadata (a PartialObjectMetadataList), not its payload.
        """
        res = self.resource(api_version, kind)
        return self._list(res, namespace, selector, metadata_only=metadata_only)

    def _list(self, res: ApiResource, namespace: str | None, selector: str | None, *,
              metadata_only: bool = False) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        accept = (_METADATA_ACCEPT if metadata_only else "application/json")
        while True:
            page = self.request("GET", res.path(namespace=namespace),
                                query={"labelSelector": selector, "limit": 500, "continue": token},
                                what=f"list {res.name} in {namespace or 'all namespaces'}", accept=accept)
            for item in page.get("items") or []:
                items.append({"apiVersion": res.api_version, "kind": res.kind, **item})
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items

    def list_namespace_objects(self, namespace: str, selector: str | None = None, *,
                               skip: Iterable[tuple[str, str]] = SKIPPED_WHEN_LISTING) -> list[dict[str, Any]]:
        """Every object in a namespace, of every namespaced listable kind (preferred version of each group)."""
        skipped = set(skip)
        objects: list[dict[str, Any]] = []
        for res in sorted(self.resources(), key=lambda r: (r.group, r.name)):
            if (not res.namespaced or "list" not in res.verbs or res.api_version not in self._preferred
                    or (res.group, res.name) in skipped):
                continue
            try:
                objects.extend(self._list(res, namespace, selector))
            except KubeError as exc:
                if exc.status in (403, 404, 405):
                    log.info("cannot list %s in %s: %s", res.name, namespace, exc)
                    continue
                raise
        return objects

    def apply(self, objects: Iterable[Mapping[str, Any]], namespace: str | None = None, *,
              field_manager: str = "chartkit", force: bool = True, dry_run: bool = False) -> list[dict[str, Any]]:
        """Server-side apply each object (in order; CRDs are re-discovered as they appear); returns the results."""
        applied = []
        for obj in objects:
            kind, api_version = obj.get("kind"), obj.get("apiVersion")
            name = (obj.get("metadata") or {}).get("name")
            if not (kind and api_version and name):
                raise KubeError(f"unable to apply an object without apiVersion, kind and metadata.name: "
                                f"{json.dumps(obj)[:120]}", status=422)
            res = self.resource(api_version, kind)
            ns = ((obj.get("metadata") or {}).get("namespace") or namespace) if res.namespaced else None
            if res.namespaced and not ns:
                raise KubeError(f'unable to apply {kind} "{name}": it is namespaced and no namespace was given',
                                status=422)
            body = dict(obj)
            if ns:
                body["metadata"] = {**obj["metadata"], "namespace": ns}
            result = self.request(
                "PATCH", res.path(namespace=ns, name=name), body=body, content_type="application/apply-patch+yaml",
                query={"fieldManager": field_manager, "force": force, "dryRun": "All" if dry_run else None},
                what=f'apply {kind} "{_ref(ns, name)}"')
            applied.append(result)
            if kind == "CustomResourceDefinition" and not dry_run:
                self._resources = None  # new kinds: discover again when next needed
        return applied

    def create_namespace(self, name: str, *, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if labels:
            meta["labels"] = dict(labels)
        return self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}])[0]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
               missing_ok: bool = True, wait: bool = False, timeout: float = 60.0) -> bool:
        """Delete one object (background propagation); True when it existed."""
        res = self.resource(api_version, kind)
        try:
            self.request("DELETE", res.path(namespace=namespace, name=name),
                         body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
                         what=f'delete {kind} "{_ref(namespace, name)}"')
        except KubeError as exc:
            if missing_ok and exc.status == 404:
                return False
            raise
        if wait:
            self._wait(lambda: self.get(api_version, kind, name, namespace, missing_ok=True) is None,
                       timeout, f'{kind} "{_ref(namespace, name)}" to be deleted')
        return True

    # -- waiting --------------------------------------------------------------------------------------------

    @staticmethod
    def _wait(check: Any, timeout: float, what: str, interval: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise KubeError(f"unable to wait for {what}: still not done after {timeout:.0f}s")
            time.sleep(interval)

    def deployment_available(self, name: str, namespace: str) -> bool:
        """`kubectl rollout status` semantics: the newest generation is observed and fully rolled out."""
        dep = self.get("apps/v1", "Deployment", name, namespace, missing_ok=True)
        if not dep:
            return False
        spec, status = dep.get("spec", {}), dep.get("status", {})
        want = spec.get("replicas", 1)
        conditions = {c["type"]: c for c in status.get("conditions", [])}
        return (
            status.get("observedGeneration", 0) >= dep["metadata"].get("generation", 0)
            and status.get("updatedReplicas", 0) == want
            and status.get("replicas", 0) == want
            and status.get("availableReplicas", 0) == want
            and conditions.get("Available", {}).get("status") == "True"
        )

    def wait_deployment_available(self, name: str, namespace: str, *, timeout: float = 120.0) -> dict[str, Any]:
        self._wait(lambda: self.deployment_available(name, namespace), timeout,
                   f'Deployment "{namespace}/{name}" to become available')
        dep = self.get("apps/v1", "Deployment", name, namespace)
        assert dep is not None
        return dep

    def wait_gone(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
                  timeout: float = 60.0) -> None:
        """Wait until an object no longer exists (e.g. a Terminating namespace)."""
        self._wait(lambda: self.get(api_version, kind, name, namespace, missing_ok=True) is None, timeout,
                   f'{kind} "{_ref(namespace, name)}" to be deleted')

    def server_version(self) -> str:
        return self.request("GET", "/version", what="read the server version")["gitVersion"]


def _ref(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name

