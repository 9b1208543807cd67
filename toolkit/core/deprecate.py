"""Deprecate a version: a marker tag ``<tag>.deprecated`` in the registry (every clone sees it on sync; helm
ignores it) and the flag in the index. Nothing is deleted."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.adapters.oci import digest_of
from toolkit.catalog.artifact import MANIFEST_MEDIA_TYPE, go_json
from toolkit.catalog.index import (DEPRECATION_ARTIFACT_TYPE, EMPTY_BLOB, EMPTY_MEDIA_TYPE, build_entry,
                                   chart_layer_digest, index_lock, load_index, write_index)
from toolkit.catalog.versions import DEPRECATED_SUFFIX, SemVer, version_to_tag
from toolkit.config import Config
from toolkit.errors import CatalogError

__all__ = ["DeprecateOptions", "deprecate", "deprecation_manifest"]


@dataclass(frozen=True, kw_only=True)
class DeprecateOptions:
    type: str
    version: str
    reason: str = ""
    index_dir: Path | None = Path("repo-index")   # None: leave the index alone


def deprecation_manifest(subject: bytes, *, reason: str, created: str) -> bytes:
    """The marker artifact: empty config and layer, ``subject`` = the chart manifest, the reason annotated."""
    empty = {"mediaType": EMPTY_MEDIA_TYPE, "digest": digest_of(EMPTY_BLOB), "size": len(EMPTY_BLOB)}
    return go_json({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": DEPRECATION_ARTIFACT_TYPE,
        "config": empty,
        "layers": [empty],
        "subject": {"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest_of(subject), "size": len(subject)},
        "annotations": {"dev.chartkit.deprecated.reason": reason, "org.opencontainers.image.created": created},
    })


def deprecate(config: Config, options: DeprecateOptions) -> dict[str, Any]:
    """Mark a version deprecated in the registry (marker tag) and in the index; nothing is deleted."""
    type_name, version, index_dir, reason = options.type, options.version, options.index_dir, options.reason
    url = config.catalog.url
    repo, tag = url.repository(type_name), version_to_tag(str(SemVer.parse(version)))
    with config.catalog.registry() as reg:
        found = reg.manifest(repo, tag)
        if found is None:
            raise CatalogError(f'unable to deprecate "{type_name}" version "{version}" in catalog "{url}": '
                               f"no such version", hint=f"`chartkit catalog show {type_name}` lists its versions")
        already = reg.manifest_digest(repo, tag + DEPRECATED_SUFFIX) is not None
        if not already:
            reg.upload_blob(repo, EMPTY_BLOB, digest_of(EMPTY_BLOB))
            created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            marker = deprecation_manifest(found[0], reason=reason or "deprecated", created=created)
            reg.put_manifest(repo, tag + DEPRECATED_SUFFIX, marker, MANIFEST_MEDIA_TYPE)
        if index_dir is not None:
            with index_lock(index_dir):
                index = load_index(index_dir)
                entry = index.types.get(type_name, {}).get(version)
                if index.catalog == str(url) and entry is None:
                    chart_digest = chart_layer_digest(found[0]) or ""
                    entry = build_entry(url, type_name, tag, found[0], reg.blob(repo, chart_digest))
                    index.types.setdefault(type_name, {})[version] = entry
                if entry is not None and index.catalog == str(url):
                    entry["deprecated"] = True
                    write_index(index_dir, index)
    return {"type": type_name, "version": version, "marker": f"{url.ref(type_name)}:{tag}{DEPRECATED_SUFFIX}",
            "alreadyDeprecated": already}
