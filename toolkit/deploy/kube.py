"""Moved to toolkit.adapters.kube; this re-export keeps existing imports working until the merge deletes it."""
from toolkit.adapters.kube import *  # noqa: F401,F403
from toolkit.adapters.kube import SKIPPED_WHEN_LISTING, ApiResource, Kube, KubeError, ObjectList  # noqa: F401
