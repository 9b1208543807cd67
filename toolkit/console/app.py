"""The console's HTTP surface: a JSON API over the core operations, server-sent events, and the built front end.

Every API route parses its request, calls ``toolkit.console.data`` or one core operation with the one
configuration, and answers JSON; errors are ``{"error": message, "hint": hint}`` with 400 (bad input), 404 (no
such type, version or instance), 409 (refused by the instance's state) or 502 (the registry, cluster or helm
failed). State-changing routes are marked ``change=True``: the gate (``toolkit.console.auth``) checks the role and
CSRF on each of them before the handler runs. Long operations answer 202 with an operation whose progress streams
from ``/api/operations/{id}/events``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from toolkit.config import Config
from toolkit.console import data
from toolkit.console.auth import SESSION_COOKIE, SESSION_SECONDS, Denied, Gate
from toolkit.console.operations import Operation, Operations
from toolkit.core.access import Principal
from toolkit.errors import CatalogError, ChartkitError, DeployError, InputError

__all__ = ["ConsoleSettings", "create_app"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
#: scripts only from this origin, no inline script; 'unsafe-eval' because Ajv (the form's schema validator, used by
#: react-jsonschema-form) compiles each schema into a function, and a type's schema is only known at run time
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self'; "
                                 b"img-src 'self' data:; "
                                 b"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                                 b"form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
ROLLOUT_KINDS = ("rollout", "promote", "abort")
MAX_BODY = 2 * 1024 * 1024  # a values form is a few KiB


@dataclass(frozen=True, kw_only=True)
class ConsoleSettings:
    """How one console process serves."""

    assets: Path                          # the built front end (index.html + assets/)
    index_dir: Path | None = None         # the catalog index that enriches the type list (descriptions, search)
    poll_seconds: float = 1.0             # how often a rollout's live view re-reads its route
    secure_cookie: bool = False           # HTTPS: the session cookie is Secure


class _Console:
    def __init__(self, config: Config, gate: Gate, settings: ConsoleSettings, operations: Operations) -> None:
        self.config, self.gate, self.settings, self.ops = config, gate, settings, operations


Handler = Callable[[Request, Principal], Awaitable[Response]]


def _error(status: int, message: str, hint: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, **({"hint": hint} if hint else {})}, status_code=status, headers=headers)


def _status_of(exc: ChartkitError) -> int:
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, (CatalogError, DeployError)) and ("no such" in exc.message or "unable to find" in exc.message
                                                          or "not in the index" in exc.message):
        return 404
    if isinstance(exc, CatalogError):
        return 400 if "deprecated" in exc.message else 502
    if isinstance(exc, DeployError):
        return 409
    return 502


def _name(text: str, what: str) -> str:
    if not _NAME.match(text or ""):
        raise InputError(f'unable to use {what} "{text}": expected a Kubernetes name (lowercase letters, digits, -)')
    return text


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def api(console: _Console, handler: Handler, *, change: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate, authorize (``change``: role, read-only, CSRF), run the handler, map errors to JSON."""
    async def endpoint(request: Request) -> Response:
        try:
            principal, ambient = console.gate.principal(request.headers, request.cookies)
            if change:
                console.gate.check_change(principal, ambient, request.method, request.headers, _origin(request))
            return await handler(request, principal)
        except Denied as exc:
            return _error(exc.status, exc.message, headers=exc.headers)
        except ChartkitError as exc:
            return _error(_status_of(exc), exc.message, exc.hint)
        except json.JSONDecodeError:
            return _error(400, "unable to read the request: the body is not JSON")
        except Exception as exc:  # noqa: BLE001 - a request must get an answer; the log has the traceback
            log.exception("%s %s failed", request.method, request.url.path)
            return _error(500, f"unexpected error: {type(exc).__name__} (the console's log has the details)")
    endpoint.changes = change  # type: ignore[attr-defined]
    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise InputError(f"unable to read the request: the body is larger than {MAX_BODY // 1024} KiB")
    body = json.loads(raw or b"null")
    if not isinstance(body, dict):
        raise InputError("unable to read the request: expected a JSON object")
    return body


