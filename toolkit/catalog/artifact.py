"""Helm's OCI artifact for a chart package, built byte for byte the way ``helm push`` (v4) builds it.

Pure data: a package's bytes in, the blobs and the manifest bytes out (``oci.py`` moves them). Helm's rules
(pkg/registry/client.go, pkg/pusher/ocipusher.go):

- config blob ``application/vnd.cncf.helm.config.v1+json`` = Go's ``json.Marshal(chart.Metadata)``: struct
  field order, empty fields omitted, maps sorted, ``<>&`` escaped as ``\\u003c`` etc.;
- layers: the chart ``application/vnd.cncf.helm.chart.content.v1.tar+gzip`` and the optional provenance
  ``application/vnd.cncf.helm.chart.provenance.v1.prov``, sorted by digest;
- annotations ``org.opencontainers.image.{description,title,version,url,created,source,authors}`` plus the
  chart's own annotations (which may not override title or version); ``created`` is the package file's mtime
  in RFC 3339, as helm takes it;
- manifest without a top-level ``mediaType``; tag = version with ``+`` → ``_``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from toolkit.adapters.oci import digest_of
from toolkit.catalog.versions import version_to_tag
from toolkit.errors import InputError

__all__ = [
    "Artifact",
    "Blob",
    "CHART_MEDIA_TYPE",
    "CONFIG_MEDIA_TYPE",
    "MANIFEST_MEDIA_TYPE",
    "PROV_MEDIA_TYPE",
    "build_artifact",
    "chart_metadata",
    "go_json",
    "read_package_file",
]

CONFIG_MEDIA_TYPE = "application/vnd.cncf.helm.config.v1+json"
CHART_MEDIA_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
PROV_MEDIA_TYPE = "application/vnd.cncf.helm.chart.provenance.v1.prov"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"

# chart.Metadata / Maintainer / Dependency field order and which fields omit their empty value (Go structs)
_METADATA_FIELDS = [
    ("name", True), ("home", True), ("sources", True), ("version", True), ("description", True),
    ("keywords", True), ("maintainers", True), ("icon", True), ("apiVersion", True), ("condition", True),
    ("tags", True), ("appVersion", True), ("deprecated", True), ("annotations", True), ("kubeVersion", True),
    ("dependencies", True), ("type", True),
]
_MAINTAINER_FIELDS = [("name", True), ("email", True), ("url", True)]
_DEPENDENCY_FIELDS = [
    ("name", False), ("version", True), ("repository", False), ("condition", True), ("tags", True),
    ("enabled", True), ("import-values", True), ("alias", True),
]

_OCI = "org.opencontainers.image."


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.data)

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.data)}


@dataclass(frozen=True)
class Artifact:
    """A chart package as Helm's OCI artifact: the blobs to upload and the manifest to put under ``tag``."""

    name: str
    version: str
    metadata: Mapping[str, Any]
    config: Blob
    chart: Blob
    prov: Blob | None
    manifest: bytes

    @property
    def tag(self) -> str:
        return version_to_tag(self.version)

    @property
    def manifest_digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def chart_digest(self) -> str:
        return self.chart.digest

    @property
    def blobs(self) -> list[Blob]:
        return [self.config, self.chart, *([self.prov] if self.prov else [])]


def go_json(value: Any) -> bytes:
    """JSON exactly as Go's encoding/json writes it (compact, HTML-escaped; callers order struct fields)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text.encode()


def _empty(value: Any) -> bool:
    return value is None or value is False or value == "" or value == [] or value == {} or value == 0


def _struct(data: Mapping[str, Any], fields: list[tuple[str, bool]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, omitempty in fields:
        value = data.get(key)
        if omitempty and _empty(value):
            continue
        out[key] = "" if value is None else value
    return out


def _sorted_maps(value: Any) -> Any:
    # Go marshals map[string]... with sorted keys
    if isinstance(value, Mapping):
        return {str(k): _sorted_maps(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


def chart_metadata(chart_yaml: Mapping[str, Any]) -> dict[str, Any]:
    """Chart.yaml (as helm wrote it into the package) → chart.Metadata in Go's JSON field order."""
    meta = _struct(chart_yaml, _METADATA_FIELDS)
    if "maintainers" in meta:
        meta["maintainers"] = [_struct(m or {}, _MAINTAINER_FIELDS) for m in meta["maintainers"]]
    if "annotations" in meta:
        meta["annotations"] = {str(k): str(v) for k, v in sorted(meta["annotations"].items())}
    if "dependencies" in meta:
        deps = [_struct(d or {}, _DEPENDENCY_FIELDS) for d in meta["dependencies"]]
        for dep in deps:
            if "import-values" in dep:
                dep["import-values"] = _sorted_maps(dep["import-values"])
        meta["dependencies"] = deps
    return meta


