"""The ground floor: the only code that talks to helm, the Kubernetes API, the OCI registry and GnuPG; imports
nothing above it."""
