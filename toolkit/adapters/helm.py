"""The one adapter over the helm CLI: each method is one helm subcommand, run as an argument list.

It follows pyhelm3's ``Command`` design — one method per subcommand, ``--output json`` where helm offers it,
values on stdin (never in argv or a temp file), secrets masked in logs — without importing pyhelm3: its pydantic
models cost 0.15–0.45 s of import on every chartkit command, a third of a `helm list`, and chartkit uses none of
them. helm's stderr maps to our errors through one table (``STDERR_PATTERNS``), each row tested.

helm children die with chartkit: each gets ``PR_SET_PDEATHSIG`` (SIGKILL when its parent goes, even by kill -9),
so an orphaned ``helm upgrade`` can never act beside a ``chartkit recover`` (a SIGTERM would let it go on
failing and rolling the release back for seconds, racing recover into two deployed revisions). When chartkit
itself is interrupted (``KeyboardInterrupt``: SIGINT, or SIGTERM through the front door), the running helm gets
SIGTERM and ``HELM_GRACE_SECONDS`` to end the way helm ends on its own signal (the release marked failed, rolled
back with ``--rollback-on-failure``) instead of being killed mid-write and left ``pending-*``.

Everything returns plain data; callers never see subprocess.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from toolkit.errors import HelmError, LocalEnvError

__all__ = [
    "Helm",
    "HelmConfig",
    "STDERR_PATTERNS",
    "find_helm",
    "helm_error",
    "lint_findings",
    "run_plain",
    "values_json",
]

log = logging.getLogger(__name__)

#: helm's stderr → (our hint). First match wins; each row has a test in tests/adapters/test_helm.py.
STDERR_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"basic credential not found|failed to authorize|authentication required|status code 401", re.I),
     "log in first: `helm registry login HOST` or set the registry config chartkit uses (chartkit env)"),
    (re.compile(r"\bunauthorized\b|forbidden", re.I),
     "the cluster refused these credentials: check --kubeconfig / --kube-context"),
    (re.compile(r"certificate signed by unknown authority|x509:", re.I),
     "pass the registry's CA (--ca-file or SSL_CERT_FILE); see `chartkit env`"),
    (re.compile(r"values don't meet the specifications of the schema", re.I),
     "the values break the chart's values.schema.json; locked parameters cannot be changed"),
    (re.compile(r"another operation \(install/upgrade/rollback\) is in progress", re.I),
     "the release is stuck in pending-*; run `chartkit recover INSTANCE` to see and fix it"),
    (re.compile(r"release: not found|release \S+ not found|not found: release", re.I),
     "check the instance name and namespace (-n); `chartkit instances -A` lists them"),
    (re.compile(r"connection refused|no such host|i/o timeout|context deadline exceeded", re.I),
     "is the cluster or registry running? `chartkit env` shows where chartkit looks"),
    (re.compile(r"chart \"[^\"]+\" (version \"[^\"]+\" )?not found|path \"[^\"]+\" not found|: not found$",
                re.I | re.M),
     "check the chart reference and version; `chartkit catalog list` shows what exists"),
    (re.compile(r"parse error|error converting YAML|template: ", re.I),
     "the chart's templates do not render; run `helm template` on it for details"),
]


#: a lint finding that fails ``--strict`` (``Error ...`` when the chart cannot be loaded at all); its text may
#: continue on the following lines (template traces, schema violations), up to a blank line or the next finding
_FINDING = re.compile(r"^(\[(ERROR|WARNING)\] |Error )")
#: helm's own noise below an error: how to debug, and its structured log lines
_NOISE = re.compile(r"^(Use --debug flag|level=[A-Z]+ )")


def _blocks(text: str, start: re.Pattern[str]) -> list[str]:
    """Each line matching ``start`` with the lines that continue it, joined into one line."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if start.match(line):
            blocks.append([stripped])
        elif blocks and blocks[-1] and stripped and not line.startswith(("[", "==>")) \
                and not _NOISE.match(stripped):
            blocks[-1].append(stripped)
        elif blocks and not stripped:
            blocks.append([])  # a blank line ends the block
    return [" ".join(b) for b in blocks if b]


def lint_findings(stdout: str) -> list[str]:
    """helm lint's ``[ERROR]``/``[WARNING]`` findings (template, object and reason), one line each."""
    return _blocks(stdout, _FINDING)


