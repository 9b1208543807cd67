"""The console in a real browser (Debian's chromium driven by Playwright) against the real console process, the
local registry and the local cluster: the catalog, the deploy form, instances with their badges and alerts, a
blue-green rollout, the service graph. Every page is saved under out/screenshots/."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid

import pytest
import requests

from tests.conftest import CORPUS, REPO
from tests.console.conftest import NARROW, chartify, renamed, service_chart, shot

pytestmark = [pytest.mark.cluster, pytest.mark.browser]


def _ns(kube, prefix: str):
    name = f"t-{prefix}-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(name)
    return name


@pytest.fixture(scope="module")
def kube_admin(cluster):
    from toolkit.adapters.kube import Kube

    return Kube(kubeconfig=cluster.kubeconfig, context=cluster.context)


@pytest.fixture(scope="module")
def namespaces(kube_admin):
    """Namespaces this module makes, removed at its end (without waiting)."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(_ns(kube_admin, prefix))
        return made[-1]

    yield make
    for name in made:
        kube_admin.delete("v1", "Namespace", name, wait=False)
        kube_admin.delete("v1", "Namespace", f"{name}-chat-green", wait=False)


@pytest.fixture(scope="module")
def config(console_catalog, cluster):
    """The same configuration the console runs with, for the test's own checks and setup."""
    from toolkit.config import ClusterRef, Config

    return Config(console_catalog.ref, ClusterRef(cluster.kubeconfig, cluster.context, "test"),
                  helm_binary=console_catalog.helm_bin, timeout="120s")


@pytest.fixture(scope="module")
def published(console_catalog, chat_chart, tmp_path_factory):
    """chat 1.0.0 (locked image, plans) and two corpus apps' charts, published to the module's catalog."""
    root = tmp_path_factory.mktemp("corpus-charts")
    console_catalog.publish(chat_chart, "1.0.0")
    charts = {"guestbook": chartify([CORPUS / "guestbook"], "guestbook", root / "guestbook"),
              "bookinfo": chartify([CORPUS / "bookinfo"], "bookinfo", root / "bookinfo")}
    for chart in charts.values():
        console_catalog.publish(chart, "1.0.0")
    return {"chat": chat_chart, **charts}


def _open(page, console, route: str, ready: str):
    page.goto(f"{console.url}/#{route}")
    page.wait_for_selector(ready)


WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.table-wrap, .graph-wrap'))
  .slice(0, 5).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)"""


def _fits(page) -> None:
    """Nothing forces a phone to scroll sideways: wide tables and the graph scroll inside their own region."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] + 1, page.evaluate(WIDER_THAN_SCREEN)


def _session(console) -> tuple[requests.Session, dict]:
    http = requests.Session()
    found = http.get(f"{console.url}/api/session", timeout=10).json()
    return http, found


def _post(console, path: str, body: dict) -> requests.Response:
    http, found = _session(console)
    return http.post(f"{console.url}{path}", json=body, headers={"X-CSRF-Token": found["csrf"]}, timeout=60)


