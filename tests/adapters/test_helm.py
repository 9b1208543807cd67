"""The helm adapter: its stderr table (one case per row) and real helm runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolkit.adapters import helm as helm_mod
from toolkit.adapters.helm import STDERR_PATTERNS, Helm, HelmConfig, find_helm, helm_error, lint_findings
from toolkit.errors import HelmError, LocalEnvError

# One real-looking stderr per row of STDERR_PATTERNS, in table order.
ROW_SAMPLES = [
    ("auth", 'Error: failed to authorize: basic credential not found'),
    ("cluster-auth", "Error: list: failed to list: Unauthorized"),
    ("tls", 'Error: Get "https://127.0.0.1:5000/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority'),
    ("schema", "Error: values don't meet the specifications of the schema(s) in the following chart(s):\nchat:\n- at '/replicaCount': value must be 1"),
    ("pending", "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"),
    ("release", "Error: release: not found"),
    ("unreachable", 'Error: kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: connect: connection refused'),
    ("chart", 'Error: path "./nonexist" not found'),
    ("render", 'Error: parse error at (chat/templates/x.yaml:3): unexpected "}" in operand'),
]


def test_every_row_has_a_sample():
    assert len(ROW_SAMPLES) == len(STDERR_PATTERNS)


@pytest.mark.parametrize(("row", "sample"), list(enumerate(ROW_SAMPLES)), ids=[s[0] for s in ROW_SAMPLES])
def test_stderr_row_matches_first(row, sample):
    stderr = sample[1]
    first = next(i for i, (pattern, _) in enumerate(STDERR_PATTERNS) if pattern.search(stderr))
    assert first == row
    err = helm_error("do", "thing", 1, stderr)
    assert err.hint == STDERR_PATTERNS[row][1]
    assert str(err).startswith('unable to do "thing": ')
    assert "Error:" not in err.message


def test_registry_wrong_password_is_not_taken_for_a_cluster_refusal():
    # real helm 4.3.1 stderr for a push with a wrong password
    stderr = ('Error: failed to perform "Exists" on destination: HEAD "https://127.0.0.1:39415/v2/x/mini/manifests/'
              'sha256:779d": response status code 401: Unauthorized')
    assert helm_error("push", "mini", 1, stderr).hint == STDERR_PATTERNS[0][1]


def test_unknown_stderr_has_no_hint():
    err = helm_error("render", "c", 7, "something odd happened\n")
    assert err.hint is None
    assert err.message == 'unable to render "c": something odd happened'
    assert err.returncode == 7


# helm v4.3.1's own output (stdout, stderr) for failures whose reason spans several lines
LINT_STDOUT = """==> Linting bad
[INFO] Chart.yaml: icon is recommended
[WARNING] templates/role.yaml: rbac.authorization.k8s.io/v1beta1 Role is deprecated in v1.17+, unavailable in v1.22+; use rbac.authorization.k8s.io/v1 Role
[ERROR] templates/: bad/templates/cm.yaml:4:18
  executing "bad/templates/cm.yaml" at <.Values.nope.x>:
    nil pointer evaluating interface {}.x
[ERROR] values.yaml: - at '/replicaCount': got number, want string
- at '/image': got object, want string

