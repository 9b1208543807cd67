"""Install refuses bad values before any cluster call (real registry and helm; the cluster is unreachable)."""

from __future__ import annotations

import pytest

from toolkit.config import ClusterRef, Config
from toolkit.core.install import InstallOptions, ValuesInput, install
from toolkit.errors import ClusterError, InputError


@pytest.fixture
def no_cluster(tmp_path, catalog, helm_bin):
    """A configuration whose cluster cannot be reached: any cluster call would fail with a connection error."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("""apiVersion: v1
kind: Config
clusters: [{name: nowhere, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: nobody, user: {token: x}}]
contexts: [{name: nowhere, context: {cluster: nowhere, user: nobody}}]
current-context: nowhere
""")
    return Config(catalog, ClusterRef(kubeconfig, "nowhere"), helm_binary=helm_bin, timeout="20s")


@pytest.mark.parametrize(("sets", "message"), [
    (["image.registry=evil.example"],
     r'type "tiny@1.0.0": parameter image.registry is locked by the type owner \(fixed at "registry.example"\)'),
    # the value itself is never echoed: it may be a secret (issue 14)
    (["plan=huge"], r"parameter plan: the value is not one of \['small', 'large'\] \(rule: enum\)"),
    (["replicaCount=-1"], r"parameter replicaCount: the value is less than the minimum of 0 \(rule: minimum 0\)"),
], ids=["locked", "enum", "minimum"])
def test_install_refuses_values_before_any_cluster_call(no_cluster, publish_tiny, sets, message):
    publish_tiny("1.0.0")
    with pytest.raises(InputError, match=message):
        install(no_cluster, InstallOptions(instance="t1", type_ref="tiny", namespace="x",
                                           values=ValuesInput(sets=tuple(sets))))


def test_the_cluster_is_really_unreachable_so_the_refusals_came_first(no_cluster, publish_tiny):
    # valid values get past the checks and fail on the first cluster call: the refusals above made none
    publish_tiny("1.0.0")
    with pytest.raises(ClusterError, match=r'unable to list Secret in x: connection refused by https://127\.0\.0\.1:'):
        install(no_cluster, InstallOptions(instance="t1", type_ref="tiny", namespace="x"))
