"""Reading objects: files, directories, stdin, List unwrapping, YAML 1.1 types, and every kind of bad input."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from toolkit.chartify.read import ReadOptions, read_app, read_sources
from toolkit.errors import InputError
from toolkit.objects import load_documents

DEPLOY = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


def test_yaml_is_read_as_the_api_server_reads_it() -> None:
    [doc] = load_documents("a: [=, 0755, yes, '1.20', 1.20, 2024-01-01, ~, 1e+06]\n", "t.yaml")
    assert doc["a"] == ["=", 0o755, True, "1.20", 1.2, "2024-01-01", None, 1e6]


def test_a_yaml_directive_does_not_change_how_objects_are_read() -> None:
    # the API server reads YAML 1.1 whatever the directive says, and so does chartify, stream after stream
    assert load_documents("%YAML 1.2\n---\na: 0755\n", "one.yaml") == [{"a": 0o755}]
    assert load_documents("a: 0755\n", "two.yaml") == [{"a": 0o755}]


def test_directories_are_read_recursively_in_order_and_lists_unwrapped(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a.yaml").write_text(DEPLOY)
    (tmp_path / "b" / "list.yml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: one}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: two}}\n")
    (tmp_path / "notes.txt").write_text("not a manifest")
    # a kustomization below the directory given is tool configuration, not an object (only the top one is built)
    (tmp_path / "b" / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n")
    found = read_app([str(tmp_path)])
    assert [o.id for o in found.objects] == ["Deployment/shop/web", "ConfigMap/one", "ConfigMap/two"]
    assert found.objects[1].origin.endswith("list.yml") and found.objects[1].index == 0
    assert found.how == {str(tmp_path): "read file by file (3 files, no kustomization)"}


def test_typed_lists_are_unwrapped_and_their_bare_items_take_the_list_kind(tmp_path: Path) -> None:
    # the API server returns typed lists with bare items (`kubectl get --raw`); kubectl accepts every *List
    (tmp_path / "lists.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleList\nitems:\n"
        "- {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: a, namespace: x}, rules: []}\n"
        "---\napiVersion: v1\nkind: ConfigMapList\nmetadata: {resourceVersion: '1'}\nitems:\n"
        "- {metadata: {name: bare}, data: {k: v}}\n"
        "---\napiVersion: v1\nkind: SecretList\nitems: null\n")
    objects = read_sources([str(tmp_path / "lists.yaml")])
    assert [o.id for o in objects] == ["Role/x/a", "ConfigMap/bare"]
    assert objects[1].obj == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bare"},
                              "data": {"k": "v"}}
    assert objects[1].index == 1


def test_stdin_is_a_source() -> None:
    objects = read_sources(["-"], stdin=io.StringIO(DEPLOY + "---\n"))
    assert [o.id for o in objects] == ["Deployment/shop/web"]


def test_stdin_bytes_are_decoded_like_files() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(DEPLOY.encode() + b"---\n"))
    assert [o.id for o in read_sources(["-"], stdin=stdin)] == ["Deployment/shop/web"]


def test_stdin_that_is_not_utf8_is_one_line_error() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"a: \xff\xfe\n"))
    with pytest.raises(InputError, match=r'unable to read "-": not UTF-8 text \(byte 3\)'):
        read_sources(["-"], stdin=stdin)


def _write(tmp_path: Path, text: str | bytes, name: str = "app.yaml") -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


BAD_INPUTS = [
    pytest.param("kind: Deployment\nmetadata: {name: x\n", r'app\.yaml" \(document 0, line \d+ column \d+\)',
                 id="malformed-yaml"),
    pytest.param(DEPLOY + "---\nfoo: [1, 2\n", r"document 1, line", id="malformed-second-document"),
    pytest.param("services:\n  web:\n    image: nginx\n", r"document 0\): object \"\?\" has no apiVersion",
                 id="non-kubernetes-yaml"),
    pytest.param("- a\n- b\n", r"expected a Kubernetes object \(a mapping\), got list", id="not-a-mapping"),
    pytest.param("apiVersion: v1\nmetadata: {name: x}\n", r"object \"x\" has no kind", id="missing-kind"),
    pytest.param("kind: ConfigMap\nmetadata: {name: x}\n", r"ConfigMap \"x\" has no apiVersion",
                 id="missing-apiversion"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\n",
                 r"document 0\): ConfigMap \"\?\" has no metadata.name", id="missing-name"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\n", r"ConfigMap \"\?\" has no metadata", id="missing-metadata"),
    pytest.param("apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\n", r"generateName but no metadata.name",
                 id="generate-name"),
    pytest.param("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: [a]}\n",
                 r"field metadata.labels must be a mapping", id="labels-not-a-map"),
    pytest.param(DEPLOY + "---\n" + DEPLOY, r"\(document 1\): Deployment/shop/web duplicates the object at .*"
                 r"\(document 0\)", id="duplicate-object"),
    pytest.param("", r"no Kubernetes object found", id="empty-file"),
    pytest.param("# only a comment\n---\n", r"no Kubernetes object found", id="only-comments"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", r"not UTF-8 text", id="binary-file"),
    pytest.param("apiVersion: v1\nkind: List\nitems:\n- {kind: ConfigMap, metadata: {name: a}}\n",
                 r"document 0, List item 0\): ConfigMap \"a\" has no apiVersion", id="bad-list-item"),
    pytest.param("apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap, data: {}}\n",
                 r"document 0, ConfigMapList item 0\): ConfigMap \"\?\" has no metadata", id="bad-typed-list-item"),
]


@pytest.mark.parametrize(("text", "message"), BAD_INPUTS)
def test_bad_input_is_one_line_naming_file_document_object_field(tmp_path: Path, text: str, message: str) -> None:
    source = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        read_sources([source])
    assert "\n" not in str(info.value)


def test_duplicates_across_files_name_both(tmp_path: Path) -> None:
    first, second = _write(tmp_path, DEPLOY, "a.yaml"), _write(tmp_path, DEPLOY, "b.yaml")
    with pytest.raises(InputError, match=r'b\.yaml" \(document 0\): Deployment/shop/web duplicates .*a\.yaml'):
        read_sources([first, second])


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r'unable to read ".*nope.yaml": no such file'):
        read_sources([str(tmp_path / "nope.yaml")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no .yaml, .yml or .json file"):
        read_sources([str(tmp_path / "empty")])


def test_dangling_symlink_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing-target.yaml")
    with pytest.raises(InputError, match=r'unable to read ".*gone.yaml"'):
        read_sources([str(tmp_path / "gone.yaml")])


def test_a_20_mb_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as fh:
        fh.write(DEPLOY + "---\n")
        chunk = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c%d}\ndata: {k: '" + "x" * 2000 + "'}\n---\n"
        for i in range(10_000):
            fh.write(chunk % i)
    assert path.stat().st_size > 20_000_000
    with pytest.raises(InputError, match=r'huge.yaml": 2\d\.\d MB exceeds the 10\.5 MB limit'):
        read_sources([str(path)])
    # the limit is an option, not a hard-coded wall
    assert len(read_sources([str(path)], options=ReadOptions(max_file_bytes=30_000_000))) == 10_001
