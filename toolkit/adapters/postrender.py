"""helm's post-renderer for chartkit (the plugin ``chartkit-leave-fields`` in ``helm_plugins/``): drop given fields.

``helm upgrade --post-renderer chartkit-leave-fields --post-renderer-args Deployment/chat=spec.replicas`` runs
``python -m toolkit.adapters.postrender Deployment/chat=spec.replicas`` with the rendered manifests on stdin; each
document naming that object loses that field (written back as JSON, which is YAML; others pass through as they
came). chartkit uses it to leave a field a controller owns (an HPA's ``spec.replicas``, written through the scale
subresource) out of what helm applies, so server-side apply neither conflicts with nor fights the controller.

A target is ``Kind/name`` or ``Kind/namespace/name``, the field a dotted path of map keys.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Sequence

__all__ = ["leave_fields", "main", "parse_target"]

_SEPARATOR = re.compile(r"^---[ \t]*$", re.M)


def parse_target(text: str) -> tuple[str, str | None, str, tuple[str, ...]]:
    """``Kind[/namespace]/name=a.b.c`` → (kind, namespace or None, name, path)."""
    ref, _, field = text.partition("=")
    parts = ref.split("/")
    if len(parts) not in (2, 3) or not all(parts) or not field:
        raise ValueError(f'expected Kind[/namespace]/name=field.path, got "{text}"')
    kind, namespace, name = (parts[0], None, parts[1]) if len(parts) == 2 else (parts[0], parts[1], parts[2])
    return kind, namespace, name, tuple(field.split("."))


def _drop(obj: dict[str, Any], path: Sequence[str]) -> bool:
    node: Any = obj
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict) and path[-1] in node:
        del node[path[-1]]
        return True
    return False


def leave_fields(text: str, targets: Sequence[str]) -> str:
    """The manifest stream without the targets' fields (see the module docstring)."""
    from toolkit.objects import load_documents

    wanted = [parse_target(t) for t in targets]
    out = []
    for doc in _SEPARATOR.split(text):
        if not doc.strip():
            continue
        objects = load_documents(doc, "rendered manifest")
        obj = objects[0] if len(objects) == 1 else None
        if isinstance(obj, dict):
            meta = obj.get("metadata") or {}
            changed = False
            for kind, namespace, name, path in wanted:
                # a rendered object without a namespace lands in the release's
                if (obj.get("kind"), meta.get("name")) == (kind, name) and \
                        (namespace is None or meta.get("namespace") in (None, namespace)):
                    changed |= _drop(obj, path)
            if changed:
                doc = json.dumps(obj, ensure_ascii=False) + "\n"
        out.append(doc if doc.endswith("\n") else doc + "\n")
    return "---\n" + "---\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        sys.stdout.write(leave_fields(sys.stdin.read(), args))
    except Exception as exc:  # noqa: BLE001 - helm shows this stderr line as the post-renderer's failure
        sys.stderr.write(f"chartkit-leave-fields: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
