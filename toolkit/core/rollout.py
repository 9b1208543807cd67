"""Roll an instance out to a new version with a strategy (rolling, blue-green, cutover, split); promote, abort,
status. The plan is pure (``toolkit.deploy.strategies.plan``); this operation carries it out step by step.

The state of a rollout lives on the cluster, in an annotation of the instance's HTTPRoute (``chartkit rollout
status`` reads it back), so a rollout started on one machine can be promoted, aborted or resumed from another —
also after the process driving it died mid-ramp (traffic stays at the last weight until ``resume`` or ``abort``).
A failed step after green exists aborts: traffic returns to blue (100%), green is removed, and the error says
where it stopped and why.

The route attaches to a Gateway (the strategy's, else the configuration's) whose implementation must list the
features the strategy needs (``supportedFeatures`` of its GatewayClass); analysis gates read that Gateway's
metrics (``toolkit.deploy.analysis``, run from ``_Rollout._analyse`` only). With no Gateway named at all, the
route is written without a parentRef, as before (a server front door may attach routes its own way); a strategy
with an analysis is then refused.
"""

from __future__ import annotations

import datetime as _dt
import logging
import signal
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping

from toolkit.adapters.kube import Kube
from toolkit.adapters.metrics import Scrape, scrape
from toolkit.config import Config
from toolkit.core.upgrade import UpgradeOptions, upgrade, upgrade_to
from toolkit.deploy import analysis, claims
from toolkit.deploy.fetch import fetch
from toolkit.deploy.instance import Instance
from toolkit.deploy.origin import parse_type_ref
from toolkit.deploy.release import (ReleaseOptions, check_values, get_instance, refuse_other_catalog, refuse_pending,
                                    release_objects, run_release, serving_values)
from toolkit.deploy.traffic import BackendRef, Stats, stats_by, supported_features, traefik_service
from toolkit.deploy.values import ValuesInput
from toolkit.deploy.strategies.plan import load_strategy_file, options_from_flags
from toolkit.deploy.strategies.plan import (LABEL_ROLLOUT, ROUTE_API, Backend, GatewayTarget, Phase, RouteSpec, Step,
                                            StepKind, Strategy, StrategyOptions, default_hostname, green_namespace,
                                            missing_features, options_from_data, plan, plan_abort, plan_promote,
                                            plan_resume, pod_references, reference_grant, route, route_weights,
                                            state_of)
from toolkit.errors import BusyError, ChartkitError, DeployError, InputError, Interrupted

__all__ = ["RolloutEvent", "RolloutOptions", "RolloutResult", "RolloutTarget", "StrategyOptions", "abort",
           "describe_status", "load_strategy_file", "options_from_flags", "promote", "resume", "rollout", "status"]

log = logging.getLogger(__name__)

LABEL_COPIED_FROM = "chartkit.io/copied-from"


@dataclass(frozen=True, kw_only=True)
class RolloutOptions:
    """``chartkit rollout INSTANCE --version V``: the CLI binds its flags onto these defaults."""

    instance: str
    version: str                           # a version, or "latest"
    namespace: str = "default"
    strategy: StrategyOptions = StrategyOptions()
    values: ValuesInput = field(default_factory=ValuesInput)
    timeout: str | None = None  # helm's timeout for the upgrade of the instance of record
    #: set from another thread (a console's abort) to stop the rollout: it aborts at once, also mid-pause or
    #: mid-analysis, inside its own claim (a second command would be refused while the claim is held)
    stop: threading.Event | None = field(default=None, compare=False)


@dataclass(frozen=True, kw_only=True)
class RolloutTarget:
    """The instance whose rollout in progress is promoted, aborted or shown."""

    instance: str
    namespace: str = "default"
    timeout: str | None = None


@dataclass(frozen=True)
class RolloutEvent:
    """One step started, done or failed (or one analysis measurement of it: ``measured``); ``index`` counts from 1."""

    index: int
    total: int
    step: Step
    status: str
    message: str = ""
    seconds: float = 0.0
    stage: str = "rollout"  # "abort" while an abort returns traffic to blue

    def line(self) -> str:
        took = f" ({self.seconds:.1f}s)" if self.status in ("done", "failed") else ""
        msg = f": {self.message}" if self.message else ""
        stage = "" if self.stage == "rollout" else f"{self.stage} "
        return f"{stage}[{self.index}/{self.total}] {self.step.describe()} {self.status}{took}{msg}"


Progress = Callable[[RolloutEvent], None]


