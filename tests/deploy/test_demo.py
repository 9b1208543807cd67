"""The README's main job: the demo story runs end to end on the real local registry and cluster."""

from __future__ import annotations

import re
import uuid

import pytest

from toolkit.scenario import DemoOptions, run

pytestmark = pytest.mark.cluster


def test_demo_tells_the_story(repo_root, tmp_path, registry, cluster, kube):
    lines: list[str] = []
    app = f"chat-{uuid.uuid4().hex[:6]}"
    try:
        run(DemoOptions(examples=repo_root / "examples" / "chat", work=tmp_path, app_namespace=app),
            say=lines.append)
    finally:
        staging = re.search(r"instance (demo-\d+)/", lines[-1]) if lines else None
        made = [staging.group(1), f"{staging.group(1)}-osb", f"{staging.group(1)}-osb-mq"] if staging else []
        for namespace in [app, *made]:
            kube.delete("v1", "Namespace", namespace, wait=False)
    text = "\n".join(lines)
    assert "refused before touching the cluster: " in text and "parameter chat.image.registry is locked" in text
    assert "install demo-" in text and "chat 1.0.0 revision 1 deployed" in text
    assert "staging: 1.0.0 -> 1.1.0" in text
    assert "chat 1.1.0 revision 2 deployed (from 1.0.0)" in text
    assert 'resources.limits.cpu: changed "1" -> "2" by kubectl-edit' in text
    assert "env[name=DEBUG]: added" in text
    assert "[COMPLIANCE VIOLATION: locked parameter]" in text and "exit code 4" in text
    # through the broker: a RabbitMQ type, provision by plan, one bind call, a plan change
    assert "rabbitmq 1.0.0 published with" in text and "chat plans small, large" in text
    assert re.search(r"provisioned chat 1\.1\.0 plan small", text)
    assert re.search(r"provisioned rabbitmq 1\.0\.0 plan small", text)
    assert "(host, password, port, provider, type, uri, username) at /bindings/rabbitmq (SERVICE_BINDING_ROOT=/bindings)" \
        in text
    assert "plan large, 3 replicas" in text
    assert lines[-1].startswith("done: ")
