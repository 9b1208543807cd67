"""Rollout strategies as pure planning: a strategy (Enum + options) becomes a list of steps over plain data.

A blue-green rollout runs the new version (*green*) as a second instance of the same release name in a sibling
namespace ``<namespace>-<instance>-green``: charts made by chartify keep the source's object names (so they can
adopt a running app), so two instances of one chart in one namespace would fight over the same objects. An
HTTPRoute named after the instance, in the instance's namespace and owned by chartkit, splits traffic between
the blue Service and the green Service (a ReferenceGrant in the green namespace lets the route point there).
At 100% the release of record is upgraded in place (while green carries all traffic), traffic returns to it,
and green is retired: the instance keeps its name, namespace and helm history.

The route attaches to a Gateway (``parentRefs``) and carries hostnames of its own, so it never catches another
app's requests on a shared Gateway. Weighted backendRefs and header matches are core HTTPRoute features; pointing
at green's namespace needs ReferenceGrant (Gateway API v1.4 conformance: ``HTTPRouteWeight`` and
``HTTPRouteHeaderMatching`` require the features ``Gateway`` + ``HTTPRoute``, cross-namespace backendRefs
``ReferenceGrant``). With an ``analysis`` (``toolkit.deploy.analysis``), every traffic step is followed by
measurements of green's requests at the Gateway; a failed gate aborts.
"""

from __future__ import annotations

import enum
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from toolkit.deploy.analysis import AnalysisOptions
from toolkit.errors import InputError

__all__ = [
    "Backend",
    "GatewayTarget",
    "Phase",
    "Step",
    "StepKind",
    "Strategy",
    "StrategyOptions",
    "default_hostname",
    "green_namespace",
    "load_strategy_file",
    "missing_features",
    "options_from_flags",
    "parse_gateway",
    "plan",
    "plan_abort",
    "plan_promote",
    "plan_resume",
    "pod_references",
    "reference_grant",
    "route",
    "route_weights",
]

ROUTE_API = "gateway.networking.k8s.io/v1"
GRANT_API = "gateway.networking.k8s.io/v1beta1"
LABEL_ROLLOUT = "chartkit.io/rollout"      # on the HTTPRoute, ReferenceGrant and green namespace: the instance
ANNOTATION_STATE = "chartkit.io/rollout-state"
SCHEMA_FILE = Path(__file__).resolve().parents[3] / "schemas" / "rollout-strategy.schema.json"


class Strategy(str, enum.Enum):
    ROLLING = "rolling"
    BLUE_GREEN = "blue-green"
    CUTOVER = "cutover"
    SPLIT = "split"


class Phase(str, enum.Enum):
    PROGRESSING = "progressing"
    SPLIT = "split"          # split: waiting for --promote or --abort
    COMPLETE = "complete"
    ABORTED = "aborted"

    @property
    def in_progress(self) -> bool:
        return self in (Phase.PROGRESSING, Phase.SPLIT)