@dataclass(frozen=True)
class RolloutResult:
    instance: str
    namespace: str
    strategy: str
    from_version: str
    to_version: str
    phase: Phase
    seconds: float
    steps: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {"instance": self.instance, "namespace": self.namespace, "strategy": self.strategy,
                "from": self.from_version, "to": self.to_version, "phase": self.phase.value,
                "seconds": round(self.seconds, 2), "steps": list(self.steps)}

    def line(self) -> str:
        return (f"rollout {self.namespace}/{self.instance} {self.from_version} → {self.to_version} "
                f"({self.strategy}): {self.phase.value} in {self.seconds:.1f}s")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _service(objects: list[dict[str, Any]], name: str, namespace: str) -> Backend:
    services = [o for o in objects if o.get("kind") == "Service" and (o.get("spec") or {}).get("ports")]
    if not services:
        raise DeployError(f'unable to route traffic to "{namespace}/{name}": its release renders no Service with a port',
                          hint="use --strategy rolling for instances without a Service")
    svc = next((s for s in services if s["metadata"]["name"] == name), services[0])
    return Backend(svc["metadata"]["name"], namespace, int(svc["spec"]["ports"][0]["port"]))


def _deployments(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects if o.get("kind") == "Deployment"]


class _Rollout:
    """One rollout's context: the instance of record (blue), green, and the route between them."""

    def __init__(self, config: Config, name: str, namespace: str, *, progress: Progress | None) -> None:
        self.config, self.name, self.namespace = config, name, namespace
        self.kube: Kube = config.kube()
        self.progress = progress
        self.green_ns = green_namespace(namespace, name)
        self.state: dict[str, Any] = {}
        self.strategy = StrategyOptions()
        self.values = ValuesInput()
        self.timeout: str | None = None
        self.blue: Backend | None = None
        self.green: Backend | None = None
        self.green_values: dict[str, Any] = {}
        self.weight = 0
        self.split = False
        self.done: list[dict[str, Any]] = []
        self.metrics_url: str | None = None  # the Gateway's metrics, for the analysis gates
        self._at: tuple[int, int, Step] | None = None  # the step running: measurements report under it
        self.stop = threading.Event()  # RolloutOptions.stop

    def _wait(self, seconds: float) -> None:
        """Sleep, unless a stop is asked for, here or on the route (then the step fails and the rollout aborts)."""
        end = time.monotonic() + max(0.0, seconds)
        while (left := end - time.monotonic()) > 0:
            if self.stop.wait(min(left, STOP_POLL_SECONDS)) or self._stop_requested():
                raise DeployError("stopped: an abort was asked for")

    def _stop_requested(self) -> bool:
        """Another process (``rollout abort`` elsewhere, another console replica) asked on the route to stop this
        rollout: the request names the rollout by its start, so one left from an earlier rollout means nothing."""
        obj = self.kube.get(ROUTE_API, "HTTPRoute", self.name, self.namespace, missing_ok=True)
        asked = ((obj or {}).get("metadata", {}).get("annotations") or {}).get(ANNOTATION_STOP)
        return bool(asked) and asked == self.state.get("started")

    # -- the route ---------------------------------------------------------------------------------------------

    def apply_route(self) -> None:
        assert self.blue is not None
        self.state["weight"] = self.weight
        spec = RouteSpec(self.name, self.namespace, self.blue, self.green, self.weight,
                         (self.strategy.header, self.strategy.customers) if self.split and self.green else None,
                         self.strategy.gateway, {**self.state, "updated": _now()}, self.strategy.hostnames)
        self.kube.apply([route(spec)], self.namespace, field_manager="chartkit-rollout")

    # -- steps -------------------------------------------------------------------------------------------------

    def run(self, steps: list[Step], *, abort_on_failure: bool = True, stage: str = "rollout") -> None:
        total = len(steps)
        for index, step in enumerate(steps, 1):
            start = time.monotonic()
            self.state["step"] = f"{index}/{total} {step.describe()}"
            self._at = (index, total, step)
            self._report(RolloutEvent(index, total, step, "started", stage=stage))
            try:
                if stage != "abort" and (self.stop.is_set() or self._stop_requested()):
                    raise DeployError("stopped: an abort was asked for")
                message = self._do(step)
            except ChartkitError as exc:
                took = time.monotonic() - start
                self._report(RolloutEvent(index, total, step, "failed", exc.message, took, stage))
                if not abort_on_failure or not self.state.get("greenNamespace"):
                    raise
                self._abort_after(f"step {index}/{total} ({step.describe()}) failed: {exc.message}")
                raise DeployError(
                    f'unable to roll out "{self.namespace}/{self.name}" to {self.state.get("to")}: step {index}/'
                    f"{total} ({step.describe()}) failed: {exc.message}; aborted: 100% of traffic is back on "
                    f"{self.state.get('serving', self.state.get('from'))} and green is removed", hint=exc.hint) from exc
            except BaseException as exc:  # a signal or a bug mid-step: traffic must not stay split
                if not abort_on_failure or not self.state.get("greenNamespace"):
                    raise
                raise self._stopped(f"step {index}/{total} ({step.describe()})", exc) from exc
            took = time.monotonic() - start
            self.done.append({**step.to_json(), "seconds": round(took, 2)})
            self._report(RolloutEvent(index, total, step, "done", message or "", took, stage))

    def _report(self, event: RolloutEvent) -> None:
        log.info("%s", event.line())
        if self.progress:
            self.progress(event)

    def _abort_after(self, reason: str) -> None:
        self.state.update(phase=Phase.ABORTED.value, message=reason)
        self.stop = threading.Event()  # the abort itself is not stopped
        try:
            self.run(plan_abort(), abort_on_failure=False, stage="abort")
        except ChartkitError as exc:
            log.error("abort of %s/%s incomplete: %s", self.namespace, self.name, exc)
            raise DeployError(f'unable to abort the rollout of "{self.namespace}/{self.name}": {exc.message}',
                              hint=f"`chartkit rollout abort {self.name} -n {self.namespace}` retries") from exc

    def _stopped(self, where: str, exc: BaseException) -> BaseException:
        """Return traffic to the stable version after an interruption or a bug at ``where``; the exception to raise
        says what is left (and, when the abort could not finish, the command that finishes it)."""
        cause = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        self.kube.close()  # a request cut short leaves its connection unusable
        try:
            self._abort_after(f"{where}: {cause}")
            left = (f"aborted: 100% of traffic is on {self.state.get('serving', self.state.get('from'))} and green "
                    "is removed")
        except BaseException as again:  # noqa: BLE001 - the abort failed or was interrupted too
            log.error("abort after %s failed: %s", where, again)
            left = (f"traffic may still be split (green {self.weight}%, green namespace {self.green_ns}): "
                    f"`chartkit rollout abort {self.name} -n {self.namespace}` returns it to the stable version")
        target = f'"{self.namespace}/{self.name}" to {self.state.get("to")}'
        if isinstance(exc, KeyboardInterrupt):
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            return Interrupted(signum, f"the rollout of {target} stopped at {where}; {left}")
        return DeployError(f"unable to roll out {target}: {cause} at {where}; {left}")

    def _do(self, step: StepKind | Step) -> str:
        kind = step.kind if isinstance(step, Step) else step
        if kind is StepKind.UPGRADE:
            result = upgrade(self.config, UpgradeOptions(instance=self.name, namespace=self.namespace,
                                                         version=self.state["to"], values=self.values,
                                                         timeout=self.timeout))
            return f"revision {result.revision} {result.status}"
        if kind is StepKind.DEPLOY_GREEN:
            return self._deploy_green()
        if kind is StepKind.CHECK:
            return self._check()
        if kind is StepKind.WEIGHT:
            assert isinstance(step, Step) and step.weight is not None
            self.weight, self.split = step.weight, False
            self.apply_route()
            return f"{self.namespace}/{self.blue.name if self.blue else ''} {100 - self.weight}%, green {self.weight}%"
        if kind is StepKind.SPLIT:
            self.split = True
            self.state["phase"] = Phase.SPLIT.value
            self.apply_route()
            return f"{self.strategy.header} in {','.join(self.strategy.customers)} → green, everyone else → blue"
        if kind is StepKind.PAUSE:
            assert isinstance(step, Step)
            self._wait(step.seconds)
            return ""
        if kind is StepKind.ANALYSIS:
            return self._analyse()
        if kind is StepKind.PROMOTE:
            values = self.green_values or serving_values(self.config, self.name, self.green_ns)
            inst = get_instance(self.config, self.name, self.namespace)
            refuse_pending(inst)
            refuse_other_catalog(inst, self.config.catalog.url)
            result = upgrade_to(self.config, inst, self.state["to"], values,
                                ReleaseOptions(namespace=self.namespace, timeout=self.timeout))
            self.state["serving"] = result.version  # an abort from here on leaves the new version serving
            return f"{self.namespace}/{self.name} revision {result.revision} runs {result.version}"
        if kind is StepKind.RETIRE_GREEN:
            self.green, self.weight, self.split = None, 0, False
            if self.state.get("phase") != Phase.ABORTED.value:
                self.state["phase"] = Phase.COMPLETE.value
            self.apply_route()
            self._remove_green()
            return f"removed {self.green_ns}"
        raise AssertionError(kind)

    def _analyse(self) -> str:
        """The gate after a traffic step: green's requests at the Gateway, measured as the strategy's analysis says;
        anything but success raises (and the rollout aborts)."""
        options = self.strategy.analysis
        assert options is not None and self.green is not None
        if not self.metrics_url:
            raise DeployError(f'unable to analyse the rollout of "{self.namespace}/{self.name}": no metrics URL '
                              "for its Gateway", hint="pass --gateway-metrics URL or set CHARTKIT_GATEWAY_METRICS")
        service = traefik_service(BackendRef(self.green.namespace, self.green.name, self.green.port))

        def measured(found: analysis.Measurement) -> None:
            if self._at is not None:
                index, total, step = self._at
                self._report(RolloutEvent(index, total, step, "measured", found.describe()))

        result = analysis.analyse(options, _window(self.metrics_url, service, self._wait), on_measurement=measured)
        self.state["lastAnalysis"] = {"weight": self.weight, "split": self.split, **result.to_json()}
        self.apply_route()  # the verdict goes on record with the route, for `rollout status`
        if result.verdict is not analysis.Verdict.SUCCESSFUL:
            hint = ("no request reached green: send traffic through the Gateway, or raise inconclusiveLimit"
                    if result.verdict is analysis.Verdict.INCONCLUSIVE else None)
            raise DeployError(f"analysis {result.describe()}", hint=hint)
        return result.describe()

    def _deploy_green(self) -> str:
        inst = get_instance(self.config, self.name, self.namespace)
        fetched = fetch(self.config.catalog, inst.type, self.state["to"])
        self.green_values = self.values.merged(serving_values(self.config, self.name, self.namespace))
        check_values(fetched, self.green_values)
        # record first: a failure from here on must be able to find (and remove) what it made
        self.state["greenNamespace"] = self.green_ns
        self.apply_route()
        self._wait_namespace_gone()
        self.kube.create_namespace(self.green_ns, labels={LABEL_ROLLOUT: self.name,
                                                         "chartkit.io/rollout-of": self.namespace})
        copied = self._copy_references(release_objects(self.config, self.name, self.namespace))
        self.kube.apply([reference_grant(self.name, self.namespace, self.green_ns)], self.green_ns,
                        field_manager="chartkit-rollout")
        # not waiting: the check step waits for green itself (helm's --rollback-on-failure would imply --wait)
        run_release(self.config.helm(registry=False), self.name, fetched, self.green_values,
                    ReleaseOptions(namespace=self.green_ns, wait=False, timeout=self.timeout), "install")
        green_objects = release_objects(self.config, self.name, self.green_ns)
        self.green = _service(green_objects, self.name, self.green_ns)
        self.state["greenDeployments"] = _deployments(green_objects)
        self.apply_route()
        note = f"; copied {', '.join(copied)}" if copied else ""
        hosts = ", ".join(self.strategy.hostnames)
        where = f"; route {hosts} on Gateway {self.strategy.gateway[1]}/{self.strategy.gateway[0]}" \
            if self.strategy.gateway else f"; route {hosts} attached to no Gateway (pass --gateway NAMESPACE/NAME)"
        return f"{inst.type} {self.state['to']} in {self.green_ns}{note}{where}"

    def _copy_references(self, objects: list[dict[str, Any]]) -> list[str]:
        """Secrets/ConfigMaps blue's pods use that its release does not render (e.g. an existingSecret)."""
        rendered = {(o.get("kind"), o["metadata"]["name"]) for o in objects}
        copied = []
        for kind, name in sorted(pod_references(objects) - rendered):
            live = self.kube.get("v1", kind, name, self.namespace, missing_ok=True)
            if live is None:
                continue
            meta = live.get("metadata") or {}
            copy = {"apiVersion": "v1", "kind": kind,
                    "metadata": {"name": name, "namespace": self.green_ns,
                                 "labels": {**(meta.get("labels") or {}), LABEL_COPIED_FROM: self.namespace}},
                    **{k: live[k] for k in ("type", "data", "binaryData", "stringData") if k in live}}
            # through the API only: the data never reaches a file, argv or a log
            self.kube.apply([copy], self.green_ns, field_manager="chartkit-rollout")
            copied.append(f"{kind}/{name}")
        return copied

    def _check(self) -> str:
        names = self.state.get("greenDeployments") or _deployments(release_objects(self.config, self.name,
                                                                                   self.green_ns))
        timeout = float(self.state.get("checkTimeoutSeconds", self.strategy.check_timeout_seconds))
        for dep in names:
            try:
                self.kube.wait_deployment_available(dep, self.green_ns, timeout=timeout)
            except ChartkitError as exc:
                raise DeployError(f'green Deployment "{self.green_ns}/{dep}" is not Available after {timeout:g}s',
                                  hint=f"look at its pods' events: kubectl -n {self.green_ns} describe pods") from exc
        return f"{len(names)} Deployment(s) Available in {self.green_ns}"

    def _wait_namespace_gone(self) -> None:
        """A green namespace left Terminating by the last rollout cannot take new objects: wait for it to go."""
        ns = self.kube.get("v1", "Namespace", self.green_ns, missing_ok=True)
        if ns is None:
            return
        if (ns.get("metadata", {}).get("labels") or {}).get(LABEL_ROLLOUT) != self.name:
            raise DeployError(f'unable to deploy green of "{self.namespace}/{self.name}": namespace "{self.green_ns}" '
                              "exists and chartkit did not make it", hint="remove it or rename the instance")
        if ns.get("status", {}).get("phase") == "Terminating":
            self.kube.wait_gone("v1", "Namespace", self.green_ns, timeout=self.strategy.check_timeout_seconds)

    def _remove_green(self) -> None:
        try:
            self.config.helm(registry=False).uninstall(self.name, namespace=self.green_ns, wait=False)
        except ChartkitError as exc:
            log.info("green release %s/%s not uninstalled (%s); deleting its namespace", self.green_ns, self.name, exc)
        self.kube.delete("v1", "Namespace", self.green_ns, wait=False)
        self.state.pop("greenNamespace", None)


