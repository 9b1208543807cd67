"""Concurrent index updates: the read-modify-write holds ``.index.lock``, so nobody's versions are dropped."""

from __future__ import annotations

import io
import json
import tarfile
import threading
from pathlib import Path

from toolkit.catalog.index import LOCK_FILE, build_entry, load_index, update_index
from toolkit.config import CatalogURL

URL = CatalogURL.parse("oci://127.0.0.1:5000/charts")


def _entry(version: str) -> dict:
    chart = io.BytesIO()
    with tarfile.open(fileobj=chart, mode="w:gz") as tar:
        data = f"apiVersion: v2\nname: demo\nversion: {version}\n".encode()
        info = tarfile.TarInfo("demo/Chart.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    manifest = json.dumps({"schemaVersion": 2, "layers": []}).encode()
    return build_entry(URL, "demo", version, manifest, chart.getvalue())


def test_concurrent_publishers_of_different_versions_all_land(tmp_path: Path) -> None:
    index_dir = tmp_path / "repo-index"
    writers, per_writer = 4, 12
    entries = {w: [_entry(f"1.{w}.{i}") for i in range(per_writer)] for w in range(writers)}
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def publisher(w: int) -> None:
        try:
            start.wait()
            for entry in entries[w]:
                update_index(index_dir, URL, [("demo", entry)])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=publisher, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert failures == []
    assert sorted(load_index(index_dir).types["demo"]) == sorted(
        f"1.{w}.{i}" for w in range(writers) for i in range(per_writer))
    assert (index_dir / LOCK_FILE).exists()
