"""``chartkit package``: lint, resolve dependencies and write a reproducible chart package (+ ``.prov``).

Reproducible = the same chart files give the same bytes whatever their mtimes or the checkout time. Helm 4
writes each file's mtime into the tar (pkg/chart/v2/util/save.go; uid/gid 0, mode 0644, Go's gzip with no
name and no header time), so we run ``helm package`` on a private copy whose mtimes are pinned to
``SOURCE_DATE_EPOCH`` (default 1980-01-01): the package stays exactly Helm's own layout (``.helmignore``,
Chart.yaml as helm normalises it, subcharts) and is byte-stable. A ``Chart.lock`` generated during the build
gets its ``generated`` time pinned the same way.

The version is the chart's own, ``--version``, or ``--bump`` from the versions the catalog already holds; a
version the catalog holds with other content is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toolkit.adapters.oci import digest_of
from toolkit.catalog.versions import Bump, SemVer, next_version
from toolkit.config import CatalogRef, Config
from toolkit.errors import CatalogError, InputError

__all__ = ["PackageOptions", "PackageResult", "package", "source_epoch"]

log = logging.getLogger(__name__)

#: 1980-01-01T00:00:00Z, the usual floor for reproducible archives (ZIP cannot go lower)
DEFAULT_EPOCH = 315532800


@dataclass(frozen=True, kw_only=True)
class PackageOptions:
    chart: Path
    version: str | None = None
    bump: Bump | None = None
    app_version: str | None = None
    destination: Path = Path(".")
    offline: bool = False                # do not consult the catalog (no --bump, no "already published?" check)
    sign_key: str | None = None          # a GnuPG user id / key id / email; produces <pkg>.tgz.prov
    keyring: Path | None = None          # binary secret keyring; default: exported from GnuPG (toolkit.adapters.gpg)
    gnupg_home: Path | None = None       # where to export it from (default GNUPGHOME / ~/.gnupg)
    lint: bool = True
    strict_lint: bool = False


@dataclass(frozen=True)
class PackageResult:
    name: str
    version: str
    path: Path
    prov: Path | None
    digest: str
    published: bool = False   # the catalog already holds this version with exactly these bytes
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "path": str(self.path),
                "prov": str(self.prov) if self.prov else None, "digest": self.digest,
                "alreadyPublished": self.published, "warnings": list(self.warnings)}


def source_epoch() -> int:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        return DEFAULT_EPOCH
    if not value.isdigit():
        raise InputError(f'unable to use SOURCE_DATE_EPOCH "{value}": expected seconds since 1970')
    return int(value)


def _chart_yaml(chart: Path) -> dict:
    path = chart / "Chart.yaml"
    if not path.is_file():
        raise InputError(f'unable to package "{chart}": no Chart.yaml in it', hint="pass a chart directory")
    from toolkit.objects import load_documents

    try:
        docs = load_documents(path.read_text(errors="replace"), str(path))
    except InputError as exc:
        raise InputError(f'unable to package "{chart}": Chart.yaml is not valid YAML: {exc.message}') from exc
    data = docs[0] if docs else None
    if not isinstance(data, dict) or not data.get("name") or not data.get("version"):
        raise InputError(f'unable to package "{chart}": Chart.yaml needs name and version')
    return data


def _pin_mtimes(root: Path, epoch: int) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            os.utime(Path(dirpath) / name, (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


def _pin_lock(chart: Path, epoch: int) -> None:
    lock = chart / "Chart.lock"
    if lock.is_file():
        stamp = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = re.sub(r"(?m)^generated:.*$", f'generated: "{stamp}"', lock.read_text())
        lock.write_text(text)


def _copy_local_dependencies(chart: Path, work: Path, dependencies: list, root: Path) -> None:
    """Copy relative ``file://`` dependencies beside the copy so they resolve as from the source (Chart.yaml unchanged)."""
    for dep in dependencies:
        repo = str((dep or {}).get("repository") or "")
        if not repo.startswith("file://") or repo[len("file://"):].startswith("/"):
            continue
        rel = repo[len("file://"):]
        target = (chart / rel).resolve()
        link = Path(os.path.normpath(work / rel))  # where the copy expects it
        if not target.is_dir():
            raise InputError(f'unable to package "{chart}": dependency "{dep.get("name")}" points at {repo}, '
                             f"which is not a directory ({target})")
        if root not in link.parents or link.exists():
            raise InputError(f'unable to package "{chart}": dependency path {repo} climbs too far; use a path '
                             f"at most three levels up or an absolute file:// path")
        # a copy, not a symlink: helm packages the dependency with its files' mtimes, which we pin too
        shutil.copytree(target, link, symlinks=False)


