"""No state-changing request without an operator who meant it: authentication, roles, read-only mode, CSRF, the
Host check — against real console processes; a viewer's console in the browser."""

from __future__ import annotations

import re

import pytest
import requests

from tests.console.conftest import shot

pytestmark = [pytest.mark.cluster]

OPERATOR = ("alice", "correct-horse-battery-staple")
VIEWER = ("bob", "another-long-password")
TOKEN = "op-token-5a1f0c9e3d7b"
VIEWER_TOKEN = "view-token-77c1e0a2b9"


@pytest.fixture(scope="module")
def access_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("access") / "users"
    path.write_text(f"operator basic {OPERATOR[0]}:{OPERATOR[1]}\nviewer basic {VIEWER[0]}:{VIEWER[1]}\n"
                    f"operator token {TOKEN}\nviewer token {VIEWER_TOKEN}\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def guarded(console_factory, access_file):
    return console_factory("--access-file", str(access_file))


@pytest.fixture(scope="module")
def read_only(console_factory, access_file):
    return console_factory("--access-file", str(access_file), "--read-only")


@pytest.fixture(scope="module")
def change_routes(console_assets):
    """Every state-changing route of the app, as the app itself lists them."""
    from toolkit.config import CatalogRef, CatalogURL, Config
    from toolkit.console.app import ConsoleSettings, create_app
    from toolkit.console.auth import Gate
    from toolkit.core.access import Access

    app = create_app(Config(CatalogRef(CatalogURL.parse("oci://127.0.0.1:1/x"))), Gate(Access()),
                     ConsoleSettings(assets=console_assets))
    routes = app.state.change_routes
    paths = {path for _, path in routes}
    assert {"/api/deploy", "/api/instances/{namespace}/{name}/upgrade", "/api/instances/{namespace}/{name}/rollback",
            "/api/instances/{namespace}/{name}/rollout", "/api/instances/{namespace}/{name}/rollout/{action}"} == paths
    return [(method, path.format(namespace="default", name="nothing-here", action="abort")) for method, path in routes]


def _csrf(console, **auth) -> tuple[requests.Session, str]:
    http = requests.Session()
    found = http.get(f"{console.url}/api/session", timeout=10, **auth)
    assert found.status_code == 200, found.text
    return http, found.json()["csrf"]


def test_every_state_changing_endpoint_needs_an_operator_who_meant_it(guarded, change_routes):
    anonymous = requests.get(f"{guarded.url}/api/session", timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    viewer, viewer_csrf = _csrf(guarded, auth=VIEWER)
    operator, csrf = _csrf(guarded, auth=OPERATOR)
    for method, path in change_routes:
        url = f"{guarded.url}{path}"
        refused = requests.request(method, url, json={}, timeout=30)
        assert refused.status_code == 401, (path, refused.text)
        wrong = requests.request(method, url, json={}, auth=(OPERATOR[0], "not-the-password"), timeout=30)
        assert wrong.status_code == 401, path
        as_viewer = viewer.request(method, url, json={}, auth=VIEWER, headers={"X-CSRF-Token": viewer_csrf}, timeout=30)
        assert as_viewer.status_code == 403 and "a viewer only reads" in as_viewer.json()["error"], path
        no_token = operator.request(method, url, json={}, auth=OPERATOR, timeout=30)
        assert no_token.status_code == 403 and "CSRF token" in no_token.json()["error"], path
        cross_site = operator.request(method, url, json={}, auth=OPERATOR, timeout=30,
                                      headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"})
        assert cross_site.status_code == 403 and "not this console's origin" in cross_site.json()["error"], path
        form_post = operator.request(method, url, data="instance=x", auth=OPERATOR, timeout=30,
                                     headers={"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"})
        assert form_post.status_code == 415, path
        meant = operator.request(method, url, json={}, auth=OPERATOR, headers={"X-CSRF-Token": csrf}, timeout=30)
        # past the gate: the request itself is judged (a bad body 400, an unknown instance's operation fails later)
        assert meant.status_code in (202, 400, 404, 409), (path, meant.status_code, meant.text)


def test_a_read_only_console_refuses_every_change_even_to_operators(read_only, change_routes):
    operator, csrf = _csrf(read_only, auth=OPERATOR)
    assert operator.get(f"{read_only.url}/api/session", auth=OPERATOR, timeout=10).json()["canChange"] is False
    for method, path in change_routes:
        found = operator.request(method, f"{read_only.url}{path}", json={}, auth=OPERATOR,
                                 headers={"X-CSRF-Token": csrf}, timeout=30)
        assert found.status_code == 403 and "read-only" in found.json()["error"], path


def test_a_token_logs_in_to_a_session_cookie_that_still_needs_the_csrf_token(guarded):
    http = requests.Session()
    assert http.post(f"{guarded.url}/api/login", json={"token": "wrong-token-123456"}, timeout=10).status_code == 401
    login = http.post(f"{guarded.url}/api/login", json={"token": TOKEN}, timeout=10)
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert re.search(r"HttpOnly", cookie, re.I) and re.search(r"SameSite=strict", cookie, re.I)
    session = http.get(f"{guarded.url}/api/session", timeout=10).json()
    assert (session["role"], session["canChange"]) == ("operator", True)
    body = {"instance": "x", "type": "nosuchtype", "values": {}}
    assert http.post(f"{guarded.url}/api/deploy", json=body, timeout=30).status_code == 403
    judged = http.post(f"{guarded.url}/api/deploy", json=body, headers={"X-CSRF-Token": session["csrf"]}, timeout=30)
    assert judged.status_code == 404 and 'no such type' in judged.json()["error"]
    # a bearer token is never sent by a browser on its own: scripts need no CSRF token, viewers still only read
    bearer = requests.post(f"{guarded.url}/api/deploy", json=body, headers={"Authorization": f"Bearer {TOKEN}"},
                           timeout=30)
    assert bearer.status_code == 404
    viewer = requests.post(f"{guarded.url}/api/deploy", json=body,
                           headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}, timeout=30)
    assert viewer.status_code == 403
    assert http.post(f"{guarded.url}/api/login", json={"token": TOKEN}, headers={"Origin": "https://evil.example"},
                     timeout=10).status_code == 403


def test_without_users_the_console_answers_loopback_names_only_and_still_wants_the_csrf_token(console):
    rebound = requests.get(f"{console.url}/api/session", headers={"Host": "attacker.example"}, timeout=10)
    assert rebound.status_code == 421
    page = requests.get(f"{console.url}/", timeout=10)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert requests.post(f"{console.url}/api/deploy", json={}, timeout=10).status_code == 403
    assert requests.post(f"{console.url}/api/deploy", json={}, headers={"Origin": "https://evil.example"},
                         timeout=10).status_code == 403


def test_the_console_refuses_to_listen_beyond_loopback_without_users(console_catalog, cluster, console_assets,
                                                                      capsys):
    from toolkit.cli import main

    assert main(["console", "--host", "0.0.0.0", "--port", "0", "--assets", str(console_assets),
                 "--catalog", console_catalog.url, "--kubeconfig", str(cluster.kubeconfig)]) == 1
    assert 'unable to serve the console on "0.0.0.0" without authentication' in capsys.readouterr().err


@pytest.mark.browser
def test_a_viewer_gets_a_read_only_console(browser, guarded, console_catalog, chat_chart):
    console_catalog.publish(chat_chart, "1.0.0")
    context = browser.new_context(viewport={"width": 1280, "height": 800},
                                  http_credentials={"username": VIEWER[0], "password": VIEWER[1]})
    page = context.new_page()
    try:
        page.goto(f"{guarded.url}/#/types/chat")
        page.wait_for_selector("tr[data-parameter]")
        assert "bob (viewer)" in page.locator("header").inner_text()
        assert page.locator("text=read-only: deploying needs an operator").count() == 1
        assert page.locator("a.button.primary").count() == 0
        shot(page, "viewer-type-chat")
        page.goto(f"{guarded.url}/#/deploy/chat")
        page.wait_for_selector("text=This console is read-only for you.")
        assert page.locator("form.rjsf").count() == 0
    finally:
        context.close()


def test_users_can_come_from_a_secret(console_factory, kube, namespace):
    kube.apply([{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "console-users", "namespace": namespace},
                 "stringData": {"users": f"viewer basic carol:{VIEWER[1]}\n"}}])
    served = console_factory("--access-secret", f"{namespace}/console-users")
    assert requests.get(f"{served.url}/api/session", timeout=10).status_code == 401
    found = requests.get(f"{served.url}/api/session", auth=("carol", VIEWER[1]), timeout=10).json()
    assert (found["user"], found["role"], found["canChange"]) == ("carol", "viewer", False)
