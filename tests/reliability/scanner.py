"""The secrets scanner: after the suite, look for every secret value the tests used wherever chartkit writes.

Places: chartkit's captured stdout and stderr (every run of the suite), the files in the temp dirs, indexes and
caches the runs used, Kubernetes Events and release labels and descriptions in the namespaces the suite used.
Each secret is looked for raw and base64-encoded (at each of the three alignments it can take inside a longer
base64 text). Any hit fails the session (``conftest.pytest_sessionfinish``).

Deliberate holders are not haystacks: the Secrets a test created and the release records' values (helm keeps
the values a user passed, in a Secret, as it must to upgrade).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from tests.reliability.ledger import Ledger

#: files bigger than this are chart packages or binaries, not logs or temp files of a command
MAX_FILE_BYTES = 8 * 1024 * 1024


def needles(secret: str) -> set[str]:
    """The secret raw, and the parts of its base64 that are the same wherever it sits in a longer text."""
    raw = secret.encode()
    found = {secret}
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        # base64 digit j holds bits 6j..6j+5: those wholly inside the secret's bytes do not depend on neighbours
        start, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
        middle = encoded[start:end]
        if len(middle) >= 8:
            found.add(middle)
    return found


@dataclass(frozen=True)
class Hit:
    secret: str
    where: str

    def __str__(self) -> str:
        return f"{self.secret[:6]}… in {self.where}"


def _texts_from_files(dirs: Iterable[Path]) -> Iterable[tuple[str, str]]:
    for root in dirs:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
        for path in paths:
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                yield f"file {path}", path.read_bytes().decode("latin-1")
            except OSError:
                continue


def _texts_from_cluster(kube: Any, namespaces: Iterable[str]) -> Iterable[tuple[str, str]]:
    from toolkit.adapters.releases import ReleaseStore
    from toolkit.errors import ChartkitError

    store = ReleaseStore(kube)
    for ns in sorted(namespaces):
        try:
            for event in kube.list("v1", "Event", ns):
                yield f"Event {ns}/{event['metadata']['name']}", " ".join(
                    str(event.get(k, "")) for k in ("message", "reason", "note"))
            for record in store.records(namespace=ns):
                yield f"labels of release {ns}/{record.name} v{record.revision}", repr(record.labels)
                release = store.release(record.name, ns, record.revision)
                yield (f"description of release {ns}/{record.name} v{record.revision}",
                       str((release.get("info") or {}).get("description", "")))
        except ChartkitError:
            continue  # the namespace is gone (or its cluster was a private one, stopped)


def scan(ledger: Ledger, kube: Any | None) -> list[Hit]:
    wanted = {needle: secret for secret in ledger.secret_values for needle in needles(secret)}
    if not wanted:
        return []
    hits: list[Hit] = []
    sources: list[Iterable[tuple[str, str]]] = [list(ledger.outputs), _texts_from_files(ledger.scan_dirs)]
    if kube is not None:
        sources.append(_texts_from_cluster(kube, ledger.namespaces))
    for source in sources:
        for where, text in source:
            for needle, secret in wanted.items():
                if needle in text:
                    hits.append(Hit(secret, where))
    return hits
