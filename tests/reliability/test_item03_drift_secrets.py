"""Issue 14, item 3: drift never prints a Secret's values — it says which key changed, who changed it and when.

Before: ``data.RABBITMQ_PASSWORD: changed "UzNj…" -> "TjN3…"`` in the text output and both values in ``--json``.
"""

from __future__ import annotations

import base64
import json

import pytest

from tests.reliability.harness import assert_sane, record, run_chartkit
from tests.reliability.scanner import needles

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]


def test_drift_names_the_secret_key_who_and_when_never_the_value(chat_chart, publish_dir, kube, suite_namespace,
                                                                  cli_env, ledger, tmp_path):
    ns = suite_namespace
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    old, new = ledger.secret("mqpass"), ledger.secret("mqpass")
    values = tmp_path / "secret-values.yaml"  # the chart creates the Secret from these (existingSecret empty)
    values.write_text(json.dumps({"chat": {"secret": {"existingSecret": "", "values": {
        "RABBITMQ_USER": "chat", "RABBITMQ_PASSWORD": old, "AMQP_URL": f"amqp://chat:{old}@mq:5672/"}}}}))
    values.chmod(0o600)
    run = run_chartkit(["install", "chat", "chat@1.0.0", "-n", ns, "-f", str(values), "--timeout", "90s"],
                       env=cli_env, tmp_root=tmp_path)
    assert run.code == 0, run.stderr
    # someone rotates the password behind the chart's back
    kube.patch("v1", "Secret", "chat-mq", ns, {"data": {"RABBITMQ_PASSWORD": base64.b64encode(new.encode()).decode()}},
               field_manager="kubectl-edit")

    text = run_chartkit(["drift", "chat", "-n", ns], env=cli_env, tmp_root=tmp_path)
    as_json = run_chartkit(["drift", "chat", "-n", ns, "--json"], env=cli_env, tmp_root=tmp_path)
    for name, result in (("text", text), ("json", as_json)):
        record("issue 14", f"item 3: drift of an edited Secret ({name})", result, outcome="success")
        assert_sane(result)
        assert result.code == 3, result.stderr
    line = next(ln for ln in text.stdout.splitlines() if "data.RABBITMQ_PASSWORD" in ln)
    assert "Secret/" in line and "chat-mq" in line and "(a Secret value, not shown) by kubectl-edit at " in line
    change = next(c for c in json.loads(as_json.stdout)["changes"] if c["field"] == "data.RABBITMQ_PASSWORD")
    assert (change["old"], change["new"], change["hidden"], change["manager"]) == (None, None, True, "kubectl-edit")
    for secret in (old, new):
        for needle in needles(secret):
            assert needle not in text.stdout + text.stderr + as_json.stdout + as_json.stderr
