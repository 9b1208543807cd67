"""invoke tasks: setup, up/down/status, test, bench, package, publish, deploy, demo.

Every task runs a front door as a user would — the ``chartkit`` CLI (``python -m toolkit.cli``) or the demo
scenario (``python -m toolkit.scenario``) — with its arguments quoted by ``shlex.join``; no task holds a rule of
its own. A failure raises ``Exit`` with one line.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys

from invoke import Exit, task

PY = sys.executable
CHARTKIT = [PY, "-m", "toolkit.cli"]


def _chartkit(c, *args: str, what: str) -> None:
    """Run one chartkit command; its own one-line error is already on stderr when it fails."""
    if not c.run(shlex.join([*CHARTKIT, *args]), warn=True, pty=False).ok:
        raise Exit(f"unable to {what} (see above)", code=1)


# --- setup & tests ------------------------------------------------------------------------------------------

#: Debian packages the local environment runs, by the command each provides (chromium: the console's browser tests)
APT_PACKAGES = {"docker-registry": "docker-registry", "ip": "iproute2", "gpg": "gnupg", "chromium": "chromium",
                "chromedriver": "chromium-driver"}


@task(help={"apt": "also apt-get install the system packages (docker-registry, iproute2, gnupg, chromium) when "
                   "missing"})
def setup(c, apt=True):
    """Install chartkit and its Python dependencies (editable), the Debian packages the local env runs, and build
    the web console's front end (npm ci + vite, cached by its sources)."""
    # compat mode: a plain path entry instead of setuptools' import finder, which cost every command ~14 ms
    c.run(shlex.join([PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", ".[dev]",
                      "--config-settings", "editable_mode=compat"]))
    # an editable install compiles nothing; where PYTHONDONTWRITEBYTECODE is set, every chartkit run would then
    # recompile each module (0.07 s of a 0.13 s chartify): byte-compile once, as a regular pip install does
    c.run(shlex.join([PY, "-m", "compileall", "-q", "toolkit"]))
    missing = [package for command, package in APT_PACKAGES.items() if not shutil.which(command)]
    if apt and missing:
        sudo = "" if os.geteuid() == 0 else "sudo "
        c.run(f"{sudo}apt-get update -qq && DEBIAN_FRONTEND=noninteractive {sudo}apt-get install -y -qq "
              + shlex.join(missing))
    _chartkit(c, "console", "--build", what="build the console's front end")


@task(help={"k": "only tests matching this expression", "x": "stop at the first failure",
            "m": "only tests with this marker, e.g. reliability"})
def test(c, k="", x=False, m=""):
    """Run the whole test suite against real helm, the local registry and the local cluster."""
    args = [PY, "-m", "pytest", "-q"]
    if k:
        args += ["-k", k]
    if m:
        args += ["-m", m]
    if x:
        args.append("-x")
    c.run(shlex.join(args), pty=False)


# --- localenv -----------------------------------------------------------------------------------------------

@task(help={"cluster": "also start the local Kubernetes control plane, gateway and backends (default: yes)",
            "json": "print the environment as JSON afterwards"})
def up(c, cluster=True, json=False):
    """Build (first time: helm ~3 min, control plane 10-20 min, Traefik ~10 min) and start the local registry,
    cluster, gateway and backends."""
    _chartkit(c, "up", *([] if cluster else ["--no-cluster"]), *(["--json"] if json else []),
              what="bring the local environment up")


@task(help={"keep_data": "keep certificates, registry blobs and etcd data"})
def down(c, keep_data=False):
    """Stop the local registry and cluster (by pid) and remove their state."""
    _chartkit(c, "down", *(["--keep-data"] if keep_data else []), what="stop the local environment")


@task(help={"json": "machine-readable output"})
def status(c, json=False):
    """Show what runs where: helm, the registry, the cluster (same as `chartkit env`)."""
    _chartkit(c, "env", *(["--json"] if json else []), what="show the local environment")


# --- catalog ------------------------------------------------------------------------------------------------

def _chart_dirs(chart):
    from pathlib import Path

    if chart:
        return [Path(chart)]
    return sorted(p.parent for p in Path("charts").glob("*/Chart.yaml"))


