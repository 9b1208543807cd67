"""Kustomization directories are built with real kustomize, like `kubectl apply -k`: the adapter (where kustomize
comes from, one-line failures) and two public overlays chartified and rendered back equal to `kustomize build`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from toolkit.adapters.kustomize import Kustomize, find_kustomize, kustomization_file
from toolkit.chartify import ChartifyOptions, chartify
from toolkit.chartify.read import ReadOptions, load_documents
from toolkit.chartify.verify import compare
from toolkit.cli import main
from toolkit.errors import InputError, LocalEnvError

DATA = Path(__file__).parent / "data"  # public sources, each with SOURCE.txt naming the git blob of every file
IT_ASSETS = DATA / "it-assets" / "overlays" / "prod"
LDAP = DATA / "kustomize-ldap" / "overlays"


def _tool(directory: Path, name: str, target: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).symlink_to(target)
    return directory / name


def test_kustomize_is_found_like_helm(tmp_path: Path, kustomize_bin: Path, monkeypatch) -> None:
    monkeypatch.delenv("CHARTKIT_KUSTOMIZE", raising=False)
    on_path = _tool(tmp_path / "path", "kustomize", kustomize_bin)
    kubectl = _tool(tmp_path / "kubectl-only", "kubectl", kustomize_bin)
    fallback = tmp_path / "cache" / "kustomize"
    monkeypatch.setenv("PATH", f"{on_path.parent}{os.pathsep}{kubectl.parent}")
    assert find_kustomize(kustomize_bin) == Kustomize((str(kustomize_bin), "build"), "--kustomize")
    monkeypatch.setenv("CHARTKIT_KUSTOMIZE", str(kustomize_bin))
    assert find_kustomize().source == "CHARTKIT_KUSTOMIZE"
    monkeypatch.delenv("CHARTKIT_KUSTOMIZE")
    assert find_kustomize() == Kustomize((str(on_path), "build"), "PATH")
    monkeypatch.setenv("PATH", str(kubectl.parent))
    assert find_kustomize() == Kustomize((str(kubectl), "kustomize"), "kubectl")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LocalEnvError, match=r"unable to find kustomize: .*\(hint: run `chartkit up`"):
        find_kustomize(fallback=fallback)
    _tool(fallback.parent, "kustomize", kustomize_bin)
    assert find_kustomize(fallback=fallback) == Kustomize((str(fallback), "build"), "the local build")


def test_a_kustomize_that_is_not_executable_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "kustomize"
    bogus.write_text("not a binary")
    with pytest.raises(LocalEnvError, match=r'unable to use kustomize ".*" \(from --kustomize\): not an executable'):
        find_kustomize(bogus)


def test_only_a_directory_with_a_kustomization_file_is_built(tmp_path: Path) -> None:
    assert kustomization_file(tmp_path) is None
    (tmp_path / "Kustomization").write_text("resources: []\n")
    assert kustomization_file(tmp_path) == tmp_path / "Kustomization"
    (tmp_path / "kustomization.yml").write_text("resources: []\n")
    assert kustomization_file(tmp_path) == tmp_path / "kustomization.yml"


def test_a_failed_build_is_one_line_with_kustomizes_own_reason(tmp_path: Path, kustomize_bin: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n- missing.yaml\n")
    with pytest.raises(InputError) as info:
        chartify([str(tmp_path)], ChartifyOptions(name="app", output=tmp_path / "out", verify=False,
                                                  read=ReadOptions(kustomize=kustomize_bin)))
    message = str(info.value)
    assert message.startswith(f'unable to build kustomization "{tmp_path}": accumulating resources: ')
    assert "missing.yaml" in message and "\n" not in message
    assert not (tmp_path / "out").exists()


def _built(kustomize_bin: Path, directory: Path) -> list[dict]:
    """What `kustomize build` prints, parsed independently of chartify's reader."""
    import subprocess

    text = subprocess.run([str(kustomize_bin), "build", str(directory)], capture_output=True, text=True,
                          check=True).stdout
    return [d for d in load_documents(text, "kustomize build") if d]


