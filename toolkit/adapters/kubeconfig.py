"""Kubeconfig files, read the way kubectl and client-go read them.

Which files: an explicit path (that file only), else each file of ``$KUBECONFIG`` (an ``os.pathsep`` list;
files that do not exist are skipped), else ``~/.kube/config``. Several files merge the client-go way: the first
file that names a cluster, user or context wins that entry whole, and the first ``current-context`` set wins.
Relative paths (certificate files, token files, an exec command with a ``/``) are relative to the file naming them.

Supported: ``server``, ``certificate-authority``/``-data``, ``insecure-skip-tls-verify``, ``tls-server-name``,
``client-certificate``/``-data`` + ``client-key``/``-data``, ``token``, ``tokenFile``, ``username``/``password``,
impersonation (``as``, ``as-uid``, ``as-groups``, ``as-user-extra``) and exec plugins
(client.authentication.k8s.io v1 and v1beta1). ``auth-provider`` and ``proxy-url`` are refused with a clear error
rather than ignored.

Credentials (keys, tokens, passwords) stay in memory: hidden from ``repr``, never put in argv, logs or files.
Every problem is one ``KubeError`` line naming the file (and the context, cluster or user) and what to do.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from toolkit.errors import KubeError

__all__ = [
    "EXEC_API_VERSIONS",
    "ExecCredential",
    "ExecPlugin",
    "InteractiveMode",
    "KubeConfig",
    "exec_credential",
    "kubeconfig_files",
    "load",
]

log = logging.getLogger(__name__)

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
#: the cluster extension client-go hands to exec plugins as spec.cluster.config
EXEC_EXTENSION = "client.authentication.k8s.io/exec"
FIX_HINT = "fix the kubeconfig, or pass another with --kubeconfig (and a context with --kube-context)"
DEFAULT_HINT = "pass --kubeconfig, set KUBECONFIG, or run `chartkit up` to start the local cluster"


class InteractiveMode(str, Enum):
    """When an exec plugin may talk to the user (client-go's ``interactiveMode``)."""

    NEVER = "Never"
    IF_AVAILABLE = "IfAvailable"
    ALWAYS = "Always"


@dataclass(frozen=True)
class ExecPlugin:
    """A user's ``exec`` credential plugin."""

    command: str  # a bare name (looked up on PATH when run) or a path (made absolute against its kubeconfig)
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # plugins are often handed secrets here
    interactive_mode: InteractiveMode = InteractiveMode.IF_AVAILABLE
    provide_cluster_info: bool = False
    install_hint: str = ""


@dataclass(frozen=True)
class ExecCredential:
    """What an exec plugin answered: a token, or a client certificate and key (PEM)."""

    token: str | None = field(default=None, repr=False)
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)
    expires: float | None = None  # epoch seconds; None: good until the server refuses it


@dataclass(frozen=True)
class KubeConfig:
    """One context of a kubeconfig, resolved: the server, how to trust it, and who to be."""

    origin: str  # the file (or the $KUBECONFIG list) it was read from, for messages
    context: str
    cluster: str
    user: str  # "" when the context names no user (anonymous requests)
    server: str  # without a trailing slash; may carry a path prefix
    namespace: str | None = None
    ca_data: bytes | None = None  # PEM; None: the system's trust store
    insecure: bool = False
    tls_server_name: str | None = None
    client_cert: bytes | None = field(default=None, repr=False)
    client_key: bytes | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    exec_plugin: ExecPlugin | None = None
    exec_cluster_config: str | None = None  # JSON of the cluster's exec extension, for provideClusterInfo
    impersonate: str | None = None
    impersonate_uid: str | None = None
    impersonate_groups: tuple[str, ...] = ()
    impersonate_extra: tuple[tuple[str, tuple[str, ...]], ...] = ()
    cluster_origin: str = ""  # the file that defines the cluster (certificate messages name it)
    user_origin: str = ""  # the file that defines the user (exec, token-file and key messages name it)


def _fail(origin: object, cause: str, hint: str = FIX_HINT) -> KubeError:
    return KubeError(f'unable to load kubeconfig "{origin}": {cause}', hint=hint)


# -- files ------------------------------------------------------------------------------------------------------

