"""Prove a chart reproduces its source: helm lint --strict, render with defaults, compare object by object.

The comparison ignores key order and the metadata labels the chart adds (Helm's standard labels the source
object lacked, top-level metadata only); everything else must be equal, types included (a string "1.20" is not
the number 1.2). Numbers compare by value (YAML ``1.0`` and ``1`` are the same JSON number).

Workloads with a HorizontalPodAutoscaler: the chart leaves ``spec.replicas`` to the HPA while it is enabled (the
field is the HPA's), so the rendered object lacks the source's replica count. verify says so per object (status
"equal (replicas left to its HPA)", naming the HPA and the count), and counts it reproduced only when that field
is the one difference.

Secrets: with default values a chart refers to the existing Secret (``existingSecret`` is its name) and does not
render it, so adoption leaves the live Secret untouched. verify counts such a Secret as reproduced only if a second
render, with ``existingSecret: ""`` and the source's data passed as values on helm's stdin, recreates it exactly.

A lint or render failure is a ``ChartifyError`` carrying helm's own findings (``[ERROR]``/``[WARNING]`` lines with
template and object), never just helm's count of failed charts.
"""

from __future__ import annotations

import base64
import binascii
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Mapping, Sequence

from toolkit.chartify.params import STANDARD_LABELS, main_namespace
from toolkit.chartify.read import SourceObject
from toolkit.errors import ChartifyError, HelmError
from toolkit.objects import identity_key, load_documents, object_id, parse_manifest

if TYPE_CHECKING:
    from toolkit.adapters.helm import Helm

__all__ = ["ObjectResult", "Status", "VerifyOptions", "VerifyResult", "compare", "verify_chart"]

log = logging.getLogger(__name__)


class Status(Enum):
    EQUAL = "equal"
    SECRET = "equal (existing Secret)"
    AUTOSCALED = "equal (replicas left to its HPA)"
    DIFFERENT = "different"
    MISSING = "missing"
    EXTRA = "extra"

    @property
    def ok(self) -> bool:
        return self in (Status.EQUAL, Status.SECRET, Status.AUTOSCALED)


@dataclass(frozen=True)
class VerifyOptions:
    """How to render: the release name and namespace (default: the chart name and the source namespace)."""

    release: str | None = None
    namespace: str | None = None
    lint: bool = True
    #: the Kubernetes version helm assumes (its capabilities and lint's deprecation checks); None: helm's own
    kube_version: str | None = None


@dataclass(frozen=True)
class ObjectResult:
    id: str
    status: Status
    detail: str = ""
    ignored_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class VerifyResult:
    chart: Path
    namespace: str
    rows: list[ObjectResult]
    lint_output: str = ""
    ignored_labels: tuple[str, ...] = field(default=())

    @property
    def equal(self) -> int:
        return sum(1 for r in self.rows if r.status.ok)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def fidelity(self) -> float:
        return self.equal / self.total if self.total else 0.0

    @property
    def figure(self) -> str:
        return f"{self.equal}/{self.total} objects equal ({self.fidelity:.0%})"


