"""Adapters: the only code that runs outside tools (helm, kustomize) or talks to outside systems."""
