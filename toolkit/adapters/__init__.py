"""The ground floor: the only code that runs outside tools (helm, kustomize, GnuPG) or talks to outside systems
(the Kubernetes API, the OCI registry); imports nothing above it."""
