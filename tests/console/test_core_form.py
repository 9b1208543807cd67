"""core.form and core.describe against the real registry and cluster: what a form submits, what it refuses, how a
plan change carries the instance's own choices over, and a type's page data."""

from __future__ import annotations

import json

import pytest

from toolkit.errors import DeployError, InputError

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def config(console_catalog, cluster, chat_chart):
    from toolkit.config import ClusterRef, Config

    console_catalog.publish(chat_chart, "1.0.0")
    return Config(console_catalog.ref, ClusterRef(cluster.kubeconfig, cluster.context, "test"),
                  helm_binary=console_catalog.helm_bin, timeout="120s")


def _form(config, **options):
    from toolkit.core.form import FormOptions, deploy_form

    return deploy_form(config, FormOptions(type="chat", **options))


def test_a_form_submission_is_refused_before_anything_changes(config, namespace):
    from toolkit.core.form import SubmitOptions, check
    from toolkit.core.install import InstallOptions, install

    data = json.loads(json.dumps(_form(config, plan="large").spec.data))
    data["chat"]["replicaCount"] = 4
    with pytest.raises(InputError, match=r'plan "large" of "chat": parameter chat.replicaCount is locked by the plan'):
        check(config, SubmitOptions(instance="web", namespace=namespace, type="chat", plan="large", data=data))
    data["chat"]["replicaCount"] = -1
    with pytest.raises(InputError, match=r"parameter chat.replicaCount: the value is less than the minimum of 0 \(rule: minimum 0\)"):
        check(config, SubmitOptions(instance="web", namespace=namespace, type="chat", data=data))
    with pytest.raises(InputError, match='unable to use plan "huge"'):
        check(config, SubmitOptions(instance="web", namespace=namespace, type="chat", plan="huge", data={}))
    install(config, InstallOptions(instance="other", type_ref="chat", namespace=namespace))
    with pytest.raises(DeployError, match=f'unable to deploy chatroom as "{namespace}/other": the instance is chat'):
        check(config, SubmitOptions(instance="other", namespace=namespace, type="chatroom", data={}))


def test_changing_plan_keeps_the_instances_own_choices_and_takes_the_new_plans_values(config, namespace):
    from toolkit.core.form import SubmitOptions, check, submit
    from toolkit.core.instances import InstancesOptions, instances
    from toolkit.deploy.release import serving_values

    small = json.loads(json.dumps(_form(config).spec.data))
    assert small["chat"]["replicaCount"] == 1  # the default plan's value
    small["chat"]["env"]["NODE_ENV"] = "staging"
    checked = check(config, SubmitOptions(instance="web", namespace=namespace, type="chat", data=small))
    assert (checked.action, checked.plan) == ("install", "small")
    assert submit(config, checked).status == "deployed"

    large = _form(config, instance="web", namespace=namespace, plan="large")
    assert (large.plan, large.instance["name"]) == ("large", "web")
    assert large.spec.data["chat"]["replicaCount"] == 3 and large.spec.data["chat"]["env"]["NODE_ENV"] == "staging"
    checked = check(config, SubmitOptions(instance="web", namespace=namespace, type="chat", plan="large",
                                          data=large.spec.data))
    assert checked.action == "upgrade"
    assert submit(config, checked).revision == 2
    assert serving_values(config, "web", namespace) == {"chat": {
        "replicaCount": 3, "autoscaling": {"enabled": False}, "env": {"NODE_ENV": "staging"}}}
    [inst] = [i for i in instances(config, InstancesOptions(namespace=namespace)) if i.name == "web"]
    assert inst.labels["chartkit.io/plan"] == "large"


def test_a_types_page_data_comes_from_its_package(config):
    from toolkit.core.describe import DescribeOptions, catalog_types, describe

    view = describe(config, DescribeOptions(type="chat"))
    assert (view.version, view.versions) == ("1.0.0", [{"version": "1.0.0", "deprecated": False, "prerelease": False}])
    assert view.entry["manifestDigest"] == view.digest and view.entry["signed"] is False
    assert "# chat" in view.readme
    params = {p["name"]: p for p in view.parameters}
    assert params["chat.image.tag"]["locked"] and "pinned by the platform team" in params["chat.image.tag"]["reason"]
    assert params["chat.service.type"]["enum"] == ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
    assert [p["name"] for p in view.declarations["plans"]] == ["small", "large"]
    assert {o["key"]: o for o in view.declarations["outputs"]}["password"] == {
        "key": "password", "sensitive": True, "secret": "chat-mq", "secretKey": "RABBITMQ_PASSWORD"}
    listed = catalog_types(config, search="cha")
    assert [t["type"] for t in listed.types] == ["chat"]


def test_a_sensitive_output_never_shows_its_value():
    from toolkit.catalog.declarations import load_declarations
    from toolkit.core.describe import public_declarations

    decl = load_declarations("apiVersion: chartkit.dev/v1\nkind: TypeDeclarations\nbinding:\n  outputs:\n    token: {value: s3cret-literal, secretValue: true}\n"
                             "    mode: {value: fast}\n", "test")
    shown = {o["key"]: o for o in public_declarations(decl)["outputs"]}
    assert shown["token"] == {"key": "token", "sensitive": True}
    assert shown["mode"]["value"] == "fast"
