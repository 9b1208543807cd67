"""An instance's revisions with what each ran: read from helm's release records, no helm run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from toolkit.config import Config
from toolkit.deploy.origin import origin_from_labels
from toolkit.deploy.release import releases
from toolkit.errors import DeployError

__all__ = ["HistoryOptions", "Revision", "history"]


@dataclass(frozen=True, kw_only=True)
class HistoryOptions:
    instance: str
    namespace: str = "default"


@dataclass(frozen=True)
class Revision:
    revision: int
    updated: str
    status: str
    type: str
    version: str
    digest: str
    chart: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "updated": self.updated, "status": self.status, "type": self.type,
                "version": self.version, "digest": self.digest, "chart": self.chart, "description": self.description}


def history(config: Config, options: HistoryOptions) -> list[Revision]:
    """Every revision, oldest first, from one list request of helm's release records."""
    found = releases(config).with_releases(namespace=options.namespace, name=options.instance)
    if not found:
        raise DeployError(f'unable to read the history of "{options.namespace}/{options.instance}": no release by '
                          "that name", hint="`chartkit instances -A` lists the instances")
    out = []
    for record, release in found:
        info, meta = release.get("info") or {}, (release.get("chart") or {}).get("metadata") or {}
        type_name, version, digest, _cat = origin_from_labels(record.labels) or ("", "", "", "")
        out.append(Revision(record.revision, str(info.get("last_deployed") or record.updated), record.status,
                            type_name, version, digest, f"{meta.get('name', '')}-{meta.get('version', '')}",
                            str(info.get("description", ""))))
    return out
