"""Real backends for kwok's pods: part of the local environment, not of chartkit.

kwok's pods run no containers. The harness (``python -m toolkit.localenv.backends``, started and kept alive by
``localenv.start_backends()``) runs, for every Ready pod that opts in, a real HTTP server bound to the pod's IP and
each TCP containerPort, so a gateway routing to the pod's endpoints gets real answers. Servers come and go with
their pods.

Opting in (on the pod template):

    labels:       chartkit.io/backend: http | chat | mq | db       (the role: what it answers, see app.py)
    env:          BACKEND_LATENCY_MS=50  BACKEND_ERROR_RATE=0.2    (per version: a "bad" version can exist)
                  BACKEND_UPSTREAM=http://SVC.NS.svc.cluster.local:PORT/path  (or http://SVC:PORT/path in the pod's
                  namespace; called on writes, as X-Caller BACKEND_CALLER or "<namespace>/<app>";
                  BACKEND_UPSTREAM_METHOD=POST, BACKEND_UPSTREAM_ON=writes|all)
    annotations:  chartkit.io/backend-latency-ms, chartkit.io/backend-error-rate   (override env, live)

Every answer is JSON naming pod, namespace, version (the image tag) and role. Each server reports its own request
counts and latency histograms per caller on ``/metrics``; the harness's control endpoint merges them.
"""

from __future__ import annotations

from toolkit.localenv.backends.pods import (
    ANNOTATION_ERROR_RATE,
    ANNOTATION_LATENCY,
    BackendSpec,
    ENV_CALLER,
    ENV_ERROR_RATE,
    ENV_LATENCY,
    ENV_UPSTREAM,
    ENV_UPSTREAM_METHOD,
    ENV_UPSTREAM_ON,
    LABEL,
    Role,
    Skipped,
    Upstream,
    UpstreamOn,
    image_version,
    specs_from_pod,
)

__all__ = [
    "ANNOTATION_ERROR_RATE",
    "ANNOTATION_LATENCY",
    "BackendSpec",
    "ENV_CALLER",
    "ENV_ERROR_RATE",
    "ENV_LATENCY",
    "ENV_UPSTREAM",
    "ENV_UPSTREAM_METHOD",
    "ENV_UPSTREAM_ON",
    "LABEL",
    "Role",
    "Skipped",
    "Upstream",
    "UpstreamOn",
    "image_version",
    "specs_from_pod",
]