def _route_of(kube: Kube, name: str, namespace: str) -> dict[str, Any] | None:
    obj = kube.get(ROUTE_API, "HTTPRoute", name, namespace, missing_ok=True)
    if obj and (obj["metadata"].get("labels") or {}).get(LABEL_ROLLOUT) != name:
        raise DeployError(f'unable to use HTTPRoute "{namespace}/{name}" for a rollout: chartkit does not own it',
                          hint="rename or remove that route, or use --strategy rolling")
    return obj


#: a stop asked on the route (rollout abort from another process) names the rollout it stops by its start time
ANNOTATION_STOP = "chartkit.io/rollout-stop"
#: how often a driver waiting in a pause or an analysis window looks for a stop request on the route
STOP_POLL_SECONDS = 1.0

#: Gateway controllers whose metrics chartkit reads (service names and labels are the implementation's own)
METRICS_CONTROLLERS = ("traefik.io/gateway-controller",)


def _window(url: str, service: str, wait: Callable[[float], None] = time.sleep) -> analysis.Measure:
    """Measurements of one Traefik service back to back: each window starts where the last one ended."""
    last: list[Scrape] = []

    def window(seconds: float) -> Stats:
        before = last[-1] if last else scrape(url)
        wait(max(0.0, seconds - (time.time() - before.taken_at)))
        after = scrape(url)
        last[:] = [after]
        found = stats_by(before, after, key=("service",)).get((service,))
        return found or Stats(0.0, 0.0, after.taken_at - before.taken_at)

    return window