def helm_error(action: str, target: str, returncode: int, stderr: str, stdout: str = "") -> HelmError:
    """Turn a failed helm run into our error: what failed in helm's own words, plus a hint from the table.

    The cause is helm's last ``Error:`` block (continuation lines included: a render error names the template
    and line on the first line and the reason below it). ``helm lint`` prints its findings on stdout and only a
    count on stderr: then the findings are the cause.
    """
    errors = [re.sub(r"^error:\s*", "", block, flags=re.I) for block in _blocks(stderr, re.compile(r"^error\b", re.I))]
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip() and not _NOISE.match(ln.strip())]
    cause = errors[-1] if errors else (lines[-1] if lines else f"helm exited {returncode}")
    findings = lint_findings(stdout)
    if findings:
        cause = "; ".join(findings)
        stderr = f"{stderr}\n{stdout}"
    hint = next((h for pattern, h in STDERR_PATTERNS if pattern.search(stderr)), None)
    return HelmError(f'unable to {action} "{target}": {cause}', hint=hint, returncode=returncode, stderr=stderr)


def find_helm(explicit: str | os.PathLike[str] | None = None, *, fallback: Path | None = None) -> Path:
    """Find helm: ``explicit`` (--helm), then CHARTKIT_HELM, then PATH, then ``fallback`` (a front door's build)."""
    candidates: list[tuple[str, str | None]] = [
        ("--helm", str(explicit) if explicit else None),
        ("CHARTKIT_HELM", os.environ.get("CHARTKIT_HELM")),
        ("PATH", shutil.which("helm")),
        ("the local build", str(fallback) if fallback and fallback.exists() else None),
    ]
    for source, candidate in candidates:
        if candidate:
            path = Path(candidate)
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise LocalEnvError(f'unable to use helm "{path}" (from {source}): not an executable file')
            log.debug("using helm %s (from %s)", path, source)
            return path
    raise LocalEnvError(
        "unable to find helm: not given by --helm or CHARTKIT_HELM, not on PATH, not built yet",
        hint="run `invoke up` (builds helm from its Go module into ~/.cache/chartkit) or install helm v4",
    )


def values_json(values: Mapping[str, Any] | None) -> bytes:
    """A values document for helm's stdin: UTF-8 JSON (JSON is YAML).

    ``ensure_ascii=False``: Python's ``\\ud83d\\ude80`` surrogate escapes for emoji are refused by helm's YAML
    parser, while the UTF-8 character itself is what `helm --set` would pass.
    """
    return json.dumps(dict(values or {}), ensure_ascii=False).encode()


@dataclass(frozen=True)
class HelmConfig:
    """Where helm runs: binary, cluster and registry settings. Defaults come from the environment."""

    executable: Path | None = None
    kubeconfig: Path | None = None
    kube_context: str | None = None
    registry_config: Path | None = None
    ca_file: Path | None = None
    timeout: str = "5m"
    #: the catalog's registry host: CHARTKIT_REGISTRY_USERNAME/_PASSWORD are handed to helm for it
    registry_host: str | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.registry_config:
            env["HELM_REGISTRY_CONFIG"] = str(self.registry_config)
        if self.ca_file:
            # helm verifies registry TLS through SSL_CERT_FILE for commands that have no --ca-file flag
            env["SSL_CERT_FILE"] = str(self.ca_file)
        if self.kubeconfig:
            env["KUBECONFIG"] = str(self.kubeconfig)
        env.update(self.extra_env)
        return env


_PRCTL: Any = None


#: how long an interrupted chartkit waits for helm to fail and roll back after passing it SIGTERM
HELM_GRACE_SECONDS = 30.0


