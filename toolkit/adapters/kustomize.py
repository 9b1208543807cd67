"""The one adapter over kustomize: find it, build a kustomization directory, map its failures to one line.

kustomize is found like helm: ``--kustomize PATH``, ``CHARTKIT_KUSTOMIZE``, ``kustomize`` on PATH, the kustomize
that ``kubectl`` embeds (``kubectl kustomize``), then a fallback binary the caller names (the front doors pass
the build ``invoke up`` caches; this module knows nothing of the local environment). It runs as an argument list,
never through a shell, and returns the built YAML stream as text.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple

from toolkit.errors import InputError, LocalEnvError

__all__ = ["KUSTOMIZATION_FILES", "Kustomize", "find_kustomize", "kustomization_file"]

log = logging.getLogger(__name__)

#: the file names kustomize recognizes as a kustomization, in its own order
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: a build that takes longer than this is stuck (remote bases on an unreachable host, a hung plugin)
BUILD_TIMEOUT_SECONDS = 300


def kustomization_file(directory: Path) -> Path | None:
    """The kustomization file that makes ``directory`` a kustomization, or None for a plain directory."""
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    return None


class Kustomize(NamedTuple):
    """A runnable kustomize: ``argv`` builds a directory given as its last argument."""

    argv: tuple[str, ...]
    source: str  # where it was found: --kustomize, CHARTKIT_KUSTOMIZE, PATH, kubectl, fallback

    @property
    def embedded(self) -> bool:
        """True for the kustomize inside kubectl (``kubectl kustomize DIR``)."""
        return self.argv[1] == "kustomize"

    def label(self) -> str:
        """How builds are made, for the user: ``kustomize v5.8.3 (/path, from PATH)``."""
        tool = "kubectl kustomize" if self.embedded else "kustomize"
        return f"{tool} {self.version()} ({self.argv[0]}, from {self.source})"

    def version(self) -> str:
        """kustomize's version (``v5.8.3``), or ``?`` when it does not say."""
        import subprocess  # here, not above: every directory source asks kustomization_file(), few run kustomize

        args = [self.argv[0], "version", "--client"] if self.embedded else [self.argv[0], "version"]
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        found = re.search(r"Kustomize Version:\s*(\S+)", out) or re.search(r"(v\d+\.\d+\.\d+\S*)", out)
        return found.group(1) if found else "?"

    def build(self, directory: Path) -> str:
        """``kustomize build DIRECTORY``: the objects as one multi-document YAML stream."""
        import subprocess

        argv = [*self.argv, str(directory)]
        log.info("running: %s", " ".join(argv))
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as exc:
            raise InputError(f'unable to build kustomization "{directory}": kustomize did not finish in '
                             f"{BUILD_TIMEOUT_SECONDS}s", hint="does it load remote bases from an unreachable host?"
                             ) from exc
        except OSError as exc:
            raise LocalEnvError(f'unable to run kustomize "{self.argv[0]}": {exc.strerror or exc}') from exc
        if proc.returncode != 0:
            raise InputError(f'unable to build kustomization "{directory}": {_cause(proc.stderr, proc.returncode)}',
                             hint=f"`{' '.join(argv)}` shows the same; fix the kustomization or the files it names")
        return proc.stdout


#: kubectl logs its failure klog-style: ``E1129 04:46:47.049487 10430 run.go:72] "command failed" err="..."``
_KLOG_ERR = re.compile(r'\berr="((?:[^"\\]|\\.)*)"')


def _cause(stderr: str, returncode: int) -> str:
    """kustomize's own reason on one line: its last ``Error:`` line (usage text after it is dropped)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith("error:") or _KLOG_ERR.search(ln)]
    cause = errors[-1] if errors else (lines[-1] if lines else f"kustomize exited {returncode}")
    klog = _KLOG_ERR.search(cause)
    if klog:
        return klog.group(1).replace('\\"', '"')
    return re.sub(r"^error:\s*", "", cause, flags=re.I)


def find_kustomize(explicit: str | os.PathLike[str] | None = None, *, fallback: Path | None = None) -> Kustomize:
    """Find kustomize: the flag, CHARTKIT_KUSTOMIZE, PATH, ``kubectl kustomize``, then ``fallback`` if it exists."""
    given = [("--kustomize", str(explicit) if explicit else None),
             ("CHARTKIT_KUSTOMIZE", os.environ.get("CHARTKIT_KUSTOMIZE"))]
    for source, candidate in given:
        if candidate:
            return Kustomize((_executable(Path(candidate), source), "build"), source)
    on_path = shutil.which("kustomize")
    if on_path:
        return Kustomize((on_path, "build"), "PATH")
    kubectl = shutil.which("kubectl")
    if kubectl:
        return Kustomize((kubectl, "kustomize"), "kubectl")
    if fallback is not None and fallback.exists():
        return Kustomize((_executable(fallback, "the local build"), "build"), "the local build")
    raise LocalEnvError(
        "unable to find kustomize: not given by --kustomize or CHARTKIT_KUSTOMIZE, neither kustomize nor kubectl "
        "is on PATH, and it is not built yet",
        hint="run `chartkit up` (builds kustomize from its Go module into ~/.cache/chartkit), install kustomize "
             "or kubectl, or pass --kustomize PATH")


def _executable(path: Path, source: str) -> str:
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise LocalEnvError(f'unable to use kustomize "{path}" (from {source}): not an executable file')
    return str(path)