def kubeconfig_files(path: Path | str | None = None, *,
                     environ: Mapping[str, str] | None = None) -> tuple[list[Path], str]:
    """The files to read, in precedence order, and how to name them in messages."""
    environ = os.environ if environ is None else environ
    if path:
        return [Path(path)], str(path)
    listed = environ.get("KUBECONFIG", "")
    if listed:
        entries: list[Path] = []
        for entry in listed.split(os.pathsep):
            if entry and Path(entry) not in entries:
                entries.append(Path(entry))
        existing = [p for p in entries if p.exists()]
        if not existing:
            raise _fail(f"$KUBECONFIG={listed}", "none of its files exists", hint=DEFAULT_HINT)
        return existing, str(existing[0]) if len(existing) == 1 else f"$KUBECONFIG={listed}"
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    default = home / ".kube" / "config"
    return [default], str(default)


def _kind(value: Any) -> str:
    return {list: "list", str: "string", dict: "map", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__)


def _read(path: Path, *, default: bool) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise _fail(path, "no such file", hint=DEFAULT_HINT if default else FIX_HINT) from None
    except IsADirectoryError:
        raise _fail(path, "it is a directory, not a file") from None
    except OSError as exc:
        raise _fail(path, f"cannot read it: {exc.strerror or exc}") from None
    doc: Any = None
    if raw.lstrip()[:1] == b"{":
        # JSON is YAML, and tools (chartkit's local cluster among them) write kubeconfigs as JSON: json is already
        # loaded, the YAML parser costs ~15-20 ms to import. Anything json refuses goes to the YAML parser below.
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
    if doc is None:
        doc = _parse_yaml(path, raw)
    if doc is None:
        return {}  # an empty file is an empty config, as for kubectl
    if not isinstance(doc, dict):
        raise _fail(path, f"it holds a {_kind(doc)}, not a map of clusters, users and contexts")
    return doc


