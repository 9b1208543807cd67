"""Pure parameterization rules: image references, keys, components and collisions."""

from __future__ import annotations

import pytest

from toolkit.chartify.params import build_model, camel, image_parts, image_ref
from toolkit.chartify.read import SourceObject

IMAGES = [
    pytest.param("nginx", {"registry": "", "repository": "nginx", "tag": "", "digest": ""}, id="no-tag"),
    pytest.param("nginx:1.25", {"registry": "", "repository": "nginx", "tag": "1.25", "digest": ""}, id="tag"),
    pytest.param("library/redis:7", {"registry": "", "repository": "library/redis", "tag": "7", "digest": ""},
                 id="hub-path"),
    pytest.param("localhost:5000/app", {"registry": "localhost:5000", "repository": "app", "tag": "", "digest": ""},
                 id="port-no-tag"),
    pytest.param("registry:5000/team/app:1.20",
                 {"registry": "registry:5000", "repository": "team/app", "tag": "1.20", "digest": ""},
                 id="port-and-numeric-tag"),
    pytest.param("gcr.io/p/app@sha256:" + "a" * 64,
                 {"registry": "gcr.io", "repository": "p/app", "tag": "", "digest": "sha256:" + "a" * 64},
                 id="digest-only"),
    pytest.param("quay.io:443/org/app:v2@sha256:" + "b" * 64,
                 {"registry": "quay.io:443", "repository": "org/app", "tag": "v2", "digest": "sha256:" + "b" * 64},
                 id="port-tag-and-digest"),
    pytest.param("localhost/app:dev", {"registry": "localhost", "repository": "app", "tag": "dev", "digest": ""},
                 id="localhost"),
]


@pytest.mark.parametrize(("ref", "parts"), IMAGES)
def test_image_references_split_and_reassemble_exactly(ref: str, parts: dict[str, str]) -> None:
    assert image_parts(ref) == parts
    assert image_ref(image_parts(ref)) == ref


@pytest.mark.parametrize(("name", "key"), [("redis-leader", "redisLeader"), ("web", "web"), ("api_v2", "apiV2"),
                                           ("2fa", "c2fa"), ("cart.service", "cartService"),
                                           ("global", "globalApp"), ("enabled", "enabledApp")])
def test_values_keys_are_camel_case_identifiers(name: str, key: str) -> None:
    assert camel(name) == key


def _deploy(name: str, labels: dict[str, str], image: str = "nginx:1") -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_services_join_the_workload_they_select_and_orphans_get_their_own_component() -> None:
    objects = [_deploy("api", {"app": "api"}),
               {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api-public"},
                "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}},
               {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "external-db"},
                "spec": {"type": "ExternalName", "externalName": "db.example.com"}}]
    model = build_model([SourceObject(o, "t", i) for i, o in enumerate(objects)], name="t", version="0.1.0",
                        app_version=None)
    assert model.components == {"api": ["Deployment/api", "Service/api-public"], "externalDb": ["Service/external-db"]}
    assert ("api", "service", "ports") in model.params
    assert ("externalDb", "service", "type") in model.params
    assert model.app_version == "1"


def test_a_key_collision_is_reported_and_never_merged() -> None:
    objects = [_deploy("web-app", {"app": "a"}, "nginx:1"), _deploy("web_app", {"app": "b"}, "nginx:2")]
    model = build_model([SourceObject(o, "t", i) for i, o in enumerate(objects)], name="t", version="0.1.0",
                        app_version=None)
    assert set(model.components) == {"webApp", "webApp2"}
    assert model.warnings == ["values key collision: Deployment/web_app maps to 'webApp', already taken by "
                              "Deployment/web-app; it gets webApp2 instead (rename it with an overrides file)"]
    assert model.params[("webApp", "image")].default["tag"] == "1"
    assert model.params[("webApp2", "image")].default["tag"] == "2"
    # two workloads with distinct names never share values keys
    assert model.params[("webApp", "replicaCount")] is not model.params[("webApp2", "replicaCount")]
