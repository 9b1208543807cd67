"""invoke tasks: setup, up/down/status, test, bench, package, publish, deploy, demo.

Tasks only parse arguments and call chartkit's core (or its CLI); failures raise ``Exit`` with one line.
"""

from __future__ import annotations

import os
import sys

from invoke import Exit, task

PY = sys.executable


# --- setup & tests ------------------------------------------------------------------------------------------

@task(help={"apt": "also apt-get install the system packages (docker-registry) when missing"})
def setup(c, apt=True):
    """Install chartkit and its Python dependencies (editable), plus Debian's docker-registry."""
    c.run(f"{PY} -m pip install --quiet --disable-pip-version-check -e '.[dev]'")
    if apt and not os.path.exists("/usr/bin/docker-registry"):
        c.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry")


@task(help={"k": "only tests matching this expression", "x": "stop at the first failure"})
def test(c, k="", x=False):
    """Run the whole test suite against real helm, the local registry and the local cluster."""
    args = ["-q"]
    if k:
        args += ["-k", repr(k)]
    if x:
        args.append("-x")
    c.run(f"{PY} -m pytest {' '.join(args)}", pty=False)


# --- localenv -----------------------------------------------------------------------------------------------

@task(help={"cluster": "also start the local Kubernetes control plane (default: yes)",
            "json": "print the environment as JSON afterwards"})
def up(c, cluster=True, json=False):
    """Build (first time: helm ~3 min, control plane 10-20 min) and start the local registry and cluster."""
    args = ([] if cluster else ["--no-cluster"]) + (["--json"] if json else [])
    if not c.run(f"{PY} -m toolkit.cli up {' '.join(args)}", warn=True, pty=False).ok:
        raise Exit("unable to bring the local environment up (see above)", code=1)


@task(help={"keep_data": "keep certificates, registry blobs and etcd data"})
def down(c, keep_data=False):
    """Stop the local registry and cluster (by pid) and remove their state."""
    c.run(f"{PY} -m toolkit.cli down {'--keep-data' if keep_data else ''}", pty=False)


@task(help={"json": "machine-readable output"})
def status(c, json=False):
    """Show what runs where: helm, the registry, the cluster (same as `chartkit env`)."""
    c.run(f"{PY} -m toolkit.cli env {'--json' if json else ''}", pty=False)


# --- catalog ------------------------------------------------------------------------------------------------


# --- instances ----------------------------------------------------------------------------------------------


# --- demo & bench -------------------------------------------------------------------------------------------