#: bounds of every duration a strategy holds: a rollout must end in a time a person can wait for, and a value
#: like 1e308 or inf must be refused before any traffic moves (sleeping on it crashed with OverflowError)
MAX_PAUSE_SECONDS = 3600.0
MAX_CHECK_TIMEOUT_SECONDS = 3600.0
#: a Gateway API hostname (RFC 1123 subdomain, optionally with a leading wildcard label), as the CRD validates it
_HOSTNAME = re.compile(r"(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
#: the suffix of the hostname a route gets when the strategy names none: unique per instance, never a real domain
DEFAULT_HOST_SUFFIX = "chartkit.test"
#: Gateway API features (GatewayClass status.supportedFeatures) each strategy's route relies on
REQUIRED_FEATURES: dict[str, tuple[str, ...]] = {
    "rolling": (),
    "blue-green": ("Gateway", "HTTPRoute", "ReferenceGrant"),  # weighted backendRefs across namespaces
    "cutover": ("Gateway", "HTTPRoute", "ReferenceGrant"),
    "split": ("Gateway", "HTTPRoute", "ReferenceGrant"),  # header matches, green in another namespace
}


def _bounded(what: str, value: float, low: float, high: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and low <= value <= high):
        raise InputError(f"unable to use {what} {value!r} seconds: give a number of seconds from {low:g} to {high:g}")
    return float(value)


def _seconds(flag: str, text: str | float, low: float, high: float) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InputError(f'unable to parse {flag} "{text}": expected a number of seconds') from None
    return _bounded(flag, value, low, high)


@dataclass(frozen=True)
class StrategyOptions:
    """How a new version rolls out; the CLI flags and a strategy file both land here."""

    kind: Strategy = Strategy.ROLLING
    steps: tuple[int, ...] = (10, 50, 100)       # blue-green: green's traffic percentage at each step
    pause_seconds: float = 0.0                   # between weight steps, after the check passed
    check_timeout_seconds: float = 120.0         # how long green's Deployments may take to become Available
    header: str = "X-Customer"                   # split: the request header naming the customer
    customers: tuple[str, ...] = ()              # split: header values routed to green
    gateway: tuple[str, str] | None = None       # (name, namespace) of the Gateway the route attaches to
    hostnames: tuple[str, ...] = ()              # the route's hostnames (default <instance>.<namespace>.chartkit.test)
    metrics_url: str | None = None               # the Gateway's Prometheus metrics (default: the configuration's)
    analysis: AnalysisOptions | None = None      # gates between traffic steps, from the Gateway's metrics

    def __post_init__(self) -> None:
        steps = list(self.steps)
        if self.kind is Strategy.BLUE_GREEN:
            if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)) or steps[-1] != 100:
                raise InputError(f"unable to use steps {','.join(map(str, steps)) or '(none)'}: blue-green steps "
                                 "must rise strictly, each 1..100, and end at 100 (e.g. 10,50,100)")
        if self.kind is Strategy.SPLIT and not self.customers:
            raise InputError("unable to plan a split rollout without customers",
                             hint="pass --customers acme,globex (and --header, default X-Customer)")
        _bounded("pause", self.pause_seconds, 0, MAX_PAUSE_SECONDS)
        _bounded("check timeout", self.check_timeout_seconds, 1, MAX_CHECK_TIMEOUT_SECONDS)
        for host in self.hostnames:
            if not (_HOSTNAME.fullmatch(host) and len(host) <= 253):
                raise InputError(f'unable to use hostname "{host}": expected a lowercase DNS name such as '
                                 "chat.example.com (a leading *. is allowed)")
        if self.analysis is not None and self.kind is Strategy.ROLLING:
            raise InputError("unable to analyse a rolling rollout: it moves no traffic between versions",
                             hint="use blue-green, cutover or split with an analysis")

    @property
    def weights(self) -> tuple[int, ...]:
        """Green's share at each traffic step (none for rolling and split)."""
        if self.kind is Strategy.CUTOVER:
            return (100,)
        return tuple(self.steps) if self.kind is Strategy.BLUE_GREEN else ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value, "steps": list(self.steps), "pauseSeconds": self.pause_seconds,
                               "checkTimeoutSeconds": self.check_timeout_seconds}
        if self.kind is Strategy.SPLIT:
            out.update(header=self.header, customers=list(self.customers))
        if self.gateway:
            out["gateway"] = {"name": self.gateway[0], "namespace": self.gateway[1]}
        if self.hostnames:
            out["hostnames"] = list(self.hostnames)
        if self.analysis:
            out["analysis"] = self.analysis.to_json()
        return out


class StepKind(str, enum.Enum):
    UPGRADE = "upgrade"            # rolling: upgrade the release of record in place
    DEPLOY_GREEN = "deploy-green"  # install the new version beside the old one
    CHECK = "check"                # green's Deployments Available, else abort
    WEIGHT = "weight"              # green's share of the traffic (0 = all on blue)
    SPLIT = "split"                # listed customers to green by header, everyone else to blue
    PAUSE = "pause"
    ANALYSIS = "analysis"          # measure green's requests at the Gateway; a failed gate aborts
    PROMOTE = "promote"            # upgrade the release of record to the new version (green carries traffic)
    RETIRE_GREEN = "retire-green"  # uninstall green and remove its namespace


@dataclass(frozen=True)
class Step:
    kind: StepKind
    weight: int | None = None
    seconds: float = 0.0

    def describe(self) -> str:
        if self.kind is StepKind.WEIGHT:
            return f"route {self.weight}% to green" if self.weight else "route 100% to the instance of record"
        if self.kind is StepKind.PAUSE:
            return f"pause {self.seconds:g}s"
        return self.kind.value

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind.value, **({"weight": self.weight} if self.weight is not None else {})}


