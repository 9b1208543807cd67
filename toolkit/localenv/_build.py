"""Builds helm, the control plane, kwok, kustomize and Traefik from their Go modules into the version-keyed cache.

Every build writes into a fresh ``.build-*`` directory beside its target and moves finished binaries into place,
so a build killed half-way never leaves a binary at the final path; a binary that is there but does not report
the pinned version (truncated, corrupt, another version) is rebuilt. Builds hold a lock per target, and wait for
an unrelated ``go build`` that is already writing the same target instead of racing it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from toolkit.errors import LocalEnvError
from toolkit.localenv import _proc, paths
from toolkit.localenv._proc import Progress, say

log = logging.getLogger(__name__)

KUBERNETES_MODULE = Path(__file__).resolve().parent / "kubernetes"
TRAEFIK_MODULE = "github.com/traefik/traefik/v3"
#: the nested module Traefik's go.mod replaces with a directory its module zip leaves out (see traefik/ext/ext.go)
TRAEFIK_EXT = Path(__file__).resolve().parent / "traefik" / "ext"
TRAEFIK_EXT_DIR = Path("pkg/config/dynamic/ext")
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
ETCD = "etcd"
GO_HINT = "install Go >= 1.25 (https://go.dev/dl) and put it on PATH, or set CHARTKIT_HELM to a helm v4 binary"


def go() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if not found:
        raise LocalEnvError("unable to build from Go modules: the go command is not installed", hint=GO_HINT)
    return found


def go_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(paths.go_env())
    env["PATH"] = f"{Path(go()).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def kubernetes_ldflags(version: str = paths.KUBERNETES_VERSION) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return f"-s -w -X {pkg}.gitVersion={version} -X {pkg}.gitMajor={major} -X {pkg}.gitMinor={minor}"


def helm_ldflags(version: str = paths.HELM_VERSION) -> str:
    return f"-s -w -X helm.sh/helm/v4/internal/version.version={version}"


def kwok_ldflags(version: str = paths.KWOK_VERSION) -> str:
    return f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={version}"


def traefik_ldflags(version: str = paths.TRAEFIK_VERSION) -> str:
    pkg = "github.com/traefik/traefik/v3/pkg/version"
    return f"-s -w -X {pkg}.Version={version} -X {pkg}.Codename=chartkit -X {pkg}.BuildDate=chartkit-localenv"


def reports_version(binary: Path, args: Sequence[str], expected: str) -> bool:
    """True when ``binary args`` runs and prints ``expected`` (a truncated build fails to exec or prints nothing)."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return False
    try:
        out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and expected in (out.stdout + out.stderr)