def _wait(check, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- catalog ----------------------------------------------------------------------------------------------------

def test_the_catalog_and_a_types_page_list_its_parameters(page, console, published):
    _open(page, console, "/catalog", "tr[data-type=chat]")
    assert page.locator("tr[data-type]").evaluate_all("rows => rows.map(r => r.dataset.type)") == [
        "bookinfo", "chat", "guestbook"]
    shot(page, "catalog")
    page.fill("#catalog-search", "guest")
    page.wait_for_function("document.querySelectorAll('tr[data-type]').length === 1")
    assert page.locator("tr[data-type]").get_attribute("data-type") == "guestbook"

    _open(page, console, "/types/chat", "tr[data-parameter]")
    names = page.locator("tr[data-parameter]").evaluate_all("rows => rows.map(r => r.dataset.parameter)")
    assert {"chat.replicaCount", "chat.image.registry", "chat.service.type", "chat.config"} <= set(names)
    locked = page.locator("tr[data-parameter='chat.image.registry']")
    assert "locked" in locked.get_attribute("class")
    assert "Images come from the org registry, pinned by the platform team" in locked.inner_text()
    assert "locked" not in (page.locator("tr[data-parameter='chat.replicaCount']").get_attribute("class") or "")
    text = page.locator("main").inner_text()
    for expected in ("small (default)", "large", "locks chat.replicaCount", "registry.example.com:5000/chat/chat-server:1.20",
                     "not signed", "Manifest digest", "Secret chat-mq key RABBITMQ_PASSWORD"):
        assert expected in text, expected
    # the README is rendered as HTML (its headings), not shown as markdown source
    assert page.locator(".markdown h1, .markdown h2").count() >= 1
    shot(page, "type-chat")
    shot(page, "type-chat-full", full=True)

    page.set_viewport_size(NARROW)
    page.wait_for_timeout(300)
    shot(page, "type-chat-narrow")
    _fits(page)


# -- the deploy form --------------------------------------------------------------------------------------------

#: how react-jsonschema-form renders each widget kind the server asks for
RENDERED = {
    "string": "input[type=text]", "union-text": "input[type=text]", "number": "input[type=number]",
    "boolean": "input[type=checkbox]", "enum": "select", "yaml": "textarea", "object": "fieldset",
    "map": "fieldset", "array": "fieldset",
}


def _dom_id(path: str) -> str:
    return "root_" + "_".join("0" if part == "[]" else part for part in path.split("."))


@pytest.mark.parametrize("type_name", ["chat", "guestbook", "bookinfo"])
def test_the_deploy_form_renders_every_field_type(page, console, published, type_name):
    form = requests.get(f"{console.url}/api/types/{type_name}/form", timeout=60).json()
    _open(page, console, f"/deploy/{type_name}", "form.rjsf")
    present = set(page.locator("form.rjsf [id^=root_]").evaluate_all("els => els.map(e => e.id)"))
    checked: dict[str, int] = {}
    for path, kind in form["kinds"].items():
        dom_id = _dom_id(path)
        if "[]" in path and dom_id not in present:
            continue  # an item of a list whose default is empty has no field until one is added
        base, _, locked = kind.partition("+")
        element = page.locator(f"#{dom_id}")
        assert element.count() == 1, f"{type_name}: {path} ({kind}) is not rendered"
        assert element.evaluate("(e, sel) => e.matches(sel)", RENDERED[base]), f"{path}: not {RENDERED[base]}"
        if locked and base not in ("object", "map", "array"):
            assert element.evaluate("e => e.readOnly || e.disabled"), f"{path} is locked but editable"
        checked[kind] = checked.get(kind, 0) + 1
    expected = {"string", "number", "enum", "union-text", "yaml", "object", "map", "array"}
    assert expected <= set(checked), checked
    if type_name == "chat":
        assert {"boolean", "string+locked", "enum+locked", "object+locked"} <= set(checked)
    # every control has a label a screen reader announces
    unlabelled = page.locator("form.rjsf input, form.rjsf select, form.rjsf textarea, .deploy-target input, "
                              ".deploy-target select").evaluate_all(
        "els => els.filter(e => e.type !== 'hidden' && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')"
        " && !e.getAttribute('aria-labelledby')).map(e => e.id)")
    assert unlabelled == []
    shot(page, f"deploy-{type_name}")


def test_a_locked_field_cannot_be_edited_and_an_invalid_value_is_shown_before_submit(page, console, published):
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    _open(page, console, "/deploy/chat?version=1.0.0", "#root_chat_replicaCount")
    registry = page.locator("#root_chat_image_registry")
    assert registry.get_attribute("readonly") is not None
    assert page.locator("#root_chat_image_pullPolicy").is_disabled()
    with pytest.raises(Exception, match="not editable"):
        registry.fill("docker.io", timeout=2000)
    registry.focus()
    page.keyboard.type("evil")
    assert registry.input_value() == "registry.example.com:5000"
    assert "Locked by the type owner: Images come from the org registry" in page.locator(".locked").first.inner_text()

    page.fill("#deploy-instance", "never")
    page.fill("#root_chat_replicaCount", "-1")
    page.keyboard.press("Tab")
    error = page.locator("#root_chat_replicaCount__error")
    error.wait_for()
    assert "must be >= 0" in error.inner_text()
    page.click("form.rjsf button[type=submit]")
    page.locator(".panel-danger.errors").wait_for()
    assert "must be >= 0" in page.locator(".panel-danger.errors").inner_text()
    shot(page, "deploy-chat-invalid")
    assert not [url for url in sent if url.endswith("/api/deploy")]  # refused in the browser, nothing was sent

    # the server checks as `chartkit install` does: a request that changes a locked parameter gets the same refusal
    form = requests.get(f"{console.url}/api/types/chat/form?version=1.0.0", timeout=60).json()
    values = json.loads(json.dumps(form["formData"]))
    values["chat"]["image"]["registry"] = "docker.io"
    refused = _post(console, "/api/deploy", {"instance": "never", "namespace": "default", "type": "chat",
                                             "version": "1.0.0", "values": values})
    assert refused.status_code == 400
    assert re.search(r"parameter chat.image.registry is locked by the type owner", refused.json()["error"])


def test_a_valid_submit_installs_and_chartkit_instances_lists_it(page, console, published, namespaces, config,
                                                                  capsys):
    from toolkit.cli import main
    from toolkit.deploy.release import get_instance, serving_values

    namespace = namespaces("deploy")
    _open(page, console, "/deploy/chat?version=1.0.0", "#root_chat_replicaCount")
    # the plan picker fills in the plan's values; a plan's lock is read-only like the owner's
    page.select_option("#deploy-plan", "large")
    page.wait_for_function("document.querySelector('#root_chat_replicaCount')?.value === '3'")
    assert page.locator("#root_chat_replicaCount").get_attribute("readonly") is not None
    shot(page, "deploy-chat-plan-large")
    page.select_option("#deploy-plan", "small")
    page.wait_for_function("document.querySelector('#root_chat_replicaCount')?.value === '1'")
    assert page.locator("#root_chat_replicaCount").get_attribute("readonly") is None

    page.fill("#deploy-instance", "web")
    page.fill("#deploy-namespace", namespace)
    page.fill("#root_chat_replicaCount", "4")
    page.fill("#root_chat_service_ports_0_targetPort", "3000")  # int-or-string: typed back as an integer
    config_yaml = page.locator("#root_chat_config")
    config_yaml.fill(config_yaml.input_value().replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    page.click("form.rjsf button[type=submit]")
    progress = page.locator("section.operation")
    progress.wait_for()
    shot(page, "deploy-chat-progress")
    page.wait_for_selector("section.operation[data-state=succeeded]", timeout=180_000)
    assert "install: chat 1.0.0 revision 1 deployed" in progress.inner_text()
    shot(page, "deploy-chat-done")

    capsys.readouterr()
    assert main(["instances", "-n", namespace, "--json", "--catalog", str(config.catalog.url),
                 "--ca-file", str(config.catalog.ca_file), "--registry-config", str(config.catalog.registry_config),
                 "--kubeconfig", str(config.cluster.kubeconfig), "--kube-context", config.cluster.context]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["name"], row["type"], row["version"], row["revision"]) == ("web", "chat", "1.0.0", 1)
    assert get_instance(config, "web", namespace).status == "deployed"
    # the instance records what differs from the chart's defaults: the plan's values and the user's changes
    assert serving_values(config, "web", namespace) == {"chat": {
        "replicaCount": 4, "autoscaling": {"enabled": False}, "config": {"LOG_LEVEL": "debug"},
        "service": {"ports": [{"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}]}}}
    instance = requests.get(f"{console.url}/api/instances/{namespace}/web", timeout=60).json()["instance"]
    assert instance["plan"] == "small"

    # change plan from the instance's page: the form starts from the instance's own values, the plan's lock wins
    page.click("text=open the instance")
    page.get_by_role("link", name="Change values or plan").click()
    page.wait_for_function("document.querySelector('#root_chat_replicaCount')?.value === '4'")
    assert page.locator("#deploy-instance").get_attribute("readonly") is not None
    assert page.locator("#root_chat_service_ports_0_targetPort").input_value() == "3000"
    page.select_option("#deploy-plan", "large")
    page.wait_for_function("document.querySelector('#root_chat_replicaCount')?.value === '3'")
    assert "LOG_LEVEL: debug" in page.locator("#root_chat_config").input_value()
    page.get_by_role("button", name="Upgrade").click()
    page.wait_for_selector("section.operation[data-state=succeeded]", timeout=180_000)
    assert "upgrade: chat 1.0.0 revision 2 deployed" in page.locator("section.operation").inner_text()
    assert serving_values(config, "web", namespace)["chat"]["replicaCount"] == 3
    shot(page, "deploy-chat-plan-changed")

    # roll back from the instance's page: revision 3 runs revision 1's values again
    page.click("text=open the instance")
    page.get_by_role("button", name="Roll back to the previous revision").click()
    page.wait_for_selector("section.operation[data-state=succeeded]", timeout=180_000)
    assert serving_values(config, "web", namespace)["chat"]["replicaCount"] == 4
    page.wait_for_function("document.querySelectorAll('table tbody tr th[scope=row]').length >= 3")
    shot(page, "instance-rolled-back")


# -- instances: badges and alerts -------------------------------------------------------------------------------

def test_a_newer_version_shows_as_badges_without_a_restart(page, console, published, console_catalog, namespaces,
                                                            config, tmp_path):
    from toolkit.core.deprecate import DeprecateOptions, deprecate
    from toolkit.core.install import InstallOptions, install

    chart = renamed(published["chat"], "chatroom", tmp_path)
    console_catalog.publish(chart, "1.0.0")
    namespace = namespaces("badges")
    install(config, InstallOptions(instance="room", type_ref="chatroom@1.0.0", namespace=namespace))
    _open(page, console, f"/instances?namespace={namespace}", f"tr[data-instance='{namespace}/room']")
    row = page.locator(f"tr[data-instance='{namespace}/room']")
    assert row.locator(".badge-update, .badge-major, .badge-deprecated").count() == 0
    shot(page, "instances-current")

    console_catalog.publish(chart, "1.1.0")
    row.locator(".badge-update").wait_for(timeout=30_000)  # the page re-reads every 5 s: same server, no reload
    assert "update available: 1.1.0" in row.inner_text()
    console_catalog.publish(chart, "2.0.0")
    row.locator(".badge-major").wait_for(timeout=30_000)
    assert "major version 2.0.0 available" in row.inner_text()
    deprecate(config, DeprecateOptions(type="chatroom", version="1.0.0", reason="CVE-2026-0001",
                                       index_dir=console_catalog.index_dir))
    row.locator(".badge-deprecated").wait_for(timeout=30_000)
    assert "1.0.0 is deprecated" in row.inner_text()
    shot(page, "instances-badges")


def test_direct_edits_show_as_drift_and_compliance_alerts(page, console, published, namespaces, config, kube_admin):
    from toolkit.core.install import InstallOptions, install

    namespace = namespaces("drift")
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=namespace))
    _open(page, console, f"/instances?namespace={namespace}", f"tr[data-instance='{namespace}/chat'] .badge-ok")

    # a kubectl-style edit of a field the chart sets
    kube_admin.patch("apps/v1", "Deployment", "chat", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "chat", "env": [{"name": "NODE_ENV", "value": "development"}]}]}}}},
        patch_type="strategic", field_manager="kubectl-edit")
    row = page.locator(f"tr[data-instance='{namespace}/chat']")
    row.locator(".badge-drift").wait_for(timeout=45_000)
    shot(page, "instances-drift")
    _open(page, console, f"/instances/{namespace}/chat", "table.alerts")
    alert = page.locator("table.alerts tr.drift").filter(has_text="NODE_ENV")
    cells = alert.locator("td").all_inner_texts()
    assert cells[0].startswith("drift: changed") and "production" in cells[3] and "development" in cells[4]
    assert cells[5] == "kubectl-edit" and re.match(r"\d{4}-\d\d-\d\dT", cells[6])
    shot(page, "instance-drift")

    # an edit of a field that renders the locked chat.image
    kube_admin.patch("apps/v1", "Deployment", "chat", namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "chat", "image": "docker.io/chat/chat-server:1.20"}]}}}},
        patch_type="strategic", field_manager="kubectl-edit")
    page.locator("table.alerts tr.violation").wait_for(timeout=45_000)
    violation = page.locator("table.alerts tr.violation").first.locator("td").all_inner_texts()
    assert violation[0] == "compliance violation (locked parameter)"
    assert "registry.example.com:5000/chat/chat-server:1.20" in violation[3]
    assert "docker.io/chat/chat-server:1.20" in violation[4] and violation[5] == "kubectl-edit"
    shot(page, "instance-compliance")
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(300)
    _fits(page)
    shot(page, "instance-compliance-narrow")
    page.set_viewport_size({"width": 1280, "height": 800})
    _open(page, console, f"/instances?namespace={namespace}", f"tr[data-instance='{namespace}/chat'] .badge-violation")
    shot(page, "instances-compliance")

    # one pass of the watcher records the violation as a notice; the instance's page lists it from the record
    from toolkit.core.notices import NoticeOptions, check

    passed = check(config, NoticeOptions(namespace=namespace, upgrade=False))
    assert [n["kind"] for n in passed.raised] == ["compliance violation"], passed.to_json()
    _open(page, console, f"/instances/{namespace}/chat", "table.notices tr.notice-active")
    notice = page.locator("table.notices tr.notice-active").first
    assert notice.get_attribute("data-kind") == "compliance violation"
    assert "docker.io/chat/chat-server:1.20" in notice.inner_text() and "kubectl-edit" in notice.inner_text()
    shot(page, "instance-notices")


