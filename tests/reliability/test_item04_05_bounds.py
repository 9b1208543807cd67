"""Issue 14, items 4 and 5: YAML alias bombs and huge --set indexes are refused at once, in bounded memory.

Before: a 324-byte values file given with ``-f`` grew ~68 MB/s and never returned; chartify of a billion-laughs
manifest reached 4 GB in 22 s; ``--set 'chat.tolerations[100000000]=x'`` was accepted and helm was killed by the
kernel at 22 GB after 233 s (plain helm refuses indexes over 65,536 at once).
"""

from __future__ import annotations

import pytest

from tests.reliability.harness import assert_sane, record, run_chartkit
from toolkit.deploy.values import parse_set
from toolkit.errors import InputError
from toolkit.objects import load_documents

pytestmark = [pytest.mark.reliability]


#: helm's own bound on --set list indexes (pkg/strvals MaxIndex)
MAX_INDEX = 65536


def laughs(levels: int = 9, width: int = 9) -> str:
    """The classic billion laughs: each level a list of ``width`` aliases of the one before (9**9 nodes)."""
    lines = ["a: &a [l,l,l,l,l,l,l,l,l]"]
    names = "abcdefghijklmnop"
    for level in range(1, levels):
        lines.append(f"{names[level]}: &{names[level]} [" + ",".join([f"*{names[level - 1]}"] * width) + "]")
    return "\n".join(lines) + "\n"


BOMB_MANIFEST = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol, namespace: app}\ndata:\n"
                 + "".join(f"  {line}\n" for line in laughs().splitlines()))


def test_the_324_byte_values_bomb_is_refused_by_the_one_parser_at_once():
    text = laughs()
    assert len(text) <= 324
    with pytest.raises(InputError, match=r"excessive aliasing, refused as the API server and helm refuse it"):
        load_documents(text, "values.yaml")
    # anchors in reasonable use still work, merge keys included
    docs = load_documents("base: &b {x: 1}\nuse:\n  <<: *b\n  z: [*b, *b]\n", "ok.yaml")
    assert docs == [{"base": {"x": 1}, "use": {"x": 1, "z": [{"x": 1}, {"x": 1}]}}]


@pytest.mark.parametrize("text", ["a: &a [*a]\n", "[" * 5000 + "]" * 5000, "a:\n" + "".join(
    "  " * i + "- \n" for i in range(1, 1200))], ids=["recursive-alias", "deep-flow", "deep-block"])
def test_recursive_aliases_and_deep_nesting_are_one_line_errors(text):
    with pytest.raises(InputError, match=r"unable to parse \"x.yaml\" \(document 0\): "):
        load_documents(text, "x.yaml")


def test_install_with_a_bomb_values_file_is_refused_before_anything_runs(tmp_path, cli_env, publish_tiny):
    publish_tiny("1.0.0")
    bomb = tmp_path / "values.yaml"
    bomb.write_text(laughs())
    run = run_chartkit(["install", "web", "tiny", "-n", "nowhere", "-f", str(bomb)], env=cli_env, timeout=30,
                       memory_mb=512, tmp_root=tmp_path)
    record("issue 14", "item 4: install -f a 324-byte alias bomb", run)
    assert_sane(run)
    assert run.code == 1 and "excessive aliasing" in run.error_lines[0], run.stderr
    assert run.seconds < 15 and run.peak_mb < 300


def test_chartify_of_a_billion_laughs_manifest_is_refused(tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text(BOMB_MANIFEST)
    run = run_chartkit(["chartify", str(manifest), "--name", "lol", "-o", str(tmp_path / "chart")], timeout=30,
                       memory_mb=512, tmp_root=tmp_path)
    record("issue 14", "item 4: chartify a billion-laughs manifest", run)
    assert_sane(run)
    assert run.code == 1 and "excessive aliasing" in run.error_lines[0], run.stderr
    assert run.peak_mb < 300 and not (tmp_path / "chart").exists()


def test_set_indexes_beyond_helms_maximum_are_refused_like_helm():
    assert len(parse_set([f"a[{MAX_INDEX}]=x"])["a"]) == MAX_INDEX + 1  # helm's own bound is accepted
    with pytest.raises(InputError, match=r'--set "chat.tolerations\[100000000\]=…": index 100000000 is greater '
                                         r"than helm's maximum of 65536"):
        parse_set(["chat.tolerations[100000000]=x"])


def test_install_with_a_huge_set_index_is_refused_before_the_cluster(tmp_path, cli_env, publish_tiny):
    publish_tiny("1.0.0")
    run = run_chartkit(["install", "web", "tiny", "-n", "nowhere", "--set", "env[100000000].name=x"], env=cli_env,
                       timeout=30, memory_mb=512, tmp_root=tmp_path)
    record("issue 14", "item 5: install --set with index 100000000", run)
    assert_sane(run)
    assert run.code == 1 and "greater than helm's maximum of 65536" in run.error_lines[0], run.stderr
    assert run.seconds < 15 and run.peak_mb < 300
