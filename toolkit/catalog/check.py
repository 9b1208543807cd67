"""What a chart package must be before a byte of it is published: whole, named after its chart, lint-clean.

A registry keeps what it is given and chartkit's versions are immutable, so a corrupt upload would be permanent.
``check_package`` reads the whole archive (every member decompressed, gzip's CRC checked at the end; a truncated
file fails here, not in a later reader), bounds what it inflates to (helm's own 100 MiB chart limit), finds one
chart directory with a Chart.yaml whose name and version give the file's name (``NAME-VERSION.tgz``, what
``helm package`` writes) and a SemVer version, and runs ``helm lint`` on the package as helm will load it.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.catalog.versions import SemVer
from toolkit.errors import HelmError, InputError

if TYPE_CHECKING:
    from toolkit.adapters.helm import Helm

__all__ = ["MAX_DECOMPRESSED_BYTES", "CheckedPackage", "check_package"]

#: helm refuses to load a chart archive that inflates beyond this (pkg/chart/loader/archive MaxDecompressedChartSize)
MAX_DECOMPRESSED_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class CheckedPackage:
    """A package that passed: its chart's name and version."""

    path: Path
    name: str
    version: str


def _refuse(package: Path, cause: str, hint: str | None = None) -> InputError:
    return InputError(f'unable to publish "{package}": {cause}',
                      hint=hint or "re-create it with `chartkit package`; nothing of it was published")


def _read_members(package: Path, data: bytes) -> dict[str, bytes]:
    """Every regular file of the archive, read to its end (a truncated or corrupt archive raises)."""
    files: dict[str, bytes] = {}
    try:
        # the whole gzip stream first: its CRC and length trailer are checked only at the very end
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            raw = stream.read(MAX_DECOMPRESSED_BYTES + 1)
        if len(raw) > MAX_DECOMPRESSED_BYTES:
            raise _refuse(package, f"it inflates to more than {MAX_DECOMPRESSED_BYTES >> 20} MiB, helm's limit "
                                   "for a chart")
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                handle = tar.extractfile(info)
                content = handle.read() if handle else b""
                if len(content) != info.size:
                    raise _refuse(package, f'member "{info.name}" is cut short (the archive is truncated)')
                files[info.name] = content
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        cause = str(exc) or type(exc).__name__
        raise _refuse(package, f"not a whole chart package (a truncated or corrupt .tgz: {cause})") from exc
    if not files:
        raise _refuse(package, "the archive holds no files")
    return files


def _chart_yaml(package: Path, files: dict[str, bytes]) -> dict[str, Any]:
    from toolkit.objects import load_documents

    tops = {name.split("/", 1)[0] for name in files}
    charts = sorted(name for name in files if name.count("/") == 1 and name.endswith("/Chart.yaml"))
    if not charts:
        raise _refuse(package, "no <chart>/Chart.yaml inside")
    if len(tops) != 1:
        raise _refuse(package, f"files under {len(tops)} top-level directories; a chart package has one")
    try:
        text = files[charts[0]].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(package, f"{charts[0]} is not UTF-8 text") from exc
    try:
        docs = load_documents(text, f"{package.name}:{charts[0]}")
    except InputError as exc:
        raise _refuse(package, exc.message) from exc
    meta = docs[0] if docs else None
    if not isinstance(meta, dict) or not meta.get("name") or not meta.get("version"):
        raise _refuse(package, f"{charts[0]} lacks name or version")
    return meta


def check_package(package: Path, *, helm: Helm | None) -> CheckedPackage:
    """Check one package fully (see the module docstring); ``helm`` None skips the lint. Raises InputError."""
    try:
        data = package.read_bytes()
    except FileNotFoundError:
        raise InputError(f'unable to publish "{package}": no such file', hint="run `chartkit package` first") from None
    except OSError as exc:
        raise InputError(f'unable to publish "{package}": {exc.strerror or exc}') from exc
    files = _read_members(package, data)
    meta = _chart_yaml(package, files)
    name, version = str(meta["name"]), str(meta["version"])
    if SemVer.try_parse(version) is None:
        raise _refuse(package, f'Chart.yaml version "{version}" is not SemVer', hint="fix the chart and package it")
    expected = f"{name}-{version}.tgz"
    if package.name != expected:
        raise _refuse(package, f'its Chart.yaml says {name} {version}, so the file should be named "{expected}"',
                      hint="a renamed or mixed-up package; publish the file `chartkit package` wrote")
    if helm is not None:
        try:
            helm.lint(package, strict=False)
        except HelmError as exc:
            cause = exc.message.partition('": ')[2] or exc.message
            raise _refuse(package, f"helm lint fails: {cause}", hint="fix the chart and package it again") from exc
    return CheckedPackage(package, name, version)
