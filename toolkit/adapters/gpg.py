"""Signing keys for Helm provenance (``.prov``): the one adapter over GnuPG.

``helm package --sign`` reads secret keys from a *binary OpenPGP keyring* (GnuPG's legacy ``secring.gpg``);
GnuPG >= 2.1 keeps secret keys in ``private-keys-v1.d`` instead, so we export them (``gpg --export-secret-keys``)
into a private temporary file for the duration of one package run. ``helm verify`` (v4) reads public keys from a
binary ring, a keybox (``pubring.kbx``) or an armored export; ``public_keyring`` exports a binary one.
Keys must have no passphrase (helm would prompt for it on a TTY).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from toolkit.errors import SigningError

__all__ = ["SigningKey", "generate_key", "public_keyring", "secret_keyring"]


@dataclass(frozen=True)
class SigningKey:
    home: Path           # GNUPGHOME holding the key
    uid: str             # what `chartkit package --sign --key` / helm --key take


def _gpg(args: list[str], *, home: Path | None) -> bytes:
    gpg = shutil.which("gpg")
    if not gpg:
        raise SigningError("unable to sign: gpg is not installed", hint="apt-get install gnupg")
    env = dict(os.environ)
    if home:
        env["GNUPGHOME"] = str(home)
    proc = subprocess.run([gpg, "--batch", "--yes", *args], capture_output=True, env=env)
    if proc.returncode != 0:
        raise SigningError(f"unable to run gpg {args[0]}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def generate_key(home: Path, *, name: str = "chartkit test", email: str = "test@chartkit.invalid") -> SigningKey:
    """A new passphrase-less RSA signing key in ``home`` (tests, demos; real keys come from the org)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    uid = f"{name} <{email}>"
    _gpg(["--pinentry-mode", "loopback", "--passphrase", "", "--quick-generate-key", uid, "rsa2048", "sign",
          "never"], home=home)
    return SigningKey(home=home, uid=uid)


@contextlib.contextmanager
def secret_keyring(home: Path | None = None, key: str | None = None) -> Iterator[Path]:
    """A temporary binary secret keyring (mode 0600) exported from GnuPG, removed afterwards."""
    data = _gpg(["--export-secret-keys", *([key] if key else [])], home=home)
    if not data:
        raise SigningError(f'unable to sign: no secret key{f" {key!r}" if key else ""} in GnuPG home '
                           f'"{home or os.environ.get("GNUPGHOME") or "~/.gnupg"}"',
                           hint="create or import the signing key, or pass --keyring with a secret keyring")
    directory = Path(tempfile.mkdtemp(prefix="chartkit-keyring-"))
    path = directory / "secring.gpg"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def public_keyring(home: Path | None, destination: Path) -> Path:
    """Export the public keys of a GnuPG home as a binary keyring for ``helm verify --keyring``."""
    destination.write_bytes(_gpg(["--export"], home=home))
    return destination
