"""The one adapter over the Kubernetes API: a small REST client over the standard library.

A generic layer over plain dicts (lightkube's shape): requests are built from ``apiVersion``/``kind`` through
discovery and answered as dicts, so fields no typed model knows survive. HTTP is ``http.client`` + ``ssl`` with one
keep-alive connection per thread (callers run operations in threads); a connection the server dropped while idle
is reopened once. The kubeconfig is read by ``toolkit.adapters.kubeconfig``.

Why not the ``kubernetes`` package: it takes ~0.3 s to import, writes the kubeconfig's embedded client key to a
temp file that outlives a killed process, prints urllib3 warnings when the server is down, and surfaces Python
internals for a bad kubeconfig. Here an embedded key reaches OpenSSL through an anonymous in-memory file
(``memfd_create``) closed right after loading; nothing is printed; every failure is one ``KubeError`` line with the
HTTP status kept in ``status`` (0: the server was not reached) and the server's reason in ``reason``.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import quote, urlencode, urlsplit

from toolkit.adapters import kubeconfig as _kubeconfig
from toolkit.adapters.kubeconfig import KubeConfig
from toolkit.errors import KubeError

__all__ = [
    "ApiResource",
    "Kube",
    "KubeError",
    "ObjectList",
    "PatchType",
    "SKIPPED_WHEN_LISTING",
    "WatchEvent",
    "WatchEventType",
]

log = logging.getLogger(__name__)

#: (group, resource) pairs list_namespace_objects leaves out by default: records about objects, not objects
SKIPPED_WHEN_LISTING: frozenset[tuple[str, str]] = frozenset({
    ("", "events"), ("events.k8s.io", "events"),
})

UNREACHABLE_HINT = "is the cluster running? `chartkit env` shows the kubeconfig chartkit uses"
JSON = "application/json"
# the server answers metadata only (no data, spec or status): listing helm's release Secrets skips their payloads;
# plain JSON after the comma is the fallback for a server (an aggregated API) that cannot
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA_ONE = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
# aggregated discovery (GA in 1.30): every group, version and resource in one answer per root instead of one each
DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
TOKEN_FILE_TTL = 60.0  # client-go re-reads tokenFile every minute: rotated tokens are picked up


class PatchType(str, Enum):
    """The patch formats the API server takes, by their content types."""

    MERGE = "application/merge-patch+json"  # RFC 7386
    JSON = "application/json-patch+json"  # RFC 6902: a list of operations
    STRATEGIC = "application/strategic-merge-patch+json"  # kubectl's: lists merged by key (built-in kinds only)
    APPLY = "application/apply-patch+yaml"  # server-side apply; use Kube.apply

    @classmethod
    def of(cls, value: PatchType | str) -> PatchType:
        if isinstance(value, PatchType):
            return value
        try:
            return {"merge": cls.MERGE, "json": cls.JSON, "strategic": cls.STRATEGIC, "apply": cls.APPLY}[value]
        except KeyError:
            raise ValueError(f'unknown patch type "{value}": merge, json or strategic') from None


class WatchEventType(str, Enum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"  # only metadata.resourceVersion is meaningful: where to resume


@dataclass(frozen=True)
class WatchEvent:
    type: WatchEventType
    object: dict[str, Any]

    @property
    def resource_version(self) -> str:
        return str((self.object.get("metadata") or {}).get("resourceVersion", ""))


class ObjectList(list):  # type: ignore[type-arg]
    """The objects of a list request, and the list's resourceVersion (where a watch picks up after it)."""

    resource_version: str = ""


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


