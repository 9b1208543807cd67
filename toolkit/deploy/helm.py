"""The one adapter over the helm CLI, built on pyhelm3.

pyhelm3's ``Command`` maps helm subcommands onto argument lists and sends values on stdin; we keep it and
replace only what it lacks: ``run`` executes an argument list (pyhelm3 goes through a shell), passes registry
settings through the environment, and maps helm's stderr to our errors through one table (``STDERR_PATTERNS``).
Subcommands pyhelm3 does not cover, or covers without a flag we need (``--labels``, ``--ca-file``, raw
``template`` output), are built here on the same ``run``.

Everything returns plain data; callers never see pyhelm3 or subprocess.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pyhelm3
import pyhelm3.errors

from toolkit.errors import HelmError, LocalEnvError

__all__ = [
    "Helm",
    "HelmConfig",
    "STDERR_PATTERNS",
    "find_helm",
    "helm_error",
    "lint_findings",
]

log = logging.getLogger(__name__)

#: helm's stderr → (our hint). First match wins; each row has a test in tests/deploy/test_helm.py.
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


def find_helm(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Find helm: the --helm flag, then CHARTKIT_HELM, then PATH, then the build cached by `invoke up`."""
    candidates: list[tuple[str, str | None]] = [
        ("--helm", str(explicit) if explicit else None),
        ("CHARTKIT_HELM", os.environ.get("CHARTKIT_HELM")),
        ("PATH", shutil.which("helm")),
    ]
    from toolkit.localenv import paths  # a path computation only; builds nothing

    cached = paths.helm_binary()
    candidates.append(("cache", str(cached) if cached.exists() else None))
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


@dataclass(frozen=True)
class HelmConfig:
    """Where helm runs: binary, cluster and registry settings. Defaults come from the environment."""

    executable: Path | None = None
    kubeconfig: Path | None = None
    kube_context: str | None = None
    registry_config: Path | None = None
    ca_file: Path | None = None
    timeout: str = "5m"
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


class _Command(pyhelm3.Command):
    """pyhelm3's Command, run as an argument list with our environment and error mapping."""

    def __init__(self, config: HelmConfig, executable: Path) -> None:
        super().__init__(
            executable=str(executable),
            kubeconfig=config.kubeconfig,
            kubecontext=config.kube_context,
            default_timeout=config.timeout,
        )
        self._env = config.env()

    async def run(self, command: list[Any], input: bytes | None = None) -> bytes:  # noqa: A002 - pyhelm3's name
        argv = [self._executable, *(str(part) for part in command)]
        if self._kubeconfig:
            argv += ["--kubeconfig", str(self._kubeconfig)]
        if self._kubecontext:
            argv += ["--kube-context", self._kubecontext]
        log.info("running: %s", " ".join(self._log_format(a) for a in argv))
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input is not None else None,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._env,
        )
        try:
            stdout, stderr = await proc.communicate(input)
        except asyncio.CancelledError:
            try:
                proc.terminate()
                await proc.communicate()
            except ProcessLookupError:
                pass
            raise
        if proc.returncode != 0:
            raise pyhelm3.errors.Error(proc.returncode, stdout, stderr)
        return stdout


