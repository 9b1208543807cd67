"""Who is asking, may they do it, and did they mean to: authentication, roles, CSRF, the Host header.

- **Authentication** (``toolkit.core.access``): HTTP basic (the browser asks), a bearer token (scripts), or the
  login form's token exchanged for a session cookie (HttpOnly, SameSite=Strict, signed with a key that lives in
  this process's memory only: a restart logs everyone out, nothing is written to disk). Without users the
  console serves loopback only, everyone an operator (a developer's own machine).
- **Roles:** a viewer, or anyone when the console runs read-only, gets 403 on every state-changing request.
- **CSRF:** credentials a browser sends by itself (basic, the cookie, or none on loopback) would let another
  site's page make the request, so a state-changing request must carry ``X-CSRF-Token`` (an HMAC of the
  principal under the process key, handed out by ``GET /api/session``, which another origin cannot read), a JSON
  body, and no foreign ``Origin``/``Sec-Fetch-Site``. A bearer token is never sent by a browser on its own and
  needs no CSRF token.
- **Host:** without authentication, only loopback Host names are answered (a DNS-rebinding page gets 421).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from toolkit.core.access import Access, Principal, Role

__all__ = ["Denied", "Gate", "LOCAL", "SESSION_COOKIE"]

SESSION_COOKIE = "chartkit_console"
SESSION_SECONDS = 8 * 3600
CSRF_HEADER = "x-csrf-token"
LOCAL = Principal("local", Role.OPERATOR)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class Denied(Exception):
    """A request refused: HTTP status, a one-line reason, and extra headers (e.g. the basic challenge)."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Gate:
    """The console's door: ``access`` (empty: loopback without authentication) and ``read_only``."""

    access: Access
    read_only: bool = False
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def mode(self) -> str:
        """What the login page offers: "none", "basic", "token" or "basic+token"."""
        kinds = sorted(self.access.kinds)
        return "+".join(kinds) if kinds else "none"

    # -- who ------------------------------------------------------------------------------------------------

    def principal(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> tuple[Principal, bool]:
        """(who, whether the credential is ambient: sent by a browser on its own, so CSRF applies)."""
        if not self.access:
            return LOCAL, True
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value:
            found = self.access.token(value.strip())
            if found:
                return found, False
            raise Denied(401, "unable to authenticate: the token is not valid")
        if scheme.lower() == "basic" and value:
            try:
                username, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise Denied(401, "unable to authenticate: malformed basic credentials", self._challenge()) from None
            found = self.access.basic(username, password)
            if found:
                return found, True
            raise Denied(401, "unable to authenticate: wrong username or password", self._challenge())
        session = self.session(cookies.get(SESSION_COOKIE, ""))
        if session:
            return session, True
        raise Denied(401, "unable to authenticate: log in first", self._challenge())

    def _challenge(self) -> dict[str, str]:
        # the basic challenge makes a browser ask; a token-only console shows its login form instead
        return {"WWW-Authenticate": 'Basic realm="chartkit console", charset="UTF-8"'} \
            if "basic" in self.access.kinds else {}

    # -- the login form's session ---------------------------------------------------------------------------

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self.key, payload, hashlib.sha256).digest())

    def login(self, token: str) -> str:
        """A session cookie value for a valid token; Denied otherwise."""
        found = self.access.token(token) if self.access else None
        if found is None:
            raise Denied(401, "unable to log in: the token is not valid")
        payload = json.dumps({"n": found.name, "r": found.role.value, "e": int(time.time()) + SESSION_SECONDS},
                             separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    def session(self, cookie: str) -> Principal | None:
        body, _, signature = cookie.partition(".")
        if not body or not signature:
            return None
        try:
            payload = _unb64(body)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        data = json.loads(payload)
        if data.get("e", 0) < time.time():
            return None
        return Principal(str(data["n"]), Role(data["r"]))

    # -- may they, and did they mean to -----------------------------------------------------------------------

    def csrf_token(self, principal: Principal) -> str:
        return self._sign(f"csrf|{principal.name}|{principal.role.value}".encode())[:43]

    def check_change(self, principal: Principal, ambient: bool, method: str, headers: Mapping[str, str],
                     origin: str) -> None:
        """Refuse a state-changing request the principal may not make or did not mean to make."""
        if self.read_only:
            raise Denied(403, "unable to change anything: this console is read-only")
        if not principal.can_change:
            raise Denied(403, f'unable to change anything as "{principal.name}": a viewer only reads')
        if method not in UNSAFE:
            return
        if not headers.get("content-type", "").startswith("application/json"):
            raise Denied(415, "unable to accept the request: the body must be JSON (application/json)")
        if not ambient:
            return
        sent_origin = headers.get("origin")
        if sent_origin and sent_origin != origin:
            raise Denied(403, f'unable to accept a request from "{sent_origin}": not this console\'s origin')
        if headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise Denied(403, "unable to accept a cross-site request")
        if not hmac.compare_digest(headers.get(CSRF_HEADER, ""), self.csrf_token(principal)):
            raise Denied(403, "unable to accept the request: missing or wrong CSRF token (reload the page)")

    def check_host(self, host: str) -> None:
        """Without authentication only loopback names are answered: a rebound DNS name reaches nothing."""
        if self.access:
            return
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in LOOPBACK_HOSTS:
            raise Denied(421, f'unable to answer for host "{host}": this console serves loopback only')

    def describe(self, principal: Principal) -> dict[str, Any]:
        return {"user": principal.name, "role": principal.role.value,
                "canChange": principal.can_change and not self.read_only, "readOnly": self.read_only,
                "auth": self.mode, "csrf": self.csrf_token(principal)}