def _gateway_target(kube: Kube, name: str, namespace: str) -> GatewayTarget:
    """The Gateway as the cluster has it: its class, the class's controller and supported features."""
    gateway = kube.get(ROUTE_API, "Gateway", name, namespace, missing_ok=True)
    if gateway is None:
        raise DeployError(f'unable to attach a route to Gateway "{namespace}/{name}": it does not exist',
                          hint="pass --gateway NAMESPACE/NAME of an existing Gateway (kubectl get gateways -A)")
    class_name = str((gateway.get("spec") or {}).get("gatewayClassName", ""))
    gateway_class = kube.get(ROUTE_API, "GatewayClass", class_name, missing_ok=True) if class_name else None
    if gateway_class is None:
        raise DeployError(f'unable to attach a route to Gateway "{namespace}/{name}": its GatewayClass '
                          f'"{class_name}" does not exist', hint="no implementation will program that Gateway")
    return GatewayTarget(name, namespace, class_name, str(gateway_class["spec"].get("controllerName", "")),
                         supported_features(gateway_class))


def _attached(config: Config, kube: Kube, name: str, namespace: str,
              strategy: StrategyOptions) -> tuple[StrategyOptions, str | None]:
    """The strategy with its Gateway, hostnames and metrics settled, after checking the Gateway can carry it;
    and the metrics URL analysis gates read. Refuses before anything changes."""
    if strategy.kind is Strategy.ROLLING:
        return strategy, None
    what = f'unable to roll out "{namespace}/{name}" with {strategy.kind.value}'
    ref = config.gateway
    gateway = strategy.gateway or ((ref.name, ref.namespace) if ref else None)
    hostnames = strategy.hostnames or (default_hostname(name, namespace),)
    if gateway is None:
        if strategy.analysis is not None:
            raise InputError(f"{what} and an analysis: no Gateway whose metrics the gates could read",
                             hint="pass --gateway NAMESPACE/NAME (or gateway: in the strategy file, CHARTKIT_GATEWAY)")
        # a route with no parentRef (as before Gateways were named): whatever attaches routes on that cluster may
        # still carry it, so it is not refused; the first step says it plainly
        log.warning("%s/%s: no Gateway named; its HTTPRoute attaches to none", namespace, name)
        return replace(strategy, hostnames=hostnames), None
    target = _gateway_target(kube, *gateway)
    missing = missing_features(strategy.kind, target)
    if missing:
        listed = ", ".join(sorted(target.features)) or "none"
        raise DeployError(f"{what}: {target.describe()} does not support {', '.join(missing)}",
                          hint=f"its GatewayClass lists supportedFeatures: {listed}; use --strategy rolling")
    metrics = strategy.metrics_url or (ref.metrics_url if ref and (ref.name, ref.namespace) == gateway else None)
    if strategy.analysis is not None:
        if not metrics:
            raise InputError(f"{what} and an analysis: no metrics URL for {target.describe()}",
                             hint="pass --gateway-metrics URL, gateway.metricsUrl in the strategy file, or set "
                                  "CHARTKIT_GATEWAY_METRICS")
        if target.controller not in METRICS_CONTROLLERS:
            raise DeployError(f"{what} and an analysis: chartkit reads the metrics of {', '.join(METRICS_CONTROLLERS)}"
                              f", and {target.describe()} is another implementation",
                              hint="drop the analysis, or use a Gateway run by Traefik")
    return replace(strategy, gateway=gateway, hostnames=hostnames, metrics_url=metrics), metrics


