"""Kubeconfig loading the way kubectl/client-go load it: every supported form, the merge of a KUBECONFIG list,
and one KubeError line naming the file for every problem."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.adapters.conftest import kubeconfig_text
from toolkit.adapters.kubeconfig import InteractiveMode, kubeconfig_files, load
from toolkit.errors import ClusterError, KubeError

SERVER = "https://127.0.0.1:6443"


def test_a_token_user_and_the_current_context(write_kubeconfig):
    path = write_kubeconfig(SERVER + "/", user={"token": "s3cret"})
    config = load(path)
    assert (config.context, config.cluster, config.user, config.server) == ("test", "c", "u", SERVER)
    assert config.token == "s3cret"
    assert config.origin == str(path)
    assert "s3cret" not in repr(config)  # credentials never reach logs through a repr


def test_embedded_certificate_data(write_kubeconfig, pki):
    path = write_kubeconfig(SERVER, cluster={"certificate-authority-data": pki.b64(pki.ca.cert)},
                            user={"client-certificate-data": pki.b64(pki.client.cert),
                                  "client-key-data": pki.b64(pki.client.key)})
    config = load(path)
    assert config.ca_data == pki.ca.cert.read_bytes()
    assert config.client_cert == pki.client.cert.read_bytes()
    assert config.client_key == pki.client.key.read_bytes()
    assert pki.client.key.read_bytes().decode() not in repr(config)


def test_base64_data_may_be_wrapped_over_lines(write_kubeconfig, pki):
    wrapped = "\n".join(pki.b64(pki.ca.cert)[i:i + 64] for i in range(0, len(pki.b64(pki.ca.cert)), 64))
    config = load(write_kubeconfig(SERVER, cluster={"certificate-authority-data": wrapped}))
    assert config.ca_data == pki.ca.cert.read_bytes()


def test_file_paths_are_relative_to_the_kubeconfig_that_names_them(tmp_path, pki):
    certs = tmp_path / "certs"
    certs.mkdir()
    for source, name in ((pki.ca.cert, "ca.crt"), (pki.client.cert, "me.crt"), (pki.client.key, "me.key")):
        (certs / name).write_bytes(source.read_bytes())
    (tmp_path / "conf" / "token").parent.mkdir()
    (tmp_path / "conf" / "token").write_text("from-a-file\n")
    path = tmp_path / "conf" / "kubeconfig"
    path.write_text(kubeconfig_text(SERVER, cluster={"certificate-authority": "../certs/ca.crt"},
                                    user={"client-certificate": "../certs/me.crt", "client-key": "../certs/me.key",
                                          "tokenFile": "token"}))
    cwd = os.getcwd()
    os.chdir("/")  # relative to the file, not to the working directory
    try:
        config = load(path)
    finally:
        os.chdir(cwd)
    assert config.ca_data == pki.ca.cert.read_bytes()
    assert config.client_cert == pki.client.cert.read_bytes()
    assert config.client_key == pki.client.key.read_bytes()
    assert config.token_file == tmp_path / "conf" / "token"


def test_data_wins_over_the_file_form_and_a_token_over_a_token_file(write_kubeconfig, pki):
    config = load(write_kubeconfig(SERVER, cluster={"certificate-authority-data": pki.b64(pki.ca.cert),
                                                    "certificate-authority": "/nonexistent/ca.crt"},
                                   user={"token": "inline", "tokenFile": "/nonexistent/token"}))
    assert config.ca_data == pki.ca.cert.read_bytes()
    assert (config.token, config.token_file) == ("inline", None)


def test_insecure_tls_server_name_basic_auth_and_impersonation(write_kubeconfig):
    config = load(write_kubeconfig(SERVER, cluster={"insecure-skip-tls-verify": True, "tls-server-name": "kube.test"},
                                   user={"username": "admin", "password": "pw", "as": "jane", "as-uid": "42",
                                         "as-groups": ["devs", "ops"], "as-user-extra": {"scopes": ["a", "b"]}}))
    assert config.insecure and config.tls_server_name == "kube.test"
    assert (config.username, config.password) == ("admin", "pw")
    assert (config.impersonate, config.impersonate_uid, config.impersonate_groups) == ("jane", "42", ("devs", "ops"))
    assert config.impersonate_extra == (("scopes", ("a", "b")),)
    assert "'pw'" not in repr(config)


@pytest.mark.parametrize("api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"])
def test_exec_plugin_forms(tmp_path, api_version):
    path = tmp_path / "kc" / "config"
    path.parent.mkdir()
    exec_spec = {"apiVersion": api_version, "command": "./bin/get-token", "args": ["--region", "x"],
                 "env": [{"name": "PLUGIN_MODE", "value": "test"}], "provideClusterInfo": True,
                 "installHint": "install get-token"}
    if api_version.endswith("/v1"):
        exec_spec["interactiveMode"] = "Never"
    path.write_text(kubeconfig_text(SERVER, user={"exec": exec_spec}))
    plugin = load(path).exec_plugin
    assert plugin is not None
    assert plugin.command == str(tmp_path / "kc" / "bin" / "get-token")  # relative command: next to the file
    assert plugin.args == ("--region", "x") and plugin.env == (("PLUGIN_MODE", "test"),)
    assert plugin.provide_cluster_info and plugin.install_hint == "install get-token"
    assert plugin.interactive_mode is (InteractiveMode.NEVER if api_version.endswith("/v1")
                                       else InteractiveMode.IF_AVAILABLE)


def test_exec_command_without_a_slash_stays_a_PATH_name(write_kubeconfig):
    config = load(write_kubeconfig(SERVER, user={"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                          "command": "aws", "interactiveMode": "IfAvailable"}}))
    assert config.exec_plugin is not None and config.exec_plugin.command == "aws"


def test_a_context_override_and_the_contexts_namespace(write_kubeconfig):
    path = write_kubeconfig(SERVER, extra_contexts={"other": {"cluster": "c", "user": "u", "namespace": "team"}})
    assert load(path).context == "test"
    other = load(path, "other")
    assert (other.context, other.namespace) == ("other", "team")


def test_a_context_without_user_is_anonymous(tmp_path):
    path = tmp_path / "config"
    path.write_text(json.dumps({"clusters": [{"name": "c", "cluster": {"server": SERVER}}],
                                "contexts": [{"name": "anon", "context": {"cluster": "c"}}],
                                "current-context": "anon"}))
    config = load(path)
    assert config.user == "" and config.token is None and config.client_cert is None


def _config(server: str, *, cluster: str, user: str, context: str, current: str | None, token: str) -> str:
    doc = {"clusters": [{"name": cluster, "cluster": {"server": server}}],
           "users": [{"name": user, "user": {"token": token}}],
           "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}]}
    if current:
        doc["current-context"] = current
    return json.dumps(doc)


def test_a_kubeconfig_list_merges_like_client_go(tmp_path):
    first, second, missing = tmp_path / "first", tmp_path / "second", tmp_path / "missing"
    # both name cluster "shared" and user "shared": the first file wins each entry whole
    first.write_text(_config("https://first:1", cluster="shared", user="shared", context="one", current="one",
                             token="first-token"))
    second.write_text(_config("https://second:2", cluster="shared", user="shared", context="two", current="two",
                              token="second-token"))
    environ = {"KUBECONFIG": os.pathsep.join([str(missing), str(first), str(second)]), "HOME": str(tmp_path)}

    files, label = kubeconfig_files(environ=environ)
    assert files == [first, second]  # a file of the list that does not exist is skipped
    assert label == f"$KUBECONFIG={environ['KUBECONFIG']}"
    current = load(environ=environ)
    assert (current.context, current.server, current.token) == ("one", "https://first:1", "first-token")
    # a context of the second file is reachable; the entries it names resolve to the first file's
    two = load(context="two", environ=environ)
    assert (two.context, two.server, two.token) == ("two", "https://first:1", "first-token")


def test_the_second_file_sets_the_current_context_when_the_first_has_none(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text(_config("https://first:1", cluster="a", user="a", context="one", current=None, token="t1"))
    second.write_text(_config("https://second:2", cluster="b", user="b", context="two", current="two", token="t2"))
    config = load(environ={"KUBECONFIG": f"{first}{os.pathsep}{second}"})
    assert (config.context, config.server, config.token) == ("two", "https://second:2", "t2")


def test_relative_paths_in_a_listed_file_are_relative_to_that_file(tmp_path, pki):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "ca.crt").write_bytes(pki.ca.cert.read_bytes())
    first = tmp_path / "a.yaml"
    first.write_text("current-context: ctx\n")
    second = tmp_path / "b" / "config"
    second.write_text(kubeconfig_text(SERVER, cluster={"certificate-authority": "ca.crt"}, context="ctx",
                                      current=None))
    config = load(environ={"KUBECONFIG": f"{first}{os.pathsep}{second}"})
    assert config.ca_data == pki.ca.cert.read_bytes()
    assert config.cluster_origin == str(second)


def test_an_explicit_path_ignores_KUBECONFIG_and_the_default_is_home_kube_config(tmp_path, write_kubeconfig):
    explicit = write_kubeconfig("https://explicit:1", name="explicit")
    listed = write_kubeconfig("https://listed:1", name="listed")
    assert load(explicit, environ={"KUBECONFIG": str(listed)}).server == "https://explicit:1"
    assert load(environ={"KUBECONFIG": str(listed)}).server == "https://listed:1"
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(kubeconfig_text("https://home:1"))
    assert load(environ={"HOME": str(home)}).server == "https://home:1"


def test_an_empty_file_is_an_empty_config(tmp_path):
    path = tmp_path / "empty"
    path.write_text("")
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{path}": it sets no current-context'):
        load(path)


# -- errors: one line, naming the file, saying what to do ------------------------------------------------------

CLUSTER = {"name": "c", "cluster": {"server": SERVER}}
USER = {"name": "u", "user": {"token": "t"}}
CONTEXT = {"name": "x", "context": {"cluster": "c", "user": "u"}}


def _doc(*, clusters=(CLUSTER,), users=(USER,), contexts=(CONTEXT,), current="x") -> str:
    return json.dumps({"clusters": list(clusters), "users": list(users), "contexts": list(contexts),
                       "current-context": current})


def _cluster(**fields) -> dict:
    return {"name": "c", "cluster": {"server": SERVER, **fields}}


def _user(**fields) -> dict:
    return {"name": "u", "user": fields}


BAD_B64 = "not*base64!"
ERRORS = [
    ("apiVersion: v1\nclusters: [\n  - name: x\n", r"not valid YAML at line 3, column 3: did not find expected node "
                                                     r"content", "bad-yaml"),
    ("- a\n- b\n", r"it holds a list, not a map of clusters, users and contexts", "top-level-list"),
    ("a: 1\n---\nb: 2\n", r"it holds 2 YAML documents; a kubeconfig is one", "two-documents"),
    ("just text\n", r"it holds a string, not a map of clusters, users and contexts", "top-level-string"),
    (_doc(current="nope"), r'context "nope" is not defined \(contexts: x\)', "missing-context"),
    (_doc(current=""), r"it sets no current-context", "no-current-context"),
    (_doc(clusters=()), r'context "x": it names cluster "c", which is not defined', "missing-cluster"),
    (_doc(users=()), r'context "x": it names user "u", which is not defined', "missing-user"),
    (_doc(clusters=[_cluster(**{"certificate-authority-data": BAD_B64})]),
     r'cluster "c": certificate-authority-data is not valid base64', "bad-base64-ca"),
    (_doc(users=[_user(**{"client-certificate-data": "Zm9v", "client-key-data": BAD_B64})]),
     r'user "u": client-key-data is not valid base64', "bad-base64-key"),
    (_doc(users=[_user(**{"auth-provider": {"name": "gcp", "config": {}}})]),
     r'user "u": auth-provider "gcp" is not supported', "auth-provider"),
    (_doc(users=[_user(exec={"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"})]),
     r'user "u": exec apiVersion "client.authentication.k8s.io/v1alpha1" is not supported', "exec-v1alpha1"),
    (_doc(users=[_user(exec={"apiVersion": "client.authentication.k8s.io/v1", "command": "x"})]),
     r'user "u": exec needs interactiveMode', "exec-v1-without-interactive-mode"),
    (_doc(users=[_user(exec={"apiVersion": "client.authentication.k8s.io/v1", "command": "x",
                             "interactiveMode": "Sometimes"})]),
     r'user "u": exec interactiveMode "Sometimes" is not Never, IfAvailable or Always', "exec-bad-mode"),
    (_doc(users=[_user(exec={"apiVersion": "client.authentication.k8s.io/v1beta1"})]), r'user "u": exec has no command',
     "exec-no-command"),
    (_doc(clusters=[_cluster(**{"insecure-skip-tls-verify": True, "certificate-authority-data": "Zm9v"})]),
     r'cluster "c": insecure-skip-tls-verify and a certificate-authority are both set', "insecure-with-ca"),
    (_doc(clusters=[_cluster(**{"insecure-skip-tls-verify": "yes please"})]),
     r"cluster \"c\": insecure-skip-tls-verify must be true or false, not 'yes please'", "insecure-not-bool"),
    (_doc(clusters=[_cluster(**{"certificate-authority": "nope/ca.crt"})]),
     r'cluster "c": cannot read certificate-authority ".*nope/ca.crt": No such file or directory', "missing-ca-file"),
    (_doc(clusters=[_cluster(**{"proxy-url": "http://proxy:3128"})]), r'cluster "c": proxy-url is not supported',
     "proxy-url"),
    (_doc(clusters=[{"name": "c", "cluster": {}}]), r'cluster "c": it has no server', "no-server"),
    (_doc(clusters=[{"name": "c", "cluster": {"server": "127.0.0.1:6443"}}]),
     r'cluster "c": server "127.0.0.1:6443" is not an https:// URL', "server-not-url"),
    (_doc(users=[_user(**{"client-certificate-data": "Zm9v"})]),
     r'user "u": it has a client-certificate but no client-key', "cert-without-key"),
    (_doc(users=[_user(token="t", username="a", password="b")]),
     r'user "u": it sets both a token and username/password', "token-and-basic"),
    (_doc(users=[_user(token=12345)]), r'user "u": token is a number, not a string', "token-not-string"),
    (json.dumps({"clusters": {"c": {"server": SERVER}}}), r"clusters is a map, not a list of \{name, cluster\}",
     "clusters-as-map"),
    (_doc(clusters=[{"cluster": {"server": SERVER}}]), r"clusters\[0\] has no name", "entry-without-name"),
    (_doc(clusters=[CLUSTER, CLUSTER]), r'clusters names "c" twice', "duplicate-name"),
    (_doc(contexts=[{"name": "x", "context": "c"}]), r'contexts\[0\] \("x"\): context is a string, not a map',
     "context-not-a-map"),
]


@pytest.mark.parametrize(("text", "cause"), [e[:2] for e in ERRORS], ids=[e[2] for e in ERRORS])
def test_every_problem_is_one_line_naming_the_file(tmp_path, text, cause):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{path}": {cause}') as info:
        load(path)
    error = info.value
    assert isinstance(error, ClusterError) and error.status == 0
    assert "\n" not in str(error)
    assert error.hint  # says what to do
    for internal in ("object", "NoneType", "Traceback", "KeyError", "'dict'", "'str'"):
        assert internal not in error.message


def test_a_file_that_cannot_be_read(tmp_path):
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{tmp_path}": it is a directory, not a file'):
        load(tmp_path)
    missing = tmp_path / "nope"
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{missing}": no such file'):
        load(missing)


def test_no_kubeconfig_anywhere_says_how_to_get_one(tmp_path):
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{tmp_path}/.kube/config": no such file') as info:
        load(environ={"HOME": str(tmp_path)})
    assert "--kubeconfig" in (info.value.hint or "") and "chartkit up" in (info.value.hint or "")
    listed = f"{tmp_path}/a{os.pathsep}{tmp_path}/b"
    with pytest.raises(KubeError, match=r'^unable to load kubeconfig "\$KUBECONFIG=.*/a:.*/b": none of its files'):
        load(environ={"KUBECONFIG": listed})


def test_an_entry_error_names_the_file_that_holds_the_entry(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_text("current-context: x\n")
    second.write_text(_doc(users=[_user(**{"client-key-data": BAD_B64, "client-certificate-data": "Zm9v"})]))
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{second}": user "u": client-key-data'):
        load(environ={"KUBECONFIG": f"{first}{os.pathsep}{second}"})


def test_binary_garbage_is_one_line_not_a_decode_traceback(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_bytes(b"\x00\x01\x02\xff\xfe garbage")
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{path}": not UTF-8 text \(byte 3\)'):
        load(path)


def test_unsupported_secrets_are_not_echoed_in_errors(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(_doc(users=[_user(token="t0ken-value", username="a", password="pa55word")]))
    with pytest.raises(KubeError) as info:
        load(path)
    assert "t0ken-value" not in str(info.value) and "pa55word" not in str(info.value)


def test_the_cert_file_error_names_the_missing_file(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(_doc(users=[_user(**{"client-certificate": "me.crt", "client-key": "me.key"})]))
    with pytest.raises(KubeError, match=rf'user "u": cannot read client-certificate "{tmp_path}/me.crt"'):
        load(path)


def test_paths_render_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("rel").write_text("- a\n")
    with pytest.raises(KubeError, match=r'^unable to load kubeconfig "rel": it holds a list'):
        load("rel")


def test_json_and_yaml_kubeconfigs_read_alike(tmp_path):
    as_json = tmp_path / "json"
    as_json.write_text(kubeconfig_text(SERVER, user={"token": "t"}))
    as_yaml = tmp_path / "yaml"
    as_yaml.write_text("clusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:6443'}\nusers:\n- name: u\n"
                       "  user: {token: t}\ncontexts:\n- name: test\n  context: {cluster: c, user: u}\n"
                       "current-context: test\n")
    flow = tmp_path / "flow"  # starts like JSON, is only YAML: the YAML parser takes it
    flow.write_text("{clusters: [{name: c, cluster: {server: 'https://127.0.0.1:6443'}}], users: [{name: u, user: "
                    "{token: t}}], contexts: [{name: test, context: {cluster: c, user: u}}], current-context: test}\n")
    loaded = [load(p) for p in (as_json, as_yaml, flow)]
    assert {(c.server, c.token, c.context) for c in loaded} == {(SERVER, "t", "test")}
