"""Who may use a server front door (the console), and what they may do: from a file or a Secret, never argv.

A file (mode 600: others may not read it) holds one user per line, ``ROLE KIND SECRET``::

    # role      kind   secret          (basic: USERNAME:PASSWORD; token: a bearer token, or the login form's)
    operator    basic  alice:correct-horse-battery
    viewer      basic  bob:another-long-password
    operator    token  4f9c0e...

Lines starting with ``#`` are comments (a ``#`` elsewhere belongs to the secret).
``operator`` may change things (install, upgrade, roll out, roll back); ``viewer`` only reads. A Secret
(``NAMESPACE/NAME``) holds the same text in its ``users`` key, or — as the broker's credentials — ``username`` and
``password`` (an operator). Secrets are kept in memory only and compared in constant time.
"""

from __future__ import annotations

import base64
import enum
import hmac
import stat
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.config import Config
from toolkit.errors import InputError

__all__ = ["Access", "Principal", "Role", "access_from_file", "access_from_secret", "parse_access"]

MIN_SECRET = 12  # a short password or token is refused: the console may be reachable from other machines


class Role(str, enum.Enum):
    OPERATOR = "operator"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Principal:
    """Someone the front door let in."""

    name: str
    role: Role

    @property
    def can_change(self) -> bool:
        return self.role is Role.OPERATOR


@dataclass(frozen=True)
class _Entry:
    principal: Principal
    kind: str                              # "basic" or "token"
    username: str
    secret: str = field(repr=False)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Access:
    """The users of a front door. ``basic``/``token`` answer the Principal a credential belongs to, or None."""

    entries: tuple[_Entry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def kinds(self) -> set[str]:
        return {e.kind for e in self.entries}

    def basic(self, username: str, password: str) -> Principal | None:
        found = None
        for entry in self.entries:  # every entry is compared: the time taken says nothing about which matched
            if entry.kind == "basic" and _same(entry.username, username) & _same(entry.secret, password):
                found = entry.principal
        return found

    def token(self, token: str) -> Principal | None:
        found = None
        for entry in self.entries:
            if entry.kind == "token" and _same(entry.secret, token):
                found = entry.principal
        return found


def parse_access(text: str, origin: str) -> Access:
    """Users from the text of an access file (see the module docstring)."""
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = "" if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        parts = line.split(None, 2)
        where = f'unable to read access "{origin}" line {number}'
        if len(parts) != 3:
            raise InputError(f"{where}: expected ROLE KIND SECRET (e.g. operator basic alice:PASSWORD)")
        role_text, kind, secret = parts
        try:
            role = Role(role_text)
        except ValueError:
            raise InputError(f'{where}: role "{role_text}" is not operator or viewer') from None
        if kind == "basic":
            username, sep, password = secret.partition(":")
            if not (sep and username and password):
                raise InputError(f"{where}: a basic user is USERNAME:PASSWORD")
            name = username
        elif kind == "token":
            username, password = "", secret
            name = f"token {number}"
        else:
            raise InputError(f'{where}: kind "{kind}" is not basic or token')
        if len(password) < MIN_SECRET:
            raise InputError(f"{where}: the password or token is shorter than {MIN_SECRET} characters",
                             hint="e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))'")
        entries.append(_Entry(Principal(name, role), kind, username, password))
    if not entries:
        raise InputError(f'unable to use access "{origin}": it names no user')
    return Access(tuple(entries))


def access_from_file(path: Path) -> Access:
    try:
        mode = path.stat().st_mode
        text = path.read_text()
    except OSError as exc:
        raise InputError(f'unable to read access file "{path}": {exc.strerror}') from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f'unable to use access file "{path}": others can read it', hint=f"chmod 600 {path}")
    return parse_access(text, str(path))


def access_from_secret(config: Config, ref: str) -> Access:
    """Users from a Secret ``NAMESPACE/NAME``: its ``users`` key, or ``username`` + ``password`` (an operator)."""
    namespace, _, name = ref.partition("/")
    if not (namespace and name):
        raise InputError(f'unable to use access Secret "{ref}": expected NAMESPACE/NAME')
    secret = config.kube().get("v1", "Secret", name, namespace, missing_ok=True)
    data = (secret or {}).get("data") or {}

    def plain(key: str) -> str:
        return base64.b64decode(data[key]).decode()

    if data.get("users"):
        return parse_access(plain("users"), f"Secret {ref}")
    if data.get("username") and data.get("password"):
        return parse_access(f"operator basic {plain('username')}:{plain('password')}", f"Secret {ref}")
    raise InputError(f'unable to use access Secret "{ref}": ' +
                     ("it does not exist" if secret is None else "it needs a users key, or username and password"))
