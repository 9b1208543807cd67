"""The public sources under tests/chartify/data are byte for byte what their SOURCE.txt says they are."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"  # public sources, each with SOURCE.txt naming the git blob of every file
#: the public sources issue 9's tests read (the older corpus apps keep their own SOURCE.txt format)
SOURCES = [DATA / name / "SOURCE.txt" for name in ("it-assets", "kube-prometheus", "kube-state-metrics-v1.1.0",
                                                   "kube-state-metrics-v1.3.1", "kustomize-ldap")]
SOURCES.append(Path(__file__).parents[1] / "broker" / "data" / "SOURCE.txt")  # the OSB OpenAPI description


@pytest.mark.parametrize("source", SOURCES, ids=[s.parent.name if s.parent.name != "data" else "osb-openapi" for s in SOURCES])
def test_every_file_is_the_git_blob_its_source_names(source: Path) -> None:
    text = source.read_text()
    assert re.search(r"^repository: https://github\.com/\S+$", text, re.M)
    assert re.search(r"^commit: [0-9a-f]{40}$", text, re.M)
    assert re.search(r"^license: \S+", text, re.M)
    files = re.findall(r"local: (\S+)\n\s+bytes: (\d+)\n\s+git_blob: ([0-9a-f]{40})", text)
    assert files
    for local, size, blob in files:
        data = (source.parent / local).read_bytes()
        assert len(data) == int(size), local
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, local
