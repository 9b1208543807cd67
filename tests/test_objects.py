"""The fast YAML path (libyaml events straight to plain values) gives exactly what ruamel's constructor gives.

``load_documents`` builds values from libyaml's events and hands anything unusual to ruamel's full constructor;
these tests hold the two to the same objects, value types and key order, on every real manifest and on every
kind of scalar YAML 1.1 resolves.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from toolkit.objects import _load_plain, _load_ruamel, load_documents
from toolkit.errors import InputError

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
MANIFESTS = sorted([*CORPUS.rglob("*.yaml"), *(REPO / "tests" / "chartify" / "data").glob("*.yaml"),
                    *(REPO / "examples").rglob("*.yaml")])


def same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1, 1.0 and True differ) and the same key order; NaN == NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def test_there_are_manifests_to_compare() -> None:
    assert len(MANIFESTS) >= 10, MANIFESTS


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_manifest_reads_the_same_through_the_fast_path(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert same(_load_plain(text), _load_ruamel(text, str(path)))


# every scalar form YAML 1.1 resolves (int, float, bool, null, timestamp, =) and near misses that stay strings
SCALARS = """
0 00 0755 -0755 +0755 08 09 0_7 12 +12 -12 1_000 0b101 -0b1_1 0x1F -0xff 0o17 1:30 -190:20:30 123456789012345678901
1.5 -1.5 1. .5 -.5 1e3 1E+3 -1.5e-3 1.0e+06 1e+06 6.8523015e+5 1_000.5 1:30.5 .inf -.Inf +.INF .nan .NaN .NAN 1.2.3
y Y n N yes Yes YES no No NO on On ON off Off OFF true True TRUE false False FALSE tRuE yES oN
~ null Null NULL nULL
2024-01-01 2001-12-14t21:59:43.10-05:00 2001-12-14T21:59:43Z 2024-1-1 2024-01-01x
= == a=b < - -- . .. ... + +1x 0x 0b 1e 1_ _1 v1 1.20 01.20 0.0.0.0 127.0.0.1 80:8080 3.14.15 1:2:3:4
""".split()


def _scalar_docs() -> list[str]:
    values = "\n".join(f"- {s}" for s in SCALARS)
    quoted = "\n".join(f"- '{s}'" for s in SCALARS)
    keys = "\n".join(f"- {s}: 1" for s in SCALARS if not s.startswith("-"))  # one-key maps: no duplicates
    return [values, quoted, keys, "a: ''\nb:\nc: \"\"\n", "%YAML 1.2\n---\na: 0755\nb: yes\n",
            "a: !!str 0755\nb: !!int '0755'\nc: !!float '1'\nd: !!bool 'on'\ne: !!null x\nf: !!timestamp 2024-01-01\n"
            "g: !!value =\nh: ! 12\n",
            "x: |\n  line\n   two\ny: >-\n  folded\n  text\nz: \"\\u2028\\t\"\n", "--- 1\n--- [a]\n---\n--- {}\n...",
            "\ufeffa: 1\r\nb: yes\r\n", "", "# only a comment\n"]


@pytest.mark.parametrize("text", _scalar_docs(), ids=["plain", "quoted", "keys", "empty", "yaml-1.2-directive",
                                                      "explicit-tags", "block-scalars", "many-documents",
                                                      "bom-and-crlf", "empty-stream", "only-a-comment"])
def test_every_scalar_form_reads_the_same_through_the_fast_path(text: str) -> None:
    assert same(_load_plain(text), _load_ruamel(text, "t.yaml"))


@pytest.mark.parametrize("text", [
    pytest.param("base: &b {x: 1}\nuse: *b\n", id="anchor-and-alias"),
    pytest.param("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n", id="merge-key"),
    pytest.param("? [a, b]\n: 1\n", id="complex-key"),
    pytest.param("a: !!binary aGVsbG8=\n", id="binary"),
    pytest.param("a: !!set {x, y}\n", id="set"),
])
def test_what_the_fast_path_leaves_to_ruamel_reads_as_ruamel_reads_it(text: str) -> None:
    with pytest.raises(Exception):  # noqa: B017, PT011 - any refusal hands over to ruamel
        _load_plain(text)
    assert same(load_documents(text, "t.yaml"), _load_ruamel(text, "t.yaml"))


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("a: 1\na: 2\n", r'"t\.yaml" \(document 0, line 2 column 1\): found duplicate key "a"', id="duplicate"),
    pytest.param("a: 1\n---\nb: [1\n", r'"t\.yaml" \(document 1, line \d+ column \d+\)', id="syntax-second-doc"),
    pytest.param("a: !custom 1\n", r'"t\.yaml" \(document 0, line 1 column 4\): could not determine a constructor',
                 id="unknown-tag"),
    pytest.param("a: <<\n", r"document 0, line 1 column 4\): could not determine a constructor for the tag "
                 r"'tag:yaml.org,2002:merge'", id="merge-word-as-a-value"),
])
def test_errors_still_name_document_line_and_column(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_documents(text, "t.yaml")
