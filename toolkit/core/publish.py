"""``chartkit publish``: push chart packages to the catalog as Helm's exact OCI artifact, immutably.

Versions are immutable whatever the registry allows (distribution lets any tag be overwritten):

- same chart digest already under the tag → no-op, reported "already published";
- another chart digest under the tag → refused, both digests in the message;
- two publishers of one version: each takes the version's lock (``flock`` on a file under the chartkit cache, so
  it holds across processes and threads on one machine) before it reads the tags, uploads, puts the manifest and
  re-reads the tag, failing unless the tag still points at its own manifest. On one machine exactly one wins. Across
  machines the registry offers no compare-and-swap (no conditional PUT, no referrers API in distribution 2.8),
  so the re-read catches a publisher that overwrote us before our check; two puts landing within one round
  trip of each other can both pass, and the last write stays. Release pipelines should publish from one place.

Many packages publish concurrently over one ``Registry`` (one HTTP session, pooled connections); blobs the
repository already has (HEAD) are not uploaded again. The index is updated only with versions that landed.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from toolkit.adapters.oci import Registry
from toolkit.catalog.artifact import MANIFEST_MEDIA_TYPE, Artifact, build_artifact, go_json
from toolkit.catalog.check import check_package
from toolkit.catalog.index import build_entry, chart_layer_digest, update_index
from toolkit.config import CatalogURL, Config, cache_dir
from toolkit.errors import CatalogError, ChartkitError, InputError

__all__ = ["PublishOptions", "PublishReport", "PublishResult", "Status", "publish"]

log = logging.getLogger(__name__)

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


class Status(str, enum.Enum):
    PUBLISHED = "published"
    ALREADY = "already published"


@dataclass(frozen=True, kw_only=True)
class PublishOptions:
    packages: tuple[Path, ...]
    index_dir: Path | None = None         # update this repo-index with what landed
    workers: int = 8
    allow_breaking: bool = False          # publish breaking changes without a major bump (see core/typediff)
    lint: bool = True                     # helm lint each package before publishing (toolkit.catalog.check)


@dataclass(frozen=True)
class PublishResult:
    package: Path
    name: str
    version: str
    ref: str
    status: Status
    manifest_digest: str
    chart_digest: str
    signed: bool

    def as_dict(self) -> dict[str, Any]:
        return {"package": str(self.package), "name": self.name, "version": self.version, "ref": self.ref,
                "status": self.status.value, "manifestDigest": self.manifest_digest,
                "chartDigest": self.chart_digest, "signed": self.signed}


@dataclass
class PublishReport:
    results: list[PublishResult] = field(default_factory=list)
    errors: list[tuple[Path, ChartkitError]] = field(default_factory=list)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            lines = "; ".join(f"{p.name}: {e}" for p, e in self.errors)
            raise CatalogError(f"unable to publish {len(self.errors)} of "
                               f"{len(self.errors) + len(self.results)} packages: {lines}",
                               hint="fix the cause and re-run: what landed is reported as already published")

    def as_dict(self) -> dict[str, Any]:
        return {"results": [r.as_dict() for r in self.results],
                "errors": [{"package": str(p), "error": str(e)} for p, e in self.errors],
                "requests": self.requests}


@contextlib.contextmanager
def version_lock(host: str, repository: str, tag: str) -> Iterator[None]:
    """Hold the publish lock of one version (threads in-process, flock across processes on this machine)."""
    key = hashlib.sha256(f"{host}/{repository}:{tag}".encode()).hexdigest()[:32]
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(key, threading.Lock())
    lock_dir = cache_dir() / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with thread_lock, open(lock_dir / f"publish-{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prov_of(package: Path) -> Path | None:
    prov = package.with_name(package.name + ".prov")
    return prov if prov.is_file() else None


def _publish_one(reg: Registry, url: CatalogURL, artifact: Artifact, package: Path,
                 tag_exists: bool) -> tuple[PublishResult, bytes]:
    """Publish one artifact; the caller holds its version lock and has just read the repository's tags."""
    repo, tag = url.repository(artifact.name), artifact.tag
    ref = url.ref(artifact.name)
    existing = reg.manifest(repo, tag) if tag_exists else None
    if existing is not None:
        held = chart_layer_digest(existing[0])
        if held == artifact.chart_digest:
            log.info("%s:%s already published (%s)", ref, artifact.version, held)
            return PublishResult(package, artifact.name, artifact.version, ref, Status.ALREADY, existing[1],
                                 artifact.chart_digest, artifact.prov is not None), existing[0]
        raise CatalogError(
            f'unable to publish "{artifact.name}" version "{artifact.version}" to "{url}": that version is '
            f"already published with other content (catalog {held}, this package {artifact.chart_digest})",
            hint="versions are immutable: bump the version (`chartkit package --bump patch`)")
    for blob in artifact.blobs:
        reg.upload_blob(repo, blob.data, blob.digest)
    reg.put_manifest(repo, tag, artifact.manifest, MANIFEST_MEDIA_TYPE)
    now = reg.manifest_digest(repo, tag)
    if now != artifact.manifest_digest:
        raise CatalogError(
            f'unable to publish "{artifact.name}" version "{artifact.version}" to "{url}": another publisher '
            f"wrote the tag concurrently (tag now {now}, ours {artifact.manifest_digest})",
            hint="versions are immutable: check `chartkit catalog show` and bump the version")
    return PublishResult(package, artifact.name, artifact.version, ref, Status.PUBLISHED, artifact.manifest_digest,
                         artifact.chart_digest, artifact.prov is not None), artifact.manifest


