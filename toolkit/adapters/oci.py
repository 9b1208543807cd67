"""The one adapter over OCI registries (distribution API v2), on plain ``requests``.

Only this module talks HTTP to a registry. It returns bytes, digests and lists; what they mean (Helm's artifact,
the catalog) is decided by the pure modules around it. One ``Registry`` holds one ``requests.Session`` with a
connection pool, so many charts publish concurrently over shared connections.

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
import json
import logging
import os
import re
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import requests
import requests.adapters

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


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class Registry:
    """A client for one registry host; thread-safe; counts its HTTP requests."""

    def __init__(self, host: str, *, ca_file: Path | None = None, credentials: Credentials | None = None,
                 registry_config: Path | None = None, pool_size: int = 16, timeout: float = 30.0) -> None:
        self.host = host
        ca = ca_file or (Path(os.environ["CHARTKIT_REGISTRY_CA"]) if os.environ.get("CHARTKIT_REGISTRY_CA") else None)
        if ca and not ca.is_file():
            raise InputError(f'unable to use CA file "{ca}": not a file')
        self.credentials = credentials or find_credentials(host, registry_config=registry_config)
        self.timeout = timeout
        self.session = requests.Session()
        # passed on every request: requests lets REQUESTS_CA_BUNDLE override a Session-level verify
        self._verify: str | bool = str(ca) if ca else True
        adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
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
        self.session.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        with self._lock:
            self._requests += 1
            self.calls[method] += 1
        try:
            return self.session.request(method, url, timeout=self.timeout, verify=self._verify, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise RegistryError(f'unable to reach registry "{self.host}": TLS verification failed: {exc}',
                                hint="pass the registry's CA with --ca-file (or CHARTKIT_REGISTRY_CA)") from exc
        except requests.exceptions.RequestException as exc:
            raise RegistryError(f'unable to reach registry "{self.host}": {type(exc).__name__}: {exc}',
                                hint=_CONNECT_HINT) from exc

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

    def _authenticate(self, response: requests.Response, scope: str) -> None:
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
                headers: Mapping[str, str] | None = None, **kwargs: Any) -> requests.Response:
        """One registry call; authenticates on a 401 challenge once, maps failures to RegistryError."""
        url = path if path.startswith("https://") else f"https://{self.host}{path}"
        response: requests.Response | None = None
        for attempt in range(2):
            response = self._send(method, url, headers={**(headers or {}), **self._auth_headers(scope)}, **kwargs)
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