def _op_json(op: Operation) -> JSONResponse:
    return JSONResponse(op.to_json(), status_code=202)


async def _events(request: Request, next_event: Callable[[], Awaitable[tuple[str, Any] | None]],
                  done: Callable[[], bool]) -> AsyncIterator[bytes]:
    """An SSE stream: events from ``next_event`` until ``done``; a comment every 15 s keeps proxies from closing it."""
    quiet = 0.0
    yield b"retry: 2000\n\n"
    while not await request.is_disconnected():
        found = await next_event()
        if found is not None:
            name, payload = found
            yield f"event: {name}\ndata: {json.dumps(payload, default=str)}\n\n".encode()
            quiet = 0.0
            continue
        if done():
            yield b"event: end\ndata: {}\n\n"
            return
        await asyncio.sleep(0.25)
        quiet += 0.25
        if quiet >= 15:
            yield b": keep-alive\n\n"
            quiet = 0.0


def _stream(generator: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(generator, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def create_app(config: Config, gate: Gate, settings: ConsoleSettings, operations: Operations | None = None) -> Starlette:
    console = _Console(config, gate, settings, operations or Operations())
    cfg = console.config

    # -- session ----------------------------------------------------------------------------------------------

    async def session(request: Request, who: Principal) -> Response:
        return JSONResponse({**gate.describe(who), "catalog": await run_in_threadpool(lambda: str(cfg.catalog))})

    async def login(request: Request) -> Response:
        try:
            if request.headers.get("origin") not in (None, _origin(request)):
                raise Denied(403, "unable to log in from another origin")
            body = await _body(request)
            cookie = gate.login(str(body.get("token") or ""))
        except Denied as exc:
            return _error(exc.status, exc.message)
        except (ChartkitError, json.JSONDecodeError):
            return _error(400, "unable to log in: expected {\"token\": ...}")
        response = JSONResponse({"ok": True})
        response.set_cookie(SESSION_COOKIE, cookie, max_age=SESSION_SECONDS, httponly=True, samesite="strict",
                            secure=settings.secure_cookie, path="/")
        return response

    async def logout(request: Request, who: Principal) -> Response:
        response = JSONResponse({"ok": True})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # -- catalog ----------------------------------------------------------------------------------------------

    async def catalog(request: Request, who: Principal) -> Response:
        search = request.query_params.get("q", "")
        return JSONResponse(await run_in_threadpool(data.catalog, cfg, settings.index_dir, search))

    async def type_view(request: Request, who: Principal) -> Response:
        name = _name(request.path_params["type"], "type")
        version = request.query_params.get("version") or None
        return JSONResponse(await run_in_threadpool(data.type_view, cfg, name, version))

    async def form(request: Request, who: Principal) -> Response:
        from toolkit.core.form import FormOptions, deploy_form

        q = request.query_params
        options = FormOptions(type=_name(request.path_params["type"], "type"), version=q.get("version") or None,
                              plan=q.get("plan") or None, instance=q.get("instance") or None,
                              namespace=q.get("namespace") or "default")
        return JSONResponse((await run_in_threadpool(deploy_form, cfg, options)).to_json())

    async def deploy(request: Request, who: Principal) -> Response:
        from toolkit.core.form import SubmitOptions, check, submit

        body = await _body(request)
        values = body.get("values")
        if not isinstance(values, dict):
            raise InputError("unable to deploy: \"values\" must be an object")
        options = SubmitOptions(instance=_name(str(body.get("instance") or ""), "instance name"),
                                namespace=_name(str(body.get("namespace") or "default"), "namespace"),
                                type=_name(str(body.get("type") or ""), "type"),
                                version=body.get("version") or None, plan=body.get("plan") or None, data=values,
                                timeout=body.get("timeout") or None)
        checked = await run_in_threadpool(check, cfg, options)  # a bad form is answered now, before anything runs

        def work(op: Operation) -> dict[str, Any]:
            op.say(f"{checked.action}: {options.type} {checked.version} (plan {checked.plan}) as "
                   f"{options.namespace}/{options.instance}", values=checked.values)
            op.say(f"helm {checked.action}s with --wait: done when the release is ready, rolled back when it is not "
                   f"within {cfg.timeout}")
            return submit(cfg, checked, progress=op.say).to_json()

        op = console.ops.start(checked.action, options.namespace, options.instance, who.name,
                               _watched(cfg, work))
        return _op_json(op)

    # -- instances --------------------------------------------------------------------------------------------

    async def instances(request: Request, who: Principal) -> Response:
        namespace = request.query_params.get("namespace") or None
        return JSONResponse(await run_in_threadpool(data.instances, cfg, namespace and _name(namespace, "namespace")))

    def _target(request: Request) -> tuple[str, str]:
        return (_name(request.path_params["namespace"], "namespace"),
                _name(request.path_params["name"], "instance name"))

    async def instance(request: Request, who: Principal) -> Response:
        namespace, name = _target(request)
        found = await run_in_threadpool(data.instance, cfg, namespace, name)
        latest = console.ops.latest(namespace, name, ("install", "upgrade", "rollback", *ROLLOUT_KINDS))
        return JSONResponse({**found, "operation": latest.to_json() if latest else None})

    async def drift(request: Request, who: Principal) -> Response:
        namespace, name = _target(request)
        return JSONResponse(await run_in_threadpool(data.drift, cfg, namespace, name))

    async def upgrade(request: Request, who: Principal) -> Response:
        from toolkit.core.upgrade import UpgradeOptions, upgrade as run

        namespace, name = _target(request)
        body = await _body(request)
        version = str(body.get("version") or "")
        if not version:
            raise InputError("unable to upgrade: give a version (or latest)")
        options = UpgradeOptions(instance=name, namespace=namespace, version=version)
        return _op_json(console.ops.start("upgrade", namespace, name, who.name, _watched(
            cfg, lambda op: run(cfg, options, progress=op.say).to_json())))

    async def rollback(request: Request, who: Principal) -> Response:
        from toolkit.core.rollback import RollbackOptions, rollback as run

        namespace, name = _target(request)
        body = await _body(request)
        revision = body.get("revision")
        if revision is not None and (not isinstance(revision, int) or revision < 1):
            raise InputError("unable to roll back: revision must be a positive integer")
        options = RollbackOptions(instance=name, namespace=namespace, revision=revision)
        return _op_json(console.ops.start("rollback", namespace, name, who.name, _watched(
            cfg, lambda op: run(cfg, options).to_json())))

    # -- rollouts ---------------------------------------------------------------------------------------------

    async def rollout_start(request: Request, who: Principal) -> Response:
        from toolkit.core.rollout import RolloutOptions, options_from_flags, rollout

        namespace, name = _target(request)
        body = await _body(request)
        version = str(body.get("version") or "")
        if not version:
            raise InputError("unable to start a rollout: give a version (or latest)")
        strategy = options_from_flags(
            kind=str(body.get("strategy") or "blue-green"),
            steps=",".join(str(s) for s in body.get("steps") or (10, 50, 100)),
            pause=body.get("pauseSeconds", 0), check_timeout=body.get("checkTimeoutSeconds", 120),
            header=str(body.get("header") or "X-Customer"), customers=",".join(body.get("customers") or ()))
        if console.ops.running(namespace, name, ROLLOUT_KINDS):
            raise DeployError(f'unable to start a rollout of "{namespace}/{name}": one is running from this console')
        options = RolloutOptions(instance=name, version=version, namespace=namespace, strategy=strategy)
        return _op_json(console.ops.start("rollout", namespace, name, who.name, lambda op: rollout(
            cfg, replace(options, stop=op.cancel), progress=_step_reporter(op)).to_json()))

    async def rollout_end(request: Request, who: Principal) -> Response:
        from toolkit.core.rollout import RolloutTarget, abort, promote

        namespace, name = _target(request)
        action = request.path_params["action"]
        if action not in ("promote", "abort"):
            return _error(404, f'unable to {action} a rollout: expected promote or abort')
        if action == "abort":
            here = console.ops.running(namespace, name, ("rollout",))
            if here:  # it holds the rollout's claim: it aborts itself at once (traffic back, green removed)
                here[0].cancel.set()
                return _op_json(here[0])
        run = promote if action == "promote" else abort
        target = RolloutTarget(instance=name, namespace=namespace)
        return _op_json(console.ops.start(action, namespace, name, who.name, lambda op: run(
            cfg, target, progress=_step_reporter(op)).to_json()))

    async def rollout_view(request: Request, who: Principal) -> Response:
        namespace, name = _target(request)
        op = console.ops.latest(namespace, name, ROLLOUT_KINDS)
        view = await run_in_threadpool(data.rollout_view, cfg, namespace, name, op.events if op else [])
        return JSONResponse({**view, "operation": op.to_json() if op else None})

    async def rollout_events(request: Request, who: Principal) -> Response:
        namespace, name = _target(request)
        last: dict[str, Any] = {"view": None, "ops": {}, "polled": 0.0}
        loop = asyncio.get_running_loop()

        async def next_event() -> tuple[str, Any] | None:
            for op in console.ops.of(namespace, name, ROLLOUT_KINDS):
                sent = last["ops"].get(op.id, (0, ""))
                if len(op.events) > sent[0] or op.state != sent[1]:
                    last["ops"][op.id] = (len(op.events), op.state)
                    return "operation", op.to_json(since=sent[0])
            if loop.time() - last["polled"] >= settings.poll_seconds:
                last["polled"] = loop.time()
                op = console.ops.latest(namespace, name, ROLLOUT_KINDS)
                try:
                    view = await run_in_threadpool(data.rollout_view, cfg, namespace, name, op.events if op else [])
                except ChartkitError as exc:
                    return "problem", {"error": exc.message}
                if view != last["view"]:
                    last["view"] = view
                    return "status", view
            return None

        return _stream(_events(request, next_event, lambda: False))

    # -- operations -------------------------------------------------------------------------------------------

    async def operation(request: Request, who: Principal) -> Response:
        op = console.ops.get(request.path_params["id"])
        return JSONResponse(op.to_json()) if op else _error(404, "unable to find the operation: unknown id, or "
                                                                 "it ended more than an hour ago")

    async def operation_events(request: Request, who: Principal) -> Response:
        op = console.ops.get(request.path_params["id"])
        if op is None:
            return _error(404, "unable to find the operation")
        sent = {"events": 0, "state": ""}

        async def next_event() -> tuple[str, Any] | None:
            if len(op.events) > sent["events"] or op.state != sent["state"]:
                since = sent["events"]
                sent.update(events=len(op.events), state=op.state)
                return "operation", op.to_json(since=since)
            return None

        return _stream(_events(request, next_event, lambda: op.state != "running"
                               and sent["events"] == len(op.events) and sent["state"] == op.state))

    # -- graph ------------------------------------------------------------------------------------------------

    async def graph(request: Request, who: Principal) -> Response:
        wanted = [_name(n.strip(), "namespace") for n in request.query_params.get("namespaces", "").split(",")
                  if n.strip()]
        return JSONResponse(await run_in_threadpool(data.graph, cfg, wanted or None))

    # -- the front end ----------------------------------------------------------------------------------------

    index_html = settings.assets / "index.html"

    async def page(request: Request) -> Response:
        # with basic users the page itself asks, so the browser's own login dialog opens before any data call
        if "basic" in gate.access.kinds and "token" not in gate.access.kinds:
            try:
                gate.principal(request.headers, request.cookies)
            except Denied as exc:
                return _error(exc.status, exc.message, headers=exc.headers)
        return FileResponse(index_html, headers={"Cache-Control": "no-store"})

    def r(path: str, handler: Handler, methods: list[str], change: bool = False) -> Route:
        return Route(path, api(console, handler, change=change), methods=methods)

    ns = "/api/instances/{namespace}/{name}"
    routes = [
        r("/api/session", session, ["GET"]),
        Route("/api/login", login, methods=["POST"]),
        r("/api/logout", logout, ["POST"]),
        r("/api/catalog", catalog, ["GET"]),
        r("/api/types/{type}", type_view, ["GET"]),
        r("/api/types/{type}/form", form, ["GET"]),
        r("/api/deploy", deploy, ["POST"], change=True),
        r("/api/instances", instances, ["GET"]),
        r(ns, instance, ["GET"]),
        r(f"{ns}/drift", drift, ["GET"]),
        r(f"{ns}/upgrade", upgrade, ["POST"], change=True),
        r(f"{ns}/rollback", rollback, ["POST"], change=True),
        r(f"{ns}/rollout", rollout_view, ["GET"]),
        r(f"{ns}/rollout", rollout_start, ["POST"], change=True),
        r(f"{ns}/rollout/events", rollout_events, ["GET"]),
        r(f"{ns}/rollout/{{action}}", rollout_end, ["POST"], change=True),
        r("/api/operations/{id}", operation, ["GET"]),
        r("/api/operations/{id}/events", operation_events, ["GET"]),
        r("/api/graph", graph, ["GET"]),
        Route("/api/{rest:path}", lambda request: _error(404, "unable to find that API route"),
              methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        Mount("/assets", StaticFiles(directory=settings.assets / "assets"), name="assets"),
        Route("/{rest:path}", page, methods=["GET"]),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        console.ops.shutdown()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.console = console
    #: the state-changing routes (what the gate checks role and CSRF on): tests hold every one to it
    app.state.change_routes = [(m, route.path) for route in routes if isinstance(route, Route)
                               for m in sorted(route.methods or ()) if getattr(route.endpoint, "changes", False)]
    return _Guard(app, gate)  # type: ignore[return-value]


def _watched(config: Config, work: Callable[[Operation], dict[str, Any]]) -> Callable[[Operation], dict[str, Any]]:
    """Run an install/upgrade/rollback while a ticker reports the instance's release status every second, so the
    page shows progress until the instance is ready or rolled back."""
    def run(op: Operation) -> dict[str, Any]:
        from toolkit.core.instances import InstancesOptions, instances

        stop = threading.Event()

        def tick() -> None:
            last = None
            while not stop.wait(1.0):
                try:
                    found = [i for i in instances(config, InstancesOptions(namespace=op.namespace))
                             if i.name == op.instance]
                except ChartkitError:
                    continue
                status = f"revision {found[0].revision} {found[0].status}" if found else "no release yet"
                if status != last:
                    last = status
                    op.events.append({"time": time.time(), "message": status, "release": status})

        ticker = threading.Thread(target=tick, name=f"console-tick-{op.id}", daemon=True)
        ticker.start()
        try:
            return work(op)
        finally:
            stop.set()

    return run


def _step_reporter(op: Operation) -> Callable[[Any], None]:
    """A rollout's progress callback: each step's event into the operation (and the abort check between steps)."""
    def report(event: Any) -> None:
        step = event.step
        op.record(event.line(), index=event.index, total=event.total, kind=step.kind.value, step=step.describe(),
               status=event.status, stage=event.stage, weight=step.weight, seconds=step.seconds
               if step.kind.value == "pause" else event.seconds)
    return report


class _Guard:
    """The outermost layer: the Host check and the security headers on every answer."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app, self.gate = app, gate
        self.state = getattr(app, "state", None)
        self.routes = getattr(app, "routes", [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        try:
            self.gate.check_host(host)
        except Denied as exc:
            await _error(exc.status, exc.message)(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
