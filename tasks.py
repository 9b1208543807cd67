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


# --- catalog ------------------------------------------------------------------------------------------------


# --- instances ----------------------------------------------------------------------------------------------


# --- demo & bench -------------------------------------------------------------------------------------------
