"""The Kubernetes client on the wire, against a real TLS server on loopback: trust, client certificates, tokens,
exec plugins, keep-alive per thread, a dropped idle connection, timeouts and a dead server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.adapters.conftest import files_holding, in_threads
from toolkit.adapters import kubeconfig as kubeconfig_mod
from toolkit.adapters.kube import UNREACHABLE_HINT, Kube
from toolkit.errors import KubeError

REPO = Path(__file__).resolve().parents[2]


def echo_of(kube: Kube, path: str = "/echo") -> dict:
    return kube.request("GET", path)


def test_ca_data_and_an_embedded_client_certificate(echo, pki, write_kubeconfig):
    path = write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                            user={"client-certificate-data": pki.b64(pki.client.cert),
                                  "client-key-data": pki.b64(pki.client.key)})
    with Kube(path) as kube:
        seen = echo_of(kube)
    assert seen["client_cn"] == "tester"
    assert "authorization" not in seen["headers"]
    assert seen["headers"]["user-agent"] == ["chartkit"]


def test_certificate_files_and_a_token_file(echo, pki, write_kubeconfig, tmp_path):
    token = tmp_path / "token"
    token.write_text("file-token\n")
    path = write_kubeconfig(echo.url, cluster={"certificate-authority": str(pki.ca.cert)},
                            user={"client-certificate": str(pki.client.cert), "client-key": str(pki.client.key),
                                  "tokenFile": "token"})
    seen = echo_of(Kube(path))
    assert seen["client_cn"] == "tester"
    assert seen["headers"]["authorization"] == ["Bearer file-token"]


def test_token_basic_auth_and_impersonation_headers(echo, pki, write_kubeconfig):
    ca = {"certificate-authority-data": pki.b64(pki.ca.cert)}
    seen = echo_of(Kube(write_kubeconfig(echo.url, cluster=ca, user={"token": "abc"})))
    assert seen["headers"]["authorization"] == ["Bearer abc"]
    seen = echo_of(Kube(write_kubeconfig(echo.url, cluster=ca, user={
        "username": "admin", "password": "pw", "as": "jane", "as-groups": ["devs", "ops"],
        "as-user-extra": {"reason/why": ["testing"]}})))
    assert seen["headers"]["authorization"] == ["Basic YWRtaW46cHc="]
    assert seen["headers"]["impersonate-user"] == ["jane"]
    assert seen["headers"]["impersonate-group"] == ["devs", "ops"]  # one header line per group
    assert seen["headers"]["impersonate-extra-reason%2fwhy"] == ["testing"]


def test_tls_server_name_is_what_the_certificate_is_checked_against(echo_kube_test, pki, write_kubeconfig):
    ca = {"certificate-authority-data": pki.b64(pki.ca.cert)}
    named = Kube(write_kubeconfig(echo_kube_test.url, cluster={**ca, "tls-server-name": "kube.test"}))
    assert echo_of(named)["path"] == "/echo"
    unnamed = Kube(write_kubeconfig(echo_kube_test.url, name="unnamed", cluster=ca))
    with pytest.raises(KubeError, match=r"unable to GET /echo: the TLS certificate of https://127\.0\.0\.1:\d+ was not "
                                        r"accepted: .*127\.0\.0\.1") as info:
        echo_of(unnamed)
    assert info.value.status == 0 and "tls-server-name" in (info.value.hint or "")


def test_the_system_trust_store_does_not_trust_a_private_ca_and_insecure_skips_the_check(echo, write_kubeconfig):
    with pytest.raises(KubeError, match=r"TLS certificate .* was not accepted"):
        echo_of(Kube(write_kubeconfig(echo.url)))
    assert echo_of(Kube(write_kubeconfig(echo.url, name="insecure",
                                         cluster={"insecure-skip-tls-verify": True})))["path"] == "/echo"


def test_a_bad_ca_or_key_is_reported_when_the_client_is_made(pki, write_kubeconfig):
    junk = "Zm9vYmFy"  # base64 of "foobar": decodes, but is no PEM
    path = write_kubeconfig("https://127.0.0.1:1", cluster={"certificate-authority-data": junk})
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{path}": cluster "c": its '
                                        r"certificate-authority holds no PEM certificate"):
        Kube(path)
    path = write_kubeconfig("https://127.0.0.1:1", name="mismatch", user={
        "client-certificate-data": pki.b64(pki.client.cert), "client-key-data": pki.b64(pki.server.key)})
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{path}": user "u": its client certificate and '
                                        r"key do not load \(KEY_VALUES_MISMATCH\)"):
        Kube(path)


def test_the_client_key_never_touches_a_disk(echo, pki, write_kubeconfig, private_tempdir):
    key = pki.client.key.read_bytes()
    path = write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                            user={"client-certificate-data": pki.b64(pki.client.cert),
                                  "client-key-data": pki.b64(pki.client.key)})
    with Kube(path) as kube:
        assert echo_of(kube)["client_cn"] == "tester"
        assert files_holding(key, private_tempdir) == []
        # the in-memory files that carried the pair to OpenSSL are closed once it is loaded
        links = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                 if os.path.exists(f"/proc/self/fd/{fd}")]
        assert not [link for link in links if "chartkit-kube" in link]


def test_one_connection_per_thread_kept_alive(echo, pki, write_kubeconfig):
    kube = Kube(write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)}))
    for _ in range(5):
        echo_of(kube)
    assert echo.connections == 1

    in_threads(lambda: [echo_of(kube) for _ in range(5)], 4)
    assert echo.connections == 1 + 4
    assert len(echo.requests) == 5 + 20
    kube.close()


def test_a_connection_dropped_while_idle_is_reopened_once(echo, pki, write_kubeconfig):
    kube = Kube(write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)}))
    echo.drop_after_answer = True  # the server closes each connection after answering, without saying so
    for i in range(3):
        assert kube.request("POST", "/things", body={"n": i})["body"] == json.dumps({"n": i}, separators=(",", ":"))
    assert echo.connections == 3
    assert [r["method"] for r in echo.requests] == ["POST"] * 3  # each sent once


def test_no_answer_in_time_is_one_error(echo, pki, write_kubeconfig):
    kube = Kube(write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)}), timeout=0.3)
    echo.delay = 1.0
    with pytest.raises(KubeError, match=r"^unable to GET /echo: no answer from https://127\.0\.0\.1:\d+ within "
                                        r"0\.3s") as info:
        echo_of(kube)
    assert info.value.status == 0 and info.value.hint == UNREACHABLE_HINT
    echo.delay = 0
    assert echo_of(kube)["path"] == "/echo"  # a fresh connection: the late answer is never read as this one's


def test_a_server_status_becomes_status_and_reason(echo, pki, write_kubeconfig):
    kube = Kube(write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)}))
    echo.status, echo.answer = 409, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 409,
                                     "reason": "AlreadyExists", "message": 'configmaps "x" already exists'}
    with pytest.raises(KubeError, match=r'^unable to POST /x: configmaps "x" already exists') as info:
        kube.request("POST", "/x", body={})
    assert (info.value.status, info.value.reason) == (409, "AlreadyExists")
    assert "exists already" in (info.value.hint or "")
    echo.status, echo.answer = 502, None
    echo.answer = "<html>bad gateway</html>"
    with pytest.raises(KubeError, match=r"^unable to GET /y: \"<html>bad gateway</html>\"") as info:
        kube.request("GET", "/y")
    assert info.value.status == 502


def test_a_server_path_prefix_is_kept(echo, pki, write_kubeconfig):
    kube = Kube(write_kubeconfig(echo.url + "/k8s/clusters/c1/",
                                 cluster={"certificate-authority-data": pki.b64(pki.ca.cert)}))
    assert kube.server == echo.url + "/k8s/clusters/c1"
    assert kube.request("GET", "/api", query={"watch": True, "limit": 5})["path"] == "/k8s/clusters/c1/api?watch=true&limit=5"


def test_a_dead_server_is_one_error_with_the_hint(write_kubeconfig):
    kube = Kube(write_kubeconfig("https://127.0.0.1:1", user={"token": "t"}))
    with pytest.raises(KubeError) as info:
        kube.list("v1", "Secret")
    assert info.value.message == "unable to list Secret in all namespaces: connection refused by https://127.0.0.1:1"
    assert info.value.status == 0
    assert info.value.hint == "is the cluster running? `chartkit env` shows the kubeconfig chartkit uses"


def test_the_cli_says_one_line_on_stderr_for_a_dead_server(write_kubeconfig, tmp_path):
    path = write_kubeconfig("https://127.0.0.1:1", user={"token": "t"})
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "toolkit.cli", "instances", "--kubeconfig", str(path)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("chartkit: error: unable to list Secret in default: connection refused by "
                                  "https://127.0.0.1:1 (hint: is the cluster running?")


def test_the_cli_says_one_line_for_a_bad_kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("just text\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "toolkit.cli", "instances", "--kubeconfig", str(path)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == (f'chartkit: error: unable to load kubeconfig "{path}": it holds a string, not a map of '
                           "clusters, users and contexts (hint: fix the kubeconfig, or pass another with --kubeconfig "
                           "(and a context with --kube-context))\n")


# -- exec plugins -----------------------------------------------------------------------------------------------

PLUGIN = """\
#!{python}
# a credential plugin: answers the ExecCredential it was asked for, logs each run and what it was given
import json, os, sys
info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
with open({log!r}, "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "mode": os.environ.get("PLUGIN_MODE"), "info": info}}) + "\\n")
answer = json.loads(open({answer!r}).read())
if answer.get("fail"):
    print("login required: run `get-token login`", file=sys.stderr)
    sys.exit(3)
print(json.dumps({{"apiVersion": info["apiVersion"], "kind": "ExecCredential", "status": answer}}))
"""


@pytest.fixture
def plugin(tmp_path):
    """A real executable plugin next to the kubeconfig (bin/get-token), its run log and its next answer."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log, answer = tmp_path / "runs.log", tmp_path / "answer.json"
    script = folder / "get-token"
    script.write_text(PLUGIN.format(python=sys.executable, log=str(log), answer=str(answer)))
    script.chmod(0o755)

    class Plugin:
        def __init__(self) -> None:
            self.path = script

        def answers(self, **status) -> None:
            answer.write_text(json.dumps(status))

        def runs(self) -> list[dict]:
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return Plugin()


def _exec_user(api_version: str = "client.authentication.k8s.io/v1", **extra) -> dict:
    spec = {"apiVersion": api_version, "command": "./bin/get-token", "args": ["--cluster", "c1"],
            "env": [{"name": "PLUGIN_MODE", "value": "from-kubeconfig"}], "interactiveMode": "Never", **extra}
    return {"exec": spec}


@pytest.mark.parametrize("api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
def test_an_exec_plugin_token_is_cached_until_it_expires(echo, pki, plugin, write_kubeconfig, api_version):
    kubeconfig_mod._cache.clear()
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    plugin.answers(token="exec-token-1", expirationTimestamp=soon)
    path = write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                            user=_exec_user(api_version, provideClusterInfo=True))
    kube = Kube(path)
    assert echo_of(kube)["headers"]["authorization"] == ["Bearer exec-token-1"]
    assert echo_of(Kube(path))["headers"]["authorization"] == ["Bearer exec-token-1"]  # cached process-wide
    [run] = plugin.runs()
    assert run["argv"] == ["--cluster", "c1"]  # the kubeconfig's args only: no secret ever in argv
    assert run["mode"] == "from-kubeconfig"
    assert run["info"]["apiVersion"] == api_version
    assert run["info"]["spec"]["interactive"] is False
    assert run["info"]["spec"]["cluster"]["server"] == echo.url
    assert run["info"]["spec"]["cluster"]["certificate-authority-data"] == pki.b64(pki.ca.cert)


def test_an_expired_exec_credential_is_asked_for_again(echo, pki, plugin, write_kubeconfig):
    kubeconfig_mod._cache.clear()
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 10))
    plugin.answers(token="old", expirationTimestamp=past)
    kube = Kube(write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                                 user=_exec_user()))
    assert echo_of(kube)["headers"]["authorization"] == ["Bearer old"]
    plugin.answers(token="new")
    assert echo_of(kube)["headers"]["authorization"] == ["Bearer new"]
    assert echo_of(kube)["headers"]["authorization"] == ["Bearer new"]  # no expiry: kept
    assert len(plugin.runs()) == 2


