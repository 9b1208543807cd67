"""chartify: turn an app's objects (files, kustomizations, stdin or a live namespace) into a parameterized chart.

    read (read.py) → clean (clean.py) → API versions the target serves (apis.py) → components + parameters
    (params.py) → owner's overrides (overrides.py) → chart files (write.py, schema.py, emit.py) in a temp dir
    → verify (verify.py) → move into place

``chartify()`` builds a chart; ``verify_against()`` re-checks one against a source. The operations front doors
call are ``toolkit.core.chartify`` and ``toolkit.core.verify``: they bring helm and the cluster from the one
configuration.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from toolkit.chartify.apis import DEFAULT_KUBE_VERSION
from toolkit.chartify.read import ReadOptions, SourceObject
from toolkit.errors import InputError

if TYPE_CHECKING:
    from toolkit.adapters.helm import Helm
    from toolkit.adapters.kube import Kube

__all__ = ["App", "ChartifyOptions", "ChartifyResult", "chartify", "load_app", "load_source", "verify_against"]

log = logging.getLogger(__name__)

_CHART_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ChartifyOptions:
    """What to generate and where; the CLI's defaults are these."""

    name: str
    version: str = "0.1.0"
    app_version: str | None = None
    output: Path | None = None  # default: ./<name>
    overrides: Path | None = None  # default: <output>/.chartify-overrides.yaml when it exists
    verify: bool = True
    description: str | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    #: the Kubernetes version the chart is for: API versions it no longer serves are migrated or refused
    kube_version: str = DEFAULT_KUBE_VERSION


@dataclass(frozen=True)
class ChartifyResult:
    chart: Path
    objects: int
    skipped: dict[str, str]
    parameters: int
    locked: int
    components: dict[str, list[str]]
    warnings: list[str]
    verification: Any = None  # verify.VerifyResult when verified
    read: dict[str, str] = field(default_factory=dict)  # source → how it was read (built with kustomize...)


@dataclass(frozen=True)
class App:
    """An app as a chart must reproduce it: its objects (read, cleaned, on API versions the target serves)."""

    objects: list[SourceObject]
    skipped: dict[str, str]  # object id → why it is not part of the app
    warnings: list[str]  # one per object moved off (or left on) a deprecated API version
    read: dict[str, str]  # source → how it was read


def load_app(sources: Sequence[str], *, options: ReadOptions = ReadOptions(),
             kube_version: str = DEFAULT_KUBE_VERSION, stdin: Any = None, kube: Callable[[], Kube] | None = None,
             kustomize: Any = None) -> App:
    """Read, clean and move to the API versions ``kube_version`` serves: the objects a chart must reproduce."""
    from toolkit.chartify.apis import migrate_apis
    from toolkit.chartify.clean import clean_objects
    from toolkit.chartify.read import read_app

    found = read_app(sources, options=options, stdin=stdin, kube=kube, kustomize=kustomize)
    cleaned = clean_objects(found.objects)
    if not cleaned.objects:
        raise InputError(f"unable to chartify {', '.join(sources)}: every object is made by the cluster or a "
                         "controller", hint="point at the app's own objects (Deployments, Services, ...)")
    migrated = migrate_apis(cleaned.objects, kube_version)
    return App(migrated.objects, cleaned.skipped, migrated.warnings, found.how)


def load_source(sources: Sequence[str], *, options: ReadOptions = ReadOptions(), stdin: Any = None,
                kube: Callable[[], Kube] | None = None, kube_version: str = DEFAULT_KUBE_VERSION,
                kustomize: Any = None) -> tuple[list[SourceObject], dict[str, str]]:
    """``load_app``'s objects and what was skipped (id → reason)."""
    app = load_app(sources, options=options, kube_version=kube_version, stdin=stdin, kube=kube, kustomize=kustomize)
    return app.objects, app.skipped


def _check_options(options: ChartifyOptions) -> None:
    if not _CHART_NAME.match(options.name) or len(options.name) > 53:
        raise InputError(f'unable to use chart name "{options.name}": use lowercase letters, digits and dashes '
                         "(at most 53 characters)")
    if not _SEMVER.match(options.version):
        raise InputError(f'unable to use chart version "{options.version}": not a semantic version like 1.2.3')


