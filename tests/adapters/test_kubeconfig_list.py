"""KUBECONFIG=a:b is merged by the kubernetes client and helm, as kubectl does, not cut to its first file."""

from __future__ import annotations

import os

import pytest

from toolkit.config import resolve

pytestmark = pytest.mark.cluster

ELSEWHERE = """\
apiVersion: v1
kind: Config
clusters: [{name: elsewhere, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: elsewhere, user: {token: unused}}]
contexts: [{name: elsewhere, context: {cluster: elsewhere, user: elsewhere}}]
current-context: elsewhere
"""


def test_kubeconfig_list_reaches_a_context_of_the_second_file(tmp_path, monkeypatch, helm_bin, cluster,
                                                               namespace):
    first = tmp_path / "first"
    first.write_text(ELSEWHERE)
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{cluster.kubeconfig}")
    config = resolve(catalog="oci://unused.example/c", context=cluster.context, helm=helm_bin)
    assert config.cluster.kubeconfig is None  # the list is left to the clients, not cut to one path

    kube = config.kube()
    assert kube.server == cluster.server
    assert kube.get("v1", "Namespace", namespace, None)["metadata"]["name"] == namespace
    assert config.helm(registry=False).list_releases(namespace=namespace) == []
