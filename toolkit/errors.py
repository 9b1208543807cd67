"""chartkit's errors.

Every error chartkit raises on purpose derives from one root, so the CLI maps them all to exit code 1 with a
one-line message; anything else is a bug and gets a traceback with ``--verbose``.

    ChartkitError
    ├── InputError          bad user input: a file, an object, a field, a flag (chartify, values, overrides)
    ├── ChartifyError       a chart could not be generated or does not reproduce its source
    ├── CatalogError        packaging, versions, immutability, the repo-index
    │   └── SigningError    GnuPG could not sign or export a key (toolkit/adapters/gpg.py)
    ├── DeployError         instances: install/upgrade/rollback/uninstall, drift
    ├── HelmError           the helm CLI failed (toolkit/adapters/helm.py)
    ├── RegistryError       the OCI registry failed or refused (toolkit/adapters/oci.py)
    ├── ClusterError        the Kubernetes API or a kubeconfig failed or refused
    │   └── KubeError       one API request or the kubeconfig failed (toolkit/adapters/kube.py); status, reason
    └── LocalEnvError       the local helm/registry/cluster could not be built, started or found

Messages follow ``unable to <verb> <thing> "<id>": <cause>``; ``hint`` says what to do next.

Beside the tree, ``Interrupted`` (a ``KeyboardInterrupt``) is what SIGINT and SIGTERM raise in a front door's main
thread: operations let it through after cleaning up, and ``state`` says what they left and the command that
continues it.
"""

from __future__ import annotations

__all__ = [
    "CatalogError",
    "ChartifyError",
    "ChartkitError",
    "ClusterError",
    "DeployError",
    "HelmError",
    "InputError",
    "Interrupted",
    "KubeError",
    "LocalEnvError",
    "RegistryError",
    "SigningError",
]


class ChartkitError(Exception):
    """Root of every error chartkit raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class InputError(ChartkitError):
    """Bad user input: names the file, document, object and field involved."""


class ChartifyError(ChartkitError):
    """A chart could not be generated, or it does not reproduce its source."""


class CatalogError(ChartkitError):
    """Packaging, versioning, immutability or index failures."""


class DeployError(ChartkitError):
    """An instance operation failed."""


class HelmError(ChartkitError):
    """The helm CLI failed; ``stderr`` keeps helm's own words."""

    def __init__(self, message: str, *, hint: str | None = None, returncode: int = 1, stderr: str = "") -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode
        self.stderr = stderr


class RegistryError(ChartkitError):
    """The OCI registry failed or refused a request."""


class ClusterError(ChartkitError):
    """The Kubernetes API failed or refused a request, or its kubeconfig cannot be used."""


class KubeError(ClusterError):
    """A Kubernetes API request or the kubeconfig failed.

    ``status`` is the HTTP status (0 when the server was unreachable or the kubeconfig unusable); ``reason`` is
    the server's Status reason (``NotFound``, ``AlreadyExists``, ``Conflict``, ...), empty when it gave none.
    """

    def __init__(self, message: str, *, hint: str | None = None, status: int = 0, reason: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason


class SigningError(CatalogError):
    """GnuPG could not sign or export a key."""


class LocalEnvError(ChartkitError):
    """The local helm, registry or cluster could not be built, started or found."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``state`` is what the interrupted operation left and how to continue it."""

    def __init__(self, signum: int, state: str = "") -> None:
        super().__init__(signum, state)
        self.signum = signum
        self.state = state

    def leaving(self, state: str) -> Interrupted:
        """The same interruption, now saying what was left (raise it ``from`` the original)."""
        return Interrupted(self.signum, state)
