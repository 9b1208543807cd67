"""The README's first command on a newcomer's machine: an empty chartkit cache, no helm anywhere.

It must build everything the demo needs (helm, the control plane, kwok) with a progress line per build, then tell
the story to the end. Only Go's module and build caches are shared with this machine's (so the builds relink
rather than recompile from scratch: minutes, not the 10–20 minutes of a cold machine); chartkit's cache, its
state (registry, cluster, ports) and its built binaries are new and empty.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.fresh
@pytest.mark.timeout(2400)
def test_demo_builds_everything_it_needs_from_an_empty_cache(tmp_path, helm_bin):
    from toolkit.localenv import paths

    shared_go = paths.go_env()  # this machine's Go caches (warm: the session fixtures built with them)
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHARTKIT_", "KUBECONFIG"))}
    env.update(CHARTKIT_CACHE=str(cache), GOMODCACHE=shared_go["GOMODCACHE"], GOCACHE=shared_go["GOCACHE"],
               PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                    if not (Path(p) / "helm").exists()))
    assert shutil.which("helm", path=env["PATH"]) is None
    try:
        proc = subprocess.run([sys.executable, "-m", "invoke", "demo", "--work", str(tmp_path / "work")], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=2300)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        for built in ("building helm", "building kube-apiserver", "building kwok"):
            assert built in out, f"no progress line {built!r}:\n{out[-3000:]}"
        assert "(log: " in out
        assert (cache / "bin").is_dir() and any((cache / "bin").glob("helm-*/helm"))
        assert "done: catalog" in out, out[-3000:]
    finally:
        subprocess.run([sys.executable, "-m", "toolkit.cli", "down"], cwd=REPO, env=env, capture_output=True,
                       timeout=120)
