"""The Open Service Broker front door (API v2.17): HTTP in, the core API (``toolkit.core``) out.

    app.py     the Starlette application: routes, the spec's error shapes, auth, the API version header
    server.py  uvicorn on loopback (TLS when given a certificate), the holder lease, the take-over sweeper

It keeps no state of its own: service instances, bindings and operations are recorded in the cluster
(``toolkit.core.provision``), so any number of broker processes serve one API and one may die mid-operation.
"""
