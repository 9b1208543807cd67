"""Every corpus app chartifies, passes helm lint --strict, and renders back equal to its cleaned source."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.chartify import ChartifyOptions, chartify
from toolkit.chartify.read import ReadOptions

APPS = {"guestbook": 6, "bookinfo": 14, "online-boutique": 24, "kube-state-metrics": 5}


@pytest.mark.parametrize("app", sorted(APPS), ids=sorted(APPS))
def test_corpus_app_renders_back_exactly(app: str, corpus_dir: Path, tmp_path: Path, helm, kustomize_bin) -> None:
    # kube-state-metrics is a kustomization: built with the pinned kustomize, as `kubectl apply -k` would
    options = ChartifyOptions(name=app, output=tmp_path / app, read=ReadOptions(kustomize=kustomize_bin))
    result = chartify([str(corpus_dir / app)], options, helm=lambda: helm)
    verification = result.verification
    assert [(r.id, r.detail) for r in verification.rows if not r.status.ok] == []
    assert verification.equal == verification.total == APPS[app]
    assert "[ERROR]" not in verification.lint_output and "[WARNING]" not in verification.lint_output
    assert result.warnings == []
    assert (tmp_path / app / "values.schema.json").is_file()
    # verify ignores added labels on top-level metadata only, so selectors and pod templates are proven untouched
    assert {"helm.sh/chart", "app.kubernetes.io/managed-by"} <= set(verification.ignored_labels)
    assert set(verification.ignored_labels) <= {"helm.sh/chart", "app.kubernetes.io/managed-by",
                                                 "app.kubernetes.io/instance", "app.kubernetes.io/name",
                                                 "app.kubernetes.io/version"}
