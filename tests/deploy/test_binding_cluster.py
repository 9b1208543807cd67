"""Bindings of the sample chat type on the real local cluster: the Secret another namespace gets, and its removal."""

from __future__ import annotations

import base64
import json
import shutil
import uuid

import pytest

from toolkit.core.bind import BindingRef, BindOptions, bind, bindings, unbind
from toolkit.core.install import InstallOptions, ValuesInput, install
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
def chat_with_secret(repo_root, tmp_path, config, publish_dir, namespace):
    chart = tmp_path / "chat"
    shutil.copytree(repo_root / "charts" / "chat", chart)
    publish_dir(chart, "1.0.0")
    # the release renders its own Secret chat-mq from these values
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=namespace,
                                   values=ValuesInput(set_strings=("chat.secret.existingSecret=", *CREDENTIALS))))
    return config


def test_bind_copies_host_port_and_credentials_then_unbind(chat_with_secret, kube, namespace, consumer):
    made = bind(chat_with_secret, BindOptions(instance="chat", namespace=namespace, consumer_namespace=consumer))
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

    listed = bindings(chat_with_secret, BindingRef(instance="chat", namespace=namespace))
    assert [(b.namespace, b.name, b.source) for b in listed] == [(consumer, "chat-binding", f"{namespace}/chat-mq")]

    with pytest.raises(DeployError, match=f'no binding "{namespace}/chat-binding" of it'):
        unbind(chat_with_secret, BindingRef(instance="chat", namespace=namespace, consumer_namespace=namespace))
    unbind(chat_with_secret, BindingRef(instance="chat", namespace=namespace, consumer_namespace=consumer))
    assert kube.get("v1", "Secret", "chat-binding", consumer, missing_ok=True) is None
    assert bindings(chat_with_secret, BindingRef(instance="chat", namespace=namespace)) == []


def test_bind_cli_never_prints_credential_values(chat_with_secret, cluster, kube, namespace, consumer, capsys):
    from toolkit.cli import main

    common = ["-n", namespace, "--catalog", str(chat_with_secret.catalog.url), "--kubeconfig", str(cluster.kubeconfig),
              "--kube-context", cluster.context]
    assert main(["bind", "chat", "--consumer-namespace", consumer, "--name", "mq", *common]) == 0
    assert main(["bindings", "chat", "--json", *common]) == 0
    out = capsys.readouterr().out
    assert "s3cr3t-Pw" not in out and base64.b64encode(b"s3cr3t-Pw").decode() not in out
    listed = json.loads(out[out.index("["):])
    assert listed[0]["name"] == "mq" and "password" in listed[0]["keys"]
    # a Secret of the same name that is not this instance's binding is refused, not overwritten
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "taken", "namespace": consumer},
                 "stringData": {"x": "y"}}])
    assert main(["bind", "chat", "--consumer-namespace", consumer, "--name", "taken", *common]) == 1
    assert "exists and is not this instance's binding" in capsys.readouterr().err
    assert main(["unbind", "chat", "--consumer-namespace", consumer, "--name", "mq", *common]) == 0
    assert kube.get("v1", "Secret", "mq", consumer, missing_ok=True) is None