def _finish() -> list[Step]:
    return [Step(StepKind.PROMOTE), Step(StepKind.WEIGHT, 0), Step(StepKind.RETIRE_GREEN)]


def _ramp(weights: tuple[int, ...] | list[int], *, pause: float, analysis: bool, first: bool = True) -> list[Step]:
    steps: list[Step] = []
    for i, weight in enumerate(weights):
        if (i or not first) and pause:
            steps.append(Step(StepKind.PAUSE, seconds=pause))
        steps += [Step(StepKind.CHECK), Step(StepKind.WEIGHT, weight)]
        if analysis:
            steps.append(Step(StepKind.ANALYSIS))
    return steps


def plan(options: StrategyOptions) -> list[Step]:
    """The steps of a rollout from start to its end (split: to the point where it waits for promote/abort)."""
    if options.kind is Strategy.ROLLING:
        return [Step(StepKind.UPGRADE)]
    steps = [Step(StepKind.DEPLOY_GREEN)]
    analysis = options.analysis is not None
    if options.kind is Strategy.SPLIT:
        return steps + [Step(StepKind.CHECK), Step(StepKind.SPLIT)] + ([Step(StepKind.ANALYSIS)] if analysis else [])
    return steps + _ramp(options.weights, pause=options.pause_seconds, analysis=analysis) + _finish()


def plan_resume(state: Mapping[str, Any], *, promoted: bool) -> list[Step]:
    """The rest of a blue-green or cutover rollout whose driver stopped (killed, machine gone) mid-ramp.

    ``state`` is what the route records (``weights``, the ``weight`` last applied, ``pauseSeconds``,
    ``analysis``); ``promoted``: the instance of record already runs the new version (the driver stopped during
    or after promotion), so only the way back to it and green's removal remain. The traffic step in force is
    measured again before the ramp goes on: the gate must see green's requests at this weight.
    """
    if promoted:
        return [Step(StepKind.WEIGHT, 0), Step(StepKind.RETIRE_GREEN)]
    weight = int(state.get("weight", 0))
    analysis = bool(state.get("analysis"))
    steps: list[Step] = []
    if weight and analysis:
        steps.append(Step(StepKind.ANALYSIS))
    weights = state.get("weights") or ((100,) if state.get("strategy") == "cutover" else state.get("steps") or (100,))
    rest = [int(w) for w in weights if int(w) > weight]
    steps += _ramp(rest, pause=float(state.get("pauseSeconds", 0)), analysis=analysis, first=not weight)
    return steps + _finish()


def plan_promote() -> list[Step]:
    """End a rollout in progress in favour of green (e.g. a split)."""
    return [Step(StepKind.CHECK), Step(StepKind.WEIGHT, 100), *_finish()]


def plan_abort() -> list[Step]:
    """End a rollout in favour of blue: traffic back, green gone."""
    return [Step(StepKind.WEIGHT, 0), Step(StepKind.RETIRE_GREEN)]


# -- the objects traffic shifting is expressed in ----------------------------------------------------------------

@dataclass(frozen=True)
class Backend:
    """A Service a route sends traffic to."""

    name: str
    namespace: str
    port: int

    def ref(self, weight: int, *, local_namespace: str) -> dict[str, Any]:
        out: dict[str, Any] = {"group": "", "kind": "Service", "name": self.name, "port": self.port, "weight": weight}
        if self.namespace != local_namespace:
            out["namespace"] = self.namespace
        return out


def default_hostname(instance: str, namespace: str) -> str:
    """The hostname of an instance's route when the strategy names none: its own, on a shared Gateway too."""
    return f"{instance}.{namespace}.{DEFAULT_HOST_SUFFIX}"


@dataclass(frozen=True)
class GatewayTarget:
    """The Gateway a route attaches to, as the cluster shows it: its class's controller and supported features."""

    name: str
    namespace: str
    gateway_class: str
    controller: str
    features: frozenset[str]

    def describe(self) -> str:
        return f'Gateway "{self.namespace}/{self.name}" (class {self.gateway_class}, controller {self.controller})'