@task(help={"chart": "chart directory (default: every chart under charts/)",
            "bump": "major|minor|patch|prerelease: next version after the catalog's highest",
            "version": "explicit version", "out": "output directory (default out/packages)",
            "sign_key": "GnuPG key to sign with (writes .prov)", "catalog": "oci://HOST/NAMESPACE"})
def package(c, chart="", bump="", version="", out="out/packages", sign_key="", catalog=""):
    """Lint and package charts reproducibly (same files → same bytes), checking versions against the catalog."""
    charts = _chart_dirs(chart)
    if not charts:
        raise Exit("unable to package: no chart given and no charts/*/Chart.yaml", code=1)
    for chart_dir in charts:
        args = [str(chart_dir), "-o", out]
        args += ["--bump", bump] if bump else (["--version", version] if version else [])
        args += ["--sign", "--key", sign_key] if sign_key else []
        args += ["--catalog", catalog] if catalog else []
        # shlex.join: chart paths with spaces and --key "Ops <ops@example.org>" reach the CLI as one argument
        _chartkit(c, "package", *args, what=f"package {chart_dir}")


@task(help={"catalog": "oci://HOST/PATH (default: CHARTKIT_CATALOG, .chartkit.yaml, user config, local)",
            "out": "directory of the packages to publish (default out/packages)",
            "chart": "chart directory to package first (default: every chart under charts/)",
            "bump": "major|minor|patch|prerelease", "version": "explicit version",
            "sign_key": "GnuPG key to sign with (writes .prov)"})
def publish(c, catalog="", out="out/packages", chart="", bump="", version="", sign_key=""):
    """Package (versions checked against the publish target), publish, and update repo-index/ with what landed."""
    import glob

    # not pre=[package]: that would check versions against the default catalog, not the one --catalog names
    package(c, chart=chart, bump=bump, version=version, out=out, sign_key=sign_key, catalog=catalog)
    packages = sorted(glob.glob(f"{glob.escape(out)}/*.tgz"))
    if not packages:
        raise Exit(f"unable to publish: no packages in {out}", code=1)
    _chartkit(c, "publish", *packages, *(["--catalog", catalog] if catalog else []),
              what="publish every package; re-run to finish")



# --- instances ----------------------------------------------------------------------------------------------

@task(help={"instance": "instance (release) name", "type": "catalog type, TYPE or TYPE@VERSION",
            "namespace": "namespace (default default)", "set": "K=V values (repeatable)",
            "values": "values files (repeatable)", "catalog": "oci://HOST/PATH (default: see chartkit install -h)"},
      iterable=["set", "values"])
def deploy(c, instance, type, namespace="default", set=None, values=None, catalog=""):  # noqa: A002 - flag names
    """Install the instance, or upgrade it to the asked (default newest) version of its type: `chartkit deploy`."""
    args = [instance, type, "-n", namespace]
    args += [arg for item in set or () for arg in ("--set", item)]
    args += [arg for item in values or () for arg in ("-f", item)]
    args += ["--catalog", catalog] if catalog else []
    _chartkit(c, "deploy", *args, what=f"deploy {type} as {namespace}/{instance}")


# --- demo & bench -------------------------------------------------------------------------------------------

@task(help={"examples": "the sample app's manifests (default examples/chat)", "work": "output directory"})
def demo(c, examples="examples/chat", work="out/demo"):
    """The story end to end on the local env: live app → chartify → publish → install → outdated → upgrade → drift.

    Builds what it needs first (helm, the control plane, kwok), with a progress line per build."""
    if not c.run(shlex.join([PY, "-m", "toolkit.scenario", "--examples", examples, "--work", work]), warn=True,
                 pty=False).ok:
        raise Exit("demo failed (see above)", code=1)


BENCHMARKS = ("chartify", "publish", "catalog_sync", "outdated", "upgrade", "gateway", "broker", "helm_parity",
              "rollout")


@task(help={"only": f"run one benchmark: {', '.join(BENCHMARKS)}"})
def bench(c, only=""):
    """Benchmarks against the named peers (helmify, a helm push loop, per-instance lookups, a helm upgrade loop,
    a backend called directly instead of through the gateway)."""
    if only and only not in BENCHMARKS:
        raise Exit(f"unknown benchmark {only!r}: choose one of {', '.join(BENCHMARKS)}", code=2)
    names = [only] if only else list(BENCHMARKS)
    for name in names:
        c.run(f"{PY} bench/bench_{name}.py", pty=False)
