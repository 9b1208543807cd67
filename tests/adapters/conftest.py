"""Fixtures for the Kubernetes adapter: certificates, kubeconfig files, and a real HTTPS server on loopback.

The server stands in for an API server where the real one cannot show a thing (a dropped idle connection, a slow
answer, a certificate for another name): a real TLS listener that echoes what each request carried, so the client's
TLS, headers and connection handling are checked on the wire.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from toolkit.localenv import _pki


@dataclass(frozen=True)
class Pki:
    ca: _pki.KeyPair
    server: _pki.KeyPair  # for "kube.test" only (no IP): reached on 127.0.0.1 through tls-server-name
    local: _pki.KeyPair  # for 127.0.0.1
    client: _pki.KeyPair  # CN=tester, O=system:masters

    def b64(self, path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = _pki.ensure_ca(root)
    server = _pki.ensure_cert(ca, _pki.KeyPair(root / "server.crt", root / "server.key"), common_name="kube.test",
                              hosts=("kube.test",))
    local = _pki.ensure_cert(ca, _pki.KeyPair(root / "local.crt", root / "local.key"), common_name="local",
                             hosts=("127.0.0.1",))
    client = _pki.ensure_cert(ca, _pki.KeyPair(root / "client.crt", root / "client.key"), common_name="tester",
                              organization="system:masters", server=False, client=True)
    return Pki(ca, server, local, client)


def kubeconfig_text(server: str, *, cluster: dict[str, Any] | None = None, user: dict[str, Any] | None = None,
                    context: str = "test", extra_contexts: dict[str, dict[str, Any]] | None = None,
                    current: str | None = "test") -> str:
    """A kubeconfig (as JSON, which is YAML) with one cluster "c", one user "u" and context ``context``."""
    contexts = [{"name": context, "context": {"cluster": "c", "user": "u"}}]
    contexts += [{"name": name, "context": body} for name, body in (extra_contexts or {}).items()]
    doc: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": "u", "user": user or {}}],
        "contexts": contexts,
    }
    if current:
        doc["current-context"] = current
    return json.dumps(doc, indent=1)


@pytest.fixture
def write_kubeconfig(tmp_path) -> Callable[..., Path]:
    def write(server: str, *, name: str = "kubeconfig", **kwargs: Any) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(kubeconfig_text(server, **kwargs))
        return path

    return write


@pytest.fixture
def private_tempdir(tmp_path, monkeypatch) -> Path:
    """A temp dir of this test's own for everything ``tempfile`` makes in this process (where the kubernetes
    package wrote client keys): other processes sharing the machine's /tmp cannot confuse what it holds."""
    import tempfile

    folder = tmp_path / "tempdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def files_holding(data: bytes, *roots: Path) -> list[Path]:
    """Files under ``roots`` and /dev/shm that contain ``data`` (a key that must never land in a file)."""
    import os

    found = []
    for root in {*roots, Path("/dev/shm")}:
        for folder, _dirs, files in os.walk(root):
            for name in files:
                file = Path(folder) / name
                try:
                    if data in file.read_bytes():
                        found.append(file)
                except OSError:
                    continue  # gone meanwhile, or not a regular file
    return found


@dataclass
class EchoServer:
    """A TLS server answering every request with JSON describing it; counts the connections it accepted."""

    url: str
    port: int
    connections: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)
    drop_after_answer: bool = False  # close each connection after answering, without saying so (an idle drop)
    delay: float = 0.0
    status: int = 200
    answer: Any = None  # a fixed JSON answer instead of the echo
    # a scripted answer instead: what the request carried -> (status, extra headers, body or None for the echo)
    respond: Callable[[dict[str, Any]], tuple[int, dict[str, str], Any]] | None = None


def _serve(pki: Pki, cert: _pki.KeyPair) -> Iterator[EchoServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert.cert), str(cert.key))
    context.load_verify_locations(cafile=str(pki.ca.cert))
    context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate is read when sent, not demanded

    state: dict[str, EchoServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            state["s"].connections += 1

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def _handle(self) -> None:
            echo = state["s"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            peer = self.connection.getpeercert() or {}
            subject = {k: v for rdn in peer.get("subject", ()) for k, v in rdn}
            seen = {"method": self.command, "path": self.path, "body": body.decode(errors="replace"),
                    "headers": {k.lower(): self.headers.get_all(k) for k in self.headers.keys()},
                    "client_cn": subject.get("commonName")}
            echo.requests.append(seen)
            if echo.delay:
                time.sleep(echo.delay)
            status, extra, answer = echo.respond(seen) if echo.respond else (echo.status, {}, echo.answer)
            data = json.dumps(answer if answer is not None else seen).encode()
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            if echo.drop_after_answer:
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    state["s"] = EchoServer(url=f"https://127.0.0.1:{port}", port=port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state["s"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def echo(pki) -> Iterator[EchoServer]:
    """The echo server with a certificate for 127.0.0.1."""
    yield from _serve(pki, pki.local)


@pytest.fixture
def echo2(pki) -> Iterator[EchoServer]:
    """A second echo server for 127.0.0.1 (another host:port, e.g. where a registry redirects)."""
    yield from _serve(pki, pki.local)


@pytest.fixture
def echo_kube_test(pki) -> Iterator[EchoServer]:
    """The echo server with a certificate for kube.test only."""
    yield from _serve(pki, pki.server)


def in_threads(work: Callable[[], None], count: int) -> None:
    """Run ``work`` in ``count`` threads of their own at once (one keep-alive connection each); raise the first
    failure."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