def missing_features(kind: Strategy, target: GatewayTarget) -> list[str]:
    """Features a strategy needs that the Gateway's implementation does not list as supported."""
    return [f for f in REQUIRED_FEATURES[kind.value] if f not in target.features]


def green_namespace(namespace: str, instance: str) -> str:
    name = f"{namespace}-{instance}-green"
    if len(name) > 63:
        raise InputError(f'unable to name the green namespace for "{namespace}/{instance}": "{name}" is longer than '
                         "63 characters", hint="use a rolling rollout, or shorter namespace/instance names")
    return name


@dataclass(frozen=True)
class RouteSpec:
    """Everything an HTTPRoute of a rollout depends on."""

    instance: str
    namespace: str
    blue: Backend
    green: Backend | None = None
    weight: int = 0
    split: tuple[str, tuple[str, ...]] | None = None   # (header, customers)
    gateway: tuple[str, str] | None = None
    state: Mapping[str, Any] = field(default_factory=dict)
    hostnames: tuple[str, ...] = ()


def route(spec: RouteSpec) -> dict[str, Any]:
    """The HTTPRoute (plain dict) for one moment of a rollout."""
    ns = spec.namespace
    if spec.green is None:
        rules: list[dict[str, Any]] = [{"backendRefs": [spec.blue.ref(100, local_namespace=ns)]}]
    elif spec.split:
        header, customers = spec.split
        rules = [
            {"matches": [{"headers": [{"type": "Exact", "name": header, "value": c}]} for c in customers],
             "backendRefs": [spec.green.ref(1, local_namespace=ns)]},
            {"backendRefs": [spec.blue.ref(1, local_namespace=ns)]},
        ]
    else:
        rules = [{"backendRefs": [spec.blue.ref(100 - spec.weight, local_namespace=ns),
                                  spec.green.ref(spec.weight, local_namespace=ns)]}]
    body: dict[str, Any] = {"rules": rules}
    if spec.gateway:
        body["parentRefs"] = [{"name": spec.gateway[0], "namespace": spec.gateway[1]}]
    if spec.hostnames:
        body["hostnames"] = list(spec.hostnames)
    return {
        "apiVersion": ROUTE_API, "kind": "HTTPRoute",
        "metadata": {"name": spec.instance, "namespace": ns,
                     "labels": {LABEL_ROLLOUT: spec.instance, "app.kubernetes.io/managed-by": "chartkit"},
                     "annotations": {ANNOTATION_STATE: json.dumps(dict(spec.state), sort_keys=True)}},
        "spec": body,
    }


def reference_grant(instance: str, namespace: str, green_ns: str) -> dict[str, Any]:
    """Lets the instance's HTTPRoute (in ``namespace``) send traffic to Services in the green namespace."""
    return {
        "apiVersion": GRANT_API, "kind": "ReferenceGrant",
        "metadata": {"name": f"{instance}-rollout", "namespace": green_ns, "labels": {LABEL_ROLLOUT: instance}},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": namespace}],
                 "to": [{"group": "", "kind": "Service"}]},
    }