def _hint(status: int, reason: str = "", method: str = "") -> str | None:
    if status == 409:
        if reason == "AlreadyExists":
            return "it exists already: read it, then replace or patch it"
        if method == "PUT":
            return "it changed since it was read: read it again, redo the change and retry"
    return {
        0: UNREACHABLE_HINT,
        401: "the kubeconfig's credentials were refused; check --kubeconfig/--kube-context",
        403: "the kubeconfig's user lacks RBAC permission for this",
        409: "another field manager owns these fields; re-apply with force or resolve the conflict",
        410: "the resourceVersion is too old: list again and watch from the list's resourceVersion",
        422: "the object is invalid; fix the named field",
    }.get(status)


def _status_error(status: int, data: bytes | Mapping[str, Any], target: str, method: str,
                  phrase: str = "") -> KubeError:
    """A KubeError from the server's Status object (or whatever else it answered)."""
    if isinstance(data, Mapping):
        doc: Any = data
    else:
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        status = int(doc.get("code") or status)
        message, reason = str(doc.get("message") or ""), str(doc.get("reason") or "")
    else:
        text = data.decode(errors="replace") if isinstance(data, bytes) else ""
        message, reason = " ".join(text.split())[:300], ""
    hint = _hint(status, reason, method)
    if status == 403 and "denied request" in message:
        # an admission policy said no, not RBAC: its message is the reason (chartkit guard names the lock)
        hint = "an admission policy refused the change; its message says why (`chartkit guard` protects locked fields)"
    return KubeError(f"unable to {target}: {message or phrase or f'HTTP {status}'}",
                     hint=hint, status=status, reason=reason)


def _memfd(data: bytes, fds: list[int]) -> str:
    """An anonymous in-memory file holding ``data`` (its fd added to ``fds`` for the caller to close): OpenSSL
    reads it by path, no disk ever holds it, and it vanishes with its last fd, also when the process is killed."""
    fd = os.memfd_create("chartkit-kube", os.MFD_CLOEXEC)
    fds.append(fd)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    return f"/proc/self/fd/{fd}"


def _no_password() -> bytes:
    # an encrypted key fails to load instead of OpenSSL prompting on the terminal
    return b""