def _foreign_builds(target: Path) -> list[int]:
    """Pids of go commands (not ours) writing into ``target``: started by hand or by another checkout."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if len(words) >= 2 and Path(words[0]).name == "go" and words[1] in ("build", "install") \
                and any(str(target) in w for w in words):
            pids.append(int(proc.name))
    return pids


def _wait_foreign(target: Path, progress: Progress | None, what: str) -> None:
    pids = _foreign_builds(target)
    if not pids:
        return
    say(progress, f"waiting for a running build of {what} (pid {', '.join(map(str, pids))})")
    while _foreign_builds(target):
        time.sleep(2)


def _timed(argv: list[str]) -> list[str]:
    # GNU time's -v report (peak memory, wall clock) lands at the end of the build log
    return ["/usr/bin/time", "-v", *argv] if os.access("/usr/bin/time", os.X_OK) else argv


def _run_build(argv: list[str], *, log_file: Path, env: dict[str, str], cwd: Path | None, what: str,
               progress: Progress | None = None) -> float:
    code, took = _proc.run_logged(
        _timed(argv), log_file=log_file, env=env, cwd=cwd, progress=progress,
        still=lambda s: f"still building {what}: {s // 60}m{s % 60:02d}s so far (log: {log_file})")
    if code != 0:
        raise LocalEnvError(f"unable to build {what}: go exited {code}; its log ends with: "
                            f"{_proc.log_tail(log_file, 4)}", hint=f"read {log_file}")
    return took


def _scratch(final_dir: Path) -> Path:
    final_dir.parent.mkdir(parents=True, exist_ok=True)
    for old in final_dir.parent.glob(f".build-{final_dir.name}-*"):
        # left by a build that was killed; we hold the lock, so nobody else is using it
        shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f".build-{final_dir.name}-", dir=final_dir.parent))


def _install(built: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, final)  # same filesystem: atomic, a reader sees the old file or the whole new one


def _lock(name: str) -> Path:
    return paths.cache_root() / "locks" / f"{name}.lock"


def helm_reports_version(binary: Path, version: str = paths.HELM_VERSION) -> bool:
    return reports_version(binary, ["version", "--template", "{{ .Version }}"], version)


def ensure_helm(progress: Progress | None = None, *, version: str = paths.HELM_VERSION) -> Path:
    """helm built from its Go module at the pinned version (cached; built once, ~3 min cold on 2 cores)."""
    return _ensure_go_install("helm", version, paths.helm_binary(version), f"helm.sh/helm/v4/cmd/helm@{version}",
                              helm_ldflags(version), lambda binary: helm_reports_version(binary, version), progress)


def _ensure_go_install(name: str, version: str, binary: Path, package: str, ldflags: str,
                       works: Callable[[Path], bool], progress: Progress | None) -> Path:
    """``go install package`` into a scratch dir, checked by ``works``, then moved to ``binary`` (cached)."""
    def build(scratch: Path, log_file: Path) -> float:
        return _run_build([go(), "install", "-trimpath", "-ldflags", ldflags, package], log_file=log_file,
                          env=go_env(GOBIN=str(scratch)), cwd=Path(tempfile.gettempdir()), what=f"{name} {version}",
                          progress=progress)

    return _ensure_built(name, version, binary, works, build, progress)


def _ensure_built(name: str, version: str, binary: Path, works: Callable[[Path], bool],
                  build: Callable[[Path, Path], float], progress: Progress | None, *, expect: str = "") -> Path:
    """``binary`` when it works; else ``build(scratch, log_file)`` leaves ``scratch/name``, which must work too and
    is moved into place. One build at a time per name and version."""
    if works(binary):
        return binary
    with _proc.locked(_lock(f"{name}-{version}")):
        _wait_foreign(binary.parent, progress, f"{name} {version}")
        if works(binary):
            return binary
        if binary.exists():
            say(progress, f"{name} at {binary} does not report {version} (a half-finished build?): rebuilding")
            binary.unlink()
        log_file = paths.logs_dir() / f"{name}-{version}-build.log"
        scratch = _scratch(binary.parent)
        try:
            say(progress, f"building {name} {version} from its Go module ({expect + '; ' if expect else ''}"
                          f"log: {log_file})")
            took = build(scratch, log_file)
            if not works(scratch / name):
                raise LocalEnvError(f"unable to build {name} {version}: the built binary does not report it",
                                    hint=f"read {log_file}")
            _install(scratch / name, binary)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        say(progress, f"built {name} {version} in {took:.0f}s")
        return binary


def _control_plane_ok(directory: Path, version: str) -> dict[str, bool]:
    ok = {name: reports_version(directory / name, ["--version"], f"Kubernetes {version}") for name in CONTROL_PLANE}
    ok[ETCD] = reports_version(directory / ETCD, ["--version"], f"etcd Version: {paths.ETCD_VERSION.lstrip('v')}")
    return ok


def ensure_kubernetes(progress: Progress | None = None, *, version: str = paths.KUBERNETES_VERSION) -> Path:
    """kube-apiserver, kube-controller-manager, kube-scheduler and etcd built through the wrapper module."""
    directory = paths.kubernetes_dir(version)
    if all(_control_plane_ok(directory, version).values()):
        return directory
    with _proc.locked(_lock(f"kubernetes-{version}")):
        _wait_foreign(directory, progress, f"kubernetes {version}")
        ok = _control_plane_ok(directory, version)
        if all(ok.values()):
            return directory
        missing = [name for name, good in ok.items() if not good]
        for name in missing:
            if (directory / name).exists():
                say(progress, f"{directory / name} does not report its version (a half-finished build?): rebuilding")
                (directory / name).unlink()
        log_file = paths.logs_dir() / f"kubernetes-{version}-build.log"
        scratch = _scratch(directory)
        env = go_env()
        try:
            total = 0.0
            wanted = [name for name in CONTROL_PLANE if name in missing]
            if wanted:
                say(progress, f"building {', '.join(wanted)} {version} (10-20 min cold; log: {log_file})")
                total += _run_build(
                    [go(), "build", "-trimpath", "-ldflags", kubernetes_ldflags(version), "-o", f"{scratch}/",
                     *(f"k8s.io/kubernetes/cmd/{name}" for name in wanted)],
                    log_file=log_file, env=env, cwd=KUBERNETES_MODULE, what=f"kubernetes {version}",
                    progress=progress)
            if ETCD in missing:
                say(progress, f"building etcd {paths.ETCD_VERSION} (log: {log_file})")
                total += _run_build(
                    [go(), "build", "-trimpath", "-ldflags", "-s -w", "-o", str(scratch / ETCD),
                     "go.etcd.io/etcd/server/v3"],
                    log_file=log_file, env=env, cwd=KUBERNETES_MODULE, what=f"etcd {paths.ETCD_VERSION}",
                    progress=progress)
            built = _control_plane_ok(scratch, version)
            broken = [name for name in missing if not built[name]]
            if broken:
                raise LocalEnvError(f"unable to build {', '.join(broken)}: the built binaries do not report "
                                    f"{version}", hint=f"read {log_file}")
            for name in missing:
                _install(scratch / name, directory / name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        say(progress, f"built {', '.join(missing)} in {total:.0f}s")
        return directory


def ensure_kwok(progress: Progress | None = None, *, version: str = paths.KWOK_VERSION) -> Path:
    """kwok (fake nodes and pods) built from its Go module."""
    return _ensure_go_install("kwok", version, paths.kwok_binary(version), f"sigs.k8s.io/kwok/cmd/kwok@{version}",
                              kwok_ldflags(version),
                              lambda binary: reports_version(binary, ["--version"], version.lstrip("v")), progress)


def ensure_kustomize(progress: Progress | None = None, *, version: str = paths.KUSTOMIZE_VERSION) -> Path:
    """kustomize built from its Go module (chartify builds kustomization directories with it; ~1 min cold)."""
    return _ensure_go_install("kustomize", version, paths.kustomize_binary(version),
                              f"sigs.k8s.io/kustomize/kustomize/v5@{version}", "-s -w",
                              lambda binary: reports_version(binary, ["version"], version), progress)


def traefik_reports_version(binary: Path, version: str = paths.TRAEFIK_VERSION) -> bool:
    return reports_version(binary, ["version"], f"Version:      {version}")


def ensure_traefik(progress: Progress | None = None, *, version: str = paths.TRAEFIK_VERSION) -> Path:
    """Traefik built from its Go module (cached; ~10 min cold on 2 cores, 3.3 GB peak memory).

    Its go.mod has replace directives, so ``go install module@version`` refuses it: the build runs in a writable
    copy of the downloaded module tree (v3.7 also replaces a nested module the zip leaves out: it is supplied).
    """
    def build(scratch: Path, log_file: Path) -> float:
        source = scratch / "src"
        # the module cache is read-only; the copy must be writable (ext goes in, go may touch go.sum)
        shutil.copytree(module_dir(TRAEFIK_MODULE, version), source, copy_function=shutil.copyfile)
        for directory, _, _ in os.walk(source):
            os.chmod(directory, 0o755)
        ext = source / TRAEFIK_EXT_DIR
        if f"=> ./{TRAEFIK_EXT_DIR}" in (source / "go.mod").read_text() and not (ext / "go.mod").exists():
            ext.mkdir(parents=True, exist_ok=True)
            for name in ("go.mod", "ext.go"):
                shutil.copyfile(TRAEFIK_EXT / name, ext / name)
        return _run_build([go(), "build", "-trimpath", "-ldflags", traefik_ldflags(version), "-o",
                           str(scratch / "traefik"), "./cmd/traefik"],
                          log_file=log_file, env=go_env(), cwd=source, what=f"traefik {version}", progress=progress)

    return _ensure_built("traefik", version, paths.traefik_binary(version),
                         lambda binary: traefik_reports_version(binary, version), build, progress,
                         expect="~10 min cold")


def module_dir(module: str, version: str) -> Path:
    """A Go module's extracted source in GOMODCACHE (downloaded through the module proxy when missing)."""
    proc = subprocess.run([go(), "mod", "download", "-json", f"{module}@{version}"], capture_output=True, text=True,
                          env=go_env(), cwd=tempfile.gettempdir())
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = {}
    if proc.returncode != 0 or not info.get("Dir"):
        cause = info.get("Error") or proc.stderr.strip() or f"go exited {proc.returncode}"
        raise LocalEnvError(f'unable to download Go module "{module}@{version}": {cause}',
                            hint="check network access to the Go module proxy (GOPROXY)")
    return Path(info["Dir"])