def _parse_yaml(path: Path, raw: bytes) -> Any:
    # the house's one YAML 1.1 parser (libyaml through ruamel.yaml.clib): go-yaml's reading, as client-go's;
    # measured as cheap to import as PyYAML's CSafeLoader (~15-20 ms either), so no second YAML library
    from toolkit.errors import InputError
    from toolkit.objects import load_documents

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"not UTF-8 text (byte {exc.start})") from None
    try:
        docs = [doc for doc in load_documents(text, str(path)) if doc is not None]
    except InputError as exc:
        cause = exc.__cause__
        mark = getattr(cause, "problem_mark", None) or getattr(cause, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(cause, "problem", None) or getattr(cause, "context", None) or exc.message.rsplit(": ", 1)[-1]
        raise _fail(path, f"not valid YAML{where}: {' '.join(str(problem).split())}") from None
    if len(docs) > 1:
        raise _fail(path, f"it holds {len(docs)} YAML documents; a kubeconfig is one")
    return docs[0] if docs else None


def _entries(doc: Mapping[str, Any], key: str, inner: str, path: Path) -> dict[str, dict[str, Any]]:
    items = doc.get(key)
    if items is None:
        return {}
    if not isinstance(items, list):
        raise _fail(path, f"{key} is a {_kind(items)}, not a list of {{name, {inner}}}")
    found: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise _fail(path, f"{key}[{i}] has no name")
        if name in found:
            raise _fail(path, f'{key} names "{name}" twice')
        body = item.get(inner)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise _fail(path, f'{key}[{i}] ("{name}"): {inner} is a {_kind(body)}, not a map')
        found[name] = body
    return found


# -- fields -----------------------------------------------------------------------------------------------------

class _Entry:
    """One cluster/user/context body and where it came from, with typed field readers."""

    def __init__(self, what: str, name: str, body: Mapping[str, Any], path: Path) -> None:
        self.what, self.name, self.body, self.path = what, name, body, path

    def fail(self, cause: str, hint: str = FIX_HINT) -> KubeError:
        return _fail(self.path, f'{self.what} "{self.name}": {cause}', hint)

    def text(self, key: str) -> str | None:
        value = self.body.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(f"{key} is a {_kind(value)}, not a string")
        return value

    def flag(self, key: str) -> bool:
        value = self.body.get(key)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(f"{key} must be true or false, not {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.body.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{key} must be a list of strings")
        return tuple(value)

    def path_of(self, key: str) -> Path | None:
        value = self.text(key)
        # relative to the file naming it, as client-go resolves them
        return (self.path.parent / value) if value else None

    def data(self, key: str) -> bytes | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            # Go's base64 decoder (how client-go reads these) skips line breaks and nothing else
            return base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(f"{key} is not valid base64", hint="encode the PEM file with `base64 -w0`") from None

    def file_bytes(self, key: str) -> bytes | None:
        path = self.path_of(key)
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise self.fail(f'cannot read {key} "{path}": {exc.strerror or exc}') from None

    def data_or_file(self, key: str) -> bytes | None:
        # client-go: the -data form wins over the file form
        return self.data(f"{key}-data") or self.file_bytes(key)


def _server(cluster: _Entry) -> str:
    server = cluster.text("server")
    if not server:
        raise cluster.fail("it has no server")
    parts = urlsplit(server)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise cluster.fail(f'server "{server}" is not an https:// URL')
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise cluster.fail(f'server "{server}" has an invalid port') from None
    return server.rstrip("/")


def _exec_plugin(user: _Entry) -> ExecPlugin | None:
    spec = user.body.get("exec")
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise user.fail(f"exec is a {_kind(spec)}, not a map")
    ex = _Entry(user.what, user.name, spec, user.path)
    api_version = ex.text("apiVersion") or ""
    if api_version not in EXEC_API_VERSIONS:
        raise user.fail(f'exec apiVersion "{api_version}" is not supported',
                        hint=f"use {' or '.join(EXEC_API_VERSIONS)} (client-go dropped v1alpha1)")
    command = ex.text("command")
    if not command:
        raise user.fail("exec has no command")
    if os.sep in command and not os.path.isabs(command):
        command = str(user.path.parent / command)
    env = spec.get("env") or []
    if not isinstance(env, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str)
                                            and isinstance(e.get("value", ""), str) for e in env):
        raise user.fail("exec env must be a list of {name, value} strings")
    mode_text = ex.text("interactiveMode")
    if mode_text is None:
        if api_version.endswith("/v1"):
            raise user.fail("exec needs interactiveMode (Never, IfAvailable or Always) with "
                            "client.authentication.k8s.io/v1")
        mode = InteractiveMode.IF_AVAILABLE
    else:
        try:
            mode = InteractiveMode(mode_text)
        except ValueError:
            raise user.fail(f'exec interactiveMode "{mode_text}" is not Never, IfAvailable or Always') from None
    return ExecPlugin(command=command, api_version=api_version, args=ex.strings("args"),
                      env=tuple((e["name"], e.get("value", "")) for e in env), interactive_mode=mode,
                      provide_cluster_info=ex.flag("provideClusterInfo"), install_hint=ex.text("installHint") or "")


def _exec_extension(cluster: _Entry) -> str | None:
    extensions = cluster.body.get("extensions") or []
    if not isinstance(extensions, list):
        raise cluster.fail("extensions must be a list of {name, extension}")
    for item in extensions:
        if isinstance(item, dict) and item.get("name") == EXEC_EXTENSION:
            return json.dumps(item.get("extension"))
    return None


# -- loading ----------------------------------------------------------------------------------------------------