def _valid_artifacts(config: Config, options: PublishOptions, report: PublishReport
                     ) -> tuple[list[tuple[Path, Artifact]], dict[tuple[str, str], Path]]:
    """Check every package before the first byte goes out (``toolkit.catalog.check``: whole, named after its
    chart, lint-clean); the invalid ones go to ``report.errors`` and the rest are published."""
    helm = config.helm(registry=False) if options.lint else None
    url = config.catalog.url

    def one(package: Path) -> Artifact:
        check_package(package, helm=helm)
        return build_artifact(package, prov=_prov_of(package))

    artifacts: list[tuple[Path, Artifact]] = []
    seen: dict[tuple[str, str], Path] = {}
    with ThreadPoolExecutor(max(min(options.workers, len(options.packages)), 1)) as pool:
        checked = list(zip(options.packages, pool.map(_outcome(one), options.packages)))
    for package, outcome in checked:
        if isinstance(outcome, ChartkitError):
            log.info("not publishing %s: %s", package, outcome)
            report.errors.append((package, outcome))
            continue
        key = (url.repository(outcome.name), outcome.tag)
        if key in seen:
            report.errors.append((package, InputError(
                f'unable to publish "{package}": {seen[key]} is the same chart version "{outcome.name}" '
                f"{outcome.version}; publish one of them")))
            continue
        seen[key] = package
        artifacts.append((package, outcome))
    return artifacts, seen


def _outcome(function: Callable[[Path], Artifact]) -> Callable[[Path], Artifact | ChartkitError]:
    def run(package: Path) -> Artifact | ChartkitError:
        try:
            return function(package)
        except ChartkitError as exc:
            return exc
    return run


def publish(config: Config, options: PublishOptions, *, registry: Registry | None = None,
            progress: Callable[[PublishResult], None] | None = None) -> PublishReport:
    """Publish packages concurrently; failures are collected per package (``report.errors``), never half-indexed.

    Every package is checked whole first (``toolkit.catalog.check``); an invalid one is reported and never sent,
    the valid ones are published, and the index gets what landed.

    Every version lock is taken first (in sorted order, so two publishers cannot deadlock), then one tag list per
    repository tells which versions exist; only those cost a manifest GET. A new version costs two blob
    uploads (or one request each when the registry already has the blob), the manifest PUT and a re-read.
    """
    packages = options.packages
    if not packages:
        raise InputError("unable to publish: no packages given")
    url = config.catalog.url
    report = PublishReport()
    artifacts, seen = _valid_artifacts(config, options, report)
    if not artifacts:
        return report  # nothing valid: no registry request at all
    catalog = config.catalog
    reg = registry or Registry(url.host, ca_file=catalog.ca_file, registry_config=catalog.registry_config)
    start = reg.requests
    landed: list[tuple[str, dict[str, Any]]] = []
    try:
        with contextlib.ExitStack() as locks, ThreadPoolExecutor(max(options.workers, 1)) as pool:
            for repo, tag in sorted(seen):
                locks.enter_context(version_lock(url.host, repo, tag))
            # fail before pushing anything when the registry is unreachable or refuses our credentials
            reg.ping()
            repos = sorted({repo for repo, _ in seen})
            tags = dict(zip(repos, pool.map(lambda r: set(reg.tags(r)), repos)))
            if not options.allow_breaking:
                from toolkit.core.typediff import refuse_breaking

                refuse_breaking(config, [(p, a.name, a.version, tags[url.repository(a.name)]) for p, a in artifacts],
                                map_=pool.map)

            def one(item: tuple[Path, Artifact]) -> None:
                package, artifact = item
                repo = url.repository(artifact.name)
                try:
                    result, manifest = _publish_one(reg, url, artifact, package, artifact.tag in tags[repo])
                except ChartkitError as exc:
                    log.info("publishing %s failed: %s", package, exc)
                    report.errors.append((package, exc))
                    return
                report.results.append(result)
                if result.status is Status.PUBLISHED:
                    _mark_security(reg, repo, artifact, manifest)
                landed.append((artifact.name, build_entry(url, artifact.name, artifact.tag, manifest,
                                                          artifact.chart.data)))
                if progress:
                    progress(result)

            list(pool.map(one, artifacts))
    finally:
        report.requests = reg.requests - start
        if registry is None:
            reg.close()
    if options.index_dir is not None and landed:
        update_index(options.index_dir, url, landed)
    report.results.sort(key=lambda r: (r.name, r.version))
    return report


def _mark_security(reg: Registry, repo: str, artifact: Artifact, manifest: bytes) -> None:
    """A version whose chartkit.yaml says ``release.security: true`` gets the marker tag ``<tag>.security``, so
    status checks learn it from the tag list alone (like deprecation)."""
    import datetime as dt

    from toolkit.adapters.oci import digest_of
    from toolkit.catalog.artifact import read_package_file
    from toolkit.catalog.declarations import DECLARATIONS_FILE, load_declarations
    from toolkit.catalog.index import EMPTY_BLOB, EMPTY_MEDIA_TYPE
    from toolkit.deploy.outdated import SECURITY_SUFFIX

    text = read_package_file(artifact.chart.data, DECLARATIONS_FILE)
    if text is None or not load_declarations(text, f"{artifact.name} {artifact.version}").security:
        return
    empty = {"mediaType": EMPTY_MEDIA_TYPE, "digest": digest_of(EMPTY_BLOB), "size": len(EMPTY_BLOB)}
    created = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    marker = go_json({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE,
                      "artifactType": "application/vnd.chartkit.security.v1+json", "config": empty, "layers": [empty],
                      "subject": {"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest_of(manifest), "size": len(manifest)},
                      "annotations": {"org.opencontainers.image.created": created}})
    reg.upload_blob(repo, EMPTY_BLOB, digest_of(EMPTY_BLOB))
    reg.put_manifest(repo, artifact.tag + SECURITY_SUFFIX, marker, MANIFEST_MEDIA_TYPE)
