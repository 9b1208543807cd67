"""The sample chat type (charts/chat, made by chartify) through its whole life on the real cluster."""

from __future__ import annotations

import pytest

from toolkit.core.history import HistoryOptions, history
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.core.rollback import RollbackOptions, rollback
from toolkit.core.uninstall import UninstallOptions, uninstall
from toolkit.core.upgrade import UpgradeOptions, upgrade

pytestmark = pytest.mark.cluster


def _running(kube, namespace):
    dep = kube.wait_deployment_available("chat", namespace, timeout=90)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    return container["image"].rsplit(":", 1)[1], {e["name"]: e.get("value") for e in container.get("env", [])}


def test_chat_install_upgrade_values_upgrade_version_rollback_uninstall(repo_root, chat_chart, config, publish_dir,
                                                                          kube, namespace):
    if not (repo_root / "charts" / "chat" / "Chart.yaml").is_file():
        pytest.fail("charts/chat is missing: chartify examples/chat --name chat -o charts/chat makes it")
    d1 = publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")

    assert install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=namespace)).revision == 1
    assert _running(kube, namespace)[0] == "1.20"

    r = upgrade(config, UpgradeOptions(instance="chat", namespace=namespace,
                                       values=ValuesInput(sets=("chat.env.NODE_ENV=staging",))))
    assert (r.revision, r.version) == (2, "1.0.0")
    assert _running(kube, namespace)[1]["NODE_ENV"] == "staging"

    d2 = publish_dir(chat_chart("1.1.0", "1.21"), "1.1.0")
    r = upgrade(config, UpgradeOptions(instance="chat", namespace=namespace, version="1.1.0"))
    assert (r.revision, r.version, r.digest) == (3, "1.1.0", d2)
    assert _running(kube, namespace) == ("1.21", {**_running(kube, namespace)[1], "NODE_ENV": "staging"})

    r = rollback(config, RollbackOptions(instance="chat", namespace=namespace))
    assert (r.revision, r.version, r.digest) == (4, "1.0.0", d1)
    assert _running(kube, namespace)[0] == "1.20"
    assert [(h.version, h.digest) for h in history(config, HistoryOptions(instance="chat", namespace=namespace))] == [
        ("1.0.0", d1), ("1.0.0", d1), ("1.1.0", d2), ("1.0.0", d1)]

    uninstall(config, UninstallOptions(instance="chat", namespace=namespace))
    assert kube.get("apps/v1", "Deployment", "chat", namespace, missing_ok=True) is None
