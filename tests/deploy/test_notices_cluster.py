"""The notifier against the real registry, API server and a real HTTP receiver: once per fact, per instance and
per bound consumer; retried while the receiver is down; one leader among watchers, taking over when it dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from toolkit import cli
from toolkit.core.bind import BindOptions, bind
from toolkit.core.install import InstallOptions, install
from toolkit.core.notices import NoticeOptions, check, list_notices
from toolkit.core.upgrade import UpgradeOptions, upgrade

pytestmark = pytest.mark.cluster

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}, labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}}
spec:
  selector: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-creds, labels: {app.kubernetes.io/instance: {{ .Release.Name | quote }}}}
stringData: {password: not-a-real-one}
"""


class Receiver:
    """A real HTTP server on loopback that records every POST; stop() takes it down, start() brings it back on the
    same port."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server interface
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"contentType": self.headers.get("Content-Type"), "event": json.loads(body)})
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, transition: str | None = None) -> list[dict]:
        return [r["event"] for r in self.received
                if transition is None or r["event"]["type"] == f"dev.chartkit.notice.{transition}"]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def _chart(tiny_chart, root, version):
    chart = tiny_chart(root / version, "tiny", version)
    (chart / "templates" / "service.yaml").write_text(SERVICE)
    return chart


def _events(kube, namespace, reason):
    return [e for e in kube.list("v1", "Event", namespace) if e.get("reason") == reason
            and (e.get("source") or {}).get("component") == "chartkit-watch"]


def test_notices_once_per_instance_and_consumer_retried_and_resolved(config, catalog, cluster, kube, namespace,
                                                                     tiny_chart, publish_dir, tmp_path, receiver,
                                                                     capsys):
    publish_dir(_chart(tiny_chart, tmp_path, "1.0.0"), "1.0.0")
    for name in ("a", "b"):
        install(config, InstallOptions(instance=name, type_ref="tiny", namespace=namespace, wait=False))
    consumer = f"{namespace}-app"
    kube.create_namespace(consumer)
    try:
        bind(config, BindOptions(instance="b", namespace=namespace, consumer_namespace=consumer))
        options = NoticeOptions(namespace=namespace, webhook=receiver.url, check_drift=False,
                                delivery_attempts=2, delivery_backoff=0.1)
        assert check(config, options).raised == []  # everything up to date: nothing to say
        assert receiver.received == []

        publish_dir(_chart(tiny_chart, tmp_path, "1.1.0"), "1.1.0")
        base = ["-n", namespace, "--catalog", str(catalog.url), "--ca-file", str(catalog.ca_file),
                "--registry-config", str(catalog.registry_config), "--kubeconfig", str(cluster.kubeconfig),
                "--kube-context", cluster.context]
        capsys.readouterr()
        assert cli.main(["watch", "--once", "--webhook", receiver.url, "--no-drift", "--json", *base]) == 0
        first = json.loads(capsys.readouterr().out)
        assert sorted((n["instance"], n["consumer"]) for n in first["raised"]) == [
            ("a", ""), ("b", ""), ("b", f"{consumer}/b-binding")]
        assert first["delivered"] == 3 and first["pending"] == 0
        # exactly one Event per instance and one per bound consumer, and one CloudEvent each
        assert len(_events(kube, namespace, "UpdateAvailable")) == 2
        [told] = _events(kube, consumer, "BoundInstanceOutOfDate")
        assert told["involvedObject"]["name"] == "b-binding" and "1.1.0" in told["message"]
        assert len(receiver.received) == 3
        assert {r["contentType"] for r in receiver.received} == {"application/cloudevents+json"}
        event = next(e for e in receiver.events() if e["subject"] == f"{namespace}/a")
        assert (event["specversion"], event["type"], event["source"]) == (
            "1.0", "dev.chartkit.notice.raised", f"/chartkit-watch/{namespace}/a")
        assert event["data"]["kind"] == "update available" and "1.1.0" in event["data"]["message"]

        # the same facts again: nothing new anywhere
        again = check(config, options)
        assert (again.raised, again.resolved, again.delivered) == ([], [], 0)
        assert len(receiver.received) == 3 and len(_events(kube, namespace, "UpdateAvailable")) == 2

        # the receiver goes down; a new version: raised and resolved in the record and as Events, webhooks owed
        receiver.stop()
        publish_dir(_chart(tiny_chart, tmp_path, "1.2.0"), "1.2.0")
        down = check(config, options)
        assert len(down.raised) == 3 and len(down.resolved) == 3 and down.delivered == 0 and down.pending >= 3
        assert len(_events(kube, namespace, "Resolved")) == 2
        cm = kube.get("v1", "ConfigMap", "chartkit-notices-a", namespace)
        assert any(n["outbox"] for n in json.loads(cm["data"]["notices.json"]).values())  # the outbox, in-cluster
        receiver.start()
        time.sleep(2.2)  # the outbox's first backoff
        up = check(config, options)
        assert up.raised == [] and up.pending == 0
        assert len(receiver.events("raised")) == 6 and len(receiver.events("resolved")) == 3
        assert len({e["id"] for e in receiver.events()}) == len(receiver.received)  # nothing twice, nothing lost

        # upgrading resolves the instance's notice (and its record says so)
        upgrade(config, UpgradeOptions(instance="a", namespace=namespace, version="1.2.0", wait=False))
        resolved = check(config, options)
        assert [(n["instance"], n["consumer"]) for n in resolved.resolved] == [("a", "")]
        assert len(receiver.events("resolved")) == 4
        active = list_notices(config, namespace=namespace)
        assert sorted((n["instance"], n["consumer"]) for n in active) == [("b", ""), ("b", f"{consumer}/b-binding")]
        capsys.readouterr()
        assert cli.main(["notices", *base]) == 0
        assert "update available" in capsys.readouterr().out
    finally:
        kube.delete("v1", "Namespace", consumer, wait=False)


def _watcher(identity, namespace, lease_ns, catalog, cluster, url):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-m", "toolkit.cli", "watch", "-n", namespace, "--interval", "1", "--lease-duration", "3",
            "--lease-namespace", lease_ns, "--identity", identity, "--webhook", url, "--no-drift",
            "--catalog", str(catalog.url), "--ca-file", str(catalog.ca_file), "--registry-config",
            str(catalog.registry_config), "--kubeconfig", str(cluster.kubeconfig), "--kube-context", cluster.context]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _holder(kube, lease_ns):
    lease = kube.get("coordination.k8s.io/v1", "Lease", "chartkit-watch", lease_ns, missing_ok=True)
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


def _wait(check, what, timeout):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.2)
    return found


def test_two_watchers_one_leader_and_a_takeover_without_duplicates(config, catalog, cluster, kube, namespace,
                                                                   tiny_chart, publish_dir, tmp_path, receiver):
    publish_dir(_chart(tiny_chart, tmp_path, "1.0.0"), "1.0.0")
    install(config, InstallOptions(instance="a", type_ref="tiny", namespace=namespace, wait=False))
    lease_ns = f"lease-{uuid.uuid4().hex[:8]}"
    watchers = {name: _watcher(name, namespace, lease_ns, catalog, cluster, receiver.url) for name in ("w1", "w2")}
    try:
        leader = _wait(lambda: _holder(kube, lease_ns), "a leader", 30)
        assert leader in watchers
        publish_dir(_chart(tiny_chart, tmp_path, "1.1.0"), "1.1.0")
        published = time.monotonic()
        _wait(lambda: receiver.events("raised"), "the notice", 30)
        took = time.monotonic() - published
        time.sleep(2.5)  # two more intervals: any duplicate would have arrived by now
        assert [e["subject"] for e in receiver.events()] == [f"{namespace}/a"]
        assert _holder(kube, lease_ns) == leader

        watchers[leader].send_signal(signal.SIGKILL)  # no resign: the other must wait out the lease
        watchers[leader].wait(10)
        other = next(n for n in watchers if n != leader)
        _wait(lambda: _holder(kube, lease_ns) == other, "the takeover", 30)
        publish_dir(_chart(tiny_chart, tmp_path, "1.2.0"), "1.2.0")
        _wait(lambda: len(receiver.events("raised")) == 2 and receiver.events("resolved"), "the new notice", 30)
        time.sleep(2.5)
        ids = [e["id"] for e in receiver.events()]
        assert len(ids) == 3 and len(set(ids)) == 3  # 1.1.0 raised, then resolved; 1.2.0 raised — each once
        assert len(_events(kube, namespace, "UpdateAvailable")) == 2
        print(f"notice delivered {took:.1f}s after publishing (interval 1s)")
        assert took < 15
    finally:
        for proc in watchers.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        kube.delete("v1", "Namespace", lease_ns, wait=False)


def test_the_watcher_upgrades_automatic_instances_inside_their_policy_only(config, namespace, kube, tiny_chart,
                                                                          publish_dir, tmp_path):
    from toolkit.core.policy import PolicyOptions, set_policy
    from toolkit.deploy.release import get_instance

    publish_dir(_chart(tiny_chart, tmp_path, "1.0.0"), "1.0.0")
    for name, track, mode in (("auto", "^1", "automatic"), ("held", "~1.0", "automatic"), ("hand", "^1", "manual")):
        install(config, InstallOptions(instance=name, type_ref="tiny", namespace=namespace, wait=False))
        set_policy(config, PolicyOptions(instance=name, namespace=namespace, track=track, mode=mode))
    publish_dir(_chart(tiny_chart, tmp_path, "1.1.0"), "1.1.0")
    result = check(config, NoticeOptions(namespace=namespace, check_drift=False))
    assert result.upgraded == [f"{namespace}/auto 1.0.0 -> 1.1.0"] and result.errors == []
    assert get_instance(config, "auto", namespace).version == "1.1.0"
    assert get_instance(config, "auto", namespace).labels["chartkit.io/mode"] == "automatic"  # carried on
    assert get_instance(config, "held", namespace).version == "1.0.0"  # ~1.0 does not reach 1.1.0: held, no notice
    # a manual instance is not upgraded by the watcher: it is told, and waits for an approved plan
    assert [(n["instance"], n["kind"]) for n in result.raised] == [("hand", "update available")]
    assert [n["instance"] for n in list_notices(config, namespace=namespace)] == ["hand"]


def test_a_type_can_ask_for_the_guard_on_every_install(config, namespace, kube, tiny_chart, publish_dir, tmp_path):
    from toolkit.core.guard import GuardMode, GuardOptions, guard, policy_name

    chart = _chart(tiny_chart, tmp_path, "1.0.0")
    schema = json.loads((chart / "values.schema.json").read_text())
    schema["properties"]["resources"] = {"type": "object", "readOnly": True, "description": "platform sizing"}
    (chart / "values.schema.json").write_text(json.dumps(schema))
    (chart / "chartkit.yaml").write_text("apiVersion: chartkit.dev/v1\nkind: TypeDeclarations\nguard: warn\n")
    publish_dir(chart, "1.0.0")
    install(config, InstallOptions(instance="web", type_ref="tiny", namespace=namespace, wait=False))
    name = policy_name("web", namespace)
    try:
        binding = kube.get("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", name)
        assert binding["spec"]["validationActions"] == ["Warn", "Audit"]
    finally:
        guard(config, GuardOptions(instance="web", namespace=namespace, mode=GuardMode.OFF))
