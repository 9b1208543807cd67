"""The standing reliability suite: faults, concurrency, hostile input, and the issue-14 regressions.

Every case is recorded in ``ledger.LEDGER``; after the session the secrets scanner looks for every secret value
the suite used in everything chartkit wrote (``scanner.py``): a hit fails the session. The totals per area are
printed at the end and written to ``$CHARTKIT_RELIABILITY_REPORT`` (default: a JSON file in the temp dir).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.deploy.conftest import (catalog, chat_chart, config, publish_chart, publish_dir,  # noqa: F401
                                   publish_tiny, tiny_chart, write_tiny_chart)
from tests.reliability.ledger import LEDGER

_REPORT: dict[str, object] = {}


@pytest.fixture
def ledger():
    return LEDGER


@pytest.fixture
def suite_namespace(kube) -> Iterator[str]:
    """A namespace of its own for one case, whose Events and releases the scanner reads at the end."""
    name = f"rel-{uuid.uuid4().hex[:8]}"
    kube.create_namespace(name)
    LEDGER.namespaces.add(name)
    _REPORT.setdefault("kube", (kube.kubeconfig, kube.context))
    yield name
    # the scanner reads it after the session; the namespace goes then (pytest_sessionfinish)


@pytest.fixture
def cli_env(catalog, cluster, registry, helm_bin) -> dict[str, str]:
    """What a user's shell would hold to reach the test's catalog and the local cluster (flags stay explicit).

    The credentials it stands for are secrets the scanner looks for too: the registry's password and a line of
    the cluster admin's private key."""
    LEDGER.secret_values.add(registry.password)
    LEDGER.secret_values.update(_key_lines(cluster.kubeconfig))
    return {"CHARTKIT_CATALOG": str(catalog.url), "KUBECONFIG": str(cluster.kubeconfig),
            "CHARTKIT_REGISTRY_CA": str(registry.ca_file), "HELM_REGISTRY_CONFIG": str(registry.registry_config),
            "CHARTKIT_HELM": str(helm_bin)}


def _key_lines(kubeconfig: Path) -> set[str]:
    """A line from the middle of the kubeconfig user's client key PEM (unique to it, whatever surrounds it)."""
    import base64

    from toolkit.objects import load_documents

    config = load_documents(kubeconfig.read_text(), "kubeconfig")[0]
    found = set()
    for user in config.get("users") or []:
        data = (user.get("user") or {}).get("client-key-data")
        if data:
            lines = base64.b64decode(data).decode().splitlines()
            found.add(lines[len(lines) // 2])
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not LEDGER.cases and not LEDGER.secret_values:
        return
    from tests.reliability.scanner import scan

    kube = None
    if "kube" in _REPORT:
        from toolkit.adapters.kube import Kube

        kubeconfig, context = _REPORT["kube"]  # type: ignore[misc]
        kube = Kube(kubeconfig, context)
    hits = scan(LEDGER, kube)
    _REPORT["leaks"] = [str(h) for h in hits]
    report = Path(os.environ.get("CHARTKIT_RELIABILITY_REPORT")
                  or Path(tempfile.gettempdir()) / f"chartkit-reliability-{os.getpid()}.json")
    LEDGER.write(report, _REPORT["leaks"])  # type: ignore[arg-type]
    _REPORT["path"] = report
    if kube is not None:
        for ns in LEDGER.namespaces:
            kube.delete("v1", "Namespace", ns, wait=False)
    if hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not LEDGER.cases:
        return
    write = terminalreporter.write_line
    terminalreporter.section("reliability")
    for area, row in LEDGER.totals().items():
        left = row.pop("left for a human")
        write(f"{area}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
        for state in left:
            write(f"    left for a human: {state}")
    leaks = _REPORT.get("leaks") or []
    write(f"secrets leaked: {len(leaks)} (scanned {len(LEDGER.secret_values)} secret values in "
          f"{len(LEDGER.outputs)} outputs, {len(LEDGER.scan_dirs)} dirs, {len(LEDGER.namespaces)} namespaces)")
    for leak in leaks:
        write(f"    LEAK: {leak}")
    if "path" in _REPORT:
        write(f"report: {_REPORT['path']}")