# -- a blue-green rollout ---------------------------------------------------------------------------------------

def test_a_blue_green_rollout_started_here_advances_and_is_aborted_here(page, console, published, console_catalog,
                                                                         namespaces, config, kube_admin):
    from toolkit.core.install import InstallOptions, install
    from toolkit.deploy.release import get_instance

    console_catalog.publish(published["chat"], "1.1.0")
    namespace = namespaces("rollout")
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=namespace))
    _open(page, console, f"/instances/{namespace}/chat", "#rollout-version")
    page.fill("#rollout-version", "1.1.0")
    page.select_option("#rollout-strategy", "blue-green")
    page.fill("#rollout-steps", "10,50,100")
    page.fill("#rollout-pause", "8")
    page.fill("#rollout-check", "90")
    shot(page, "instance-actions")
    page.get_by_role("button", name="Start rollout").click()
    page.wait_for_url(re.compile(r".*/rollout$"))

    weight = page.locator("[data-weight]")
    page.wait_for_selector("[data-weight='10']", timeout=120_000)
    assert page.locator("[data-phase]").get_attribute("data-phase") == "progressing"
    page.locator(".next-step").wait_for(timeout=20_000)  # a pause: the time to the next step counts down
    shot(page, "rollout-10")
    page.wait_for_selector("[data-weight='50']", timeout=120_000)
    assert page.locator("tr[data-step-kind=weight].step-done").count() == 2
    assert page.locator("[data-side^=green]").inner_text().count("1.1.0") == 1
    shot(page, "rollout-50")

    page.get_by_role("button", name="Abort rollout").click()
    page.wait_for_selector("[data-phase=aborted]", timeout=120_000)
    assert weight.get_attribute("data-weight") == "0"
    page.wait_for_selector("tr.step-done:has-text('retire-green')", timeout=60_000)
    shot(page, "rollout-aborted")
    points = page.locator("circle.weight-dot").count()
    assert points >= 3  # 10 %, 50 %, back to 0 %
    # the rollout stopped where it was: the instance of record never left 1.0.0 and green is gone
    assert get_instance(config, "chat", namespace).version == "1.0.0"
    _wait(lambda: (ns := kube_admin.get("v1", "Namespace", f"{namespace}-chat-green", missing_ok=True)) is None
          or ns["status"].get("phase") == "Terminating", 60, "green's namespace to go")
    route = kube_admin.get("gateway.networking.k8s.io/v1", "HTTPRoute", "chat", namespace)
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [100]
    time.sleep(10)  # longer than a pause: a stopped rollout must not come back
    assert get_instance(config, "chat", namespace).version == "1.0.0"
    assert page.locator("[data-phase]").get_attribute("data-phase") == "aborted"
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(300)
    _fits(page)
    shot(page, "rollout-aborted-narrow")


