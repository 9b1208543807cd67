"""Issue 14, items 8 and 10: emoji values reach helm; small leaks and silent choices are gone.

Before: ``--set chat.env.NODE_ENV=🚀`` failed (``found invalid Unicode character escape``); errors echoed secret input
(``parameter chat.secret.values.RABBITMQ_PASSWORD: 987654321012 is not of type 'string'``, ``unable to parse --set
"…RABBITMQ_PASSWORD=Pa55,w0rdXYZ"``); ``chat@`` meant newest and ``--catalog ''`` the default; a binary ``-f`` file
and a truncated package were ``unexpected error`` (exit 2); a dead kubeconfig server printed three urllib3 WARNING
lines; ``bind --secret sh.helm.release.v1.…`` copied Helm's release record to another namespace.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.reliability.harness import assert_sane, record, run_chartkit
from tests.reliability.scanner import needles
from toolkit.core.install import InstallOptions, install
from toolkit.objects import load_documents

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]


def test_emoji_values_reach_the_pods_as_with_plain_helm_set(chat_chart, publish_dir, kube, suite_namespace, cli_env,
                                                           tmp_path):
    ns = suite_namespace
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    run = run_chartkit(["install", "chat", "chat@1.0.0", "-n", ns, "--set", "chat.env.NODE_ENV=🚀 staging ✓",
                        "--timeout", "90s"], env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 8: install --set with emoji", run)
    assert run.code == 0, run.stderr
    dep = kube.get("apps/v1", "Deployment", "chat", ns)
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["NODE_ENV"] == "🚀 staging ✓"
    run = run_chartkit(["upgrade", "chat", "-n", ns, "--set", "chat.env.PORT=👋", "--timeout", "90s"], env=cli_env,
                       tmp_root=tmp_path)
    assert run.code == 0, run.stderr
    dep = kube.get("apps/v1", "Deployment", "chat", ns)
    env = {e["name"]: e.get("value") for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["NODE_ENV"], env["PORT"]) == ("🚀 staging ✓", "👋")


def test_value_errors_name_the_parameter_and_rule_never_the_secret(chat_chart, publish_dir, suite_namespace, cli_env,
                                                                  ledger, tmp_path):
    ns = suite_namespace
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    number = str(900_000_000_000 + int.from_bytes(os.urandom(3), "big"))
    ledger.secret_values.add(number)
    run = run_chartkit(["install", "chat", "chat@1.0.0", "-n", ns, "--set", "chat.secret.existingSecret=",
                        "--set", f"chat.secret.values.RABBITMQ_PASSWORD={number}"], env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 10: a password of the wrong type", run)
    assert run.code == 1 and "parameter chat.secret.values.RABBITMQ_PASSWORD: the value is not of type" in \
        run.error_lines[0], run.stderr
    assert number not in run.stderr + run.stdout

    password = ledger.secret("pa55")
    head, tail = password[:5], password[5:]
    run = run_chartkit(["install", "chat", "chat@1.0.0", "-n", ns, "--set",
                        f"chat.secret.values.RABBITMQ_PASSWORD={head},{tail}"], env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 10: a password with a comma in --set", run)
    assert run.code == 1 and '"chat.secret.values.RABBITMQ_PASSWORD=…": a "," in its value' in run.error_lines[0]
    for needle in needles(password) | {tail}:
        assert needle not in run.stderr + run.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["install", "web", "tiny@", "-n", "x"], 'unable to parse type "tiny@": nothing after "@"'),
    (["install", "web", "tiny", "-n", "x", "--catalog", ""], 'unable to use catalog "": --catalog is empty'),
], ids=["empty-version", "empty-catalog"])
def test_empty_version_and_catalog_are_refused_not_guessed(args, message, cli_env, tmp_path):
    run = run_chartkit(args, env=cli_env, tmp_root=tmp_path)
    record("issue 14", f"item 10: {' '.join(args[:3])} {args[-1]!r}", run)
    assert_sane(run)
    assert run.code == 1 and message in run.error_lines[0], run.stderr


def test_a_binary_values_file_is_one_line(tmp_path, cli_env, publish_tiny):
    publish_tiny("1.0.0")
    binary = tmp_path / "values.yaml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + os.urandom(4096))
    run = run_chartkit(["install", "web", "tiny", "-n", "x", "-f", str(binary)], env=cli_env, tmp_root=tmp_path)
    record("issue 14", "item 10: install -f a binary file", run)
    assert_sane(run)
    assert run.code == 1 and "not UTF-8 text" in run.error_lines[0], run.stderr


def test_a_dead_kubeconfig_server_is_one_line_without_library_warnings(tmp_path, cluster):
    dead = tmp_path / "dead-kubeconfig"
    config = load_documents(cluster.kubeconfig.read_text(), "kubeconfig")[0]
    for entry in config["clusters"]:
        entry["cluster"]["server"] = "https://127.0.0.1:9"  # nothing listens on the discard port
    dead.write_text(json.dumps(config))
    run = run_chartkit(["instances", "-A", "--no-outdated", "--kubeconfig", str(dead)], tmp_root=tmp_path)
    record("issue 14", "item 10: a kubeconfig whose server is dead", run)
    assert_sane(run)
    assert run.code == 1 and "connection refused by https://127.0.0.1:9" in run.error_lines[0], run.stderr
    assert "WARNING" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_bind_refuses_to_hand_over_helms_release_record(chat_chart, publish_dir, config, kube, suite_namespace,
                                                        cli_env, tmp_path):
    ns = suite_namespace
    publish_dir(chat_chart("1.0.0", "1.20"), "1.0.0")
    install(config, InstallOptions(instance="web", type_ref="chat@1.0.0", namespace=ns))
    consumer = f"{ns}-consumer"
    kube.create_namespace(consumer)
    ledger_ns = {consumer}
    try:
        run = run_chartkit(["bind", "web", "-n", ns, "--consumer-namespace", consumer, "--service", "chat",
                            "--secret", "sh.helm.release.v1.web.v1"], env=cli_env, tmp_root=tmp_path)
        record("issue 14", "item 10: bind --secret sh.helm.release.v1.…", run)
        assert run.code == 1 and "helm.sh/release.v1" in run.error_lines[0], run.stderr
        assert kube.list("v1", "Secret", consumer, selector="chartkit.io/binding-of") == []
    finally:
        for name in ledger_ns:
            kube.delete("v1", "Namespace", name, wait=False)