def test_a_401_asks_the_plugin_again_once(echo, pki, plugin, write_kubeconfig):
    kubeconfig_mod._cache.clear()
    plugin.answers(token="revoked")
    kube = Kube(write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                                 user=_exec_user()))
    echo.status, echo.answer = 401, {"kind": "Status", "code": 401, "reason": "Unauthorized",
                                     "message": "Unauthorized"}
    with pytest.raises(KubeError, match=r"^unable to GET /echo: Unauthorized") as info:
        echo_of(kube)
    assert info.value.status == 401 and len(plugin.runs()) == 2 and len(echo.requests) == 2


def test_an_exec_plugin_client_certificate(echo, pki, plugin, write_kubeconfig):
    kubeconfig_mod._cache.clear()
    plugin.answers(clientCertificateData=pki.client.cert.read_text(), clientKeyData=pki.client.key.read_text())
    kube = Kube(write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                                 user=_exec_user()))
    assert echo_of(kube)["client_cn"] == "tester"


@pytest.mark.parametrize(("answer", "cause"), [
    ({"fail": True}, r"exited with code 3: login required: run `get-token login`"),
    ({}, r"answered neither a token nor a client certificate and key"),
    ({"token": "x", "expirationTimestamp": "tomorrow"}, r'answered an expirationTimestamp that is not RFC 3339'),
], ids=["exit-code", "empty", "bad-expiry"])
def test_a_failing_exec_plugin_is_one_error_naming_user_and_file(echo, pki, plugin, write_kubeconfig, answer, cause):
    kubeconfig_mod._cache.clear()
    plugin.answers(**answer)
    path = write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)}, user=_exec_user())
    with pytest.raises(KubeError, match=rf'^unable to get credentials for user "u" of kubeconfig "{path}": exec plugin '
                                        rf'".*/bin/get-token" {cause}') as info:
        echo_of(Kube(path))
    assert "\n" not in str(info.value)


