"""Who may use the console and what they may do: users from a file, the gate's session, CSRF and Host rules."""

from __future__ import annotations

import base64
import os

import pytest

from toolkit.console.auth import Denied, Gate
from toolkit.core.access import Access, Role, access_from_file, parse_access
from toolkit.errors import InputError

USERS = """\
# role kind secret
operator basic alice:correct-horse-battery
viewer   basic bob:another-long-password#with-hash
operator token tok-0123456789abcdef
"""


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_users_from_a_file_with_roles(tmp_path):
    path = tmp_path / "users"
    path.write_text(USERS)
    path.chmod(0o600)
    access = access_from_file(path)
    assert access.basic("alice", "correct-horse-battery").role is Role.OPERATOR
    assert access.basic("bob", "another-long-password#with-hash").role is Role.VIEWER
    assert access.basic("alice", "wrong-password-here") is None
    assert access.token("tok-0123456789abcdef").name == "token 4"
    assert access.kinds == {"basic", "token"}


def test_a_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "users"
    path.write_text(USERS)
    os.chmod(path, 0o644)
    with pytest.raises(InputError, match="others can read it"):
        access_from_file(path)


@pytest.mark.parametrize(("text", "message"), [
    ("admin basic a:bbbbbbbbbbbbbb", 'role "admin" is not operator or viewer'),
    ("operator basic nocolon-long-enough", "USERNAME:PASSWORD"),
    ("operator token short", "shorter than 12 characters"),
    ("operator cert x", 'kind "cert" is not basic or token'),
    ("# only a comment", "names no user"),
], ids=["role", "basic-shape", "short", "kind", "empty"])
def test_bad_access_text_is_refused_naming_the_line(text, message):
    with pytest.raises(InputError, match=message):
        parse_access(text, "users")


def test_without_users_everyone_is_a_local_operator_on_loopback_names_only():
    gate = Gate(Access())
    who, ambient = gate.principal({}, {})
    assert (who.name, who.role, ambient) == ("local", Role.OPERATOR, True)
    gate.check_host("127.0.0.1:8090")
    gate.check_host("localhost:8090")
    gate.check_host("[::1]:8090")
    with pytest.raises(Denied, match="loopback only") as found:
        gate.check_host("attacker.example:8090")
    assert found.value.status == 421


def test_basic_users_get_a_challenge_and_roles_decide_changes():
    gate = Gate(parse_access(USERS, "users"))
    with pytest.raises(Denied) as found:
        gate.principal({}, {})
    assert found.value.status == 401 and "Basic" in found.value.headers["WWW-Authenticate"]
    viewer, _ = gate.principal(_basic("bob", "another-long-password#with-hash"), {})
    with pytest.raises(Denied, match="a viewer only reads"):
        gate.check_change(viewer, True, "POST", {"content-type": "application/json"}, "http://h")
    assert not Gate(parse_access(USERS, "users"), read_only=True).describe(viewer)["canChange"]


def test_csrf_needs_the_token_same_origin_and_json_unless_the_credential_is_a_bearer_token():
    gate = Gate(parse_access(USERS, "users"))
    alice, ambient = gate.principal(_basic("alice", "correct-horse-battery"), {})
    good = {"content-type": "application/json", "origin": "http://h", "x-csrf-token": gate.csrf_token(alice)}
    gate.check_change(alice, ambient, "POST", good, "http://h")
    for headers, message in (({**good, "x-csrf-token": "x"}, "CSRF token"),
                             ({**good, "origin": "http://evil"}, "not this console's origin"),
                             ({**good, "sec-fetch-site": "cross-site"}, "cross-site"),
                             ({**good, "content-type": "text/plain"}, "must be JSON")):
        with pytest.raises(Denied, match=message):
            gate.check_change(alice, ambient, "POST", headers, "http://h")
    bearer, ambient = gate.principal({"authorization": "Bearer tok-0123456789abcdef"}, {})
    assert ambient is False
    gate.check_change(bearer, ambient, "POST", {"content-type": "application/json"}, "http://h")


def test_a_login_session_is_signed_by_this_process_only():
    gate = Gate(parse_access(USERS, "users"))
    cookie = gate.login("tok-0123456789abcdef")
    assert gate.session(cookie).role is Role.OPERATOR
    assert Gate(gate.access).session(cookie) is None  # another process (a restart) has another key
    body, _, signature = cookie.partition(".")
    forged = base64.urlsafe_b64encode(b'{"n":"x","r":"operator","e":9999999999}').decode().rstrip("=")
    assert gate.session(f"{forged}.{signature}") is None
    with pytest.raises(Denied, match="token is not valid"):
        gate.login("wrong-token-000000")
