"""Fixtures for the console's tests: the real console server process, Debian's chromium driven by Playwright, a
catalog of the module's own on the local registry, and screenshots under out/screenshots/ (not committed)."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.conftest import REPO, _absent

CHROMIUM = Path(os.environ.get("CHARTKIT_CHROMIUM", "/usr/bin/chromium"))
#: what works on these machines: no sandbox as root, and no background connections the closed network refuses
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "out" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
NARROW = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def console_assets() -> Path:
    """The front end built by npm + vite into the cache (once; later runs reuse it)."""
    from toolkit.console.server import web_dir
    from toolkit.errors import LocalEnvError
    from toolkit.localenv.web import ensure_web_assets

    try:
        return ensure_web_assets(web_dir())
    except LocalEnvError as exc:
        _absent(exc, "npm command is not installed")
        raise


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright (its own browser download is never used).

    Per module, not per session: Playwright's sync API keeps an event loop running in the main thread while it
    is started, and later tests that call ``asyncio.run`` (the load generator's) must find none."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # the dev extra is not installed
        _absent(exc, "playwright")
        raise
    if not CHROMIUM.exists():
        _absent(FileNotFoundError(f"chromium is not installed at {CHROMIUM} (invoke setup installs it)"),
                "chromium is not installed")
    with sync_playwright() as play:
        found = play.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture
def page(browser, request) -> Iterator[Any]:
    """A fresh browser context at 1280×800; its console errors fail nothing but are printed on failure."""
    context = browser.new_context(viewport=DESKTOP)
    found = context.new_page()
    found.set_default_timeout(30_000)
    logged: list[str] = []
    found.on("console", lambda m: logged.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    found.on("pageerror", lambda e: logged.append(f"pageerror: {e}"))
    found.logged = logged
    yield found
    context.close()
    if logged and getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print("browser console:\n" + "\n".join(logged))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # noqa: ANN001, ANN201 - pytest's hook
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def shot(page: Any, name: str, *, full: bool = False) -> Path:
    """Save a screenshot as a test artifact: out/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full)
    return path


@dataclass
class ConsoleCatalog:
    """A catalog of the module's own (``oci://HOST/t-console-<id>``) and the index publishing keeps beside it."""

    ref: Any
    index_dir: Path
    helm_bin: Path

    @property
    def url(self) -> str:
        return str(self.ref.url)

    def publish(self, chart: Path, version: str) -> str:
        """Package ``chart`` at ``version`` and publish it here (the index too); returns the manifest digest."""
        from toolkit.config import Config
        from toolkit.core.package import PackageOptions, package
        from toolkit.core.publish import PublishOptions, publish

        config = Config(self.ref, helm_binary=self.helm_bin)
        out = self.index_dir.parent / "packages" / f"{chart.name}-{version}"
        out.mkdir(parents=True, exist_ok=True)
        made = package(config, PackageOptions(chart=chart, version=version, destination=out, offline=True))
        report = publish(config, PublishOptions(packages=(made.path,), index_dir=self.index_dir))
        report.raise_for_errors()
        return report.results[0].manifest_digest


@pytest.fixture(scope="module")
def console_catalog(registry, helm_bin, tmp_path_factory) -> ConsoleCatalog:
    from toolkit.config import CatalogRef, CatalogURL

    ref = CatalogRef(CatalogURL.parse(f"{registry.url}/t-console-{uuid.uuid4().hex[:8]}"), "test",
                     registry.ca_file, registry.registry_config)
    root = tmp_path_factory.mktemp("console-catalog")
    return ConsoleCatalog(ref, root / "index", helm_bin)


@dataclass
class Console:
    """A console server process."""

    url: str
    process: subprocess.Popen
    output: list[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_console(catalog: ConsoleCatalog, cluster: Any, assets: Path, *extra: str, timeout: float = 60) -> Console:
    """``chartkit console --port 0 ...`` as its own process; returns once it says where it serves."""
    argv = [sys.executable, "-m", "toolkit.cli", "console", "--port", "0", "--catalog", catalog.url,
            "--ca-file", str(catalog.ref.ca_file), "--registry-config", str(catalog.ref.registry_config),
            "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context,
            "--index", str(catalog.index_dir), "--assets", str(assets), "--timeout", "120s", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "CHARTKIT_HELM": str(catalog.helm_bin)}
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip())
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith("chartkit console: serving "):
            return Console(line.split()[3], process, output)
    process.kill()
    raise AssertionError("the console did not start:\n" + "\n".join(output))