def _die_with_parent() -> None:
    """Runs in the helm child before exec: SIGKILL it when chartkit goes away, however it goes."""
    _PRCTL(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _prepared_prctl() -> Any:
    """libc's prctl, looked up in the parent: the child between fork and exec must not import or allocate."""
    global _PRCTL
    if _PRCTL is None:
        import ctypes

        _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
    return _PRCTL


#: chartkit's post-renderer plugin (helm_plugins/chartkit-leave-fields) and where helm finds it
POST_RENDERER = "chartkit-leave-fields"
PLUGINS_DIR = Path(__file__).resolve().parent / "helm_plugins"


def _post_renderer_env() -> dict[str, str]:
    """helm finds the plugin in chartkit's own plugin directory; it runs this interpreter on this toolkit."""
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    return {"HELM_PLUGINS": str(PLUGINS_DIR), "CHARTKIT_PYTHON": sys.executable,
            "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """chartkit was interrupted while helm ran: SIGTERM it (helm fails the release and rolls back, as on its own
    signal) and wait ``HELM_GRACE_SECONDS``; a timeout, or another interruption, kills it."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=HELM_GRACE_SECONDS)
    except BaseException:  # noqa: BLE001 - a second ^C or the grace ran out: helm must not outlive this call
        proc.kill()
        proc.wait()


def _registry_login_config(host: str, username: str, password: str) -> tuple[int, str]:
    """A registry config for helm holding env credentials, in memory only: (fd to pass to helm, its path there).

    chartkit's own registry client reads CHARTKIT_REGISTRY_USERNAME/_PASSWORD; helm reads only a config file. An
    anonymous in-memory file (memfd) passed to the child leaves nothing on disk, even after kill -9.
    """
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    fd = os.memfd_create("chartkit-registry-config", 0)
    os.write(fd, json.dumps({"auths": {host: {"auth": auth}}}).encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd, f"/proc/self/fd/{fd}"


class Helm:
    """Synchronous facade over helm; each method is one helm subcommand returning plain data."""

    def __init__(self, config: HelmConfig | None = None) -> None:
        self.config = config or HelmConfig()
        self.executable = find_helm(self.config.executable)
        self._env = self.config.env()

    # -- plumbing -------------------------------------------------------------------------------------------

    def _argv(self, args: Sequence[Any]) -> list[str]:
        argv = [str(self.executable), *(str(a) for a in args)]
        if self.config.kubeconfig:
            argv += ["--kubeconfig", str(self.config.kubeconfig)]
        if self.config.kube_context:
            argv += ["--kube-context", self.config.kube_context]
        return argv

    def _run(self, action: str, target: str, args: Sequence[Any], *, input: bytes | None = None,  # noqa: A002
             registry: bool = False, env: Mapping[str, str] | None = None) -> str:
        """Run one helm command; ``registry``: it talks to the catalog (env credentials are handed over)."""
        argv = self._argv(args)
        env, pass_fds = ({**self._env, **env} if env else self._env), ()
        user, password = os.environ.get("CHARTKIT_REGISTRY_USERNAME"), os.environ.get("CHARTKIT_REGISTRY_PASSWORD")
        memfd = None
        if registry and self.config.registry_host and user and password:
            memfd, path = _registry_login_config(self.config.registry_host, user, password)
            env, pass_fds = {**env, "HELM_REGISTRY_CONFIG": path}, (memfd,)
        log.info("running: %s", " ".join(argv))  # values and credentials travel on stdin / in memory only
        _prepared_prctl()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, pass_fds=pass_fds,
                                    preexec_fn=_die_with_parent)
        except OSError as exc:
            raise HelmError(f'unable to {action} "{target}": cannot run {argv[0]}: {exc.strerror}') from exc
        finally:
            if memfd is not None:
                os.close(memfd)
        with proc:
            try:
                out, errs = proc.communicate(input)
            except BaseException:
                _stop(proc)
                raise
        stdout = out.decode(errors="replace")
        if proc.returncode != 0:
            if proc.returncode < 0:
                raise HelmError(f'unable to {action} "{target}": helm was killed by signal {-proc.returncode}',
                                returncode=proc.returncode, stderr=errs.decode(errors="replace"))
            raise helm_error(action, target, proc.returncode, errs.decode(errors="replace"), stdout)
        return stdout

    def _ca(self) -> list[Any]:
        return ["--ca-file", self.config.ca_file] if self.config.ca_file else []

    # -- local ----------------------------------------------------------------------------------------------

    def version(self) -> str:
        return self._run("query", "helm version", ["version", "--template", "{{ .Version }}"]).strip()

    def lint(self, chart: Path, *, strict: bool = True, values: Mapping[str, Any] | None = None,
             kube_version: str | None = None) -> str:
        """`helm lint`; ``kube_version`` is the cluster version its deprecation checks assume (default: helm's)."""
        args: list[Any] = ["lint", chart]
        if strict:
            args.append("--strict")
        if kube_version:
            args += ["--kube-version", kube_version]
        if values:
            args += ["--values", "-"]
        return self._run("lint", str(chart), args, input=values_json(values) if values else None)

    def template(self, chart: Path | str, *, release: str, namespace: str | None = None,
                 values: Mapping[str, Any] | None = None, set_values: Sequence[str] = (), version: str | None = None,
                 include_crds: bool = True, skip_schema_validation: bool = False,
                 kube_version: str | None = None) -> str:
        """Render a chart and return helm's raw multi-document YAML (``toolkit.objects.parse_manifest`` reads it).

        ``skip_schema_validation`` renders values the schema refuses (drift's lock probes).
        """
        args: list[Any] = ["template", release, chart, "--values", "-"]
        args.append("--include-crds" if include_crds else "--skip-crds")
        if namespace:
            args += ["--namespace", namespace]
        if version:
            args += ["--version", version]
        if kube_version:
            args += ["--kube-version", kube_version]
        if skip_schema_validation:
            args.append("--skip-schema-validation")
        for item in set_values:
            args += ["--set", item]
        return self._run("render", str(chart), args, input=values_json(values))

    def package(self, chart: Path, destination: Path, *, version: str | None = None,
                app_version: str | None = None, sign_key: str | None = None, keyring: Path | None = None) -> Path:
        args: list[Any] = ["package", chart, "--destination", destination]
        if version:
            args += ["--version", version]
        if app_version:
            args += ["--app-version", app_version]
        if sign_key:
            args += ["--sign", "--key", sign_key]
            if keyring:
                args += ["--keyring", keyring]
        out = self._run("package", str(chart), args)
        match = re.search(r"saved it to:\s*(\S+)", out)
        if not match:
            raise HelmError(f'unable to package "{chart}": helm did not say where it saved the package: {out!r}')
        return Path(match.group(1))

    def verify(self, package: Path, *, keyring: Path) -> str:
        return self._run("verify", str(package), ["verify", package, "--keyring", keyring])

    def dependency_build(self, chart: Path) -> str:
        return self._run("build dependencies of", str(chart), ["dependency", "build", chart], registry=True)

    # -- registry -------------------------------------------------------------------------------------------

    def registry_login(self, host: str, *, username: str, password: str) -> None:
        args: list[Any] = ["registry", "login", host, "--username", username, "--password-stdin", *self._ca()]
        self._run("log in to registry", host, args, input=password.encode())

    def push(self, package: Path, ref: str) -> str:
        """Push a .tgz to ``oci://HOST/PATH`` and return the manifest digest helm reports."""
        out = self._run("push", str(package), ["push", package, ref, *self._ca()], registry=True)
        match = re.search(r"Digest:\s*(sha256:[0-9a-f]{64})", out)
        return match.group(1) if match else ""

    def pull(self, ref: str, destination: Path, *, version: str | None = None) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        args: list[Any] = ["pull", ref, "--destination", destination, *self._ca()]
        if version:
            args += ["--version", version]
        self._run("pull", ref, args, registry=True)
        found = sorted(destination.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise HelmError(f'unable to pull "{ref}": helm wrote no package into {destination}')
        return found[-1]

    def show_chart(self, ref: str, *, version: str | None = None) -> str:
        args: list[Any] = ["show", "chart", ref, *self._ca()]
        if version:
            args += ["--version", version]
        return self._run("show chart", ref, args, registry=ref.startswith("oci://"))

    # -- releases (instances) ------------------------------------------------------------------------------

    def install_or_upgrade(
        self,
        release: str,
        chart: Path | str,
        *,
        namespace: str,
        values: Mapping[str, Any] | None = None,
        version: str | None = None,
        labels: Mapping[str, str] | None = None,
        wait: bool = True,
        rollback_on_failure: bool = True,
        take_ownership: bool = False,
        reset_values: bool = False,
        reuse_values: bool = False,
        create_namespace: bool = True,
        timeout: str | None = None,
        description: str | None = None,
        dry_run: bool = False,
        force_conflicts: bool = False,
        leave_fields: Sequence[str] = (),
    ) -> dict[str, Any]:
        """`helm upgrade --install` with values on stdin; returns helm's JSON release record.

        ``leave_fields`` (``Kind[/namespace]/name=field.path``) are taken out of what helm applies by chartkit's
        post-renderer (``toolkit.adapters.postrender``): fields a controller owns, which helm must neither
        conflict with nor take back.
        """
        args: list[Any] = [
            "upgrade", release, chart, "--install", "--namespace", namespace, "--output", "json",
            "--values", "-", "--timeout", timeout or self.config.timeout,
        ]
        if version:
            args += ["--version", version]
        if labels:
            # helm records these on the release Secret; chartkit tracks the catalog ref and digest with them
            args += ["--labels", ",".join(f"{k}={v}" for k, v in sorted(labels.items()))]
        if wait:
            args += ["--wait", "--wait-for-jobs"]
        if rollback_on_failure:
            args.append("--rollback-on-failure")
        if take_ownership:
            args.append("--take-ownership")
        if reset_values:
            args.append("--reset-values")
        if reuse_values:
            args.append("--reuse-values")
        if create_namespace:
            args.append("--create-namespace")
        if description:
            args += ["--description", description]
        if dry_run:
            args.append("--dry-run=server")
        if force_conflicts:
            # server-side apply takes back fields another manager changed (kubectl edit) instead of failing
            args.append("--force-conflicts")
        env = None
        if leave_fields:
            args += ["--post-renderer", POST_RENDERER]
            for item in leave_fields:
                args += ["--post-renderer-args", item]
            env = _post_renderer_env()
        oci = str(chart).startswith("oci://")
        if oci:
            args += self._ca()
        out = self._run("install or upgrade", f"{namespace}/{release}", args, input=values_json(values),
                        registry=oci, env=env)
        # helm >= 4.2.1 prints "Pulled:"/"Digest:" lines before the JSON for OCI charts
        return json.loads(out[out.index("{"):])

    def history(self, release: str, *, namespace: str) -> list[dict[str, Any]]:
        out = self._run("read history of", f"{namespace}/{release}",
                        ["history", release, "--namespace", namespace, "--output", "json"])
        return json.loads(out or "[]")

    def list_releases(self, *, namespace: str | None = None, all_namespaces: bool = False,
                      selector: str | None = None) -> list[dict[str, Any]]:
        # helm 4 lists every status by default (its --all flag is gone); --max 0 means the server's page size
        args: list[Any] = ["list", "--output", "json", "--max", "0"]
        if all_namespaces:
            args.append("--all-namespaces")
        elif namespace:
            args += ["--namespace", namespace]
        if selector:
            args += ["--selector", selector]
        return json.loads(self._run("list", "releases", args) or "[]")

    def status(self, release: str, *, namespace: str, revision: int | None = None) -> dict[str, Any]:
        args: list[Any] = ["status", release, "--namespace", namespace, "--output", "json"]
        if revision:
            args += ["--revision", revision]
        return json.loads(self._run("read status of", f"{namespace}/{release}", args))

    def get_manifest(self, release: str, *, namespace: str, revision: int | None = None) -> str:
        args: list[Any] = ["get", "manifest", release, "--namespace", namespace]
        if revision:
            args += ["--revision", revision]
        return self._run("read manifest of", f"{namespace}/{release}", args)

    def get_values(self, release: str, *, namespace: str, all_values: bool = False,
                   revision: int | None = None) -> dict[str, Any]:
        args: list[Any] = ["get", "values", release, "--namespace", namespace, "--output", "json"]
        if all_values:
            args.append("--all")
        if revision:
            args += ["--revision", revision]
        return json.loads(self._run("read values of", f"{namespace}/{release}", args)) or {}

    def rollback(self, release: str, revision: int | None = None, *, namespace: str, wait: bool = True,
                 timeout: str | None = None, force_conflicts: bool = False) -> None:
        """`helm rollback`; ``force_conflicts`` rolls back over fields another manager changed since."""
        args: list[Any] = ["rollback", release]
        if revision is not None:
            args.append(revision)
        args += ["--namespace", namespace, "--timeout", timeout or self.config.timeout, "--cleanup-on-fail"]
        if force_conflicts:
            args.append("--force-conflicts")
        if wait:
            args += ["--wait", "--wait-for-jobs"]
        self._run("roll back", f"{namespace}/{release}", args)

    def uninstall(self, release: str, *, namespace: str, wait: bool = True, timeout: str | None = None) -> None:
        args: list[Any] = ["uninstall", release, "--namespace", namespace, "--timeout", timeout or self.config.timeout]
        if wait:
            args.append("--wait")
        self._run("uninstall", f"{namespace}/{release}", args)


def run_plain(args: Iterable[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              check: bool = True, helm: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a helm argument list as a user would (tests and benchmarks compare chartkit with plain helm)."""
    argv = [str(find_helm(helm)), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(env) if env else None, cwd=cwd)
    if check and proc.returncode != 0:
        raise helm_error("run", " ".join(argv[1:3]), proc.returncode, proc.stderr)
    return proc


def scratch_dir(prefix: str = "chartkit-") -> Path:
    """A private temp dir (0700) for helm outputs that are moved into place afterwards."""
    return Path(tempfile.mkdtemp(prefix=prefix))
