"""Basic-auth credentials a server front door checks (the broker): from a file or a Secret, never from argv.

A file holds one line ``USERNAME:PASSWORD`` and must not be readable by others; a Secret (``NAMESPACE/NAME``)
holds the keys ``username`` and ``password``. The password is kept in memory only.
"""

from __future__ import annotations

import base64
import stat
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.config import Config
from toolkit.errors import InputError

__all__ = ["BasicCredentials", "credentials_from_file", "credentials_from_secret"]


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str = field(repr=False)

    def matches(self, username: str, password: str) -> bool:
        import hmac

        return hmac.compare_digest(username.encode(), self.username.encode()) & hmac.compare_digest(
            password.encode(), self.password.encode())


def credentials_from_file(path: Path) -> BasicCredentials:
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise InputError(f'unable to read credentials file "{path}": {exc.strerror}') from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(f'unable to use credentials file "{path}": others can read it',
                         hint=f"chmod 600 {path}")
    username, sep, password = text.partition(":")
    if not (sep and username and password) or "\n" in text:
        raise InputError(f'unable to use credentials file "{path}": expected one line USERNAME:PASSWORD')
    return BasicCredentials(username, password)


def credentials_from_secret(config: Config, ref: str) -> BasicCredentials:
    namespace, _, name = ref.partition("/")
    if not (namespace and name):
        raise InputError(f'unable to use credentials Secret "{ref}": expected NAMESPACE/NAME')
    secret = config.kube().get("v1", "Secret", name, namespace, missing_ok=True)
    data = (secret or {}).get("data") or {}
    if not (data.get("username") and data.get("password")):
        raise InputError(f'unable to use credentials Secret "{ref}": ' +
                         ("it does not exist" if secret is None else "it needs the keys username and password"))
    return BasicCredentials(base64.b64decode(data["username"]).decode(), base64.b64decode(data["password"]).decode())
