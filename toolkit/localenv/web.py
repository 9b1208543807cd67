"""Builds a front end (the console's) with npm + vite into the cache, keyed by what it is built from.

``ensure_web_assets(source)`` answers ``$CHARTKIT_CACHE/web/<name>-<key>/dist`` where ``key`` hashes
``package-lock.json`` and every source file: the first call runs ``npm ci`` (its ``node_modules`` kept per lock
file, so a change to the sources alone does not download anything again) and ``npm run build`` on a copy of the
sources; later calls with the same sources return at once. Nothing is written into the source tree and nothing is
fetched at run time: the server serves the built files. As with the Go builds, the result is moved into place
only when complete, one build runs at a time per key, and each build leaves its log under ``logs/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from toolkit.errors import LocalEnvError
from toolkit.localenv import _proc, paths
from toolkit.localenv._proc import Progress, say

__all__ = ["NPM_HINT", "ensure_web_assets", "source_key"]

NPM_HINT = "install Node.js >= 20 with npm (Debian: apt-get install nodejs npm), or pass --assets DIR"
#: what a source tree holds that is not a source: installed modules and earlier builds
SKIPPED = ("node_modules", "dist", ".vite")


def _files(source: Path) -> list[Path]:
    out = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and not any(part in SKIPPED for part in rel.parts):
            out.append(rel)
    return out


def source_key(source: Path) -> str:
    """A hash of everything the build reads (paths and contents), 16 hex digits."""
    digest = hashlib.sha256()
    for rel in _files(source):
        digest.update(str(rel).encode() + b"\0" + (source / rel).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _npm() -> str:
    found = shutil.which("npm")
    if not found:
        raise LocalEnvError("unable to build the console's front end: the npm command is not installed",
                            hint=NPM_HINT)
    return found


def _run(argv: list[str], *, cwd: Path, log_file: Path, what: str, progress: Progress | None) -> None:
    env = {**os.environ, "NO_UPDATE_NOTIFIER": "1", "npm_config_fund": "false", "npm_config_audit": "false"}
    code, _ = _proc.run_logged(argv, log_file=log_file, env=env, cwd=cwd, progress=progress,
                               still=lambda s: f"still running {what}: {s}s so far (log: {log_file})")
    if code != 0:
        raise LocalEnvError(f"unable to build the console's front end: {what} exited {code}; its log "
                            f"ends with: {_proc.log_tail(log_file, 4)}", hint=f"read {log_file}")


def _modules(source: Path, name: str, log_file: Path, progress: Progress | None) -> Path:
    """``node_modules`` for the source's lock file: ``npm ci`` once per lock file."""
    lock = source / "package-lock.json"
    if not lock.is_file():
        raise LocalEnvError(f'unable to build the front end in "{source}": package-lock.json is missing',
                            hint="run npm install there once and commit the lock file")
    key = hashlib.sha256(lock.read_bytes() + (source / "package.json").read_bytes()).hexdigest()[:16]
    final = paths.cache_root() / "web" / "modules" / f"{name}-{key}"
    if (final / "node_modules" / ".package-lock.json").is_file():
        return final / "node_modules"
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{final.name}-", dir=final.parent))
    try:
        for file in ("package.json", "package-lock.json"):
            shutil.copy2(source / file, scratch / file)
        say(progress, f"installing the console's npm packages (npm ci; log: {log_file})")
        _run([_npm(), "ci", "--no-audit", "--no-fund"], cwd=scratch, log_file=log_file, what="npm ci",
             progress=progress)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return final / "node_modules"


def ensure_web_assets(source: Path, progress: Progress | None = None, *, name: str = "console") -> Path:
    """The built front end of ``source`` (a directory with package.json, package-lock.json and vite's config)."""
    source = source.resolve()
    key = source_key(source)
    final = paths.cache_root() / "web" / f"{name}-{key}"
    dist = final / "dist"
    if (dist / "index.html").is_file():
        os.utime(final)  # in use: not pruned
        return dist
    with _proc.locked(paths.cache_root() / "locks" / f"web-{name}-{key}.lock"):
        if (dist / "index.html").is_file():
            return dist
        log_file = paths.logs_dir() / f"web-{name}-{key}-build.log"
        started = time.monotonic()
        modules = _modules(source, name, log_file, progress)
        final.parent.mkdir(parents=True, exist_ok=True)
        for old in final.parent.glob(f".build-{final.name}-*"):
            shutil.rmtree(old, ignore_errors=True)  # left by a killed build; we hold the lock
        scratch = Path(tempfile.mkdtemp(prefix=f".build-{final.name}-", dir=final.parent))
        try:
            for rel in _files(source):
                (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / rel, scratch / rel)
            (scratch / "node_modules").symlink_to(modules, target_is_directory=True)
            say(progress, f"building the console's front end (vite build; log: {log_file})")
            _run([_npm(), "run", "build"], cwd=scratch, log_file=log_file, what="npm run build", progress=progress)
            if not (scratch / "dist" / "index.html").is_file():
                raise LocalEnvError("unable to build the console's front end: the build wrote no dist/index.html",
                                    hint=f"read {log_file}")
            final.mkdir(parents=True, exist_ok=True)
            os.replace(scratch / "dist", dist)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        say(progress, f"built the console's front end in {time.monotonic() - started:.0f}s ({dist})")
        _prune(final.parent, name, keep=final)
        return dist


def _prune(root: Path, name: str, *, keep: Path, days: float = 7.0) -> None:
    """Remove builds of a front end nobody used for ``days`` (each use touches its build): a build another
    checkout's server is serving right now is never that old."""
    cutoff = time.time() - days * 86400
    for old in root.glob(f"{name}-*"):
        if old.is_dir() and old != keep and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)
