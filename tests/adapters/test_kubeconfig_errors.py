"""A kubeconfig chartkit cannot read is one KubeError line naming the file and what is wrong, in our words."""

from __future__ import annotations

import pytest

from toolkit.adapters.kube import Kube, KubeError


@pytest.mark.parametrize(("text", "cause"), [
    ("apiVersion: v1\nclusters: [\n  - name: x\n", r"not valid YAML at line 3, column 3: did not find expected node"),
    ("- a\n- b\n", r"it holds a list, not a map of clusters, users and contexts"),
    ("just text\n", r"it holds a string, not a map of clusters, users and contexts"),
], ids=["bad-yaml", "top-level-list", "top-level-string"])
def test_malformed_kubeconfig_is_one_line_naming_the_file(tmp_path, text, cause):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{path}": {cause}') as info:
        Kube(path)
    assert "\n" not in info.value.message
    assert "--kubeconfig" in (info.value.hint or "")