def _same(a: Any, b: Any, path: str) -> str | None:
    """None when equal; otherwise where and how they first differ."""
    if isinstance(a, bool) or isinstance(b, bool):
        if type(a) is not type(b) or a != b:
            return f"{path or '.'}: {_show(a)} != {_show(b)}"
        return None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return None if a == b else f"{path or '.'}: {_show(a)} != {_show(b)}"
    if type(a) is not type(b):
        return f"{path or '.'}: {_show(a)} ({type(a).__name__}) != {_show(b)} ({type(b).__name__})"
    if isinstance(a, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}: {'missing' if key not in a else 'extra'} in the rendered object"
            found = _same(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = _same(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path or '.'}: {_show(a)} != {_show(b)}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def compare(rendered: dict[str, Any], source: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """Compare one rendered object with its source; returns (first difference or None, ignored label keys)."""
    labels = (rendered.get("metadata") or {}).get("labels")
    source_labels = (source.get("metadata") or {}).get("labels") or {}
    ignored: list[str] = []
    if isinstance(labels, dict):
        rendered = {**rendered, "metadata": dict(rendered["metadata"])}
        kept = {k: v for k, v in labels.items() if not (k in STANDARD_LABELS and k not in source_labels)}
        ignored = sorted(k for k in labels if k not in kept)
        if kept or "labels" in (source.get("metadata") or {}):
            rendered["metadata"]["labels"] = kept
        else:
            del rendered["metadata"]["labels"]
    # source first: "missing" means the chart lost a field the source has
    return _same(source, rendered, ""), tuple(ignored)


def _autoscaler_of(rendered: Mapping[str, Any], source: Mapping[str, Any],
                   objects: Sequence[Mapping[str, Any]]) -> str | None:
    """The HPA (``HorizontalPodAutoscaler/name``) rendered for this workload when the chart left its replicas to it."""
    if "replicas" not in (source.get("spec") or {}) or "replicas" in (rendered.get("spec") or {}):
        return None
    meta = source.get("metadata") or {}
    for obj in objects:
        ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        if obj.get("kind") == "HorizontalPodAutoscaler" and (ref.get("kind"), ref.get("name")) == (
                source.get("kind"), meta.get("name")):
            return f"HorizontalPodAutoscaler/{(obj.get('metadata') or {}).get('name')}"
    return None


def _without_replicas(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {**obj, "spec": {k: v for k, v in obj["spec"].items() if k != "replicas"}}


def _find_secret_slots(values: Any, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], str]]:
    """(values path, Secret name) of each ``{existingSecret, values}`` pair chartify generated."""
    if isinstance(values, dict):
        if isinstance(values.get("existingSecret"), str) and isinstance(values.get("values"), dict):
            yield prefix, values["existingSecret"]
        for key, value in values.items():
            yield from _find_secret_slots(value, prefix + (key,))


def _secret_values(secret: Mapping[str, Any]) -> dict[str, Any]:
    """The Secret's data as the chart's values expect it: plain text, or base64 where it is not UTF-8."""
    out: dict[str, Any] = {}
    for key, value in (secret.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            out[key] = value
    for key, value in (secret.get("stringData") or {}).items():
        out[key] = value
    return out


def _nest(path: tuple[str, ...], leaf: Any) -> dict[str, Any]:
    node: Any = leaf
    for key in reversed(path):
        node = {key: node}
    return node


def _merge(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@contextmanager
def _helm_failure(chart: str, step: str) -> Iterator[None]:
    """A failed helm step as one ChartifyError naming the chart, the step and helm's findings."""
    try:
        yield
    except HelmError as exc:
        cause = exc.message.partition('": ')[2] or exc.message  # helm's findings, after `unable to lint "<path>"`
        raise ChartifyError(f'unable to verify chart "{chart}": {step} failed: {cause}', hint=exc.hint) from exc


def verify_chart(chart: Path, source: Sequence[SourceObject], *, helm: Helm,
                 options: VerifyOptions = VerifyOptions()) -> VerifyResult:
    """Lint, render with defaults, and compare with the cleaned ``source`` objects."""
    chart_meta = load_documents((chart / "Chart.yaml").read_text(encoding="utf-8"), str(chart / "Chart.yaml"))[0]
    release = options.release or str(chart_meta.get("name"))
    objects = [s.obj for s in source]
    namespace = options.namespace or main_namespace(objects) or "default"
    name = str(chart_meta.get("name"))
    with _helm_failure(name, "helm lint --strict"):
        lint_output = helm.lint(chart, strict=True, kube_version=options.kube_version) if options.lint else ""
    with _helm_failure(name, "helm template with default values"):
        text = helm.template(chart, release=release, namespace=namespace, kube_version=options.kube_version)
    rendered = parse_manifest(text, f"{chart} (rendered)")
    by_key = {identity_key(o): o for o in rendered}

    values = load_documents((chart / "values.yaml").read_text(encoding="utf-8"), str(chart / "values.yaml"))[0] or {}
    slots = {name: path for path, name in _find_secret_slots(values)}
    secret_render: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    pending = [o for o in objects if o.get("kind") == "Secret" and identity_key(o) not in by_key
               and o["metadata"]["name"] in slots]
    if pending:
        overrides: dict[str, Any] = {}
        for secret in pending:
            path = slots[secret["metadata"]["name"]]
            _merge(overrides, _nest(path, {"existingSecret": "", "values": _secret_values(secret)}))
        # the source's secret data travels on helm's stdin only, never into files or argv
        with _helm_failure(name, "helm template with the source's Secret data"):
            text = helm.template(chart, release=release, namespace=namespace, values=overrides,
                                 kube_version=options.kube_version)
        secret_render = {identity_key(o): o for o in parse_manifest(text, f"{chart} (rendered with Secret data)")
                         if o.get("kind") == "Secret"}

    rows: list[ObjectResult] = []
    all_ignored: set[str] = set()
    seen: set[tuple[str, str, str, str]] = set()
    for obj in objects:
        key = identity_key(obj)
        seen.add(key)
        oid = object_id(obj)
        if key in by_key:
            diff, ignored = compare(by_key[key], obj)
            all_ignored.update(ignored)
            scaler = _autoscaler_of(by_key[key], obj, rendered) if diff is not None else None
            if scaler is not None:
                diff, ignored = compare(by_key[key], _without_replicas(obj))
                if diff is None:
                    rows.append(ObjectResult(oid, Status.AUTOSCALED, f"spec.replicas ({obj['spec']['replicas']} in "
                                             f"the source) is left to {scaler}, which owns it", ignored))
                    continue
            rows.append(ObjectResult(oid, Status.EQUAL if diff is None else Status.DIFFERENT, diff or "", ignored))
        elif key in secret_render:
            diff, ignored = compare(secret_render[key], obj)
            path = ".".join(slots[obj["metadata"]["name"]])
            rows.append(ObjectResult(
                oid, Status.SECRET if diff is None else Status.DIFFERENT,
                f"kept via {path}.existingSecret; recreated exactly from {path}.values" if diff is None
                else f"recreated from values: {diff}", ignored))
        else:
            rows.append(ObjectResult(oid, Status.MISSING, "not rendered with default values"))
    for key, obj in by_key.items():
        if key not in seen:
            rows.append(ObjectResult(object_id(obj), Status.EXTRA, "rendered but not in the source"))
    result = VerifyResult(chart, namespace, rows, lint_output, tuple(sorted(all_ignored)))
    log.info("verify %s: %s", chart, result.figure)
    return result