def _record(strategy: StrategyOptions, metrics_url: str | None) -> dict[str, Any]:
    """What a rollout's state keeps of its strategy, so promote, abort and resume carry on with the same one."""
    out = strategy.to_json()
    del out["kind"]  # the state names it "strategy"
    out["weights"] = list(strategy.weights)
    if metrics_url:
        out["metricsUrl"] = metrics_url
    return out


def rollout(config: Config, options: RolloutOptions, *, progress: Progress | None = None) -> RolloutResult:
    """Move an instance to a version with a strategy; raises DeployError (after aborting) when a step fails."""
    name, namespace = options.instance, options.namespace
    start = time.monotonic()
    inst = get_instance(config, name, namespace)
    _, version = parse_type_ref(f"{inst.type}@{options.version}")
    from toolkit.catalog.index import resolve

    # the version must exist before anything changes (no green namespace or route for a version that is not there)
    version = resolve(config.catalog, inst.type, version).version
    with claims.hold(config.kube(), "rollout", name, namespace,
                     doing=f"rollout start {version} ({options.strategy.kind.value})"):
        return _start(config, options, inst, version, start, progress)


def _start(config: Config, options: RolloutOptions, inst: Instance, version: str, start: float,
           progress: Progress | None) -> RolloutResult:
    name, namespace, kube = options.instance, options.namespace, config.kube()
    # any strategy, rolling too: an in-place upgrade under a running blue-green would be promoted over
    current = state_of(_route_of(kube, name, namespace))
    if current and Phase(current.get("phase", "complete")).in_progress:
        raise DeployError(f'unable to roll out "{namespace}/{name}": a {current.get("strategy")} rollout '
                          f'to {current.get("to")} is {current.get("phase")}',
                          hint=f"end it with `chartkit rollout promote {name} -n {namespace}`, `rollout resume` "
                               "or `rollout abort`")
    strategy, metrics_url = _attached(config, kube, name, namespace, options.strategy)
    run = _Rollout(config, name, namespace, progress=progress)
    run.strategy, run.values, run.timeout, run.metrics_url = strategy, options.values, options.timeout, metrics_url
    run.stop = options.stop or run.stop
    run.state = {"strategy": strategy.kind.value, "from": inst.version, "to": version,
                 "phase": Phase.PROGRESSING.value, "started": _now(), **_record(strategy, metrics_url)}
    if strategy.kind is not Strategy.ROLLING:
        run.blue = _service(release_objects(config, name, namespace), name, namespace)
    run.run(plan(strategy))
    phase = Phase(run.state.get("phase", Phase.COMPLETE.value)) if strategy.kind is not Strategy.ROLLING \
        else Phase.COMPLETE
    return RolloutResult(name, namespace, strategy.kind.value, inst.version, version, phase,
                         time.monotonic() - start, tuple(run.done))