def test_a_missing_exec_plugin_gives_its_install_hint(echo, write_kubeconfig):
    kubeconfig_mod._cache.clear()
    path = write_kubeconfig(echo.url, cluster={"insecure-skip-tls-verify": True}, user={"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "no-such-plugin-anywhere",
        "installHint": "brew install no-such-plugin\nor see the docs"}})
    with pytest.raises(KubeError, match=r'exec plugin "no-such-plugin-anywhere" was not found') as info:
        echo_of(Kube(path))
    assert info.value.hint == "brew install no-such-plugin"


def test_the_client_loads_neither_the_kubernetes_package_nor_urllib3_nor_a_yaml_parser_for_json(echo, pki,
                                                                                                 write_kubeconfig):
    path = write_kubeconfig(echo.url, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                            user={"token": "t"})
    code = ("import sys; from toolkit.adapters.kube import Kube; Kube(sys.argv[1]).request('GET', '/echo'); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'kubernetes', 'urllib3', 'requests', 'yaml', "
            "'ruamel'}))")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert done.stdout.strip() == "[]"
    assert done.stderr == ""


def test_nothing_imports_the_kubernetes_package():
    import ast

    offenders = []
    for folder in ("toolkit", "tests", "bench"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                offenders += [f"{path.relative_to(REPO)}:{node.lineno}" for name in names
                              if name.split(".")[0] == "kubernetes"]
    assert offenders == []
    assert '"kubernetes' not in (REPO / "pyproject.toml").read_text()