"""


def test_lint_findings_keep_every_error_and_warning_with_its_continuation_lines():
    assert lint_findings(LINT_STDOUT) == [
        "[WARNING] templates/role.yaml: rbac.authorization.k8s.io/v1beta1 Role is deprecated in v1.17+, "
        "unavailable in v1.22+; use rbac.authorization.k8s.io/v1 Role",
        '[ERROR] templates/: bad/templates/cm.yaml:4:18 executing "bad/templates/cm.yaml" at <.Values.nope.x>: '
        "nil pointer evaluating interface {}.x",
        "[ERROR] values.yaml: - at '/replicaCount': got number, want string - at '/image': got object, want string",
    ]
    err = helm_error("lint", "bad", 1, "Error: 1 chart(s) linted, 1 chart(s) failed\n", LINT_STDOUT)
    assert err.message.startswith('unable to lint "bad": [WARNING] templates/role.yaml: ')
    assert "nil pointer evaluating interface {}.x" in err.message and "1 chart(s) failed" not in err.message


def test_a_render_error_keeps_the_reason_below_the_template_line():
    stderr = ('Error: bad/templates/cm.yaml:4:18\n  executing "bad/templates/cm.yaml" at <.Values.nope.x>:\n'
              "    nil pointer evaluating interface {}.x\n\nUse --debug flag to render out invalid YAML\n")
    assert helm_error("render", "bad", 1, stderr).message == (
        'unable to render "bad": bad/templates/cm.yaml:4:18 executing "bad/templates/cm.yaml" at <.Values.nope.x>: '
        "nil pointer evaluating interface {}.x")


def test_find_helm_refuses_a_non_executable(tmp_path):
    bogus = tmp_path / "helm"
    bogus.write_text("not a binary")
    with pytest.raises(LocalEnvError, match=r'unable to use helm ".*" \(from --helm\): not an executable file'):
        find_helm(bogus)


def test_find_helm_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.delenv("CHARTKIT_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CHARTKIT_CACHE", str(tmp_path / "nocache"))
    with pytest.raises(LocalEnvError, match=r"unable to find helm.*invoke up"):
        find_helm()


@pytest.fixture(scope="module")
def real_helm(helm_bin: Path) -> Helm:
    return Helm(HelmConfig(executable=helm_bin))


def _chart(tmp_path: Path, schema: str | None = None) -> Path:
    chart = tmp_path / "mini"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: mini\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicaCount: 1\nbig: 1000000\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: mini\ndata:\n"
        "  replicas: {{ .Values.replicaCount | toJson | quote }}\n  big: {{ .Values.big | toJson | quote }}\n")
    if schema:
        (chart / "values.schema.json").write_text(schema)
    return chart


def test_real_helm_version(real_helm):
    assert re.fullmatch(r"v4\.\d+\.\d+", real_helm.version())


def test_real_template_keeps_integers(real_helm, tmp_path):
    out = real_helm.template(_chart(tmp_path), release="r", namespace="ns")
    assert 'big: "1000000"' in out
    assert 'replicas: "1"' in out


def test_real_schema_refusal_maps_to_hint(real_helm, tmp_path):
    schema = '{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {"replicaCount": {"type": "integer", "const": 1, "readOnly": true}}}'
    chart = _chart(tmp_path, schema)
    with pytest.raises(HelmError, match=r'unable to render ".*mini"') as info:
        real_helm.template(chart, release="r", set_values=["replicaCount=3"])
    assert info.value.hint == STDERR_PATTERNS[3][1]
    assert "value must be 1" in info.value.stderr
    # the readable violation, not just helm's headline, reaches the one-line message
    assert info.value.message.endswith("at '/replicaCount': value must be 1")


def test_real_missing_chart(real_helm, tmp_path):
    # lint reports findings on stdout; the adapter must surface them, not helm's bare count
    with pytest.raises(HelmError, match=r'unable to lint ".*absent": .*Chart.yaml.*no such file') as info:
        real_helm.lint(tmp_path / "absent")
    assert "1 chart(s) failed" in info.value.stderr


def test_real_lint_failure_names_each_finding(real_helm, tmp_path):
    chart = _chart(tmp_path)
    (chart / "templates" / "role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata:\n  name: r\nrules: []\n")
    with pytest.raises(HelmError) as info:
        real_helm.lint(chart, strict=True)
    assert info.value.message == (
        f'unable to lint "{chart}": [WARNING] templates/role.yaml: rbac.authorization.k8s.io/v1beta1 Role is '
        "deprecated in v1.17+, unavailable in v1.22+; use rbac.authorization.k8s.io/v1 Role")
    # the deprecation check follows the Kubernetes version given: v1beta1 RBAC was current in 1.16
    assert "[WARNING]" not in real_helm.lint(chart, strict=True, kube_version="1.16")
    (chart / "templates" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.nope.x }}\n")
    with pytest.raises(HelmError) as info:
        real_helm.lint(chart, strict=True)
    assert "[ERROR] templates/: mini/templates/broken.yaml:4:18 executing" in info.value.message
    assert info.value.message.endswith("nil pointer evaluating interface {}.x")


def test_values_travel_on_stdin_not_argv(real_helm, tmp_path, monkeypatch):
    # what really reaches the helm process: the argv and stdin the adapter hands to subprocess.Popen
    seen = []

    class Spy(helm_mod.subprocess.Popen):
        def __init__(self, argv, *args, **kwargs):
            seen.append([list(map(str, argv)), None])
            super().__init__(argv, *args, **kwargs)

        def communicate(self, input=None, timeout=None):  # noqa: A002
            seen[-1][1] = input
            return super().communicate(input, timeout)

    monkeypatch.setattr(helm_mod.subprocess, "Popen", Spy)
    out = real_helm.template(_chart(tmp_path), release="r", values={"big": 42})
    assert 'big: "42"' in out
    argv, stdin = seen[-1]
    assert "42" not in " ".join(argv)
    assert stdin is not None and b'"big": 42' in stdin


def test_config_env_points_helm_at_registry_settings(tmp_path):
    cfg = HelmConfig(registry_config=tmp_path / "reg.json", ca_file=tmp_path / "ca.pem")
    env = cfg.env()
    assert env["HELM_REGISTRY_CONFIG"] == str(tmp_path / "reg.json")
    assert env["SSL_CERT_FILE"] == str(tmp_path / "ca.pem")


def test_real_list_releases_sees_every_status(local_helm, namespace, tmp_path):
    chart = _chart(tmp_path)
    local_helm.install_or_upgrade("ok", chart, namespace=namespace, wait=False, rollback_on_failure=False)
    local_helm.install_or_upgrade("ok", chart, namespace=namespace, values={"big": 2}, wait=False,
                                  rollback_on_failure=False)
    found = local_helm.list_releases(namespace=namespace)
    assert [(r["name"], r["revision"], r["status"]) for r in found] == [("ok", "2", "deployed")]
    assert any(r["name"] == "ok" and r["namespace"] == namespace
               for r in local_helm.list_releases(all_namespaces=True))