def _resolve_version(chart: Path, meta: dict, options: PackageOptions,
                     catalog_versions: Callable[[], list[str]] | None) -> str:
    if options.version and options.bump:
        raise InputError("unable to package: give --version or --bump, not both")
    if options.version:
        return str(SemVer.parse(options.version))
    if options.bump:
        assert catalog_versions is not None, "_catalog() refuses --bump without a catalog"
        return next_version(catalog_versions(), Bump(options.bump), initial=str(meta["version"]))
    return str(SemVer.parse(str(meta["version"])))


def _catalog(config: Config, options: PackageOptions) -> tuple[CatalogRef | None, tuple[str, ...]]:
    """The catalog versions are checked against; without one a plain package is still made, with a warning."""
    if options.offline:
        if options.bump:
            raise InputError("unable to bump the version offline: --bump reads the catalog's versions")
        return None, ()
    try:
        return config.catalog, ()
    except InputError as exc:
        if options.bump or not exc.message.startswith("unable to find a catalog"):
            raise  # a bad URL or config file is reported as such, and --bump cannot work without one
        return None, ("no catalog found; packaging without checking published versions",)


def package(config: Config, options: PackageOptions) -> PackageResult:
    """Package ``options.chart`` reproducibly into ``options.destination`` (see the module docstring)."""
    chart = options.chart.resolve()
    meta = _chart_yaml(chart)
    name = str(meta["name"])
    catalog, warnings = _catalog(config, options)
    helm = config.helm(registry=False)

    versions_lookup = None
    if catalog is not None:
        from toolkit.catalog.index import catalog_versions

        def versions_lookup() -> list[str]:
            return catalog_versions(catalog, name)

    version = _resolve_version(chart, meta, options, versions_lookup)
    epoch = source_epoch()
    destination = options.destination.resolve()
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chartkit-package-") as tmp:
        # deep enough that file://../ dependencies can be mirrored beside the copy (see _copy_local_dependencies)
        work = Path(tmp).joinpath("src", "a", "b", "c", name)
        shutil.copytree(chart, work, symlinks=False)
        if meta.get("dependencies"):
            _copy_local_dependencies(chart, work, meta["dependencies"], Path(tmp))
            _pin_mtimes(Path(tmp) / "src", epoch)
            had_lock = (work / "Chart.lock").is_file()
            helm.dependency_build(work)
            if not had_lock:
                _pin_lock(work, epoch)
        if options.lint:
            helm.lint(work, strict=options.strict_lint)
        _pin_mtimes(work, epoch)
        out = Path(tmp) / "out"
        out.mkdir()
        with contextlib.ExitStack() as stack:
            keyring = options.keyring
            if options.sign_key and keyring is None:
                from toolkit.adapters.gpg import secret_keyring

                keyring = stack.enter_context(secret_keyring(options.gnupg_home, options.sign_key))
            built = helm.package(work, out, version=version, app_version=options.app_version,
                                 sign_key=options.sign_key, keyring=keyring)
        data = built.read_bytes()
        digest = digest_of(data)
        published = False
        if catalog is not None:
            from toolkit.catalog.index import catalog_chart_digest

            existing = catalog_chart_digest(catalog, name, version)
            if existing and existing != digest:
                raise CatalogError(
                    f'unable to package "{name}" version "{version}": the catalog already holds it with other '
                    f"content (catalog {existing}, this package {digest})",
                    hint="versions are immutable: bump the version (--bump patch)")
            published = existing == digest
        target = destination / built.name
        prov_src = built.with_name(built.name + ".prov")
        prov = destination / prov_src.name if prov_src.exists() else None
        # move into place last so a failure leaves nothing half-written in the destination
        shutil.copy2(built, destination / f".{built.name}.tmp")
        os.replace(destination / f".{built.name}.tmp", target)
        if prov:
            shutil.copy2(prov_src, destination / f".{prov.name}.tmp")
            os.replace(destination / f".{prov.name}.tmp", prov)
        elif (destination / (built.name + ".prov")).exists():
            # an old signature next to a new unsigned package would lie
            (destination / (built.name + ".prov")).unlink()
    log.info("packaged %s %s → %s (%s)", name, version, target, digest)
    return PackageResult(name=name, version=version, path=target, prov=prov, digest=digest, published=published,
                         warnings=warnings)