def _render_back(chart: Path, built: list[dict], render) -> dict[tuple[str, str], dict]:
    """Render the chart with defaults; every built object but the Secret (kept via existingSecret) comes back."""
    rendered = {(o["kind"], o["metadata"]["name"]): o for o in render(chart)}
    for obj in built:
        if obj["kind"] == "Secret":
            assert (obj["kind"], obj["metadata"]["name"]) not in rendered
            continue
        diff, _ = compare(rendered[(obj["kind"], obj["metadata"]["name"])], obj)
        assert diff is None, f"{obj['kind']}/{obj['metadata']['name']}: {diff}"
    return rendered


def test_a_production_overlay_with_labels_suffix_images_patches_and_generators(
        tmp_path: Path, helm, render, kustomize_bin: Path) -> None:
    result = chartify([str(IT_ASSETS)], ChartifyOptions(name="itassets", output=tmp_path / "itassets",
                                                        read=ReadOptions(kustomize=kustomize_bin)), helm=lambda: helm)
    assert result.read == {str(IT_ASSETS): f"built with kustomize v5.8.2 ({kustomize_bin}, from --kustomize)"}
    assert result.verification.figure == "24/24 objects equal (100%)"
    assert "[WARNING]" not in result.verification.lint_output
    built = _built(kustomize_bin, IT_ASSETS)
    assert len(built) == 24
    rendered = _render_back(tmp_path / "itassets", built, render)
    # what only the build supplies: selectors from `labels: includeSelectors`, the suffix, the image tag, patches
    sts = rendered[("StatefulSet", "itassets-postgres-fdw-prod")]
    assert sts["spec"]["selector"]["matchLabels"] == {"app": "itassets-postgres-fdw", "variant": "prod"}
    assert rendered[("PodDisruptionBudget", "itassets-pdb-prod")]["spec"]["selector"]["matchLabels"] == \
        {"app": "itassets-deployment", "variant": "prod"}
    deploy = rendered[("Deployment", "itassets-deployment-prod")]
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "ghcr.io/dbca-wa/it-assets:2.5.4"
    assert deploy["spec"]["template"]["spec"]["containers"][0]["envFrom"] == \
        [{"secretRef": {"name": "itassets-env-prod"}}]
    assert sum(1 for kind, _ in rendered if kind == "CronJob") == 14
    # and the chart's parameters are the built objects' values
    values = load_documents((tmp_path / "itassets" / "values.yaml").read_text(), "values.yaml")[0]
    assert values["itassetsDeploymentProd"]["image"]["tag"] == "2.5.4"
    changed = {(o["kind"], o["metadata"]["name"]): o for o in render(
        tmp_path / "itassets", set_values=("itassetsDeploymentProd.image.tag=2.5.5",))}
    assert changed[("Deployment", "itassets-deployment-prod")]["spec"]["template"]["spec"]["containers"][0][
        "image"] == "ghcr.io/dbca-wa/it-assets:2.5.5"


@pytest.mark.parametrize("overlay", ["production", "staging"])
def test_kustomizes_own_example_overlays_render_back(overlay: str, tmp_path: Path, helm, render,
                                                     kustomize_bin: Path) -> None:
    result = chartify([str(LDAP / overlay)], ChartifyOptions(name="ldap", output=tmp_path / "ldap",
                                                             read=ReadOptions(kustomize=kustomize_bin)), helm=lambda: helm)
    built = _built(kustomize_bin, LDAP / overlay)
    assert result.verification.equal == result.verification.total == len(built)
    rendered = _render_back(tmp_path / "ldap", built, render)
    # namePrefix renamed every object and the generated ConfigMap's hashed name reached the pod's volume
    assert all(name.startswith(f"{overlay}-") for _, name in rendered)
    [cm] = [name for kind, name in rendered if kind == "ConfigMap" and name.startswith(f"{overlay}-ldap-configmap-")]
    volumes = rendered[("Deployment", f"{overlay}-ldap")]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "configmap-volume", "configMap": {"name": cm}} in volumes


def test_the_cli_says_how_each_source_was_read(tmp_path: Path, capsys, kustomize_bin: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(DATA / "kube-state-metrics-v1.3.1", plain)
    code = main(["chartify", str(LDAP / "production"), str(plain), "--name", "app", "-o", str(tmp_path / "app"),
                 "--no-verify", "--kustomize", str(kustomize_bin)])
    err = capsys.readouterr().err
    assert code == 0
    assert f"{LDAP / 'production'}: built with kustomize v5.8.2 ({kustomize_bin}, from --kustomize)" in err
    assert f"{plain}: read file by file (7 files, no kustomization)" in err
