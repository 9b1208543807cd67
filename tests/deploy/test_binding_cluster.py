"""Bindings of the sample chat type on the real local cluster: the Secret another namespace gets, and its removal."""

from __future__ import annotations

import base64
import json
import shutil
import uuid

import pytest

from toolkit.deploy import binding, instances
from toolkit.deploy.binding import BindOptions
from toolkit.deploy.config import Settings
from toolkit.deploy.instances import InstanceOptions
from toolkit.errors import DeployError

pytestmark = pytest.mark.cluster

CREDENTIALS = ("chat.secret.values.RABBITMQ_USER=chat-app", "chat.secret.values.RABBITMQ_PASSWORD=s3cr3t-Pw",
               "chat.secret.values.AMQP_URL=amqp://chat-app:s3cr3t-Pw@mq:5672/")


@pytest.fixture
def consumer(kube):
    name = f"t-{uuid.uuid4().hex[:8]}"
    kube.create_namespace(name)
    yield name
    kube.delete("v1", "Namespace", name, wait=False)


@pytest.fixture
def chat_with_secret(repo_root, tmp_path, catalog, publish_dir, cluster, namespace):
    settings = Settings(catalog, cluster.kubeconfig, cluster.context, "90s")
    chart = tmp_path / "chat"
    shutil.copytree(repo_root / "charts" / "chat", chart)
    publish_dir(chart, "1.0.0")
    # the release renders its own Secret chat-mq from these values
    instances.install(settings, "chat", "chat@1.0.0", InstanceOptions(
        namespace=namespace, set_strings=("chat.secret.existingSecret=", *CREDENTIALS)))
    return settings


def test_bind_copies_host_port_and_credentials_then_unbind(chat_with_secret, kube, namespace, consumer):
    made = binding.bind(chat_with_secret, "chat", BindOptions(namespace=namespace, to=consumer))
    assert (made.namespace, made.name, made.host, made.port) == (
        consumer, "chat-binding", f"chat.{namespace}.svc.cluster.local", 80)

    secret = kube.get("v1", "Secret", "chat-binding", consumer)
    source = kube.get("v1", "Secret", "chat-mq", namespace)
    assert secret["type"] == "servicebinding.io/chat"
    data = secret["data"]
    for key, value in source["data"].items():
        assert data[key] == value
    assert (data["username"], data["password"], data["uri"]) == (
        source["data"]["RABBITMQ_USER"], source["data"]["RABBITMQ_PASSWORD"], source["data"]["AMQP_URL"])
    plain = {k: base64.b64decode(data[k]).decode() for k in ("type", "provider", "host", "port")}
    svc = kube.get("v1", "Service", "chat", namespace)
    assert plain == {"type": "chat", "provider": "chartkit", "host": f"chat.{namespace}.svc.cluster.local",
                     "port": str(svc["spec"]["ports"][0]["port"])}

    listed = binding.bindings(chat_with_secret, "chat", namespace=namespace)
    assert [(b.namespace, b.name, b.source) for b in listed] == [(consumer, "chat-binding", f"{namespace}/chat-mq")]

    with pytest.raises(DeployError, match=f'no binding "{namespace}/chat-binding" of it'):
        binding.unbind(chat_with_secret, "chat", namespace=namespace, to=namespace)
    binding.unbind(chat_with_secret, "chat", namespace=namespace, to=consumer)
    assert kube.get("v1", "Secret", "chat-binding", consumer, missing_ok=True) is None
    assert binding.bindings(chat_with_secret, "chat", namespace=namespace) == []


def test_bind_cli_never_prints_credential_values(chat_with_secret, cluster, kube, namespace, consumer, capsys):
    from toolkit.cli import main

    common = ["-n", namespace, "--catalog", chat_with_secret.catalog.url, "--kubeconfig", str(cluster.kubeconfig),
              "--kube-context", cluster.context]
    assert main(["bind", "chat", "--to", consumer, "--name", "mq", *common]) == 0
    assert main(["bindings", "chat", "--json", *common]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t-Pw" not in out and base64.b64encode(b"s3cr3t-Pw").decode() not in out
    listed = json.loads(out[out.index("["):])
    assert listed[0]["name"] == "mq" and "password" in listed[0]["keys"]
    # a Secret of the same name that is not this instance's binding is refused, not overwritten
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "taken", "namespace": consumer},
                 "stringData": {"x": "y"}}])
    assert main(["bind", "chat", "--to", consumer, "--name", "taken", *common]) == 1
    assert "exists and is not this instance's binding" in capsys.readouterr().err
    assert main(["unbind", "chat", "--from", consumer, "--name", "mq", *common]) == 0
    assert kube.get("v1", "Secret", "mq", consumer, missing_ok=True) is None
