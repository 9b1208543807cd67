"""The local OCI registry: Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 with TLS and htpasswd.

State (``$CHARTKIT_STATE/registry``): config.yml, htpasswd, tls.crt/key, credentials.json, registry-config.json
(what helm reads), registry.pid, registry.log and data/ (the blobs). The port is kept across restarts when free,
so references stay valid.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt

from toolkit.errors import LocalEnvError
from toolkit.localenv import _pki, _proc, paths
from toolkit.localenv._info import RegistryInfo
from toolkit.localenv._proc import PidFile, Progress, say

log = logging.getLogger(__name__)

USERNAME = "chartkit"
#: bcrypt's least work factor. The password is 144 random bits, so a higher factor protects nothing, while the
#: registry checks the hash on every request: at 10 that was ~80 ms a request, most of a publish's time.
BCRYPT_ROUNDS = 4
SETUP_HINT = "run `invoke setup` (apt-get install docker-registry) or put docker-registry on PATH"


def state_dir() -> Path:
    return paths.state_root() / "registry"


def pki_dir() -> Path:
    return paths.state_root() / "pki"


def pidfile() -> PidFile:
    return PidFile(state_dir() / "registry.pid")


def registry_binary() -> Path:
    found = shutil.which("docker-registry") or ("/usr/bin/docker-registry"
                                                if os.access("/usr/bin/docker-registry", os.X_OK) else None)
    if not found:
        raise LocalEnvError("unable to start the local registry: docker-registry is not installed", hint=SETUP_HINT)
    return Path(found)


def _credentials(directory: Path) -> tuple[str, str]:
    path = directory / "credentials.json"
    try:
        data = json.loads(path.read_text())
        return data["username"], data["password"]
    except (FileNotFoundError, ValueError, KeyError):
        password = secrets.token_urlsafe(18)
        _pki.write_private(path, json.dumps({"username": USERNAME, "password": password}).encode())
        # a new password invalidates the old htpasswd
        (directory / "htpasswd").unlink(missing_ok=True)
        return USERNAME, password


def _htpasswd_current(directory: Path, username: str, password: str) -> bool:
    """Whether the htpasswd file holds this user and password, hashed at BCRYPT_ROUNDS."""
    try:
        user, _, hashed = (directory / "htpasswd").read_text().strip().partition(":")
    except FileNotFoundError:
        return False
    parts = hashed.split("$")  # $2b$<rounds>$<salt+hash>
    return (user == username and len(parts) == 4 and parts[2] == f"{BCRYPT_ROUNDS:02d}"
            and bcrypt.checkpw(password.encode(), hashed.encode()))


def _htpasswd(directory: Path, username: str, password: str) -> Path:
    path = directory / "htpasswd"
    if _htpasswd_current(directory, username, password):
        return path
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()
    _pki.write_private(path, f"{username}:{hashed}\n".encode())
    return path


def _config(directory: Path, port: int, tls: _pki.KeyPair, htpasswd: Path) -> Path:
    # JSON is YAML: no YAML writer needed for distribution's config
    config = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True},
                    "cache": {"blobdescriptor": "inmemory"}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16),
                 "tls": {"certificate": str(tls.cert), "key": str(tls.key)},
                 "headers": {"X-Content-Type-Options": ["nosniff"]}},
        "auth": {"htpasswd": {"realm": "chartkit", "path": str(htpasswd)}},
    }
    path = directory / "config.yml"
    _pki.write_private(path, json.dumps(config, indent=2).encode())
    return path


def _registry_config(directory: Path, host: str, username: str, password: str) -> Path:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    path = directory / "registry-config.json"
    _pki.write_private(path, json.dumps({"auths": {host: {"auth": auth}}}, indent=2).encode())
    return path


def probe(host: str, ca_file: Path, auth: tuple[str, str] | None = None) -> int | None:
    """HTTP status of ``GET https://HOST/v2/`` verified with our CA; None when nothing answers TLS there."""
    context = ssl.create_default_context(cafile=str(ca_file))
    request = urllib.request.Request(f"https://{host}/v2/")
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return None


