"""The one adapter over OCI registries (distribution API v2), on the standard library's ``http.client``.

Only this module talks HTTP to a registry. It returns bytes, digests and lists; what they mean (Helm's artifact,
the catalog) is decided by the pure modules around it. One ``Registry`` keeps one keep-alive connection per thread
and host, so many charts publish concurrently, each worker on its own connection. ``requests`` did this before and
cost 0.13 s of import on every command that reads the catalog (``instances``, ``install``, ``outdated``); the kube
adapter is already on ``http.client``, so this costs nothing more. A GET that is redirected (registries that serve
blobs from a CDN) is followed, without the Authorization header when the host changes. HTTPS_PROXY is honoured
(with NO_PROXY) by a CONNECT tunnel.

Credentials, first found wins: explicit ``Credentials``; ``CHARTKIT_REGISTRY_USERNAME``/``_PASSWORD``; helm's
registry config (``HELM_REGISTRY_CONFIG`` or ``~/.config/helm/registry/config.json``); docker's config
(``DOCKER_CONFIG``/config.json or ``~/.docker/config.json``). TLS is always verified, against ``ca_file``
(``CHARTKIT_REGISTRY_CA``) when given, else the system store. Basic and Bearer-token challenges are both handled.

Every HTTP request is counted (``Registry.requests``) so tests and benchmarks can check how much a sync costs.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import http.client
import json
import logging
import os
import re
import select
import ssl
import threading
import urllib.parse
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from toolkit.errors import InputError, RegistryError

__all__ = [
    "Credentials",
    "Registry",
    "digest_of",
    "find_credentials",
]

log = logging.getLogger(__name__)

_MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
_CONNECT_HINT = "is the registry running? check the catalog URL (`chartkit env` shows the local one)"
_AUTH_HINT = ("log in with `helm registry login HOST` (chartkit reads helm's registry config), or set "
              "CHARTKIT_REGISTRY_USERNAME and CHARTKIT_REGISTRY_PASSWORD")


_REDIRECTS = (301, 302, 303, 307, 308)


def digest_of(data: bytes) -> str:
    """The OCI content digest of bytes: ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    source: str = "explicit"

    def __repr__(self) -> str:  # never log a password
        return f"Credentials(username={self.username!r}, source={self.source!r})"


def _auths(path: Path, host: str) -> Credentials | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RegistryError(f'unable to read registry credentials "{path}": {exc}') from exc
    auths = data.get("auths") or {}
    for key in (host, f"https://{host}", f"http://{host}"):
        entry = auths.get(key)
        if not entry:
            continue
        if entry.get("auth"):
            try:
                user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
                if not sep:
                    raise ValueError("no colon")
            except (ValueError, TypeError) as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
                raise RegistryError(f'unable to read registry credentials "{path}": the auth entry for {host} '
                                    "is not base64 user:password") from exc
            return Credentials(user, password, str(path))
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password", ""), str(path))
    return None


def credential_sources() -> list[Path]:
    helm = os.environ.get("HELM_REGISTRY_CONFIG") or str(Path.home() / ".config" / "helm" / "registry" / "config.json")
    docker = Path(os.environ["DOCKER_CONFIG"]) / "config.json" if os.environ.get("DOCKER_CONFIG") else (
        Path.home() / ".docker" / "config.json")
    return [Path(helm), docker]


def find_credentials(host: str, *, registry_config: Path | None = None) -> Credentials | None:
    """Credentials for ``host``: env, then ``registry_config`` / helm's registry config, then docker's config."""
    user, password = os.environ.get("CHARTKIT_REGISTRY_USERNAME"), os.environ.get("CHARTKIT_REGISTRY_PASSWORD")
    if user and password is not None:
        return Credentials(user, password, "env CHARTKIT_REGISTRY_USERNAME/PASSWORD")
    for path in ([registry_config] if registry_config else []) + credential_sources():
        found = _auths(path, host)
        if found:
            return found
    return None


