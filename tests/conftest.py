"""Shared fixtures: real helm, the real local OCI registry and the real local Kubernetes control plane.

They come from toolkit.localenv and are session-scoped: built once (cached in ~/.cache/chartkit), started once.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not CORPUS.is_dir():
        message = f"the shared corpus is absent at {CORPUS}"
        if os.environ.get("CI"):  # CI runs with shared/ beside the clone: its absence is a failure there
            pytest.fail(message)
        pytest.skip(message)
    return CORPUS


# --- localenv: real helm, registry and cluster --------------------------------------------------------------

def pytest_collection_finish(session: pytest.Session) -> None:
    """Build what the selected tests need before any test runs: a cold build takes minutes, longer than a test's
    timeout, and its progress belongs on the terminal rather than hidden in a fixture."""
    needed = set()
    for item in session.items:
        names = set(getattr(item, "fixturenames", ()))
        if "helm_bin" in names:
            needed.add("helm")
        if "cluster" in names:
            needed.add("cluster")
        if "kustomize_bin" in names:
            needed.add("kustomize")
        if "gateway" in names:
            needed.add("gateway")
    if not needed:
        return
    from toolkit import localenv
    from toolkit.errors import LocalEnvError
    from toolkit.localenv import _build

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def progress(message: str) -> None:
        if reporter is not None:
            reporter.write_line(f"localenv: {message}")

    try:
        localenv.ensure_helm(progress)
        if "kustomize" in needed:
            localenv.ensure_kustomize(progress)
        if "cluster" in needed:
            _build.ensure_kubernetes(progress)
            _build.ensure_kwok(progress)
        if "gateway" in needed:
            _build.ensure_traefik(progress)
    except LocalEnvError as exc:
        progress(f"{exc} (the tests that need it will report it)")


def _absent(exc: Exception, *markers: str) -> None:
    """Skip when a tool is genuinely absent on a developer machine; CI (CI=1) must fail instead."""
    if not os.environ.get("CI") and any(marker in str(exc) for marker in markers):
        pytest.skip(str(exc))
    raise exc


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    """helm v4 (CHARTKIT_HELM, or the pinned build from its Go module; built on first use)."""
    from toolkit import localenv
    from toolkit.errors import LocalEnvError

    try:
        return localenv.ensure_helm()
    except LocalEnvError as exc:
        _absent(exc, "go command is not installed")
        raise


@pytest.fixture(scope="session")
def kustomize_bin() -> Path:
    """kustomize v5 (CHARTKIT_KUSTOMIZE, or the pinned build from its Go module; built on first use)."""
    from toolkit import localenv
    from toolkit.errors import LocalEnvError

    try:
        return localenv.ensure_kustomize()
    except LocalEnvError as exc:
        _absent(exc, "go command is not installed")
        raise


@pytest.fixture(scope="session")
def registry(helm_bin: Path):
    """The local OCI registry (TLS with the generated CA, htpasswd); reused across sessions."""
    from toolkit import localenv
    from toolkit.errors import LocalEnvError

    try:
        return localenv.start_registry()
    except LocalEnvError as exc:
        _absent(exc, "docker-registry is not installed")
        raise


@pytest.fixture(scope="session")
def cluster(helm_bin: Path):
    """The local Kubernetes control plane (etcd, apiserver, controller-manager, scheduler, kwok nodes)."""
    from toolkit import localenv
    from toolkit.errors import LocalEnvError

    try:
        return localenv.start_cluster()
    except LocalEnvError as exc:
        _absent(exc, "go command is not installed")
        raise


#: the pod range needs a local route once per boot (root or password-less sudo): absent on some dev machines
NO_POD_ROUTE = "local to this host"


@pytest.fixture(scope="session")
def gateway(cluster):
    """Traefik programming the shared Gateway (``gateway.parent_ref``) on the local cluster; real requests."""
    from toolkit import localenv
    from toolkit.errors import LocalEnvError

    try:
        return localenv.start_gateway()
    except LocalEnvError as exc:
        _absent(exc, "go command is not installed", NO_POD_ROUTE)
        raise


@pytest.fixture(scope="session")
def backends(cluster):
    """The harness answering for Ready pods labelled chartkit.io/backend (real HTTP on their pod IPs)."""
    from toolkit import localenv
    from toolkit.errors import LocalEnvError

    try:
        return localenv.start_backends()
    except LocalEnvError as exc:
        _absent(exc, NO_POD_ROUTE)
        raise


@pytest.fixture(scope="session")
def registry_helm(helm_bin: Path, registry):
    """A Helm wired to the local registry only (tests that need no cluster must not start one)."""
    from toolkit import localenv
    from toolkit.adapters.helm import Helm

    return Helm(localenv.helm_config(registry=registry))


@pytest.fixture(scope="session")
def local_helm(helm_bin: Path, registry, cluster):
    """A Helm wired to the local registry and the local cluster."""
    from toolkit import localenv
    from toolkit.adapters.helm import Helm

    return Helm(localenv.helm_config(registry=registry, cluster=cluster))


@pytest.fixture
def registry_repo(registry) -> str:
    """A registry repository path of its own for one test: ``oci://HOST/t-<uuid8>``."""
    return f"{registry.url}/t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kube(cluster):
    """The Kubernetes adapter on the local cluster."""
    from toolkit.adapters.kube import Kube

    return Kube(kubeconfig=cluster.kubeconfig, context=cluster.context)


@pytest.fixture
def namespace(kube) -> Iterator[str]:
    """A namespace of its own for one test, deleted afterwards (without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.create_namespace(name)
    yield name
    kube.delete("v1", "Namespace", name, wait=False)