def load(path: Path | str | None = None, context: str | None = None, *,
         environ: Mapping[str, str] | None = None) -> KubeConfig:
    """The named context (default: the current one) of the kubeconfig kubectl would use, resolved."""
    environ = os.environ if environ is None else environ
    files, label = kubeconfig_files(path, environ=environ)
    clusters: dict[str, _Entry] = {}
    users: dict[str, _Entry] = {}
    contexts: dict[str, _Entry] = {}
    current: str | None = None
    for file in files:
        doc = _read(file, default=not path and not environ.get("KUBECONFIG"))
        for key, inner, merged in (("clusters", "cluster", clusters), ("users", "user", users),
                                   ("contexts", "context", contexts)):
            for name, body in _entries(doc, key, inner, file).items():
                merged.setdefault(name, _Entry(inner, name, body, file))  # the first file naming it wins
        if current is None and doc.get("current-context"):
            current = str(doc["current-context"])

    known = ", ".join(sorted(contexts)[:8]) or "none"
    name = context or current
    if not name:
        raise _fail(label, "it sets no current-context", hint=f"pass --kube-context (contexts: {known})")
    ctx = contexts.get(name)
    if ctx is None:
        raise _fail(label, f'context "{name}" is not defined (contexts: {known})',
                    hint="pass --kube-context with one of them, or another --kubeconfig")
    cluster_name, user_name = ctx.text("cluster"), ctx.text("user") or ""
    if not cluster_name:
        raise ctx.fail("it names no cluster")
    cluster = clusters.get(cluster_name)
    if cluster is None:
        raise ctx.fail(f'it names cluster "{cluster_name}", which is not defined')
    user = users.get(user_name) if user_name else _Entry("user", "", {}, ctx.path)
    if user is None:
        raise ctx.fail(f'it names user "{user_name}", which is not defined')

    server = _server(cluster)
    if cluster.text("proxy-url"):
        raise cluster.fail("proxy-url is not supported by chartkit",
                           hint="reach the server directly (e.g. through `kubectl proxy` or an ssh tunnel)")
    ca_data = cluster.data_or_file("certificate-authority")
    insecure = cluster.flag("insecure-skip-tls-verify")
    if insecure and ca_data:
        raise cluster.fail("insecure-skip-tls-verify and a certificate-authority are both set (kubectl refuses "
                           "this too)", hint="drop one of them")

    if user.body.get("auth-provider"):
        provider = user.body["auth-provider"]
        kind = provider.get("name", "?") if isinstance(provider, dict) else "?"
        raise user.fail(f'auth-provider "{kind}" is not supported (client-go dropped auth providers)',
                        hint="use the provider's exec plugin instead (gke-gcloud-auth-plugin, kubelogin, ...)")
    client_cert = user.data_or_file("client-certificate")
    client_key = user.data_or_file("client-key")
    if bool(client_cert) != bool(client_key):
        have, lack = ("client-certificate", "client-key") if client_cert else ("client-key", "client-certificate")
        raise user.fail(f"it has a {have} but no {lack}")
    token, username, password = user.text("token"), user.text("username"), user.text("password")
    token_file = user.path_of("tokenFile")
    if (token or token_file) and (username or password):
        raise user.fail("it sets both a token and username/password; only one is allowed")
    extra = user.body.get("as-user-extra") or {}
    if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, list) for k, v in extra.items()):
        raise user.fail("as-user-extra must map names to lists of strings")

    return KubeConfig(
        origin=label, context=name, cluster=cluster_name, user=user_name, server=server,
        namespace=ctx.text("namespace"), ca_data=ca_data, insecure=insecure,
        tls_server_name=cluster.text("tls-server-name"), client_cert=client_cert, client_key=client_key,
        token=token, token_file=None if token else token_file, username=username, password=password,
        exec_plugin=_exec_plugin(user), exec_cluster_config=_exec_extension(cluster),
        impersonate=user.text("as"), impersonate_uid=user.text("as-uid"), impersonate_groups=user.strings("as-groups"),
        impersonate_extra=tuple((k, tuple(str(x) for x in v)) for k, v in sorted(extra.items())),
        cluster_origin=str(cluster.path), user_origin=str(user.path))


# -- exec plugins -----------------------------------------------------------------------------------------------

_cache: dict[tuple[Any, ...], ExecCredential] = {}
_cache_lock = threading.Lock()


def exec_credential(config: KubeConfig, *, refresh: bool = False, timeout: float = 60.0) -> ExecCredential:
    """The exec plugin's credential, run once and cached (process-wide) until its expirationTimestamp."""
    plugin = config.exec_plugin
    assert plugin is not None
    key = (plugin, config.server, config.ca_data, config.tls_server_name, config.insecure, config.exec_cluster_config)
    with _cache_lock:  # one run at a time: several threads needing a token at once share the first one's
        found = _cache.get(key)
        if found and not refresh and (found.expires is None or time.time() < found.expires):
            return found
        credential = _run_plugin(config, plugin, timeout)
        _cache[key] = credential
        return credential