def _strategy_of(state: Mapping[str, Any]) -> StrategyOptions:
    """The strategy a rollout recorded (older records lack gateway, hostnames and analysis: none then)."""
    data: dict[str, Any] = {"kind": state["strategy"], "pauseSeconds": float(state.get("pauseSeconds", 0)),
                            "check": {"timeoutSeconds": float(state.get("checkTimeoutSeconds", 120))}}
    if state["strategy"] == Strategy.BLUE_GREEN.value:
        data["steps"] = state.get("weights") or state.get("steps") or [100]
    if state["strategy"] == Strategy.SPLIT.value:
        data["split"] = {"header": state.get("header", "X-Customer"), "customers": state.get("customers") or ["-"]}
    for key in ("gateway", "hostnames", "analysis"):
        if state.get(key):
            data[key] = state[key]
    return options_from_data(data)


def _resume(config: Config, name: str, namespace: str, *, progress: Progress | None) -> _Rollout:
    obj = _route_of(config.kube(), name, namespace)
    state = state_of(obj)
    if not state or not Phase(state.get("phase", "complete")).in_progress:
        raise DeployError(f'unable to end the rollout of "{namespace}/{name}": none is in progress',
                          hint=f"`chartkit rollout status {name} -n {namespace}` shows the last one")
    run = _Rollout(config, name, namespace, progress=progress)
    run.state = dict(state)
    run.strategy = _strategy_of(state)
    ref = config.gateway
    own = ref.metrics_url if ref and run.strategy.gateway == (ref.name, ref.namespace) else None
    run.metrics_url = own or state.get("metricsUrl")
    run.blue = _service(release_objects(config, name, namespace), name, namespace)
    run.weight = int(state.get("weight", 0))
    run.split = state.get("phase") == Phase.SPLIT.value
    if state.get("greenNamespace"):
        try:
            run.green = _service(release_objects(config, name, state["greenNamespace"]), name,
                                 state["greenNamespace"])
        except ChartkitError:
            run.green = None  # green never came up: promote will fail its check, abort just cleans up
    return run


