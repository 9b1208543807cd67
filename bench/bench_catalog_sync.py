"""Catalog sync of 500 versions: time and registry requests for a full sync and an incremental one (one new version).

Setup publishes TYPES × VERSIONS synthetic charts to a fresh namespace of the local registry (not timed).
Run: python bench/bench_catalog_sync.py [--types 20] [--versions 25]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import catalog_config, registry, save, timed, write_package  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", type=int, default=20)
    parser.add_argument("--versions", type=int, default=25)
    args = parser.parse_args()

    from toolkit.adapters.oci import Registry
    from toolkit.catalog.index import load_index
    from toolkit.core.publish import PublishOptions, publish
    from toolkit.core.sync import SyncOptions, sync

    info = registry()
    config = catalog_config(info, "bench-sync")
    catalog = str(config.catalog.url)
    results: dict = {"types": args.types, "versions": args.types * args.versions, "catalog": catalog}

    def client() -> Registry:
        return Registry(info.host, ca_file=info.ca_file, registry_config=info.registry_config)

    with tempfile.TemporaryDirectory(prefix="chartkit-bench-sync-") as tmp:
        pkgs = Path(tmp) / "pkgs"
        paths = [write_package(pkgs, f"type{t:02d}", f"1.{v}.0") for t in range(args.types)
                 for v in range(args.versions)]
        with timed(results, "setup_publish_s"):
            publish(config, PublishOptions(packages=tuple(paths), workers=8)).raise_for_errors()
        index_dir = Path(tmp) / "repo-index"
        options = SyncOptions(index_dir=index_dir)
        with client() as reg, timed(results, "full_sync_s"):
            full = sync(config, options, registry=reg)
        results["full_sync_requests"] = full.requests
        assert full.versions == len(paths), full.versions

        with client() as reg, timed(results, "noop_sync_s"):
            noop = sync(config, options, registry=reg)
        results["noop_sync_requests"] = noop.requests

        new = write_package(pkgs / "new", "type00", "9.0.0")
        publish(config, PublishOptions(packages=(new,))).raise_for_errors()
        with client() as reg, timed(results, "incremental_sync_s"):
            incremental = sync(config, options, registry=reg)
        results["incremental_sync_requests"] = incremental.requests
        assert incremental.added == ["type00:9.0.0"], incremental.added
        results["index_bytes"] = (index_dir / "index.json").stat().st_size
        assert sum(len(v) for v in load_index(index_dir).types.values()) == len(paths) + 1
    print(json.dumps(results, indent=2))
    print(f"results in {save('catalog_sync', results)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