def read_package_file(package: bytes, member: str) -> bytes | None:
    """One file of a chart package by its path below the chart directory (e.g. ``Chart.yaml``)."""
    with tarfile.open(fileobj=io.BytesIO(package), mode="r:gz") as tar:
        for info in tar:
            parts = info.name.split("/", 1)
            if info.isfile() and len(parts) == 2 and parts[1] == member:
                extracted = tar.extractfile(info)
                return extracted.read() if extracted else None
    return None


def _created(mtime: float) -> str:
    # helm formats the local-time mtime with Go's time.RFC3339: "Z" for UTC, else "+hh:mm"
    stamp = dt.datetime.fromtimestamp(int(mtime)).astimezone()
    text = stamp.isoformat()
    return text[:-6] + "Z" if stamp.utcoffset() == dt.timedelta(0) else text


def _annotations(meta: Mapping[str, Any], created: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, field in (("description", "description"), ("title", "name"), ("version", "version"), ("url", "home")):
        value = str(meta.get(field) or "")
        if value.strip():
            out[_OCI + key] = value
    out[_OCI + "created"] = created
    if meta.get("sources"):
        out[_OCI + "source"] = meta["sources"][0]
    if meta.get("maintainers"):
        authors = []
        for m in meta["maintainers"]:
            text = m.get("name", "")
            if m.get("email"):
                text += f" ({m['email']})"
            authors.append(text)
        joined = ", ".join(authors)
        if joined.strip():
            out[_OCI + "authors"] = joined
    for key, value in (meta.get("annotations") or {}).items():
        if key not in (_OCI + "version", _OCI + "title"):
            out[key] = value
    return dict(sorted(out.items()))


def build_artifact(package: Path, *, prov: Path | None = None, created: str | None = None) -> Artifact:
    """Read a chart package (and its ``.prov``) and build the exact artifact ``helm push`` would push."""
    data = package.read_bytes()
    try:
        chart_yaml_bytes = read_package_file(data, "Chart.yaml")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f'unable to read chart package "{package}": {exc}') from exc
    if chart_yaml_bytes is None:
        raise InputError(f'unable to read chart package "{package}": no <chart>/Chart.yaml inside')
    from toolkit.objects import load_documents

    docs = load_documents(chart_yaml_bytes.decode("utf-8", errors="replace"), f"{package}:Chart.yaml")
    chart_yaml = docs[0] if docs and isinstance(docs[0], dict) else {}
    meta = chart_metadata(chart_yaml)
    if not meta.get("name") or not meta.get("version"):
        raise InputError(f'unable to read chart package "{package}": Chart.yaml lacks name or version')
    config = Blob(CONFIG_MEDIA_TYPE, go_json(meta))
    chart = Blob(CHART_MEDIA_TYPE, data)
    prov_blob = Blob(PROV_MEDIA_TYPE, prov.read_bytes()) if prov else None
    layers = sorted([chart, *([prov_blob] if prov_blob else [])], key=lambda b: b.digest)
    manifest = {
        "schemaVersion": 2,
        "config": config.descriptor(),
        "layers": [b.descriptor() for b in layers],
        "annotations": _annotations(meta, created or _created(package.stat().st_mtime)),
    }
    return Artifact(name=meta["name"], version=meta["version"], metadata=meta, config=config, chart=chart,
                    prov=prov_blob, manifest=go_json(manifest))
