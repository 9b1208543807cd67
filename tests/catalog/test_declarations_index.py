"""The catalog index and ``chartkit catalog show`` carry each version's declarations (chartkit.yaml)."""

from __future__ import annotations

import json
import uuid

import jsonschema
import pytest

from tests.broker.conftest import write_mq_chart

pytestmark = pytest.mark.registry


def test_index_entry_and_catalog_show_expose_plans_outputs_and_strategy(registry, helm_bin, tmp_path, capsys):
    from toolkit.catalog.index import schema_path
    from toolkit.cli import main
    from toolkit.config import CatalogRef, CatalogURL, Config
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish

    catalog = CatalogRef(CatalogURL.parse(f"{registry.url}/i-{uuid.uuid4().hex[:8]}"), "test", registry.ca_file,
                         registry.registry_config)
    config = Config(catalog, helm_binary=helm_bin)
    index = tmp_path / "index"
    chart = write_mq_chart(tmp_path, "1.0.0", strategy={"kind": "cutover"})
    bare = write_mq_chart(tmp_path, "1.0.0", name="bare")
    (bare / "chartkit.yaml").unlink()
    for source in (chart, bare):
        made = package(config, PackageOptions(chart=source, version="1.0.0", destination=source.parent, offline=True))
        publish(config, PublishOptions(packages=(made.path,), index_dir=index)).raise_for_errors()

    data = json.loads((index / "index.json").read_text())
    jsonschema.validate(data, json.loads(schema_path().read_text()))
    decl = data["types"]["mq"]["1.0.0"]["declarations"]
    assert [p["name"] for p in decl["plans"]] == ["small", "large", "nobind"]
    assert decl["plans"][0]["locked"] == ["replicaCount"] and decl["plans"][2]["bindable"] is False
    assert decl["updateStrategy"] == {"kind": "cutover"} and decl["declared"] is True
    assert {o["key"]: o["sensitive"] for o in decl["outputs"]} == {
        "host": False, "port": False, "username": True, "password": True, "uri": True}
    assert data["types"]["bare"]["1.0.0"]["declarations"]["declared"] is False

    assert main(["catalog", "show", "mq", "--index", str(index)]) == 0
    out = capsys.readouterr().out
    assert "small        (default) one small replica" in out and "locked: replicaCount" in out
    assert "large" in out and "(paid)" in out
    assert "outputs host, port, username (secret), password (secret), uri (secret)" in out
    assert 'update strategy: {"kind": "cutover"}' in out
    assert main(["catalog", "show", "bare", "--index", str(index)]) == 0
    assert "no chartkit.yaml: the defaults" in capsys.readouterr().out