def route_weights(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per rule: its header matches and ``{"ns/name": weight}`` of its backends (for status and tests)."""
    ns = obj.get("metadata", {}).get("namespace", "")
    out = []
    for rule in obj.get("spec", {}).get("rules", []):
        matches = [f"{h['name']}={h['value']}" for m in rule.get("matches", []) for h in m.get("headers", [])]
        backends = {f"{b.get('namespace', ns)}/{b['name']}": b.get("weight", 1) for b in rule.get("backendRefs", [])}
        out.append({"matches": matches, "backends": backends})
    return out


def pod_references(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of the Secrets and ConfigMaps that the objects' pod templates use."""
    found: set[tuple[str, str]] = set()

    def add(kind: str, name: Any) -> None:
        if name:
            found.add((kind, str(name)))

    for obj in objects:
        spec = (((obj.get("spec") or {}).get("template") or {}).get("spec")) or {}
        for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            for src in c.get("envFrom") or []:
                add("Secret", (src.get("secretRef") or {}).get("name"))
                add("ConfigMap", (src.get("configMapRef") or {}).get("name"))
            for env in c.get("env") or []:
                ref = env.get("valueFrom") or {}
                add("Secret", (ref.get("secretKeyRef") or {}).get("name"))
                add("ConfigMap", (ref.get("configMapKeyRef") or {}).get("name"))
        for vol in spec.get("volumes") or []:
            add("Secret", (vol.get("secret") or {}).get("secretName"))
            add("ConfigMap", (vol.get("configMap") or {}).get("name"))
        for ref in spec.get("imagePullSecrets") or []:
            add("Secret", ref.get("name"))
    return found


# -- strategy files ------------------------------------------------------------------------------------------------

def load_strategy_file(path: Path) -> StrategyOptions:
    """A strategy file (YAML or JSON, schemas/rollout-strategy.schema.json) as options."""
    import jsonschema

    from toolkit.objects import load_documents

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f'unable to read strategy file "{path}": {exc.strerror or exc}') from exc
    if len(raw) > 1 << 20:
        raise InputError(f'unable to read strategy file "{path}": larger than 1 MB (a strategy is a few lines)')
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f'unable to read strategy file "{path}": not UTF-8 text (byte {exc.start})') from exc
    docs = load_documents(text, f"strategy file {path}")
    data = docs[0] if docs else None
    schema = json.loads(SCHEMA_FILE.read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(data),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        message = err.message if len(err.message) <= 160 else err.message[:157] + "..."
        raise InputError(f'unable to use strategy file "{path}": at {where}: {message}')
    return options_from_data(data)


def options_from_data(data: Mapping[str, Any]) -> StrategyOptions:
    """Options from a strategy file's data (checked against the schema), or from a rollout's recorded state."""
    check = data.get("check") or {}
    split = data.get("split") or {}
    gateway = data.get("gateway")
    analysis = data.get("analysis")
    return StrategyOptions(
        kind=Strategy(data["kind"]),
        steps=tuple(data.get("steps") or StrategyOptions.steps),
        pause_seconds=float(data.get("pauseSeconds", 0)),
        check_timeout_seconds=float(check.get("timeoutSeconds", StrategyOptions.check_timeout_seconds)),
        header=split.get("header", StrategyOptions.header),
        customers=tuple(split.get("customers", ())),
        gateway=(gateway["name"], gateway["namespace"]) if gateway else None,
        hostnames=tuple(data.get("hostnames") or ()),
        metrics_url=(gateway or {}).get("metricsUrl"),
        analysis=AnalysisOptions.from_data(analysis) if analysis else None,
    )


def parse_gateway(text: str, flag: str = "--gateway") -> tuple[str, str]:
    """``NAMESPACE/NAME`` → (name, namespace)."""
    ns, _, name = text.partition("/")
    if not (ns and name) or "/" in name:
        raise InputError(f'unable to parse {flag} "{text}": expected NAMESPACE/NAME')
    return name, ns


def options_from_flags(*, kind: str, steps: str = "10,50,100", pause: str | float = 0,
                       check_timeout: str | float = 120, header: str = "X-Customer", customers: str = "",
                       gateway: str | None = None, hostnames: tuple[str, ...] | list[str] = (),
                       metrics_url: str | None = None) -> StrategyOptions:
    """A strategy from command-line text: ``--steps 10,50,100``, ``--pause S``, ``--gateway NS/NAME``..."""
    hosts = tuple(h.strip() for text in hostnames for h in text.split(",") if h.strip())
    return StrategyOptions(kind=Strategy(kind), steps=parse_steps(steps),
                           pause_seconds=_seconds("--pause", pause, 0, MAX_PAUSE_SECONDS),
                           check_timeout_seconds=_seconds("--check-timeout", check_timeout, 1,
                                                          MAX_CHECK_TIMEOUT_SECONDS),
                           header=header, customers=tuple(c.strip() for c in customers.split(",") if c.strip()),
                           gateway=parse_gateway(gateway) if gateway else None, hostnames=hosts,
                           metrics_url=metrics_url or None)


def parse_steps(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise InputError(f'unable to parse --steps "{text}": expected percentages like 10,50,100') from exc


def state_of(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The rollout state chartkit recorded on an HTTPRoute, or None."""
    if not obj:
        return None
    raw = (obj.get("metadata", {}).get("annotations") or {}).get(ANNOTATION_STATE)
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None

