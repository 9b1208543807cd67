"""Generated hostile input (Hypothesis): values files, --set strings, strategy files and manifests.

Each example runs chartkit as a user would, as a child process under a time and a memory bound, and must end in
success or one clear ``chartkit: error:`` line with exit 1 — never ``unexpected error``, a traceback, a hang,
the memory bound, or a secret value echoed (every generated secret is also looked for by the scanner at the end).
Examples are bounded (``RELIABILITY_EXAMPLES``, default 15 per area) so the suite stays within minutes; CI (``CI``
set) draws the same examples every run, elsewhere they vary; set ``HYPOTHESIS_SEED`` to replay a run.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.reliability.harness import assert_sane, record, run_chartkit
from tests.reliability.scanner import needles
from tests.deploy.conftest import publish_chart

pytestmark = [pytest.mark.reliability, pytest.mark.cluster]

EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "15"))
# CI replays the same examples each run (a red CI is about the change); a developer's run explores new ones
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
SEED = int(os.environ["HYPOTHESIS_SEED"]) if os.environ.get("HYPOTHESIS_SEED") else None


def replay(test):
    return seed(SEED)(test) if SEED is not None else test


# -- a type whose objects carry every value to the API server ------------------------------------------------------

HOSTILE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
    "properties": {
        "password": {"type": "string", "minLength": 8},
        "replicas": {"type": "integer", "minimum": 0, "maximum": 50},
        "mode": {"type": "string", "enum": ["a", "b"]},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "list": {"type": "array"},
    },
}


@pytest.fixture
def hostile_type(tmp_path, catalog, helm_bin, suite_namespace, ledger):
    """A ConfigMap-only type rendering all its values (JSON) into the cluster, installed as ``web``."""
    chart = tmp_path / "hostile-1.0.0" / "hostile"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: hostile\nversion: 1.0.0\n")
    (chart / "values.yaml").write_text("password: changeme-please\nreplicas: 1\nmode: a\nlabels: {}\nlist: []\n")
    (chart / "values.schema.json").write_text(json.dumps(HOSTILE_SCHEMA))
    (chart / "templates" / "cm.yaml").write_text(textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-values
        data:
          values.json: {{ toJson .Values | quote }}
        """))
    publish_chart(chart, catalog, helm_bin)
    return suite_namespace


@pytest.fixture
def hostile_instance(hostile_type, cli_env, tmp_path):
    """The hostile type installed as ``web`` (strategy files roll it out)."""
    first = deploy(hostile_type, cli_env, tmp_path)
    assert first.code == 0, first.stderr
    return hostile_type


def deploy(ns: str, env: dict, tmp_path, *extra: str):
    return run_chartkit(["deploy", "web", "hostile@1.0.0", "-n", ns, "--timeout", "30s", *extra], env=env,
                        timeout=90, memory_mb=768, tmp_root=tmp_path)


def check(area: str, name: str, run, secrets: list[str]) -> None:
    record(area, name, run)
    assert_sane(run)
    for secret in secrets:
        for needle in needles(secret):
            assert needle not in run.stdout + run.stderr, f"{name}: a secret value was echoed"


# -- values files -------------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["🚀", "yes", "on", "0755", "1e400", "=", "~", "null", "{{ .Release.Name }}", "a\x00b", "\u2028",
                     "\ufeff", "'", '"', "\\", "- x", ": y", "#z", "&a", "*a", "!!binary aGk=", "%TAG"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(min_size=1, max_size=12), inner, max_size=4)), max_leaves=20)
HOSTILE_SNIPPETS = [
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
    "x: &x [*x]\n", "list: " + "[" * 700 + "]" * 700 + "\n", "a: 1\na: 2\n", "? [complex, key]\n: v\n",
    "x: !!python/object/apply:os.system ['true']\n", "x: !custom 1\n", "\tkey: tab\n", "key: [unclosed\n",
    "<<: {merged: 1}\nlabels: {team: ok}\n", "%YAML 1.2\n---\nmode: b\n", "--- 1\n--- 2\n", "just a string\n",
    "replicas: 1e999\n", "replicas: 99999999999999999999999\n", "labels: {a: 1}\n", "password: 12345678901234\n",
    "big: '" + "x" * 200_000 + "'\n",
]


@st.composite
def values_files(draw):
    """(bytes of a values file, the secret it holds) — structured values, hostile YAML, or raw bytes."""
    secret = f"pw-{draw(st.text(alphabet='abcdefghijklmnopqrstuvwxyz0123456789', min_size=12, max_size=12))}"
    kind = draw(st.sampled_from(["structured", "snippet", "mixed", "bytes"]))
    if kind == "structured":
        data = draw(st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5))
        data["password"] = draw(st.sampled_from([secret, int(secret[3:], 36), [secret], {"v": secret}]))
        text = json.dumps(data, ensure_ascii=draw(st.booleans()), allow_nan=True)
    elif kind == "snippet":
        text = draw(st.sampled_from(HOSTILE_SNIPPETS))
    elif kind == "mixed":
        text = f"password: {json.dumps(secret)}\n" + draw(st.sampled_from(HOSTILE_SNIPPETS))
    else:
        return draw(st.binary(max_size=512)) + secret.encode(), secret
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return text.encode(encoding, errors="replace"), secret


@SETTINGS
@replay
@given(case=values_files())
def test_values_files(hostile_type, cli_env, tmp_path, ledger, case):
    data, secret = case
    ledger.secret_values.add(secret)
    path = tmp_path / "values.yaml"
    path.write_bytes(data)
    run = deploy(hostile_type, cli_env, tmp_path, "-f", str(path))
    check("hostile input: values files", f"-f ({len(data)} bytes)", run, [secret])


# -- --set strings ------------------------------------------------------------------------------------------------

