"""Read the catalog's index: list the types, show one version, search. Nothing leaves this machine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.catalog.index import list_types, require_index, search

__all__ = ["CatalogQuery", "catalog_list", "catalog_search", "catalog_show"]


@dataclass(frozen=True, kw_only=True)
class CatalogQuery:
    index_dir: Path = Path("repo-index")


def catalog_list(query: CatalogQuery) -> list[dict[str, Any]]:
    """One row per type: latest release, number of versions, description, deprecated."""
    return list_types(require_index(query.index_dir))


def catalog_show(query: CatalogQuery, type_name: str, version: str | None = None) -> dict[str, Any]:
    """One version's index entry (default: the latest release): parameters, images, digests, declarations."""
    return require_index(query.index_dir).entry(type_name, version)


def catalog_search(query: CatalogQuery, text: str) -> list[dict[str, Any]]:
    """Types whose name, description, images or parameter names contain ``text``."""
    return search(require_index(query.index_dir), text)