@pytest.fixture(scope="module")
def console_factory(console_catalog, cluster, console_assets) -> Iterator[Callable[..., Console]]:
    started: list[Console] = []

    def make(*extra: str) -> Console:
        found = start_console(console_catalog, cluster, console_assets, *extra)
        started.append(found)
        return found

    yield make
    for found in started:
        found.stop()


@pytest.fixture(scope="module")
def console(console_factory) -> Console:
    """The module's console on loopback without authentication (everyone an operator)."""
    return console_factory()


# -- charts -------------------------------------------------------------------------------------------------

CHAT_OVERRIDES = """\
parameters:
  chat.image:
    locked: true
    description: Images come from the org registry, pinned by the platform team
"""

CHAT_DECLARATIONS = """\
apiVersion: chartkit.dev/v1
kind: TypeDeclarations
plans:
- name: small
  description: one replica, no autoscaling - for trying things out
  default: true
  values: {chat: {replicaCount: 1, autoscaling: {enabled: false}}}
- name: large
  description: three replicas, fixed by the platform team
  values: {chat: {replicaCount: 3, autoscaling: {enabled: false}}}
  locked: [chat.replicaCount]
bindable: true
binding:
  outputs:
    host: {service: chat}
    port: {service: chat, port: http}
    password: {secret: chat-mq, key: RABBITMQ_PASSWORD}
"""


def chartify(sources: list[Path], name: str, out: Path, overrides: str | None = None) -> Path:
    """A chart made the way users make one: ``chartkit chartify`` (the CLI, in this process)."""
    from toolkit.cli import main

    args = ["chartify", *map(str, sources), "--name", name, "-o", str(out)]
    if overrides:
        (out.parent / f"{name}-overrides.yaml").write_text(overrides)
        args += ["--overrides", str(out.parent / f"{name}-overrides.yaml")]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def chat_chart(tmp_path_factory) -> Path:
    """charts/chat's source app chartified with chat.image locked, plus plans and binding outputs."""
    root = tmp_path_factory.mktemp("chat-chart")
    chart = chartify([REPO / "examples" / "chat"], "chat", root / "chat", CHAT_OVERRIDES)
    (chart / "chartkit.yaml").write_text(CHAT_DECLARATIONS)
    return chart


def renamed(chart: Path, name: str, where: Path) -> Path:
    """A copy of a chart as another type (its Chart.yaml name)."""
    copy = where / name
    shutil.copytree(chart, copy)
    text = (copy / "Chart.yaml").read_text()
    (copy / "Chart.yaml").write_text(text.replace(f"name: {chart.name}", f"name: {name}", 1))
    return copy


SERVICE_CHART = {
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
spec:
  replicas: {{ .Values.replicaCount | toJson }}
  selector:
    matchLabels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
  template:
    metadata:
      labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
    spec:
      containers:
        - name: app
          image: {{ .Values.image | quote }}
          ports: [{name: main, containerPort: {{ .Values.port }}}]
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
  labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
  ports: [{name: main, port: {{ .Values.port }}, targetPort: main}]
""",
    "templates/secret.yaml": """\
{{- if .Values.credentials }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-credentials
  labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
stringData: {{ toJson .Values.credentials }}
{{- end }}
""",
}


def service_chart(root: Path, name: str, *, image: str, port: int, credentials: bool) -> Path:
    """A small type: a Deployment and a Service (and a credentials Secret filled at install)."""
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 1.0.0\nappVersion: \"1.0\"\n"
                                      f"description: {name} for the console's graph test\n")
    (chart / "values.yaml").write_text(f"replicaCount: 1\nimage: {image}\nport: {port}\n"
                                       + ("credentials: {}\n" if credentials else "credentials: null\n"))
    for rel, text in SERVICE_CHART.items():
        (chart / rel).write_text(text)
    return chart