set_text = st.lists(st.sampled_from(list("abcz09.=,[]{}\\ _-:/'\"🚀é\t") + ["password", "labels", "list",
                                                                                     "[65537]", "[3]"]),
                    max_size=30).map("".join)


@st.composite
def set_items(draw):
    secret = f"s3t-{draw(st.text(alphabet='abcdefghijklmnop', min_size=10, max_size=10))}"
    shape = draw(st.sampled_from(["free", "password", "index", "nested"]))
    if shape == "free":
        item = draw(set_text)
    elif shape == "password":
        item = f"password={draw(st.sampled_from([secret, secret[:4] + ',' + secret[4:], secret + ',' + secret]))}"
    elif shape == "index":
        item = f"list[{draw(st.sampled_from([0, 1, 65536, 65537, 10**8, 10**30]))}]={draw(set_text)}"
    else:
        item = ".".join(draw(st.lists(st.sampled_from(["a", "b", "labels", "x"]), min_size=1, max_size=40))) + \
            f"={draw(set_text)}"
    flag = draw(st.sampled_from(["--set", "--set-string"]))
    return f"{flag}={item}", secret


@SETTINGS
@replay
@given(case=set_items())
def test_set_strings(hostile_type, cli_env, tmp_path, ledger, case):
    item, secret = case
    ledger.secret_values.add(secret)
    run = deploy(hostile_type, cli_env, tmp_path, item)
    check("hostile input: --set strings", item[:60], run, [secret])


# -- strategy files -----------------------------------------------------------------------------------------------

numbers = st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["10", "1e308", ".inf", None, True, [1]]))


@st.composite
def strategies(draw):
    data = {"kind": draw(st.sampled_from(["rolling", "blue-green", "cutover", "split", "canary", 7, None])),
            "steps": draw(st.one_of(st.lists(numbers, max_size=5), numbers)),
            "pauseSeconds": draw(numbers),
            "check": draw(st.one_of(st.dictionaries(st.sampled_from(["timeoutSeconds", "x"]), numbers), numbers)),
            "split": draw(st.one_of(st.none(), st.fixed_dictionaries({"header": st.text(max_size=10),
                                                                      "customers": st.lists(st.text(max_size=8))}))),
            "gateway": draw(st.one_of(st.none(), st.fixed_dictionaries({"name": st.text(max_size=8),
                                                                        "namespace": st.text(max_size=8)})))}
    keep = draw(st.sets(st.sampled_from(sorted(data)), min_size=1))
    text = json.dumps({k: v for k, v in data.items() if k in keep}, allow_nan=True)
    if draw(st.booleans()):
        text = draw(st.sampled_from(HOSTILE_SNIPPETS[:4] + ["kind: rolling\n" + HOSTILE_SNIPPETS[0]]))
    return text


@SETTINGS
@replay
@given(text=strategies())
def test_strategy_files(hostile_instance, cli_env, tmp_path, text):
    path = tmp_path / "strategy.yaml"
    path.write_text(text)
    run = run_chartkit(["rollout", "start", "web", "-n", hostile_instance, "--version", "1.0.0", "--strategy-file",
                        str(path), "--timeout", "30s"], env=cli_env, timeout=90, memory_mb=768, tmp_root=tmp_path)
    check("hostile input: strategy files", text[:60], run, [])


# -- manifests (chartify) -----------------------------------------------------------------------------------------

BASE = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": "shop"},
    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "app"}}, "template": {
        "metadata": {"labels": {"app": "app"}},
        "spec": {"containers": [{"name": "app", "image": "registry.example:5000/shop/app:1.0",
                                 "env": [{"name": "MODE", "value": "prod"}], "ports": [{"containerPort": 8080}]}]}}},
}
FIELDS = [("metadata", "name"), ("metadata", "namespace"), ("spec", "replicas"), ("spec", "selector"),
          ("spec", "template", "spec", "containers"), ("spec", "template", "spec", "containers", 0, "image"),
          ("spec", "template", "spec", "containers", 0, "env"), ("kind",), ("apiVersion",),
          ("spec", "template", "metadata", "labels")]


@st.composite
def manifests(draw):
    doc = json.loads(json.dumps(BASE))
    secret = f"mf-{draw(st.text(alphabet='qrstuvwxyz', min_size=10, max_size=10))}"
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(FIELDS))
        node = doc
        for key in path[:-1]:
            if isinstance(node, dict) and key in node or isinstance(node, list) and isinstance(key, int) \
                    and key < len(node):
                node = node[key]
            else:
                node = {}
        if isinstance(node, dict) or (isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node)):
            if draw(st.booleans()):
                node[path[-1]] = draw(json_values)
            elif isinstance(node, dict):
                node.pop(path[-1], None)
    extra = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "shop"},
              "stringData": {"password": secret}}] if draw(st.booleans()) else []
    text = "\n---\n".join(json.dumps(d, allow_nan=True) for d in [doc, *extra])
    if draw(st.integers(0, 4)) == 0:
        text += "\n---\n" + draw(st.sampled_from(HOSTILE_SNIPPETS))
    return text, secret


@SETTINGS
@replay
@given(case=manifests())
def test_manifests(tmp_path, case, ledger):
    text, secret = case
    ledger.secret_values.add(secret)
    source = tmp_path / "app.yaml"
    source.write_text(text)
    out = tmp_path / "chart"
    run = run_chartkit(["chartify", str(source), "--name", "app", "-o", str(out)], timeout=90,
                       memory_mb=768, tmp_root=tmp_path)
    check("hostile input: manifests", f"chartify ({len(text)} bytes)", run, [secret])
    if run.code == 0 and out.is_dir():  # the chart carries no secret value from its source
        blob = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
        assert all(n not in blob for n in needles(secret))