class Helm:
    """Synchronous facade over helm; each method is one helm subcommand returning plain data."""

    def __init__(self, config: HelmConfig | None = None) -> None:
        self.config = config or HelmConfig()
        self.executable = find_helm(self.config.executable)
        self._cmd = _Command(self.config, self.executable)

    # -- plumbing -------------------------------------------------------------------------------------------

    def _run(self, action: str, target: str, args: Sequence[Any], *, input: bytes | None = None) -> str:  # noqa: A002
        return self._await(action, target, self._cmd.run(list(args), input)).decode()

    def _await(self, action: str, target: str, coro: Any) -> Any:
        try:
            return asyncio.run(coro)
        except pyhelm3.errors.Error as exc:
            raise helm_error(action, target, exc.returncode, exc.stderr.decode(errors="replace"),
                             exc.stdout.decode(errors="replace")) from exc

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
        return self._run("lint", str(chart), args, input=json.dumps(values).encode() if values else None)

    def template(
        self,
        chart: Path | str,
        *,
        release: str,
        namespace: str | None = None,
        values: Mapping[str, Any] | None = None,
        set_values: Sequence[str] = (),
        version: str | None = None,
        include_crds: bool = True,
        kube_version: str | None = None,
    ) -> str:
        """Render a chart and return helm's raw multi-document YAML (parse it with ruamel, not PyYAML)."""
        args: list[Any] = ["template", release, chart, "--values", "-"]
        args.append("--include-crds" if include_crds else "--skip-crds")
        if namespace:
            args += ["--namespace", namespace]
        if kube_version:
            args += ["--kube-version", kube_version]
        if version:
            args += ["--version", version]
        for item in set_values:
            args += ["--set", item]
        return self._run("render", str(chart), args, input=json.dumps(dict(values or {})).encode())

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
        return self._run("build dependencies of", str(chart), ["dependency", "build", chart])

    # -- registry -------------------------------------------------------------------------------------------

    def registry_login(self, host: str, *, username: str, password: str) -> None:
        args: list[Any] = ["registry", "login", host, "--username", username, "--password-stdin"]
        if self.config.ca_file:
            args += ["--ca-file", self.config.ca_file]
        self._run("log in to registry", host, args, input=password.encode())

    def push(self, package: Path, ref: str) -> str:
        """Push a .tgz to ``oci://HOST/NAMESPACE`` and return the manifest digest helm reports."""
        args: list[Any] = ["push", package, ref]
        if self.config.ca_file:
            args += ["--ca-file", self.config.ca_file]
        result = self._await("push", str(package), self._cmd.run(args))
        text = result.decode()
        match = re.search(r"Digest:\s*(sha256:[0-9a-f]{64})", text)
        return match.group(1) if match else ""

    def pull(self, ref: str, destination: Path, *, version: str | None = None) -> Path:
        destination.mkdir(parents=True, exist_ok=True)
        args: list[Any] = ["pull", ref, "--destination", destination]
        if version:
            args += ["--version", version]
        if self.config.ca_file:
            args += ["--ca-file", self.config.ca_file]
        self._run("pull", ref, args)
        found = sorted(destination.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise HelmError(f'unable to pull "{ref}": helm wrote no package into {destination}')
        return found[-1]

    def show_chart(self, ref: str, *, version: str | None = None) -> str:
        args: list[Any] = ["show", "chart", ref]
        if version:
            args += ["--version", version]
        if self.config.ca_file:
            args += ["--ca-file", self.config.ca_file]
        return self._run("show chart", ref, args)

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
    ) -> dict[str, Any]:
        """`helm upgrade --install` with values on stdin; returns helm's JSON release record."""
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
        if self.config.ca_file and str(chart).startswith("oci://"):
            args += ["--ca-file", self.config.ca_file]
        out = self._run("install or upgrade", f"{namespace}/{release}", args, input=json.dumps(dict(values or {})).encode())
        # helm >= 4.2.1 prints "Pulled:"/"Digest:" lines before the JSON for OCI charts
        return json.loads(out[out.index("{"):])

    def history(self, release: str, *, namespace: str) -> list[dict[str, Any]]:
        return self._await("read history of", f"{namespace}/{release}", self._cmd.history(release, namespace=namespace))

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
                 timeout: str | None = None) -> None:
        self._await("roll back", f"{namespace}/{release}", self._cmd.rollback(
            release, revision, namespace=namespace, wait=wait, timeout=timeout, cleanup_on_fail=True))

    def uninstall(self, release: str, *, namespace: str, wait: bool = True, timeout: str | None = None) -> None:
        self._await("uninstall", f"{namespace}/{release}", self._cmd.uninstall(
            release, namespace=namespace, wait=wait, timeout=timeout))

    # -- added for instances (drift) --------------------------------------------------------------------------

    def rollback_forcing(self, release: str, revision: int | None = None, *, namespace: str, wait: bool = True,
                         timeout: str | None = None) -> None:
        """`helm rollback --force-conflicts`: roll back over fields another manager changed since."""
        args: list[Any] = ["rollback", release]
        if revision is not None:
            args.append(revision)
        args += ["--namespace", namespace, "--timeout", timeout or self.config.timeout, "--force-conflicts",
                 "--cleanup-on-fail"]
        if wait:
            args += ["--wait", "--wait-for-jobs"]
        self._run("roll back", f"{namespace}/{release}", args)

    def render_unchecked(self, chart: Path | str, *, release: str, namespace: str,
                         values: Mapping[str, Any] | None = None) -> str:
        """`helm template --skip-schema-validation`: render values the schema refuses (drift's lock probes)."""
        args: list[Any] = ["template", release, chart, "--namespace", namespace, "--values", "-",
                           "--skip-schema-validation"]
        return self._run("render", str(chart), args, input=json.dumps(dict(values or {})).encode())


def run_plain(args: Iterable[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
              check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a helm argument list synchronously (tests and benchmarks compare chartkit with plain helm)."""
    argv = [str(find_helm()), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(env) if env else None, cwd=cwd)
    if check and proc.returncode != 0:
        raise helm_error("run", " ".join(argv[1:3]), proc.returncode, proc.stderr)
    return proc


def scratch_dir(prefix: str = "chartkit-") -> Path:
    """A private temp dir for helm outputs that are moved into place afterwards."""
    return Path(tempfile.mkdtemp(prefix=prefix))