class Response:
    """A registry's whole answer: status, headers (case-insensitive ``get``) and body, read before it returns."""

    def __init__(self, status_code: int, headers: http.client.HTTPMessage, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def _proxy_for(host: str) -> tuple[str, int] | None:
    """(host, port) of the HTTPS proxy the environment names for ``host``, or None (NO_PROXY, or none set)."""
    if not any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    import urllib.request  # only when a proxy is configured: it imports much of the standard library

    proxy = urllib.request.getproxies_environment().get("https") or urllib.request.getproxies_environment().get("all")
    if not proxy or urllib.request.proxy_bypass_environment(host):
        return None
    parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parts.hostname or "", parts.port or 80


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle keep-alive connection was closed by the server (its socket reads as ready: EOF)."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class Registry:
    """A client for one registry host; thread-safe; counts its HTTP requests."""

    def __init__(self, host: str, *, ca_file: Path | None = None, credentials: Credentials | None = None,
                 registry_config: Path | None = None, timeout: float = 30.0) -> None:
        self.host = host
        ca = ca_file or (Path(os.environ["CHARTKIT_REGISTRY_CA"]) if os.environ.get("CHARTKIT_REGISTRY_CA") else None)
        if ca and not ca.is_file():
            raise InputError(f'unable to use CA file "{ca}": not a file')
        self.credentials = credentials or find_credentials(host, registry_config=registry_config)
        self.timeout = timeout
        self._ca = ca
        self._tls: ssl.SSLContext | None = None  # made on the first request: a bad CA file is said there
        self._local = threading.local()  # this thread's keep-alive connections, by (scheme, host:port)
        self._connections: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._requests = 0
        self.calls: collections.Counter[str] = collections.Counter()  # requests per HTTP method
        self._basic = False
        self._tokens: dict[str, str] = {}

    # -- plumbing -------------------------------------------------------------------------------------------

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (auth round trips included)."""
        return self._requests

    def close(self) -> None:
        """Close every connection this client opened (in any thread)."""
        for conn in list(self._connections):
            conn.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._tls is None:
                try:
                    self._tls = ssl.create_default_context(cafile=str(self._ca) if self._ca else None)
                except (OSError, ssl.SSLError) as exc:
                    raise InputError(f'unable to use CA file "{self._ca}": {exc}',
                                     hint="pass a PEM CA bundle with --ca-file (or CHARTKIT_REGISTRY_CA)") from None
            return self._tls

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        """This thread's keep-alive connection to ``netloc`` (a new one when the server closed the last)."""
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        conn = pool.get((scheme, netloc))
        if conn is not None and _dropped(conn):
            conn.close()
        if conn is None:
            parts = urllib.parse.urlsplit(f"//{netloc}")
            host, port = parts.hostname or "", parts.port
            proxy = _proxy_for(host)
            if scheme == "https":
                if proxy:
                    conn = http.client.HTTPSConnection(*proxy, timeout=self.timeout, context=self._context())
                    conn.set_tunnel(host, port or 443)
                else:
                    conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._context())
            else:  # only a redirect or token realm can name plain HTTP
                conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
            pool[(scheme, netloc)] = conn
            self._connections.add(conn)
        return conn

    def _unreachable(self, exc: BaseException) -> RegistryError:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return RegistryError(f'unable to reach registry "{self.host}": TLS verification failed: '
                                 f"{exc.verify_message or exc.reason}",
                                 hint="pass the registry's CA with --ca-file (or CHARTKIT_REGISTRY_CA)")
        if isinstance(exc, ConnectionRefusedError):
            cause = "connection refused"
        elif isinstance(exc, TimeoutError):
            cause = f"no answer within {self.timeout:g}s"
        elif isinstance(exc, http.client.RemoteDisconnected):
            cause = "the registry closed the connection without answering"
        elif isinstance(exc, OSError):
            cause = f"{type(exc).__name__}: {exc.strerror or exc}"
        else:
            cause = f"bad answer: {type(exc).__name__}: {exc}"
        return RegistryError(f'unable to reach registry "{self.host}": {cause}', hint=_CONNECT_HINT)

    def _exchange(self, method: str, url: str, headers: Mapping[str, str], data: bytes | None) -> Response:
        """One HTTP exchange on this thread's connection; sent once more on a fresh one when a reused connection
        fails at once (the server closed it while idle, so the request never reached it)."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):
            conn = self._connection(parts.scheme, parts.netloc)
            reused = conn.sock is not None
            try:
                conn.request(method, target, body=data, headers={"User-Agent": "chartkit", **headers})
                answer = conn.getresponse()
                content = answer.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
                    ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
                conn.close()
                if reused and attempt == 1:
                    log.debug("%s dropped an idle connection (%s): reconnecting", parts.netloc, exc)
                    continue
                raise self._unreachable(exc) from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()  # a timed-out answer may still arrive: never reuse that connection
                raise self._unreachable(exc) from None
            except BaseException:
                conn.close()  # interrupted mid-request: the next one needs a clean connection
                raise
            if answer.will_close:
                conn.close()
            return Response(answer.status, answer.headers, content)
        raise AssertionError("unreachable")

    def _send(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, data: bytes | None = None,
              params: Mapping[str, str] | None = None, auth: tuple[str, str] | None = None) -> Response:
        with self._lock:
            self._requests += 1
            self.calls[method] += 1
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        sent = dict(headers or {})
        if auth:
            sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        for _ in range(5):
            response = self._exchange(method, url, sent, data)
            location = response.headers.get("Location")
            if response.status_code not in _REDIRECTS or method not in ("GET", "HEAD") or not location:
                return response
            following = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(following).netloc != urllib.parse.urlsplit(url).netloc:
                sent.pop("Authorization", None)  # a CDN's signed URL: our credentials are not for it
            url = following
        raise RegistryError(f'unable to {method} "{self.host}{urllib.parse.urlsplit(url).path}": too many redirects')

    def _auth_headers(self, scope: str) -> dict[str, str]:
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic and self.credentials:
            raw = f"{self.credentials.username}:{self.credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        return {}

    def _no_credentials(self) -> RegistryError:
        looked = ", ".join(str(p) for p in credential_sources())
        return RegistryError(f'unable to authenticate to registry "{self.host}": no credentials found '
                             f"(looked in env CHARTKIT_REGISTRY_USERNAME/PASSWORD, {looked})", hint=_AUTH_HINT)

    def _authenticate(self, response: Response, scope: str) -> None:
        if not self.credentials:
            raise self._no_credentials()
        scheme, params = _challenge(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            self._basic = True
            return
        if scheme == "bearer" and params.get("realm"):
            query = {"service": params.get("service", ""), "scope": scope}
            token = self._send("GET", params["realm"], params=query,
                               auth=(self.credentials.username, self.credentials.password))
            if token.status_code != 200:
                raise RegistryError(f'unable to authenticate to registry "{self.host}" as '
                                    f'"{self.credentials.username}" (from {self.credentials.source}): '
                                    f"token server said {token.status_code}", hint=_AUTH_HINT)
            body = token.json()
            self._tokens[scope] = body.get("token") or body.get("access_token") or ""
            return
        raise RegistryError(f'unable to authenticate to registry "{self.host}": unsupported challenge '
                            f'"{response.headers.get("WWW-Authenticate", "")}"')

    def request(self, method: str, path: str, *, scope: str, ok: tuple[int, ...] = (200,),
                headers: Mapping[str, str] | None = None, data: bytes | None = None) -> Response:
        """One registry call; authenticates on a 401 challenge once, maps failures to RegistryError."""
        url = path if path.startswith("https://") else f"https://{self.host}{path}"
        response: Response | None = None
        for attempt in range(2):
            response = self._send(method, url, headers={**(headers or {}), **self._auth_headers(scope)}, data=data)
            if response.status_code != 401:
                break
            if attempt == 0:
                self._authenticate(response, scope)
        assert response is not None
        if response.status_code in ok:
            return response
        if response.status_code == 401:
            assert self.credentials
            raise RegistryError(f'unable to authenticate to registry "{self.host}" as '
                                f'"{self.credentials.username}" (from {self.credentials.source}): '
                                f"credentials rejected", hint=_AUTH_HINT)
        detail = response.text.strip()[:300] if method != "HEAD" else ""
        raise RegistryError(f'unable to {method} "{self.host}{urllib.parse.urlsplit(url).path}": '
                            f"HTTP {response.status_code} {detail}".rstrip(),
                            hint="the registry refused this request; `--verbose` logs every call")

    @staticmethod
    def _scope(repository: str, push: bool = False) -> str:
        return f"repository:{repository}:{'pull,push' if push else 'pull'}"

    # -- reading --------------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the registry answers and accepts our credentials."""
        self.request("GET", "/v2/", scope="registry:catalog:*")

    def repositories(self) -> list[str]:
        """All repositories (``_catalog``, following ``Link`` pages)."""
        out: list[str] = []
        path: str | None = "/v2/_catalog?n=1000"
        while path:
            response = self.request("GET", path, scope="registry:catalog:*")
            out += response.json().get("repositories") or []
            match = re.search(r"<([^>]+)>;\s*rel=\"?next\"?", response.headers.get("Link", ""))
            path = match.group(1) if match else None
        return out

    def tags(self, repository: str) -> list[str]:
        """The tags of a repository; [] when it does not exist."""
        response = self.request("GET", f"/v2/{repository}/tags/list", scope=self._scope(repository), ok=(200, 404))
        if response.status_code == 404:
            return []
        return list(response.json().get("tags") or [])

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str] | None:
        """The manifest bytes and digest under a tag or digest, or None when absent."""
        response = self.request("GET", f"/v2/{repository}/manifests/{reference}", scope=self._scope(repository),
                                ok=(200, 404), headers={"Accept": _MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None

        return response.content, digest_of(response.content)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag points at (HEAD only), or None when absent."""
        response = self.request("HEAD", f"/v2/{repository}/manifests/{reference}", scope=self._scope(repository),
                                ok=(200, 404), headers={"Accept": _MANIFEST_ACCEPT})
        if response.status_code == 404:
            return None
        return response.headers.get("Docker-Content-Digest")

    def blob(self, repository: str, digest: str) -> bytes:
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}", scope=self._scope(repository))
        if digest_of(response.content) != digest:
            raise RegistryError(f'unable to read blob "{repository}@{digest}": content does not match its digest')
        return response.content

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=self._scope(repository, True),
                                ok=(200, 404))
        return response.status_code == 200

    # -- writing --------------------------------------------------------------------------------------------

    def upload_blob(self, repository: str, data: bytes, digest: str) -> bool:
        """Upload a blob unless the repository has it; True when bytes were sent.

        The upload session is opened with ``mount=<digest>&from=<repository>``: a registry that already holds the
        blob answers 201 and nothing is sent, so "skip blobs already present" costs no extra request; otherwise it
        answers 202 and one monolithic PUT with the digest closes the session.
        """
        scope = self._scope(repository, True)
        query = urllib.parse.urlencode({"mount": digest, "from": repository})
        started = self.request("POST", f"/v2/{repository}/blobs/uploads/?{query}", scope=scope, ok=(201, 202))
        if started.status_code == 201:
            log.debug("blob %s already in %s", digest, repository)
            return False
        location = urllib.parse.urljoin(f"https://{self.host}/", started.headers["Location"])
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={urllib.parse.quote(digest)}", scope=scope, ok=(201,),
                     data=data, headers={"Content-Type": "application/octet-stream"})
        return True

    def put_manifest(self, repository: str, tag: str, manifest: bytes, media_type: str) -> str:
        response = self.request("PUT", f"/v2/{repository}/manifests/{tag}", scope=self._scope(repository, True),
                                ok=(201,), data=manifest, headers={"Content-Type": media_type})
        return response.headers.get("Docker-Content-Digest", "")