def _run_plugin(config: KubeConfig, plugin: ExecPlugin, timeout: float) -> ExecCredential:
    import shutil
    import subprocess
    import sys

    def fail(cause: str, hint: str | None = None) -> KubeError:
        return KubeError(f'unable to get credentials for user "{config.user}" of kubeconfig "{config.user_origin}":'
                         f' exec plugin "{plugin.command}" {cause}',
                         hint=hint or "run the plugin by hand to see what it needs")

    interactive = plugin.interactive_mode is not InteractiveMode.NEVER and sys.stdin is not None \
        and sys.stdin.isatty()
    if plugin.interactive_mode is InteractiveMode.ALWAYS and not interactive:
        raise fail("needs a terminal (interactiveMode: Always) and there is none")
    spec: dict[str, Any] = {"interactive": interactive}
    if plugin.provide_cluster_info:
        cluster: dict[str, Any] = {"server": config.server}
        if config.tls_server_name:
            cluster["tls-server-name"] = config.tls_server_name
        if config.insecure:
            cluster["insecure-skip-tls-verify"] = True
        if config.ca_data:
            cluster["certificate-authority-data"] = base64.b64encode(config.ca_data).decode()
        if config.exec_cluster_config:
            cluster["config"] = json.loads(config.exec_cluster_config)
        spec["cluster"] = cluster
    env = {**os.environ, **dict(plugin.env),
           # the request for a credential goes in the environment, never in argv
           "KUBERNETES_EXEC_INFO": json.dumps({"apiVersion": plugin.api_version, "kind": "ExecCredential",
                                               "spec": spec})}
    command = plugin.command if os.sep in plugin.command else shutil.which(plugin.command, path=env.get("PATH"))
    if not command or not os.access(command, os.X_OK):
        raise fail("was not found" if not command else "is not an executable file",
                   hint=plugin.install_hint.strip().splitlines()[0] if plugin.install_hint.strip()
                   else "install it, or fix exec.command in the kubeconfig")
    try:
        done = subprocess.run([command, *plugin.args], env=env, stdout=subprocess.PIPE,
                              stdin=None if interactive else subprocess.DEVNULL,
                              stderr=None if interactive else subprocess.PIPE,
                              timeout=None if interactive else timeout, check=False)
    except subprocess.TimeoutExpired:
        raise fail(f"gave no answer within {timeout:.0f}s") from None
    except OSError as exc:
        raise fail(f"could not run: {exc.strerror or exc}") from None
    stderr = (done.stderr or b"").decode(errors="replace").strip()
    if stderr:
        log.debug("exec plugin %s said: %s", plugin.command, stderr)
    if done.returncode != 0:
        last = stderr.splitlines()[-1][:300] if stderr else "nothing on stderr"
        raise fail(f"exited with code {done.returncode}: {last}")
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        raise fail("printed no ExecCredential JSON on stdout") from None
    if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
        raise fail("printed JSON that is not an ExecCredential")
    if answer.get("apiVersion") != plugin.api_version:
        raise fail(f'answered with apiVersion "{answer.get("apiVersion")}", not the configured "{plugin.api_version}"')
    status = answer.get("status")
    if not isinstance(status, dict):
        raise fail("answered an ExecCredential without status")
    token, cert, key = status.get("token"), status.get("clientCertificateData"), status.get("clientKeyData")
    if bool(cert) != bool(key):
        raise fail("answered a client certificate without its key (or a key without its certificate)")
    if not token and not cert:
        raise fail("answered neither a token nor a client certificate and key")
    expires = None
    stamp = status.get("expirationTimestamp")
    if stamp:
        try:
            # Python < 3.11 takes neither "Z" nor more than 6 fraction digits (Go writes up to 9)
            text = re.sub(r"(\.\d{6})\d+", r"\1", str(stamp)).replace("Z", "+00:00")
            expires = dt.datetime.fromisoformat(text).timestamp()
        except ValueError:
            raise fail(f'answered an expirationTimestamp that is not RFC 3339: "{stamp}"') from None
    return ExecCredential(token=str(token) if token else None, client_cert=cert.encode() if cert else None,
                          client_key=key.encode() if key else None, expires=expires)
