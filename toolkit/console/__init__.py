"""The web console: a front door that browses the catalog, deploys from a form made from a type's schema, and shows
every instance's version, alerts, rollouts and the service graph.

    app.py          the Starlette app: JSON API over the core, server-sent events, the built front end
    auth.py         authentication (basic, token, login session), roles, CSRF, the Host check
    data.py         what each page shows, read through the core (and the hooks for core.graph/notices/provision)
    operations.py   installs, upgrades, rollbacks and rollouts run on worker threads, watched over SSE
    server.py       uvicorn on loopback by default; where the built front end comes from
    web/            the front end's sources (React + react-jsonschema-form, built with npm + vite into the cache)

No rule lives here that the CLI would need: forms, plans and values come from ``toolkit.core.form``, the type's
page from ``toolkit.core.describe``, users from ``toolkit.core.access``. The console keeps no state on disk.
"""