def chartify(sources: Sequence[str], options: ChartifyOptions, *, helm: Callable[[], Helm] | None = None,
             stdin: Any = None, kube: Callable[[], Kube] | None = None, kustomize: Any = None,
             progress: Progress | None = None) -> ChartifyResult:
    """Generate the chart for ``sources`` into ``options.output`` (atomically), verified unless told not to.

    ``kube`` gives the cluster ``cluster:`` sources are read from, ``kustomize`` builds kustomization directories
    (default: what ``options.read`` names); ``helm`` gives the helm that lints and renders for the verification.
    Both factories are called only when needed: files never need a cluster, ``--no-verify`` never needs helm.
    """
    from toolkit.chartify.overrides import OVERRIDES_FILE, Overrides, apply_overrides, load_overrides
    from toolkit.chartify.params import build_model
    from toolkit.chartify.write import chart_files, discard, replace_dir, stage

    say = progress or (lambda _msg: None)
    _check_options(options)
    dest = (options.output or Path(options.name)).resolve()
    app = load_app(sources, options=options.read, kube_version=options.kube_version, stdin=stdin, kube=kube,
                   kustomize=kustomize)
    objects, skipped = app.objects, app.skipped
    for source, how in app.read.items():
        say(f"{source}: {how}")
    say(f"read {len(objects)} objects" + (f" ({len(skipped)} made by the cluster skipped)" if skipped else ""))
    try:
        model = build_model(objects, name=options.name, version=options.version, app_version=options.app_version)
        overrides_path = options.overrides or (dest / OVERRIDES_FILE if (dest / OVERRIDES_FILE).is_file() else None)
        overrides = load_overrides(overrides_path) if overrides_path else Overrides()
        locks = apply_overrides(model, overrides)
        for warning in model.warnings:
            # the result carries the warnings for the caller to show; the log only keeps a trace
            log.debug("%s", warning)
        files = chart_files(model, locks=locks, overrides=overrides, description=options.description)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        # read.py checks the shapes of the fields chartify reads; a field it does not know to check can still
        # hold what the API server would refuse: one line naming the cause, the traceback with --verbose
        log.debug("chartify could not use the objects", exc_info=True)
        raise InputError(f"unable to chartify {', '.join(sources) or '-'}: an object has a field the Kubernetes API "
                         f"would refuse ({type(exc).__name__}: {exc})",
                         hint="check the manifests with `kubectl apply --dry-run=server -f ...`") from exc
    staged = stage(files, dest.parent, options.name)
    verification = None
    try:
        if options.verify:
            from toolkit.chartify.verify import VerifyOptions, verify_chart

            say("verifying: helm lint --strict, helm template with defaults, object-by-object comparison")
            if helm is None:
                raise InputError("unable to verify the chart: no helm given", hint="pass --no-verify")
            verification = verify_chart(staged, objects, helm=helm(),
                                        options=VerifyOptions(kube_version=options.kube_version))
    except BaseException:
        discard(staged)
        raise
    replace_dir(staged, dest)
    say(f"wrote {dest}")
    return ChartifyResult(chart=dest, objects=len(objects), skipped=skipped, parameters=len(model.params),
                          locked=sum(1 for p in model.params.values() if p.locked),
                          components=model.components, warnings=app.warnings + model.warnings,
                          verification=verification, read=app.read)


def verify_against(chart: Path, sources: Sequence[str], *, helm: Helm, read: ReadOptions = ReadOptions(),
                   stdin: Any = None, kube: Callable[[], Kube] | None = None, kustomize: Any = None,
                   namespace: str | None = None, kube_version: str = DEFAULT_KUBE_VERSION) -> Any:
    """Check that ``chart`` rendered with defaults reproduces ``sources`` (see verify.py)."""
    from toolkit.chartify.verify import VerifyOptions, verify_chart

    if not (chart / "Chart.yaml").is_file():
        raise InputError(f'unable to verify "{chart}": no Chart.yaml there', hint="pass a chart directory")
    app = load_app(sources, options=read, kube_version=kube_version, stdin=stdin, kube=kube, kustomize=kustomize)
    return verify_chart(chart, app.objects, helm=helm,
                        options=VerifyOptions(namespace=namespace, kube_version=kube_version))
