"""Every corpus app chartifies, passes helm lint --strict, and renders back equal to its cleaned source."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.chartify import ChartifyOptions, chartify

APPS = {"guestbook": 6, "bookinfo": 14, "online-boutique": 24, "kube-state-metrics": 5}


@pytest.mark.parametrize("app", sorted(APPS), ids=sorted(APPS))
def test_corpus_app_renders_back_exactly(app: str, corpus_dir: Path, tmp_path: Path, helm) -> None:
    result = chartify([str(corpus_dir / app)], ChartifyOptions(name=app, output=tmp_path / app), helm=helm)
    verification = result.verification
    assert [(r.id, r.detail) for r in verification.rows if not r.status.ok] == []
    assert verification.equal == verification.total == APPS[app]
    assert "[ERROR]" not in verification.lint_output and "[WARNING]" not in verification.lint_output
    assert result.warnings == []
    assert (tmp_path / app / "values.schema.json").is_file()
    # standard labels only on top-level metadata: selectors and pod templates are untouched
    for template in (tmp_path / app / "templates").glob("deployment-*.yaml"):
        text = template.read_text()
        spec = text.split("\nspec:", 1)[1]
        assert "helm.sh/chart" not in spec and "app.kubernetes.io/managed-by" not in spec
