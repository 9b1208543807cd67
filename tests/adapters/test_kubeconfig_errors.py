"""A kubeconfig chartkit cannot read is one KubeError line naming the file, not a parser traceback."""

from __future__ import annotations

import pytest

from toolkit.adapters.kube import Kube, KubeError


@pytest.mark.parametrize(("text", "cause"), [
    ("apiVersion: v1\nclusters: [\n  - name: x\n", r"while parsing a flow node \(line 3\)"),
    ("- a\n- b\n", r"list indices must be integers"),
    ("just text\n", r"'str' object does not support item assignment"),
], ids=["bad-yaml", "top-level-list", "top-level-string"])
def test_malformed_kubeconfig_is_one_line_naming_the_file(tmp_path, text, cause):
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(KubeError, match=rf'^unable to load kubeconfig "{path}": {cause}') as info:
        Kube(path)
    assert "\n" not in info.value.message
    assert "--kubeconfig" in (info.value.hint or "")
