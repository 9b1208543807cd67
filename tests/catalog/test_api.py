"""The catalog's public surface stays what other areas import."""

from __future__ import annotations

import toolkit.catalog as catalog


def test_exported_surface():
    assert catalog.__all__ == sorted(catalog.__all__)
    for name in catalog.__all__:
        assert getattr(catalog, name) is not None, name
    assert catalog.resolve.__module__ == "toolkit.catalog.index"
    assert catalog.Resolved.__dataclass_params__.frozen