def promote(config: Config, target: RolloutTarget, *, progress: Progress | None = None) -> RolloutResult:
    """Finish a rollout in progress (a split, or an interrupted blue-green) in favour of the new version."""
    start = time.monotonic()
    with claims.hold(config.kube(), "rollout", target.instance, target.namespace, doing="rollout promote"):
        run = _resume(config, target.instance, target.namespace, progress=progress)
        run.timeout = target.timeout
        run.state["phase"] = Phase.PROGRESSING.value
        run.run(plan_promote())
    return RolloutResult(target.instance, target.namespace, run.state["strategy"], run.state["from"],
                         run.state["to"], Phase(run.state["phase"]), time.monotonic() - start, tuple(run.done))


def resume(config: Config, target: RolloutTarget, *, progress: Progress | None = None) -> RolloutResult:
    """Carry on a blue-green or cutover rollout whose driver stopped mid-ramp, from the weight in force: the
    remaining steps (and their analysis gates) run as they would have; a failing one aborts."""
    with claims.hold(config.kube(), "rollout", target.instance, target.namespace, doing="rollout resume"):
        return _resume_held(config, target, progress)


def _resume_held(config: Config, target: RolloutTarget, progress: Progress | None) -> RolloutResult:
    start = time.monotonic()
    name, namespace = target.instance, target.namespace
    run = _resume(config, name, namespace, progress=progress)
    run.timeout = target.timeout
    if run.strategy.kind is Strategy.SPLIT:
        raise DeployError(f'unable to resume the rollout of "{namespace}/{name}": a split waits for a decision',
                          hint=f"`chartkit rollout promote {name} -n {namespace}` or `rollout abort`")
    if run.green is None:
        raise DeployError(f'unable to resume the rollout of "{namespace}/{name}": its green release in '
                          f'"{run.green_ns}" is missing', hint=f"`chartkit rollout abort {name} -n {namespace}`, "
                                                                "then start again")
    inst = get_instance(config, name, namespace)
    refuse_pending(inst)
    run.state.update(phase=Phase.PROGRESSING.value, resumed=_now())
    run.run(plan_resume(run.state, promoted=inst.version == run.state["to"] != run.state["from"]))
    return RolloutResult(name, namespace, run.state["strategy"], run.state["from"], run.state["to"],
                         Phase(run.state["phase"]), time.monotonic() - start, tuple(run.done))