# -- the service graph ------------------------------------------------------------------------------------------

def test_the_service_graph_shows_bindings_as_edges_and_never_a_credential(page, console, published, console_catalog,
                                                                           namespaces, config, tmp_path):
    from toolkit.core.bind import BindOptions, bind
    from toolkit.core.install import InstallOptions, ValuesInput, install

    # the repository's RabbitMQ type (charts/rabbitmq, chartified from examples/rabbitmq) and a call-center app
    console_catalog.publish(REPO / "charts" / "rabbitmq", "1.0.0")
    console_catalog.publish(service_chart(tmp_path, "call-center", image="registry.example/call-center:2.4",
                                          port=8080, credentials=False), "1.0.0")
    mq_ns, chat_ns, cc_ns = namespaces("mq"), namespaces("chat"), namespaces("cc")
    password = f"pw-{uuid.uuid4().hex}"
    install(config, InstallOptions(instance="mq", type_ref="rabbitmq", namespace=mq_ns, values=ValuesInput(
        set_strings=("rabbitmq.secret.existingSecret=", "rabbitmq.secret.values.RABBITMQ_DEFAULT_USER=chat",
                     f"rabbitmq.secret.values.RABBITMQ_DEFAULT_PASS={password}"))))
    install(config, InstallOptions(instance="chat", type_ref="chat@1.0.0", namespace=chat_ns, values=ValuesInput(
        set_strings=("chat.secret.existingSecret=", "chat.secret.values.RABBITMQ_USER=chat",
                     f"chat.secret.values.RABBITMQ_PASSWORD={password}",
                     f"chat.secret.values.AMQP_URL=amqp://chat:{password}@mq.{mq_ns}:5672/"))))
    install(config, InstallOptions(instance="call-center", type_ref="call-center", namespace=cc_ns))
    bind(config, BindOptions(instance="mq", namespace=mq_ns, consumer_namespace=chat_ns))
    bind(config, BindOptions(instance="chat", namespace=chat_ns, consumer_namespace=cc_ns))

    _open(page, console, f"/graph?namespaces={mq_ns},{chat_ns},{cc_ns}", "svg.graph [data-node]")
    nodes = set(page.locator("[data-node]").evaluate_all("els => els.map(e => e.dataset.node)"))
    assert nodes == {f"{mq_ns}/mq", f"{chat_ns}/chat", f"{cc_ns}/call-center"}
    edges = set(page.locator("svg.graph [data-edge]").evaluate_all("els => els.map(e => e.dataset.edge)"))
    assert edges == {f"{chat_ns}/chat->{mq_ns}/mq", f"{cc_ns}/call-center->{chat_ns}/chat"}
    assert page.locator("svg.graph .node.health-healthy").count() == 3
    shot(page, "graph")

    secrets = {password, base64.b64encode(password.encode()).decode()}
    seen = [page.content()]
    for namespace, name in ((mq_ns, "mq"), (chat_ns, "chat")):
        _open(page, console, f"/instances/{namespace}/{name}", "table")
        binding = page.locator("tr", has_text="-binding").first
        binding.wait_for()
        binding.scroll_into_view_if_needed()
        seen.append(page.content())
        seen.append(requests.get(f"{console.url}/api/instances/{namespace}/{name}", timeout=60).text)
    shot(page, "instance-bindings")
    seen.append(requests.get(f"{console.url}/api/graph?namespaces={mq_ns},{chat_ns},{cc_ns}", timeout=60).text)
    assert not [s for s in secrets if any(s in text for text in seen)]
    assert "password" in seen[-2]  # the key names are listed, the values never


def test_narrow_screens_keep_every_page_usable(page, console, published):
    page.set_viewport_size(NARROW)
    for route, ready, name in (("/catalog", "tr[data-type]", "catalog"), ("/deploy/chat", "#root_chat_replicaCount",
                                                                          "deploy-chat"),
                               ("/instances", "main h1", "instances"), ("/graph", "main h1", "graph")):
        _open(page, console, route, ready)
        page.wait_for_timeout(500)
        _fits(page)
        shot(page, f"{name}-narrow")
    # the main navigation works from the keyboard alone
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Catalog"
    page.keyboard.press("Enter")
    page.wait_for_selector("tr[data-type]")
