"""chartkit: make a Helm chart (a *type*) from a running app, share it through an OCI catalog, run instances of it."""

__version__ = "0.1.0"
