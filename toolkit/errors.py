"""chartkit's errors.

Every error chartkit raises on purpose derives from one root, so the CLI maps them all to exit code 1 with a
one-line message; anything else is a bug and gets a traceback with ``--verbose``.

    ChartkitError
    ├── InputError          bad user input: a file, an object, a field, a flag (chartify, values, overrides)
    │   └── VersionConflictError  a stale maintenance_info.version (the broker: 422 MaintenanceInfoConflict)
    ├── ChartifyError       a chart could not be generated or does not reproduce its source
    ├── CatalogError        packaging, versions, immutability, the repo-index
    │   └── SigningError    GnuPG could not sign or export a key (toolkit/adapters/gpg.py)
    ├── DeployError         instances: install/upgrade/rollback/uninstall, drift
    │   ├── NotFoundError   no such service instance, binding or operation (the broker: 404 / 410 / 400)
    │   ├── ConflictError   it exists with other attributes (the broker: 409 Conflict)
    │   └── BusyError       another operation on it is in progress (the broker: 422 ConcurrencyError)
    ├── HelmError           the helm CLI failed (toolkit/adapters/helm.py)
    ├── RegistryError       the OCI registry failed or refused (toolkit/adapters/oci.py)
    ├── ClusterError        the Kubernetes API or a kubeconfig failed or refused
    │   └── KubeError       one API request or the kubeconfig failed (toolkit/adapters/kube.py); status, reason
    ├── BrokerError         an Open Service Broker refused or failed (adapters/osb.py), or ours could not serve
    ├── DeliveryError       a notice could not be delivered to a webhook (toolkit/adapters/webhook.py)
    └── LocalEnvError       the local helm/registry/cluster could not be built, started or found

Messages follow ``unable to <verb> <thing> "<id>": <cause>``; ``hint`` says what to do next.

Beside the tree, ``Interrupted`` (a ``KeyboardInterrupt``) is what SIGINT and SIGTERM raise in a front door's main
thread: operations let it through after cleaning up, and ``state`` says what they left and the command that
continues it.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "BusyError",
    "CatalogError",
    "ChartifyError",
    "ChartkitError",
    "ClusterError",
    "ConflictError",
    "DeliveryError",
    "DeployError",
    "HelmError",
    "InputError",
    "Interrupted",
    "KubeError",
    "LocalEnvError",
    "NotFoundError",
    "RegistryError",
    "SigningError",
    "VersionConflictError",
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


class DeliveryError(ChartkitError):
    """A notice could not be delivered (its webhook is down or refused it); it stays in the outbox."""


class LocalEnvError(ChartkitError):
    """The local helm, registry or cluster could not be built, started or found."""


class VersionConflictError(InputError):
    """The version a request expects (OSB ``maintenance_info.version``) is not the one the catalog offers."""


class NotFoundError(DeployError):
    """No such service instance, binding or operation; ``gone``: it existed and was deprovisioned."""

    def __init__(self, message: str, *, hint: str | None = None, gone: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.gone = gone


class ConflictError(DeployError):
    """A service instance or binding of that id exists with other attributes."""


class BusyError(DeployError):
    """Another operation on the same service instance or binding is in progress."""


class BrokerError(ChartkitError):
    """Another Open Service Broker refused or failed a request; ``status`` and ``error`` are its answer's."""

    def __init__(self, message: str, *, hint: str | None = None, status: int = 0, error: str = "") -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.error = error
class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; ``state`` is what the interrupted operation left and how to continue it."""

    def __init__(self, signum: int, state: str = "") -> None:
        super().__init__(signum, state)
        self.signum = signum
        self.state = state

    def leaving(self, state: str) -> Interrupted:
        """The same interruption, now saying what was left (raise it ``from`` the original)."""
        return Interrupted(self.signum, state)
