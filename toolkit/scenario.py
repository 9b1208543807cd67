"""The demo: the story end to end on the local environment, one or two lines per step (``invoke demo``).

A front door like the CLI: it drives the core API (``toolkit.core``) and nothing else, with the local
environment (built on first use, with a progress line per build) as its catalog and cluster.

The chat app runs in the local cluster → chartify reads it live → package → publish to the local catalog → an
intern installs a staging instance with one command (a locked parameter is refused) → a new version is published
→ ``outdated`` flags the instance → upgrade → a direct edit shows up in ``drift`` (and an edit of a locked field
is a compliance violation) → the owner publishes a RabbitMQ type with plans and binding outputs → a broker serves
the catalog (Open Service Broker API) → through it an intern provisions a staging chat with plan ``small`` and a
RabbitMQ, binds the chat app to it with one call (credentials under ``$SERVICE_BINDING_ROOT``), and the owner
updates the chat to plan ``large``.

The app runs in namespace ``chat-demo`` (re-applied each run: idempotent). Every run uses a fresh catalog namespace
and a fresh instance namespace (``demo-<stamp>``), so re-runs never collide with what an earlier run published
(catalog versions are immutable).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toolkit.errors import DeployError

__all__ = ["DemoOptions", "main", "run"]

log = logging.getLogger(__name__)

Say = Callable[[str], None]

#: the owner's choice for the demo: the image is pinned by the owner (interns cannot point it elsewhere)
OVERRIDES = """\
parameters:
  chat.image:
    locked: true
    description: Images come from the org registry, pinned by the owner
declarations:
  plans:
    - {name: small, description: one replica for trying things, default: true,
       values: {chat: {autoscaling: {minReplicas: 1}}}, locked: [chat.autoscaling.minReplicas]}
    - {name: large, description: three replicas with more memory, free: false,
       values: {chat: {autoscaling: {minReplicas: 3}, resources: {limits: {cpu: "2", memory: 1Gi}}}},
       locked: [chat.autoscaling.minReplicas]}
