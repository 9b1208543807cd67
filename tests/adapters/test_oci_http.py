"""The registry adapter's HTTP on the wire (a real TLS server on loopback): keep-alive per thread, a connection
the server dropped while idle, redirects that leave our credentials behind, and no ``requests`` import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.adapters.conftest import in_threads
from toolkit.adapters.oci import Credentials, Registry

REPO = Path(__file__).resolve().parents[2]


def registry_for(server, pki) -> Registry:
    return Registry(f"127.0.0.1:{server.port}", ca_file=pki.ca.cert, credentials=Credentials("ops", "s3cret"))


def test_one_keep_alive_connection_per_thread(echo, pki):
    reg = registry_for(echo, pki)
    for _ in range(5):
        assert reg.tags("team/web") == []  # the echo has no "tags"
    assert echo.connections == 1

    in_threads(lambda: [reg.tags("team/web") for _ in range(5)], 4)
    assert (echo.connections, len(echo.requests), reg.requests) == (1 + 4, 25, 25)
    reg.close()


def test_a_connection_the_server_dropped_while_idle_is_reopened_and_nothing_is_sent_twice(echo, pki):
    reg = registry_for(echo, pki)
    echo.status = 201  # what a registry answers a manifest PUT
    echo.drop_after_answer = True  # closes each connection after answering, without a Connection: close
    for i in range(3):
        reg.put_manifest("team/web", f"1.0.{i}", b'{"n": %d}' % i, "application/vnd.oci.image.manifest.v1+json")
    assert echo.connections == 3
    assert [(r["method"], r["body"]) for r in echo.requests] == [("PUT", '{"n": %d}' % i) for i in range(3)]


def test_a_redirect_is_followed_without_our_credentials_on_another_host(echo, echo2, pki):
    def registry(seen):
        if not seen["headers"].get("authorization"):
            return 401, {"WWW-Authenticate": 'Basic realm="registry"'}, {}
        return 307, {"Location": f"https://127.0.0.1:{echo2.port}/cdn/signed?sig=1"}, {}

    echo.respond = registry
    reg = registry_for(echo, pki)
    content, digest = reg.manifest("team/web", "1.0.0")
    assert [r["path"] for r in echo.requests] == ["/v2/team/web/manifests/1.0.0"] * 2
    assert echo.requests[1]["headers"]["authorization"][0].startswith("Basic ")
    assert [r["path"] for r in echo2.requests] == ["/cdn/signed?sig=1"]
    assert "authorization" not in echo2.requests[0]["headers"]
    assert b'"/cdn/signed?sig=1"' in content and digest.startswith("sha256:")


def test_the_adapter_loads_neither_requests_nor_urllib3():
    code = ("import sys, toolkit.adapters.oci, toolkit.cli; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'requests', 'urllib3', 'certifi'}))")
    done = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert done.stdout.strip() == "[]", done.stdout
