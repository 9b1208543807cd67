"""Sync the catalog's index (``repo-index/``) from the registry: incremental unless ``full``.

One ``_catalog`` page walk, one tag list per type, and for each version the index does not hold its manifest and
chart blob: ``1 + types + 2 × new versions`` requests. ``verify`` also HEADs every version the index holds (one
request each) and refetches those whose manifest changed: chartkit never overwrites a version, but plain
``helm push`` can.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from toolkit.adapters.oci import Registry
from toolkit.catalog.index import (Index, build_entry, chart_layer_digest, deprecated_tags, index_lock, load_index,
                                   types_of, write_index)
from toolkit.catalog.versions import tag_to_version
from toolkit.config import Config
from toolkit.errors import CatalogError

__all__ = ["SyncOptions", "SyncResult", "sync"]

log = logging.getLogger(__name__)

_WORKERS = 8
Progress = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class SyncOptions:
    index_dir: Path = Path("repo-index")
    full: bool = False                    # rebuild from scratch
    verify: bool = False                  # re-check every indexed version's digest


@dataclass(frozen=True)
class SyncResult:
    catalog: str
    types: int
    versions: int
    added: list[str]
    removed: list[str]
    deprecated: list[str]
    requests: int
    path: Path
    changed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"catalog": self.catalog, "types": self.types, "versions": self.versions, "added": self.added,
                "removed": self.removed, "deprecated": self.deprecated, "changed": self.changed,
                "skipped": self.skipped, "requests": self.requests, "index": str(self.path)}


def sync(config: Config, options: SyncOptions, *, registry: Registry | None = None,
         progress: Progress | None = None) -> SyncResult:
    """Bring the index in line with the catalog; fetch only versions it does not hold yet."""
    url, index_dir, full, verify = config.catalog.url, options.index_dir, options.full, options.verify
    reg = registry or config.catalog.registry()
    start = reg.requests
    with index_lock(index_dir):  # from load through write: a concurrent publish's entries survive
        index = load_index(index_dir)
        if full or index.catalog != str(url):
            if index.catalog and index.catalog != str(url):
                log.warning("index %s described %s; rebuilding it for %s", index_dir, index.catalog, url)
            index = Index(catalog=str(url))
        try:
            types = types_of(url, reg)
            with ThreadPoolExecutor(_WORKERS) as pool:
                tag_lists = dict(zip(types, pool.map(lambda t: reg.tags(url.repository(t)), types)))
                wanted: list[tuple[str, str, bool]] = []
                added, removed, newly_deprecated, changed, skipped = [], [], [], [], []
                for type_name, tags in tag_lists.items():
                    deprecated = deprecated_tags(tags)
                    held = index.types.get(type_name, {})
                    live = {tag_to_version(t): t for t in tags if tag_to_version(t)}
                    for version in list(held):
                        if version not in live:
                            removed.append(f"{type_name}:{version}")
                            del held[version]
                        elif (live[version] in deprecated) != bool(held[version].get("deprecated")):
                            held[version]["deprecated"] = live[version] in deprecated
                            if held[version]["deprecated"]:
                                newly_deprecated.append(f"{type_name}:{version}")
                    for version, tag in live.items():
                        if version not in held:
                            wanted.append((type_name, tag, tag in deprecated))
                if verify:
                    held_tags = [(t, v, e["tag"]) for t, versions in index.types.items() if t in tag_lists
                                 for v, e in versions.items()]
                    digests = pool.map(lambda item: reg.manifest_digest(url.repository(item[0]), item[2]), held_tags)
                    for (type_name, version, tag), digest in zip(held_tags, digests):
                        if digest != index.types[type_name][version]["manifestDigest"]:
                            log.warning("%s %s changed in the registry (%s); refetching", type_name, version, digest)
                            changed.append(f"{type_name}:{version}")
                            wanted.append((type_name, tag, bool(index.types[type_name][version]["deprecated"])))

                def fetch(item: tuple[str, str, bool]) -> tuple[str, dict[str, Any] | None]:
                    type_name, tag, is_deprecated = item
                    repo = url.repository(type_name)
                    found = reg.manifest(repo, tag)
                    if found is None:
                        raise CatalogError(f'unable to sync "{type_name}:{tag}": its manifest vanished during sync')
                    manifest = found[0]
                    chart_digest = chart_layer_digest(manifest)
                    if not chart_digest:
                        log.warning("skipping %s:%s: not a Helm chart (no chart layer)", type_name, tag)
                        return type_name, None
                    entry = build_entry(url, type_name, tag, manifest, reg.blob(repo, chart_digest),
                                        deprecated=is_deprecated)
                    if progress:
                        progress(f"{type_name} {entry['version']}")
                    return type_name, entry

                for (type_name, tag, _), (_, entry) in zip(wanted, pool.map(fetch, wanted)):
                    if entry is None:
                        skipped.append(f"{type_name}:{tag}")
                        continue
                    index.types.setdefault(type_name, {})[entry["version"]] = entry
                    if f"{type_name}:{entry['version']}" not in changed:
                        added.append(f"{type_name}:{entry['version']}")
            for type_name in [t for t in index.types if t not in tag_lists]:
                removed += [f"{type_name}:{v}" for v in index.types.pop(type_name)]
            for type_name in [t for t, versions in index.types.items() if not versions]:
                del index.types[type_name]
            path = write_index(index_dir, index)
        finally:
            if registry is None:
                reg.close()
    return SyncResult(catalog=str(url), types=len(index.types),
                      versions=sum(len(v) for v in index.types.values()), added=sorted(added),
                      removed=sorted(removed), deprecated=sorted(newly_deprecated),
                      requests=reg.requests - start, path=path, changed=sorted(changed), skipped=sorted(skipped))
