"""Pure parameterization rules: image references, keys, components, collisions, and one case per kind rule."""

from __future__ import annotations

import pytest

from toolkit.chartify.params import KIND_RULES, Fields, Join, KindRule, build_model, camel, image_parts, image_ref
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


# -- the kind rules: one case per entry of KIND_RULES ------------------------------------------------------------

def _obj(kind: str, name: str, api: str = "v1", **body) -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, **body}


def _web(kind: str = "Deployment", api: str = "apps/v1") -> dict:
    pod = {"metadata": {"labels": {"app": "web"}},
           "spec": {"serviceAccountName": "web-sa", "containers": [{
               "name": "c", "image": "nginx:1", "envFrom": [{"configMapRef": {"name": "web-config"}},
                                                            {"secretRef": {"name": "web-creds"}}]}],
               "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "web-data"}}]}}
    spec = {"template": pod} if kind in ("DaemonSet", "Job") else {"replicas": 2, "template": pod}
    if kind == "CronJob":
        spec = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": pod}}}
    elif kind != "Job":
        spec["selector"] = {"matchLabels": {"app": "web"}}
    return _obj(kind, "web", api, spec=spec)


#: per rule: the objects besides the workload ``web``, the object the case is about, the component it must join,
#: a values path the rule exposes, and whether the template is conditional on a value
RULE_CASES = {
    **{kind: ([], f"{kind}/web", "web", ("web", "image"), False)
       for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")},
    "Secret": ([_obj("Secret", "web-creds", data={"PASSWORD": "cHc="})], "Secret/web-creds", "web",
               ("web", "secret", "existingSecret"), True),
    "ConfigMap": ([_obj("ConfigMap", "web-config", data={"a": "1"})], "ConfigMap/web-config", "web",
                  ("web", "config"), False),
    "PersistentVolumeClaim": ([_obj("PersistentVolumeClaim", "web-data", spec={
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})],
        "PersistentVolumeClaim/web-data", "web", ("web", "persistence", "size"), False),
    "ServiceAccount": ([_obj("ServiceAccount", "web-sa")], "ServiceAccount/web-sa", "web",
                       ("web", "serviceAccount", "create"), True),
    "Service": ([_obj("Service", "front", spec={"selector": {"app": "web"}, "ports": [{"port": 80}]})],
                "Service/front", "web", ("web", "service", "ports"), False),
    "HorizontalPodAutoscaler": ([_obj("HorizontalPodAutoscaler", "web-hpa", "autoscaling/v2", spec={
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1,
        "maxReplicas": 3})], "HorizontalPodAutoscaler/web-hpa", "web", ("web", "autoscaling", "maxReplicas"), True),
    "Ingress": ([_obj("Service", "front", spec={"selector": {"app": "web"}, "ports": [{"port": 80}]}),
                 _obj("Ingress", "edge", "networking.k8s.io/v1", spec={"rules": [{"http": {"paths": [{
                     "path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": "front", "port": {"number": 80}}}}]}}]})],
                "Ingress/edge", "web", ("web", "ingress", "rules"), True),
}


@pytest.mark.parametrize("rule", KIND_RULES, ids=[rule.kind for rule in KIND_RULES])
def test_each_kind_rule_joins_its_component_and_exposes_its_values(rule) -> None:
    others, about, component, path, conditional = RULE_CASES[rule.kind]
    workload = _web(rule.kind) if rule.join is Join.LEADS else _web()
    objects = [SourceObject(o, "t", i) for i, o in enumerate([workload, *others])]
    model = build_model(objects, name="t", version="0.1.0", app_version=None)
    assert about in model.components[component]
    assert path in model.params
    [template] = [t for t in model.templates if t.source_id == about]
    assert (template.condition is not None) is conditional
    assert model.warnings == []


def test_every_kind_rule_has_a_case() -> None:
    assert {rule.kind for rule in KIND_RULES} == set(RULE_CASES)


def test_a_kind_without_a_rule_is_carried_verbatim_and_one_entry_teaches_chartify_a_kind() -> None:
    pdb = _obj("PodDisruptionBudget", "web-pdb", "policy/v1",
               spec={"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}})
    objects = [SourceObject(o, "t", i) for i, o in enumerate([_web(), pdb])]
    model = build_model(objects, name="t", version="0.1.0", app_version=None)
    assert "PodDisruptionBudget/web-pdb" not in model.components["web"]
    assert not any(p[0] == "webPdb" for p in model.params)

    def pdb_params(f: Fields, slot: tuple[str, ...]) -> None:
        f.bind(("spec", "minAvailable"), slot + ("minAvailable",), "Pods that must stay available")

    rule = KindRule("PodDisruptionBudget", Join.SELECTS_PODS, pdb_params, "podDisruptionBudget",
                    selector=("spec", "selector", "matchLabels"))
    model = build_model(objects, name="t", version="0.1.0", app_version=None, rules=(*KIND_RULES, rule))
    assert model.components["web"] == ["Deployment/web", "PodDisruptionBudget/web-pdb"]
    assert model.params[("web", "podDisruptionBudget", "minAvailable")].default == 1