def _info(directory: Path, port: int, ca: _pki.KeyPair, username: str, password: str) -> RegistryInfo:
    host = f"127.0.0.1:{port}"
    return RegistryInfo(host=host, url=f"oci://{host}", ca_file=ca.cert,
                        registry_config=directory / "registry-config.json", username=username, password=password)


def _healthy(port: int | None, ca: _pki.KeyPair, username: str, password: str) -> bool:
    if not port:
        return False
    host = f"127.0.0.1:{port}"
    return probe(host, ca.cert) == 401 and probe(host, ca.cert, (username, password)) == 200


def _recorded_port(directory: Path) -> int | None:
    try:
        return int((directory / "port").read_text())
    except (FileNotFoundError, ValueError):
        return None


def start(progress: Progress | None = None) -> RegistryInfo:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with _proc.locked(paths.state_root() / "registry.lock"):
        ca = _pki.ensure_ca(pki_dir())
        username, password = _credentials(directory)
        port = _recorded_port(directory)
        pid = pidfile()
        outdated_hash = not _htpasswd_current(directory, username, password)
        if pid.pid() is not None and not outdated_hash and _healthy(port, ca, username, password):
            assert port is not None
            _registry_config(directory, f"127.0.0.1:{port}", username, password)
            log.info("reusing the registry at 127.0.0.1:%s (pid %s)", port, pid.pid())
            return _info(directory, port, ca, username, password)
        if pid.pid() is not None:
            say(progress, "the registry's password hash is costlier than BCRYPT_ROUNDS: restarting it" if outdated_hash
                else "the registry process does not answer as expected: restarting it")
            _proc.stop(pid)
        elif pid.stale():
            say(progress, f"removing a stale pid file {pid.path} (its process is gone)")
            pid.remove()
        binary = registry_binary()
        started = time.monotonic()
        tls = _pki.ensure_cert(ca, _pki.KeyPair(directory / "tls.crt", directory / "tls.key"),
                               common_name="chartkit local registry", hosts=["127.0.0.1", "localhost"])
        htpasswd = _htpasswd(directory, username, password)
        (directory / "data").mkdir(exist_ok=True)
        last_error: LocalEnvError | None = None
        for attempt in range(3):
            # the recorded port may have been taken meanwhile; a kernel-picked one can race another starter
            port = _proc.free_port(port if attempt == 0 else None)
            config = _config(directory, port, tls, htpasswd)
            (directory / "port").write_text(str(port))
            log_file = directory / "registry.log"
            _proc.spawn([str(binary), "serve", str(config)], pidfile=pid, log_file=log_file, cwd=directory)
            try:
                _proc.wait_until(lambda: _healthy(port, ca, username, password), timeout=15,
                                 what=f"the registry on 127.0.0.1:{port}", pidfile=pid, log_file=log_file)
                break
            except LocalEnvError as exc:
                last_error = exc
                _proc.stop(pid)
                if "address already in use" not in _proc.log_tail(log_file, 5):
                    raise
        else:
            assert last_error is not None
            raise last_error
        _registry_config(directory, f"127.0.0.1:{port}", username, password)
        say(progress, f"registry ready at oci://127.0.0.1:{port} in {time.monotonic() - started:.1f}s")
        return _info(directory, port, ca, username, password)


def current() -> RegistryInfo | None:
    """The running registry, or None (does not start anything)."""
    directory = state_dir()
    port = _recorded_port(directory)
    if pidfile().pid() is None or not port:
        return None
    try:
        data = json.loads((directory / "credentials.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    ca = _pki.KeyPair(pki_dir() / "ca.crt", pki_dir() / "ca.key")
    if not _healthy(port, ca, data["username"], data["password"]):
        return None
    return _info(directory, port, ca, data["username"], data["password"])


def stop() -> bool:
    with _proc.locked(paths.state_root() / "registry.lock"):
        return _proc.stop(pidfile())