def _ssl_context(config: KubeConfig, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
    """TLS as client-go sets it up: the kubeconfig's CA only (else the system's), the client pair if any."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if config.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif config.ca_data:
        try:
            context.load_verify_locations(cadata=config.ca_data.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError):
            raise KubeError(f'unable to load kubeconfig "{config.cluster_origin or config.origin}": cluster '
                            f'"{config.cluster}": its certificate-authority holds no PEM certificate',
                            hint=_kubeconfig.FIX_HINT) from None
    else:
        context.load_default_certs()
    if cert and key:
        if not hasattr(os, "memfd_create"):
            raise KubeError(f'unable to use the client key of user "{config.user}": embedded keys need Linux '
                            "(memfd_create), chartkit never writes them to disk",
                            hint="use an exec plugin or a token on this system")
        fds: list[int] = []
        try:
            context.load_cert_chain(_memfd(cert, fds), _memfd(key, fds), password=_no_password)
        except ssl.SSLError as exc:
            raise KubeError(f'unable to load kubeconfig "{config.user_origin or config.origin}": user '
                            f'"{config.user}": its client certificate and key do not load ({exc.reason or exc})',
                            hint="they must be PEM, unencrypted, and belong together") from None
        finally:
            for fd in fds:
                os.close(fd)
    return context


class _HTTPSConnection(http.client.HTTPSConnection):
    """HTTPS whose certificate is checked against ``tls-server-name`` when the kubeconfig sets one."""

    def __init__(self, host: str, port: int, *, timeout: float, context: ssl.SSLContext,
                 server_hostname: str | None) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_hostname = server_hostname or host

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_hostname)  # type: ignore[attr-defined]


class Kube:
    """A client for one cluster, from a kubeconfig (default: $KUBECONFIG or ~/.kube/config) and context."""

    def __init__(self, kubeconfig: Path | str | None = None, context: str | None = None, *,
                 timeout: float = 30.0) -> None:
        self.kubeconfig = Path(kubeconfig) if kubeconfig else None
        self.context = context
        self.timeout = timeout
        self.config = _kubeconfig.load(kubeconfig, context)
        parts = urlsplit(self.config.server)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        # static TLS now, so a bad CA or key is reported when the client is made; an exec plugin's pair later
        self._tls: ssl.SSLContext | None = (
            _ssl_context(self.config, self.config.client_cert, self.config.client_key) if self._https else None)
        self._tls_pair: tuple[bytes, bytes] | None = None
        self._exec_tls: ssl.SSLContext | None = None
        self._local = threading.local()
        self._connections: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._token_file: tuple[str, float] | None = None
        self._headers, self._repeated = self._static_headers()
        self._resources: dict[tuple[str, str], ApiResource] | None = None
        self._preferred: set[str] = set()
        self._group_versions: dict[str, dict[str, ApiResource]] = {}

    def __repr__(self) -> str:
        return f"Kube({self.config.server!r}, context={self.config.context!r})"

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection this client opened (in any thread)."""
        for conn in list(self._connections):
            conn.close()

    @property
    def server(self) -> str:
        return self.config.server

    # -- credentials ----------------------------------------------------------------------------------------

    def _static_headers(self) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Headers every request carries, and the repeated ones (one line per impersonated group or extra)."""
        config = self.config
        headers = {"User-Agent": "chartkit"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        elif config.username or config.password:
            pair = f"{config.username or ''}:{config.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        if config.impersonate:
            headers["Impersonate-User"] = config.impersonate
        if config.impersonate_uid:
            headers["Impersonate-Uid"] = config.impersonate_uid
        repeated = [("Impersonate-Group", group) for group in config.impersonate_groups]
        repeated += [(f"Impersonate-Extra-{quote(key, safe='')}", value)
                     for key, values in config.impersonate_extra for value in values]
        return headers, repeated

    @property
    def _exec_auth(self) -> bool:
        """Whether the exec plugin supplies the credential (a static token or password wins, as in client-go)."""
        return bool(self.config.exec_plugin) and "Authorization" not in self._headers and not self.config.token_file

    def _auth(self, *, refresh: bool = False) -> tuple[dict[str, str], ssl.SSLContext | None]:
        """Headers for one request and the TLS context to send it with (an exec plugin may supply either)."""
        config = self.config
        headers = dict(self._headers)
        tls = self._tls
        if "Authorization" not in headers and config.token_file:
            headers["Authorization"] = f"Bearer {self._read_token_file(config.token_file)}"
        if self._exec_auth:
            credential = _kubeconfig.exec_credential(config, refresh=refresh, timeout=max(self.timeout, 60.0))
            if credential.token:
                headers["Authorization"] = f"Bearer {credential.token}"
            if credential.client_cert and credential.client_key and self._https:
                pair = (credential.client_cert, credential.client_key)
                with self._lock:
                    if self._tls_pair != pair:
                        self._exec_tls = _ssl_context(config, *pair)
                        self._tls_pair = pair
                    tls = self._exec_tls
        return headers, tls

    def _read_token_file(self, path: Path) -> str:
        cached = self._token_file
        if cached and time.monotonic() - cached[1] < TOKEN_FILE_TTL:
            return cached[0]
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise KubeError(f'unable to read the token file "{path}" of user "{self.config.user}" (kubeconfig '
                            f'"{self.config.user_origin}"): {exc.strerror or exc}', hint=_kubeconfig.FIX_HINT) from None
        self._token_file = (token, time.monotonic())
        return token

    # -- connections ----------------------------------------------------------------------------------------

    def _new_connection(self, tls: ssl.SSLContext | None, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            assert tls is not None
            conn = _HTTPSConnection(self._host, self._port, timeout=timeout, context=tls,
                                    server_hostname=self.config.tls_server_name)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        self._connections.add(conn)
        return conn

    def _connection(self, tls: ssl.SSLContext | None) -> http.client.HTTPConnection:
        """This thread's keep-alive connection (a new one when the TLS identity changed)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "tls", None) is not tls:
            if conn is not None:
                conn.close()
            conn = self._local.conn = self._new_connection(tls, self.timeout)
            self._local.tls = tls
        return conn

    def _unreachable(self, exc: BaseException, target: str) -> KubeError:
        server = self.config.server
        hint = UNREACHABLE_HINT
        if isinstance(exc, ssl.SSLCertVerificationError):
            cause = f"the TLS certificate of {server} was not accepted: {exc.verify_message or exc.reason}"
            hint = (f'check certificate-authority(-data) and tls-server-name of cluster "{self.config.cluster}" in '
                    f'"{self.config.cluster_origin or self.config.origin}"')
        elif isinstance(exc, ssl.SSLError):
            cause = f"TLS with {server} failed: {exc.reason or exc}"
        elif isinstance(exc, ConnectionRefusedError):
            cause = f"connection refused by {server}"
        elif isinstance(exc, (TimeoutError, socket.timeout)):
            cause = f"no answer from {server} within {self.timeout:g}s"
        elif isinstance(exc, socket.gaierror):
            cause = f"cannot resolve the host of {server}: {exc.strerror}"
        elif isinstance(exc, http.client.RemoteDisconnected):
            cause = f"{server} closed the connection without answering"
        elif isinstance(exc, OSError):
            cause = f"cannot reach {server}: {exc.strerror or exc}"
        else:
            cause = f"bad answer from {server}: {type(exc).__name__}"
        return KubeError(f"unable to {target}: {cause}", hint=hint, status=0)

    def _send(self, conn: http.client.HTTPConnection, method: str, url: str, payload: bytes | None,
              headers: Mapping[str, str]) -> None:
        # putheader rather than request(headers=dict): impersonated groups are one header line each
        conn.putrequest(method, url)
        for name, value in headers.items():
            conn.putheader(name, value)
        for name, value in self._repeated:
            conn.putheader(name, value)
        if payload is not None or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(payload or b"")))
        conn.endheaders(payload)

    def _exchange(self, method: str, url: str, payload: bytes | None, headers: Mapping[str, str],
                  tls: ssl.SSLContext | None, target: str) -> tuple[int, str, bytes]:
        """One request on this thread's connection; reopened once when the server dropped it while idle."""
        for attempt in (1, 2):
            conn = self._connection(tls)
            reused = conn.sock is not None
            try:
                self._send(conn, method, url, payload, headers)
                response = conn.getresponse()
                self._warned(response.getheaders())
                return response.status, response.reason, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
                    ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
                conn.close()
                # a reused keep-alive connection failing at once is one the server closed while it sat idle
                # (servers close idle connections between requests, never inside one): the request did not reach
                # it, so it goes out once more on a fresh connection, as Go's net/http does
                if reused and attempt == 1:
                    log.debug("%s dropped an idle connection (%s): reconnecting", self.config.server, exc)
                    continue
                raise self._unreachable(exc, target) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # a timed-out answer may still arrive: never reuse that connection
                raise self._unreachable(exc, target) from None
            except BaseException:
                conn.close()  # interrupted mid-request (^C, SIGTERM): the cleanup after it needs a clean connection
                raise
        raise AssertionError("unreachable")

    def _warned(self, headers: list[tuple[str, str]]) -> None:
        """Keep the server's ``Warning`` headers (e.g. an admission policy in warn mode) and log them, as kubectl
        prints them; ``warnings()`` returns those of this thread's last request."""
        found = []
        for name, value in headers:
            if name.lower() == "warning":
                match = re.match(r'^\d{3} \S+ "(.*)"$', value)
                found.append(match.group(1).replace('\\"', '"') if match else value)
        for text in found:
            log.info("the API server warns: %s", text)  # callers decide what to show (warnings())
        self._local.warnings = found

    def warnings(self) -> list[str]:
        """The ``Warning`` headers of the last request this thread made."""
        return list(getattr(self._local, "warnings", []))

    # -- raw requests ---------------------------------------------------------------------------------------

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        url = self._prefix + path
        params = {k: v for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in params.items()},
                                   doseq=True)
        return url

    def request(self, method: str, path: str, *, body: Any = None, query: Mapping[str, Any] | None = None,
                content_type: str = JSON, what: str | None = None, accept: str = JSON) -> Any:
        """One API request; returns the decoded JSON answer (None for an empty one)."""
        url = self._url(path, query)
        if body is None or isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
        target = what or f"{method} {path}"
        refreshed = False
        while True:
            headers, tls = self._auth(refresh=refreshed)
            headers["Accept"] = accept
            if payload is not None:
                headers["Content-Type"] = content_type
            status, phrase, data = self._exchange(method, url, payload, headers, tls, target)
            if status == 401 and self._exec_auth and not refreshed:
                refreshed = True  # the plugin's credential expired early or was revoked: ask it again, once
                continue
            break
        if not 200 <= status < 300:
            raise _status_error(status, data, target, method, phrase)
        try:
            return json.loads(data) if data else None
        except ValueError:
            raise KubeError(f"unable to {target}: the server answered something that is not JSON: "
                            f"{' '.join(data[:120].decode(errors='replace').split())}", status=status) from None

    # -- discovery ------------------------------------------------------------------------------------------

    def _aggregated(self, root: str) -> list[tuple[str, str, bool, list[ApiResource]]] | None:
        """(group, version, preferred, resources) from aggregated discovery; None when the server lacks it."""
        answer = self.request("GET", root, accept=DISCOVERY, what=f"discover {root}")
        if not isinstance(answer, dict) or answer.get("kind") != "APIGroupDiscoveryList":
            return None
        found = []
        for group in answer.get("items") or []:
            name = (group.get("metadata") or {}).get("name", "")
            for i, version in enumerate(group.get("versions") or []):
                if version.get("freshness") == "Stale":
                    # an aggregated API that is down must not break everything else
                    log.warning("skipping %s/%s: its API server does not answer discovery", name, version["version"])
                    continue
                resources = []
                for res in version.get("resources") or []:
                    kind = (res.get("responseKind") or {}).get("kind")
                    if kind:
                        resources.append(ApiResource(name, version["version"], kind, res["resource"],
                                                     res.get("scope") == "Namespaced", tuple(res.get("verbs", ()))))
                found.append((name, version["version"], i == 0, resources))
        return found

    def _group_version(self, api_version: str, *, what: str | None = None) -> dict[str, ApiResource]:
        """The kinds one group/version serves (one discovery request), by kind."""
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        listing = self.request("GET", path, what=what or f"discover {path}")
        kinds = {}
        for res in listing.get("resources") or []:
            if "/" not in res["name"]:  # subresources (pods/log) are not kinds of their own
                kinds[res["kind"]] = ApiResource(group, version, res["kind"], res["name"], bool(res["namespaced"]),
                                                 tuple(res.get("verbs", ())))
        self._group_versions[api_version] = kinds
        return kinds

    def resources(self, *, refresh: bool = False) -> list[ApiResource]:
        """Every top-level resource type the server serves (all versions; subresources left out)."""
        if self._resources is None or refresh:
            found: dict[tuple[str, str], ApiResource] = {}
            preferred: set[str] = set()
            core, groups = self._aggregated("/api"), self._aggregated("/apis")
            if core is not None and groups is not None:
                listed = core + groups
            else:
                listed = self._legacy_discovery()
            for _group, _version, is_preferred, items in listed:
                for item in items:
                    found[(item.api_version, item.kind)] = item
                    if is_preferred:
                        preferred.add(item.api_version)
            self._resources, self._preferred = found, preferred
        return list(self._resources.values())

    def _legacy_discovery(self) -> list[tuple[str, str, bool, list[ApiResource]]]:
        group_versions: list[tuple[str, str, bool]] = [
            ("", v, i == 0) for i, v in enumerate(self.request("GET", "/api", what="discover APIs")["versions"])]
        for group in self.request("GET", "/apis", what="discover API groups")["groups"]:
            pref = group.get("preferredVersion", {}).get("version")
            group_versions += [(group["name"], v["version"], v["version"] == pref) for v in group["versions"]]
        listed = []
        for group, version, is_preferred in group_versions:
            api_version = f"{group}/{version}" if group else version
            try:
                kinds = self._group_version(api_version)
            except KubeError as exc:
                log.warning("skipping %s: %s", api_version, exc)  # an aggregated API that is down
                continue
            listed.append((group, version, is_preferred, list(kinds.values())))
        return listed

    def resource(self, api_version: str, kind: str, *, what: str | None = None) -> ApiResource:
        """The resource type for ``apiVersion``/``kind``; its group/version is discovered again on a miss (new
        CRDs). Only that group/version is asked for: one request, not one per API group. ``what`` names the
        operation in the error when the server cannot be asked."""
        found = (self._resources or {}).get((api_version, kind)) or self._group_versions.get(api_version, {}).get(kind)
        if found is None:
            try:
                found = self._group_version(api_version, what=what).get(kind)
            except KubeError as exc:
                if exc.status not in (404, 400):
                    raise
        if found is None:
            raise KubeError(f'unable to find kind "{kind}" in "{api_version}" on {self.server}',
                            hint="check apiVersion/kind, or install the CRD that defines it", status=404)
        return found

    def _forget_kinds(self) -> None:
        self._resources = None
        self._group_versions = {}

    # -- reading --------------------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
            missing_ok: bool = False) -> dict[str, Any] | None:
        target = f'read {kind} "{_ref(namespace, name)}"'
        res = self.resource(api_version, kind, what=target)
        try:
            return self.request("GET", res.path(namespace=namespace, name=name), what=target)
        except KubeError as exc:
            if missing_ok and exc.status == 404:
                return None
            raise

    def list(self, api_version: str, kind: str, namespace: str | None = None, *, selector: str | None = None,
             field_selector: str | None = None, metadata_only: bool = False) -> ObjectList:
        """Objects of one kind (all namespaces when ``namespace`` is None), each with apiVersion and kind set.

        ``metadata_only`` asks the server for metadata alone (no data, spec or status). The answer is an
        ``ObjectList``: a list that also carries the list's ``resource_version`` for a watch to start from.
        """
        res = self.resource(api_version, kind, what=f"list {kind} in {namespace or 'all namespaces'}")
        return self._list(res, namespace, selector, field_selector=field_selector, metadata_only=metadata_only)

    def _list(self, res: ApiResource, namespace: str | None, selector: str | None, *,
              field_selector: str | None = None, metadata_only: bool = False) -> ObjectList:
        items = ObjectList()
        token: str | None = None
        while True:
            page = self.request("GET", res.path(namespace=namespace),
                                query={"labelSelector": selector, "fieldSelector": field_selector, "limit": 500,
                                       "continue": token},
                                accept=METADATA_LIST if metadata_only else JSON,
                                what=f"list {res.name} in {namespace or 'all namespaces'}")
            trim = metadata_only and page.get("kind") != "PartialObjectMetadataList"
            for item in page.get("items") or []:
                if metadata_only:
                    # the server's items say PartialObjectMetadata; callers want to know what they are of
                    items.append({"apiVersion": res.api_version, "kind": res.kind,
                                  "metadata": item.get("metadata", {})} if trim
                                 else {**item, "apiVersion": res.api_version, "kind": res.kind})
                else:
                    items.append({"apiVersion": res.api_version, "kind": res.kind, **item})
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                items.resource_version = str(meta.get("resourceVersion", ""))
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

    def watch(self, api_version: str, kind: str, namespace: str | None = None, *, selector: str | None = None,
              field_selector: str | None = None, resource_version: str | None = None,
              timeout_seconds: int = 300, metadata_only: bool = False) -> Iterator[WatchEvent]:
        """Changes to objects of one kind, as they happen, until the server ends the watch (``timeout_seconds``).

        Start from a ``list(...)``'s ``resource_version`` and resume from the last event's (BOOKMARK events carry
        one too). Without a resourceVersion the server first sends every existing object as ADDED. A
        resourceVersion the server no longer has raises KubeError with status 410: list again.
        """
        res = self.resource(api_version, kind, what=f"watch {kind} in {namespace or 'all namespaces'}")
        target = f"watch {res.name} in {namespace or 'all namespaces'}"
        url = self._url(res.path(namespace=namespace), {
            "watch": True, "labelSelector": selector, "fieldSelector": field_selector,
            "resourceVersion": resource_version, "allowWatchBookmarks": True, "timeoutSeconds": timeout_seconds})
        headers, tls = self._auth()
        headers["Accept"] = METADATA_ONE if metadata_only else JSON
        # a connection of its own: the stream holds it for minutes; it waits up to the server's own deadline
        conn = self._new_connection(tls, timeout_seconds + self.timeout)
        try:
            try:
                self._send(conn, "GET", url, None, headers)
                response = conn.getresponse()
                if response.status != 200:
                    raise _status_error(response.status, response.read(), target, "GET", response.reason)
                while True:
                    line = response.readline()
                    if not line:
                        return
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind_of, obj = event.get("type"), event.get("object") or {}
                    if kind_of == "ERROR":
                        raise _status_error(int(obj.get("code") or 500), obj, target, "GET")
                    if metadata_only or "kind" not in obj:
                        obj = {**obj, "apiVersion": res.api_version, "kind": res.kind}
                    yield WatchEvent(WatchEventType(kind_of), obj)
            except (OSError, http.client.HTTPException) as exc:
                raise self._unreachable(exc, target) from None
        finally:
            conn.close()

    # -- writing --------------------------------------------------------------------------------------------

    def _target(self, obj: Mapping[str, Any], namespace: str | None, verb: str, *,
                named: bool = True) -> tuple[ApiResource, str | None, str]:
        """The resource type, namespace and name an object goes to (its own namespace wins)."""
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        meta = obj.get("metadata") or {}
        name = meta.get("name") or ("" if named else meta.get("generateName", ""))
        if not (kind and api_version and name):
            raise KubeError(f"unable to {verb} an object without apiVersion, kind and metadata.name: "
                            f"{json.dumps(obj, default=str)[:120]}", status=422)
        res = self.resource(api_version, kind, what=f'{verb} {kind} "{name}"')
        ns = (meta.get("namespace") or namespace) if res.namespaced else None
        if res.namespaced and not ns:
            raise KubeError(f'unable to {verb} {kind} "{name}": it is namespaced and no namespace was given',
                            status=422)
        return res, ns, name

    @staticmethod
    def _with_namespace(obj: Mapping[str, Any], ns: str | None) -> dict[str, Any]:
        body = dict(obj)
        if ns:
            body["metadata"] = {**obj["metadata"], "namespace": ns}
        return body

    def apply(self, objects: Iterable[Mapping[str, Any]], namespace: str | None = None, *,
              field_manager: str = "chartkit", force: bool = True, dry_run: bool = False) -> list[dict[str, Any]]:
        """Server-side apply each object (in order; CRDs are re-discovered as they appear); returns the results."""
        applied = []
        for obj in objects:
            res, ns, name = self._target(obj, namespace, "apply")
            result = self.request(
                "PATCH", res.path(namespace=ns, name=name), body=self._with_namespace(obj, ns),
                content_type=PatchType.APPLY.value,
                query={"fieldManager": field_manager, "force": force, "dryRun": "All" if dry_run else None},
                what=f'apply {res.kind} "{_ref(ns, name)}"')
            applied.append(result)
            if res.kind == "CustomResourceDefinition" and not dry_run:
                self._forget_kinds()  # new kinds: discover again when next needed
        return applied

    def create(self, obj: Mapping[str, Any], namespace: str | None = None, *, field_manager: str = "chartkit",
               dry_run: bool = False) -> dict[str, Any]:
        """Create one object, only if it does not exist: KubeError status 409, reason AlreadyExists, if it does.
        ``metadata.generateName`` without a name lets the server pick one."""
        res, ns, name = self._target(obj, namespace, "create", named=False)
        result = self.request("POST", res.path(namespace=ns), body=self._with_namespace(obj, ns),
                              query={"fieldManager": field_manager, "dryRun": "All" if dry_run else None},
                              what=f'create {res.kind} "{_ref(ns, name)}"')
        if res.kind == "CustomResourceDefinition" and not dry_run:
            self._forget_kinds()
        return result

    def replace(self, obj: Mapping[str, Any], namespace: str | None = None, *, field_manager: str = "chartkit",
                dry_run: bool = False) -> dict[str, Any]:
        """Replace one object whole (PUT). With ``metadata.resourceVersion`` (as read) it is optimistic: when the
        object changed since, KubeError status 409, reason Conflict; without one the write is unconditional."""
        res, ns, name = self._target(obj, namespace, "replace")
        return self.request("PUT", res.path(namespace=ns, name=name), body=self._with_namespace(obj, ns),
                            query={"fieldManager": field_manager, "dryRun": "All" if dry_run else None},
                            what=f'replace {res.kind} "{_ref(ns, name)}"')

    def patch(self, api_version: str, kind: str, name: str, namespace: str | None, patch: Any, *,
              patch_type: PatchType | str = "merge", field_manager: str = "chartkit",
              dry_run: bool = False) -> dict[str, Any]:
        """Patch one object: ``merge`` (RFC 7386, a partial object; null deletes), ``json`` (RFC 6902, a list of
        operations; a ``test`` operation on metadata.resourceVersion makes it conditional) or ``strategic``."""
        kind_of = PatchType.of(patch_type)
        res = self.resource(api_version, kind, what=f'patch {kind} "{_ref(namespace, name)}"')
        ns = namespace if res.namespaced else None
        return self.request("PATCH", res.path(namespace=ns, name=name), body=patch, content_type=kind_of.value,
                            query={"fieldManager": field_manager, "dryRun": "All" if dry_run else None},
                            what=f'patch {kind} "{_ref(ns, name)}"')

    def create_namespace(self, name: str, *, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if labels:
            meta["labels"] = dict(labels)
        return self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": meta}])[0]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
               missing_ok: bool = True, wait: bool = False, timeout: float = 60.0,
               preconditions: Mapping[str, str] | None = None) -> bool:
        """Delete one object (background propagation); True when it existed. ``preconditions`` (``uid``,
        ``resourceVersion``) make it conditional: KubeError status 409 when the object is no longer that one."""
        res = self.resource(api_version, kind, what=f'delete {kind} "{_ref(namespace, name)}"')
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if preconditions:
            options["preconditions"] = dict(preconditions)
        try:
            self.request("DELETE", res.path(namespace=namespace, name=name), body=options,
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
        return bool(dep) and self.rolled_out(dep)

    @staticmethod
    def rolled_out(dep: Mapping[str, Any]) -> bool:
        """Whether a Deployment object (as listed) is available at its newest generation, fully rolled out."""
        spec, status = dep.get("spec", {}), dep.get("status", {})
        want = spec.get("replicas", 1)
        conditions = {c["type"]: c for c in status.get("conditions") or []}
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