"""


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    examples: Path = Path("examples/chat")
    rabbitmq: Path | None = None          # the RabbitMQ app's manifests (default: beside examples, "rabbitmq")
    work: Path = Path("out/demo")
    app_namespace: str = "chat-demo"
    instance: str = "staging"


def _step(say: Say, number: int, text: str) -> float:
    say(f"[{number}] {text}")
    return time.monotonic()


def _done(say: Say, started: float, text: str) -> None:
    say(f"    {text} ({time.monotonic() - started:.1f}s)")


def run(options: DemoOptions = DemoOptions(), *, say: Say = lambda _m: None) -> None:
    """Tell the story; raises ChartkitError at the first step that does not go as told."""
    from toolkit import localenv
    from toolkit.config import CatalogRef, CatalogURL, ClusterRef, Config
    from toolkit.core.chartify import ChartifyOptions, chartify
    from toolkit.core.drift import DriftOptions, ExitCode, drift
    from toolkit.core.install import InstallOptions, ValuesInput, install
    from toolkit.core.outdated import OutdatedOptions, outdated
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish
    from toolkit.core.upgrade import UpgradeOptions, upgrade
    from toolkit.errors import InputError
    from toolkit.objects import load_documents

    stamp = time.strftime("%m%d%H%M%S")
    t = _step(say, 0, "local environment: helm, registry, cluster (each built on first use)")
    helm_binary = localenv.ensure_helm(say)
    registry = localenv.start_registry(say)
    cluster = localenv.start_cluster(say)
    catalog = CatalogRef(CatalogURL.parse(f"{registry.url}/demo-{stamp}"), "demo", registry.ca_file,
                         registry.registry_config)
    config = Config(catalog, ClusterRef(cluster.kubeconfig, cluster.context, "local cluster"),
                    helm_binary=helm_binary, timeout="3m")
    kube = config.kube()
    _done(say, t, f"registry {registry.host}, cluster {cluster.server} ({cluster.version}), catalog {catalog}")

    t = _step(say, 1, f"the chat app runs in the cluster: apply {options.examples}/ to namespace {options.app_namespace}")
    objects = []
    for path in sorted(options.examples.glob("*.yaml")):
        objects += [doc for doc in load_documents(path.read_text(), str(path)) if isinstance(doc, dict)]
    if not objects:
        raise DeployError(f"demo: no manifests in {options.examples}")
    for obj in objects:
        # its own namespace: the demo changes the app, other users of namespace "chat" must not see that
        obj.setdefault("metadata", {})["namespace"] = options.app_namespace
    kube.create_namespace(options.app_namespace)
    kube.apply(objects, options.app_namespace, field_manager="kubectl")
    kube.wait_deployment_available("chat", options.app_namespace, timeout=120)
    _done(say, t, f"{len(objects)} objects applied, Deployment chat available")

    work = options.work.resolve() / stamp
    chart_dir = work / "chat"
    work.mkdir(parents=True)
    (work / "overrides.yaml").write_text(OVERRIDES)
    t = _step(say, 2, f"chartify cluster:{options.app_namespace} (read live; the owner locks chat.image)")
    made = chartify(config, [f"cluster:{options.app_namespace}"],
                    ChartifyOptions(name="chat", version="1.0.0", output=chart_dir, overrides=work / "overrides.yaml"))
    fidelity = f", renders back {made.verification.figure}" if made.verification is not None else ""
    _done(say, t, f"{made.chart}: {made.objects} objects, {made.parameters} parameters, {made.locked} locked{fidelity}")

    def ship(version: str) -> str:
        pkg = package(config, PackageOptions(chart=chart_dir, version=version, destination=work / "packages"))
        report = publish(config, PublishOptions(packages=(pkg.path,)))
        report.raise_for_errors()
        return f"{pkg.path.name} -> {report.results[0].ref}:{version} ({report.results[0].manifest_digest[:19]})"

    t = _step(say, 3, "package + publish chat 1.0.0 to the local catalog")
    _done(say, t, ship("1.0.0"))

    namespace = f"demo-{stamp}"
    t = _step(say, 4, f"intern: chartkit install {options.instance} chat -n {namespace} "
                      "--set chat.image.registry=docker.io")
    try:
        install(config, InstallOptions(instance=options.instance, type_ref="chat", namespace=namespace,
                                       values=ValuesInput(sets=("chat.image.registry=docker.io",))))
    except InputError as exc:
        _done(say, t, f"refused before touching the cluster: {exc.message}")
    else:
        raise DeployError("demo: the locked parameter chat.image.registry was accepted")
    t = _step(say, 5, f"intern: chartkit install {options.instance} chat -n {namespace} "
                      "--set chat.autoscaling.minReplicas=3")
    result = install(config, InstallOptions(instance=options.instance, type_ref="chat", namespace=namespace,
                                            values=ValuesInput(sets=("chat.autoscaling.minReplicas=3",))))
    _done(say, t, result.line())

    t = _step(say, 6, "owner: chat 1.21 goes live in the source app -> chartify again -> publish chat 1.1.0")
    for obj in objects:
        if obj.get("kind") == "Deployment":
            for container in obj["spec"]["template"]["spec"]["containers"]:
                container["image"] = container["image"].replace(":1.20", ":1.21")
    kube.apply(objects, options.app_namespace, field_manager="kubectl")
    kube.wait_deployment_available("chat", options.app_namespace, timeout=120)
    chartify(config, [f"cluster:{options.app_namespace}"],
             ChartifyOptions(name="chat", version="1.1.0", output=chart_dir, overrides=work / "overrides.yaml"))
    _done(say, t, ship("1.1.0"))

    t = _step(say, 7, "chartkit outdated")
    found = outdated(config, OutdatedOptions(namespace=namespace))
    behind, requests = found.behind, found.registry_requests
    if [r.instance.name for r in behind] != [options.instance]:
        raise DeployError(f"demo: outdated flagged {[r.instance.name for r in behind]}, expected {options.instance}")
    _done(say, t, "; ".join(f"{r.instance.namespace}/{r.instance.name}: {r.instance.version} -> {r.latest}"
                            for r in behind) + f" ({requests} registry requests)")

    t = _step(say, 8, f"chartkit upgrade {options.instance} --version latest")
    _done(say, t, upgrade(config, UpgradeOptions(instance=options.instance, namespace=namespace,
                                                 version="latest")).line())

    t = _step(say, 9, "someone edits the Deployment directly (adds env DEBUG, raises the cpu limit), then chartkit drift")
    kube.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/chat",
                 body={"spec": {"template": {"spec": {"containers": [
                     {"name": "chat", "env": [{"name": "DEBUG", "value": "chat:*"}],
                      "resources": {"limits": {"cpu": "2"}}}]}}}},
                 content_type="application/strategic-merge-patch+json", query={"fieldManager": "kubectl-edit"})
    report = drift(config, DriftOptions(instance=options.instance, namespace=namespace)).reports[0]
    if not report.changes:
        raise DeployError("demo: drift did not see the direct edit")
    for change in report.changes:
        say(f"    {change.line()}")
    _done(say, t, f"chartkit drift exit code {int(report.exit_code)} (0 clean, 3 drift, 4 compliance violation)")

    t = _step(say, 10, "someone points the image at docker.io (chat.image is locked), then chartkit drift")
    kube.request("PATCH", f"/apis/apps/v1/namespaces/{namespace}/deployments/chat",
                 body={"spec": {"template": {"spec": {"containers": [
                     {"name": "chat", "image": "docker.io/chat/chat-server:latest"}]}}}},
                 content_type="application/strategic-merge-patch+json", query={"fieldManager": "kubectl-edit"})
    report = drift(config, DriftOptions(instance=options.instance, namespace=namespace)).reports[0]
    for change in report.changes:
        if change.violation:
            say(f"    {change.line()}")
    if report.exit_code is not ExitCode.VIOLATION:
        raise DeployError("demo: drift did not flag the locked image as a compliance violation")
    _done(say, t, f"chartkit drift exit code {int(report.exit_code)}: compliance violation")
    _broker_story(config, options, work, namespace, say)
    say(f"done: catalog {catalog.url}, instance {namespace}/{options.instance}, chart {chart_dir}")


def _broker_story(config, options: DemoOptions, work: Path, namespace: str, say: Say) -> None:  # noqa: ANN001
    """Steps 11-15: a RabbitMQ type, the broker, provision + bind + plan change through the OSB API over HTTP."""
    import base64
    import secrets
    import uuid

    import httpx

    from toolkit.broker.app import BrokerSettings
    from toolkit.broker.server import BackgroundBroker, ServeOptions, free_port
    from toolkit.core.chartify import ChartifyOptions, chartify
    from toolkit.core.credentials import BasicCredentials
    from toolkit.core.package import PackageOptions, package
    from toolkit.core.publish import PublishOptions, publish
    from toolkit.core.provision import LeaseTiming

    rabbit_src = options.rabbitmq or options.examples.parent / "rabbitmq"
    t = _step(say, 11, f"owner: chartify {rabbit_src} (plans small/large, binding outputs) -> publish rabbitmq 1.0.0")
    repo_chart = rabbit_src.parent.parent / "charts" / "rabbitmq"
    overrides = repo_chart / ".chartify-overrides.yaml"
    made = chartify(config, [str(rabbit_src)], ChartifyOptions(
        name="rabbitmq", version="1.0.0", output=work / "rabbitmq",
        overrides=overrides if overrides.is_file() else None))
    pkg = package(config, PackageOptions(chart=made.chart, version="1.0.0", destination=work / "packages"))
    publish(config, PublishOptions(packages=(pkg.path,))).raise_for_errors()
    _done(say, t, f"rabbitmq 1.0.0 published with {made.chart / 'chartkit.yaml'}")

    t = _step(say, 12, "the platform team starts the broker: chartkit broker (Open Service Broker API 2.17)")
    password = secrets.token_urlsafe(18)
    settings = BrokerSettings(credentials=BasicCredentials("platform", password), workers=4,
                              state_namespace="chartkit-system", timing=LeaseTiming(duration=6, renew=2))
    serve = ServeOptions(port=free_port())
    with BackgroundBroker(config, settings, serve) as url, httpx.Client(
            base_url=url, auth=("platform", password), headers={"X-Broker-API-Version": "2.17"}, timeout=60) as http:
        services = {s["name"]: s for s in http.get("/v2/catalog").json()["services"]}
        plans = {name: {p["name"]: p["id"] for p in svc["plans"]} for name, svc in services.items()}
        _done(say, t, f"{url}: " + "; ".join(f"{n} plans {', '.join(p)}" for n, p in sorted(plans.items())))

        def wait(instance: str, operation: str) -> dict:
            deadline = time.monotonic() + 300
            while True:
                body = http.get(f"/v2/service_instances/{instance}/last_operation",
                                params={"operation": operation}).json()
                if body.get("state") != "in progress":
                    if body.get("state") != "succeeded":
                        raise DeployError(f"demo: {instance}: {body}")
                    return body
                if time.monotonic() > deadline:
                    raise DeployError(f"demo: {instance} still in progress")
                time.sleep(0.5)

        def put(instance: str, service: str, plan: str, context: dict, parameters: dict | None = None) -> str:
            answer = http.put(f"/v2/service_instances/{instance}", params={"accepts_incomplete": "true"},
                              json={"service_id": services[service]["id"], "plan_id": plans[service][plan],
                                    "organization_guid": "demo", "space_guid": "demo", "context": context,
                                    "parameters": parameters or {}},
                              headers={"X-Broker-API-Originating-Identity": "kubernetes " + base64.b64encode(
                                  b'{"username": "intern"}').decode()})
            if answer.status_code != 202:
                raise DeployError(f"demo: provisioning {service} answered {answer.status_code}: {answer.text}")
            return wait(instance, answer.json()["operation"])["description"]

        staging = f"{namespace}-osb"
        chat_id, mq_id = str(uuid.uuid4()), str(uuid.uuid4())
        t = _step(say, 13, f"intern: PUT /v2/service_instances/... chat plan small -> {staging}/staging")
        _done(say, t, put(chat_id, "chat", "small", {"platform": "kubernetes", "namespace": staging,
                                                   "instance_name": "staging"}))
        t = _step(say, 14, "intern: a RabbitMQ for it, plan small (the credentials are the intern's choice)")
        mq_user = {"RABBITMQ_DEFAULT_USER": "chat", "RABBITMQ_DEFAULT_PASS": secrets.token_urlsafe(16)}
        _done(say, t, put(mq_id, "rabbitmq", "small", {"platform": "kubernetes", "namespace": f"{staging}-mq",
                                                       "instance_name": "rabbitmq"},
                          {"rabbitmq": {"secret": {"existingSecret": "", "values": mq_user}}}))

        t = _step(say, 15, "one call binds the chat app to the Rabbit service: PUT .../service_bindings/... "
                           "workload=Deployment/chat")
        answer = http.put(f"/v2/service_instances/{mq_id}/service_bindings/{uuid.uuid4()}",
                          json={"service_id": services["rabbitmq"]["id"], "plan_id": plans["rabbitmq"]["small"],
                                "parameters": {"namespace": staging, "workload": "Deployment/chat",
                                               "name": "rabbitmq"}})
        if answer.status_code != 201:
            raise DeployError(f"demo: binding answered {answer.status_code}: {answer.text}")
        keys = sorted(answer.json()["credentials"])
        pod = config.kube().get("apps/v1", "Deployment", "chat", staging)["spec"]["template"]["spec"]
        mounts = [m["mountPath"] for m in pod["containers"][0].get("volumeMounts") or []
                  if m["mountPath"].startswith("/bindings/")]
        root = next(e["value"] for e in pod["containers"][0]["env"] if e["name"] == "SERVICE_BINDING_ROOT")
        _done(say, t, f"Secret {staging}/rabbitmq ({', '.join(keys)}) at {mounts[0]} (SERVICE_BINDING_ROOT={root})")

        t = _step(say, 16, "owner: PATCH the staging chat to plan large")
        answer = http.patch(f"/v2/service_instances/{chat_id}", params={"accepts_incomplete": "true"},
                            json={"service_id": services["chat"]["id"], "plan_id": plans["chat"]["large"]})
        if answer.status_code != 202:
            raise DeployError(f"demo: the plan change answered {answer.status_code}: {answer.text}")
        wait(chat_id, answer.json()["operation"])
        # the chart leaves replicas to the HPA: the plan raises its minimum, and the HPA controller (every 15 s)
        # scales the Deployment up to it
        minimum = config.kube().get("autoscaling/v2", "HorizontalPodAutoscaler", "chat", staging)["spec"]["minReplicas"]
        deadline = time.monotonic() + 45
        while (replicas := config.kube().get("apps/v1", "Deployment", "chat", staging)["spec"]["replicas"]) < minimum \
                and time.monotonic() < deadline:
            time.sleep(1)
        _done(say, t, f"{staging}/staging: plan large, {replicas} replicas (the HPA's minimum is {minimum})")



def main() -> int:
    """``python -m toolkit.scenario``: tell the story on the terminal; one line and exit 1 if a step fails."""
    import argparse
    import sys

    from toolkit.errors import ChartkitError

    parser = argparse.ArgumentParser(prog="python -m toolkit.scenario", description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, default=DemoOptions.examples, help="the sample app's manifests")
    parser.add_argument("--work", type=Path, default=DemoOptions.work, help="output directory")
    args = parser.parse_args()
    try:
        run(DemoOptions(examples=args.examples, work=args.work), say=lambda line: print(line, flush=True))
    except ChartkitError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
