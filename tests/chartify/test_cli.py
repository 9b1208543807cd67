"""The chartify and verify commands: exit codes, one-line errors, nothing half-written, the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "chat"

BAD = [
    pytest.param("a.yaml", "kind: [\n", r'a\.yaml" \(document 0, line 2 column 1\)', id="malformed-yaml"),
    pytest.param("a.yaml", "name: x\nreplicas: 3\n", r'a\.yaml" \(document 0\): object "\?" has no apiVersion',
                 id="non-kubernetes"),
    pytest.param("a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {}\n", r'Service "\?" has no metadata.name',
                 id="missing-name"),
    pytest.param("a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n", r"ConfigMap/c duplicates", id="duplicate"),
    pytest.param("a.yaml", "", r"no Kubernetes object found", id="empty"),
    pytest.param("a.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
                 "    spec:\n      containers: [{name: c, image: 'bad image'}]\n",
                 r"Deployment/d field spec.template.spec.containers\[0\].image: the image must be", id="bad-image"),
    pytest.param("a.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
                 "    spec:\n      containers: [{name: c, image: 'nginx@sha256:zz'}]\n",
                 r"Deployment/d field spec.template.spec.containers\[0\].image: 'sha256:zz' is not a digest",
                 id="bad-digest"),
    pytest.param("a.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n"
                 "    spec: {containers: []}\n", r"spec.template.spec.containers must list at least one",
                 id="no-containers"),
    pytest.param("a.yaml", b"\xff\xfe\x00binary", r"not UTF-8 text", id="unreadable-binary"),
]


@pytest.mark.parametrize(("filename", "content", "message"), BAD)
def test_bad_input_exits_1_with_one_line_and_writes_nothing(tmp_path: Path, capsys, filename: str,
                                                           content: str | bytes, message: str) -> None:
    source = tmp_path / "in" / filename
    source.parent.mkdir()
    source.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = tmp_path / "out"
    out.mkdir()
    code = main(["chartify", str(source), "--name", "app", "-o", str(out / "app"), "--no-verify"])
    err = capsys.readouterr().err
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("chartkit:")]
    assert len(lines) == 1 and lines[0].startswith("chartkit: error: unable to")
    import re

    assert re.search(message, lines[0]), lines[0]
    assert list(out.iterdir()) == []  # no chart, no temp dir left behind


def test_a_20_mb_file_exits_1_and_writes_nothing(tmp_path: Path, capsys) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: '" + b"x" * 20_000_000 + b"'}\n")
    code = main(["chartify", str(big), "--name", "app", "-o", str(tmp_path / "app"), "--no-verify"])
    assert code == 1
    assert "MB exceeds the 10.5 MB limit per manifest file" in capsys.readouterr().err
    assert not (tmp_path / "app").exists()


def test_chartify_prints_the_fidelity_figure_and_verify_prints_the_table(tmp_path: Path, capsys, helm_bin) -> None:
    out = tmp_path / "chat"
    assert main(["chartify", str(EXAMPLE), "--name", "chat", "-o", str(out), "--helm", str(helm_bin)]) == 0
    printed = capsys.readouterr().out
    assert "chart " + str(out) + ": 6 objects, 1 components, 26 parameters (0 locked)" in printed
    assert "fidelity: 6/6 objects equal (100%)" in printed
    assert main(["verify", str(out), "--against", str(EXAMPLE), "--helm", str(helm_bin)]) == 0
    printed = capsys.readouterr().out
    for expected in ("Deployment/chat/chat", "Secret/chat/chat-mq", "equal (existing Secret)",
                     "fidelity: 6/6 objects equal (100%)",
                     "lacked them): app.kubernetes.io/instance, app.kubernetes.io/managed-by, app.kubernetes.io/version, "
                     "helm.sh/chart"):
        assert expected in printed


def test_verify_exits_1_when_the_chart_no_longer_matches(tmp_path: Path, capsys, helm_bin) -> None:
    out = tmp_path / "chat"
    assert main(["chartify", str(EXAMPLE), "--name", "chat", "-o", str(out), "--no-verify", "--json"]) == 0
    changed = tmp_path / "changed"
    changed.mkdir()
    for f in EXAMPLE.glob("*.yaml"):
        # a field the chart renders as a literal (replicas would not do: the chart leaves them to the HPA)
        (changed / f.name).write_text(f.read_text().replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 4"))
    capsys.readouterr()
    assert main(["verify", str(out), "--against", str(changed), "--helm", str(helm_bin), "--json"]) == 1
    captured = capsys.readouterr()
    assert '"fidelity": 0.8333333333333334' in captured.out
    assert "does not reproduce its source: 5/6 objects equal (83%)" in captured.err


def test_an_existing_directory_not_made_by_chartify_is_never_replaced(tmp_path: Path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["chartify", str(EXAMPLE), "--name", "chat", "-o", str(mine), "--no-verify"]) == 1
    assert "it exists and was not generated by chartify" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_the_areas_table_names_every_command_its_area_adds() -> None:
    import argparse
    import importlib

    from toolkit.cli import AREAS, build_parser

    for area, commands in AREAS:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(f"toolkit.cli.{area}").register(sub)
        assert tuple(sub.choices) == commands
    everything = build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public way
    assert list(everything) == [c for _, commands in AREAS for c in commands]
    assert list(build_parser("verify")._subparsers._group_actions[0].choices) == ["chartify", "verify"]  # noqa: SLF001