def abort(config: Config, target: RolloutTarget, *, progress: Progress | None = None,
          wait_seconds: float = 120.0) -> RolloutResult:
    """End a rollout in progress in favour of the version of record: all traffic back, green removed.

    When a live process drives the rollout (it holds the claim), the abort is asked of it on the route: it stops
    within a second, mid-pause too, and aborts itself. Should its claim expire first (the driver died on another
    machine), this abort takes the claim over and aborts."""
    start = time.monotonic()
    kube = config.kube()
    deadline = start + wait_seconds
    asked = False
    while True:
        try:
            with claims.hold(kube, "rollout", target.instance, target.namespace, doing="rollout abort"):
                state = state_of(_route_of(kube, target.instance, target.namespace))
                if asked and state and not Phase(state.get("phase", "complete")).in_progress:
                    # the driver stopped as asked, and let go of the claim once green was gone
                    return RolloutResult(target.instance, target.namespace, state["strategy"], state["from"],
                                         state["to"], Phase(state["phase"]), time.monotonic() - start, ())
                run = _resume(config, target.instance, target.namespace, progress=progress)
                run.state.update(phase=Phase.ABORTED.value, message="aborted on request")
                run.run(plan_abort(), abort_on_failure=False, stage="abort")
            return RolloutResult(target.instance, target.namespace, run.state["strategy"], run.state["from"],
                                 run.state["to"], Phase.ABORTED, time.monotonic() - start, tuple(run.done))
        except BusyError as held:
            state = state_of(_route_of(kube, target.instance, target.namespace))
            if not asked and (not state or not Phase(state.get("phase", "complete")).in_progress):
                raise  # nothing in progress to ask to stop (the holder is starting one, or does something else)
            if time.monotonic() > deadline:
                raise DeployError(f'unable to abort the rollout of "{target.namespace}/{target.instance}": its '
                                  f"driver did not stop within {wait_seconds:.0f} s of being asked; {held.message}",
                                  hint=held.hint) from None
            if not asked:
                assert state is not None
                log.info("asking the rollout's driver to stop: %s", held.message)
                kube.patch(ROUTE_API, "HTTPRoute", target.instance, target.namespace,
                           {"metadata": {"annotations": {ANNOTATION_STOP: state.get("started", "")}}},
                           field_manager="chartkit-rollout-stop")
                asked = True
            time.sleep(STOP_POLL_SECONDS / 2)


def status(config: Config, target: RolloutTarget) -> dict[str, Any] | None:
    """The last rollout of an instance as recorded on its HTTPRoute, with the route's live weights; None if none."""
    obj = _route_of(config.kube(), target.instance, target.namespace)
    state = state_of(obj)
    if state is None or obj is None:
        return None
    return {"instance": target.instance, "namespace": target.namespace, **state, "rules": route_weights(obj),
            "hostnames": list((obj.get("spec") or {}).get("hostnames") or [])}


def describe_status(data: Mapping[str, Any]) -> str:
    rules = "; ".join(
        (f"[{' | '.join(r['matches'])}] " if r["matches"] else "")
        + ", ".join(f"{k} {v}" for k, v in r["backends"].items()) for r in data.get("rules", []))
    extra = f" — {data['message']}" if data.get("message") else ""
    weight = f" (green {data.get('weight', 0)}%, {data.get('step')})" if data.get("phase") == "progressing" else ""
    hosts = f" ({', '.join(data['hostnames'])})" if data.get("hostnames") else ""
    last = data.get("lastAnalysis")
    gate = f"; last analysis {last['verdict']} at green {last.get('weight', 0)}%" if last else ""
    return (f"{data['namespace']}/{data['instance']}: {data.get('strategy')} {data.get('from')} → {data.get('to')} "
            f"{data.get('phase')}{weight}; route{hosts}: {rules}{gate}{extra}")
