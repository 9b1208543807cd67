"""The CLI side of the same operations: ``chartkit provision/update/provisioned/bind --workload/deprovision``,
recorded where a broker sees them; and a broker serving TLS with a certificate it is given."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

from tests.broker.conftest import API, PASSWORD, USER

pytestmark = pytest.mark.cluster


def test_cli_provision_update_and_a_broker_sees_the_same_instance(mq_catalog, start_broker, cluster, kube, namespace,
                                                                  state_namespace, capsys):
    from toolkit.cli import main

    common = ["-n", namespace, "--catalog", str(mq_catalog.url), "--ca-file", str(mq_catalog.ca_file),
              "--registry-config", str(mq_catalog.registry_config), "--kubeconfig", str(cluster.kubeconfig),
              "--kube-context", cluster.context, "--state-namespace", state_namespace, "--timeout", "90s"]
    assert main(["provision", "staging", "mq", "--plan", "small", "--set", "auth.username=intern", *common]) == 0
    assert "provision succeeded" in capsys.readouterr().out
    assert main(["provision", "staging", "mq", "--plan", "small", "--set", "replicaCount=4", *common]) == 1
    assert "locked by the plan" in capsys.readouterr().err
    assert main(["update", "staging", "--plan", "large", "--json", *common]) == 0
    made = json.loads(capsys.readouterr().out)
    assert (made["plan"], made["operation"]["kind"], made["operation"]["state"]) == ("large", "update", "succeeded")
    assert kube.get("apps/v1", "Deployment", "staging", namespace)["spec"]["replicas"] == 3
    assert main(["provisioned", "--json", *common]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["name"], listed["plan"], listed["id"]) == ("staging", "large", f"{namespace}.staging")

    # a broker serves what the CLI provisioned: the same records, the same plan ids
    broker = start_broker(mq_catalog)
    with broker.client() as http:
        fetched = http.get(f"/v2/service_instances/{namespace}.staging")
        plans = http.get("/v2/catalog").json()["services"][0]["plans"]
    assert fetched.status_code == 200
    assert fetched.json()["plan_id"] == made["planId"] == next(p["id"] for p in plans if p["name"] == "large")

    consumer = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}
    kube.apply([consumer], namespace, field_manager="kubectl")
    assert main(["bind", "staging", "--consumer-namespace", namespace, "--name", "mq", "--workload", "Deployment/web",
                 *[a for a in common if a not in ("--timeout", "90s")]]) == 0
    out = capsys.readouterr().out
    assert "projected into Deployment/web at /bindings/mq" in out
    spec = kube.get("apps/v1", "Deployment", "web", namespace)["spec"]["template"]["spec"]
    assert spec["volumes"][0]["secret"]["secretName"] == "mq"
    assert main(["deprovision", "staging", *common]) == 0
    assert "deprovision succeeded" in capsys.readouterr().out
    assert kube.get("apps/v1", "Deployment", "staging", namespace, missing_ok=True) is None
    assert main(["provisioned", "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_broker_serves_tls_with_the_certificate_it_is_given(mq_catalog, start_broker, tmp_path):
    from toolkit.localenv._pki import KeyPair, ensure_ca, ensure_cert

    ca = ensure_ca(tmp_path / "ca")
    pair = ensure_cert(ca, KeyPair(tmp_path / "tls.crt", tmp_path / "tls.key"), common_name="broker",
                       hosts=["127.0.0.1", "localhost"])
    broker = start_broker(mq_catalog, tls=(pair.cert, pair.key))
    assert broker.url.startswith("https://")
    with httpx.Client(base_url=broker.url, auth=(USER, PASSWORD), headers=API,
                      verify=ssl.create_default_context(cafile=str(ca.cert))) as http:
        assert http.get("/v2/catalog").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{broker.url}/v2/catalog")  # not trusted without the CA
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(broker.url.replace("https://", "http://") + "/v2/catalog")
