"""Helm's artifact built as pure data: config JSON the way Go marshals chart.Metadata, manifest layout."""

from __future__ import annotations

import json
import os

import pytest

from toolkit.catalog.artifact import (CHART_MEDIA_TYPE, CONFIG_MEDIA_TYPE, PROV_MEDIA_TYPE, build_artifact,
                                      chart_metadata, go_json)
from toolkit.errors import InputError


@pytest.mark.parametrize(("value", "expected"), [
    ({"d": "a<b>&c"}, b'{"d":"a\\u003cb\\u003e\\u0026c"}'),
    ({"d": "caf\u00e9"}, '{"d":"caf\u00e9"}'.encode()),
    ({"a": [1, True, None]}, b'{"a":[1,true,null]}'),
    ({"s": "line\u2028sep"}, b'{"s":"line\\u2028sep"}'),
], ids=["html-escaped", "utf8-kept", "compact", "line-separator"])
def test_go_json_matches_encoding_json(value, expected):
    assert go_json(value) == expected


def test_metadata_follows_go_field_order_and_omits_empty_fields():
    meta = chart_metadata({
        "version": "1.0.0", "name": "web", "apiVersion": "v2", "deprecated": False, "icon": "",
        "annotations": {"z": "1", "a": "2"}, "maintainers": [{"email": "o@x", "name": "Ops", "url": ""}],
        "dependencies": [{"repository": "file://../db", "name": "db", "import-values": [{"parent": "p", "child": "c"}]}],
    })
    assert list(meta) == ["name", "version", "maintainers", "apiVersion", "annotations", "dependencies"]
    assert list(meta["annotations"]) == ["a", "z"]
    assert meta["maintainers"] == [{"name": "Ops", "email": "o@x"}]
    assert list(meta["dependencies"][0]) == ["name", "repository", "import-values"]
    assert list(meta["dependencies"][0]["import-values"][0]) == ["child", "parent"]


def test_artifact_of_a_real_package(make_chart, config_for, tmp_path):
    from toolkit.core.package import PackageOptions, package

    result = package(config_for(), PackageOptions(chart=make_chart("web", "1.2.3+build.1"),
                                                  destination=tmp_path / "out"))
    os.utime(result.path, (1700000000, 1700000000))
    prov = tmp_path / "fake.prov"
    prov.write_text("not a real signature, only its layer placement matters here")
    artifact = build_artifact(result.path, prov=prov)
    manifest = json.loads(artifact.manifest)
    assert "mediaType" not in manifest
    assert artifact.tag == "1.2.3_build.1"
    assert manifest["config"] == {"mediaType": CONFIG_MEDIA_TYPE, "digest": artifact.config.digest,
                                  "size": len(artifact.config.data)}
    assert [layer["digest"] for layer in manifest["layers"]] == sorted(layer["digest"] for layer in manifest["layers"])
    assert {layer["mediaType"] for layer in manifest["layers"]} == {CHART_MEDIA_TYPE, PROV_MEDIA_TYPE}
    annotations = manifest["annotations"]
    assert annotations["org.opencontainers.image.title"] == "web"
    assert annotations["org.opencontainers.image.version"] == "1.2.3+build.1"
    assert annotations["org.opencontainers.image.authors"] == "Ops (ops@example.invalid)"
    assert annotations["org.opencontainers.image.source"] == "https://example.invalid/src"
    assert annotations["team"] == "platform"
    assert annotations["org.opencontainers.image.created"].startswith("2023-11-1")
    config = json.loads(artifact.config.data)
    assert config["description"] == "web for catalog tests <web & api>"
    assert b"\\u003cweb \\u0026 api\\u003e" in artifact.config.data


def test_a_file_that_is_not_a_chart_package_is_refused(tmp_path):
    bogus = tmp_path / "x.tgz"
    bogus.write_bytes(b"plain text")
    with pytest.raises(InputError, match="unable to read chart package"):
        build_artifact(bogus)
