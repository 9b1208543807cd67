"""The broker's HTTP surface: each OSB endpoint parses its request, calls one core operation, answers in the
spec's shape. Errors are ``{"error": CamelCase, "description": text}``; credentials appear only in a bind's
answer (and the binding Secret), never in a log line, an error or another answer.

Long operations (provision, update, deprovision) are accepted in the request (everything refusable is refused
there) and carried out on the broker's worker threads; a process that dies leaves them to the sweeper of any
other broker process (``Broker.sweep``), which takes them over once the dead one's lease has expired.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from toolkit.config import Config
from toolkit.core.credentials import BasicCredentials
from toolkit.core.offerings import OfferingsCache
from toolkit.core.provision import STATE_NAMESPACE, Holder, LeaseTiming
from toolkit.errors import (BrokerError, BusyError, CatalogError, ChartkitError, ConflictError, InputError,
                            NotFoundError, VersionConflictError)

__all__ = ["Broker", "BrokerSettings", "MIN_API_VERSION", "create_app"]

log = logging.getLogger(__name__)

MIN_API_VERSION = (2, 13)
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)\s*$")


@dataclass(frozen=True, kw_only=True)
class BrokerSettings:
    """How one broker process serves: who may call it, where it keeps records, how many operations run at once."""

    credentials: BasicCredentials | None = None   # None: no authentication (only on loopback, for development)
    state_namespace: str = STATE_NAMESPACE
    workers: int = 8
    timing: LeaseTiming = field(default_factory=LeaseTiming)
    catalog_ttl: float = 30.0
    instances_namespace: str | None = None        # place every instance here instead of a namespace of its own


class Broker:
    """One broker process: the configuration, its holder lease, the operation workers and the sweeper."""

    def __init__(self, config: Config, settings: BrokerSettings) -> None:
        self.config, self.settings = config, settings
        self.offerings = OfferingsCache(config, settings.catalog_ttl)
        self.holder = Holder(config.kube(), settings.state_namespace, role="broker", timing=settings.timing)
        self.pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="osb-op")
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def start(self) -> None:
        self.holder.start()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="osb-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        self.pool.shutdown(wait=True, cancel_futures=False)
        self.holder.stop()

    def run(self, instance_id: str, operation_id: str) -> None:
        """Carry out an accepted operation on a worker thread."""
        from toolkit.core.provision import execute

        def work() -> None:
            try:
                execute(self.config, instance_id, operation_id, holder=self.holder.identity,
                        state_namespace=self.settings.state_namespace)
            except Exception:  # noqa: BLE001 - a worker must never die silently
                log.exception("operation %s of %s failed to run", operation_id, instance_id)

        self.pool.submit(work)

    def adopt(self, instance_id: str) -> bool:
        """Take over an orphaned operation of this instance and carry it on; True when this process took it."""
        from toolkit.core.provision import take_over

        op = take_over(self.config, instance_id, holder=self.holder.identity,
                       state_namespace=self.settings.state_namespace)
        if op is None:
            return False
        self.run(instance_id, op.id)
        return True

    def sweep(self) -> int:
        """Take over every orphaned operation; returns how many this process took."""
        from toolkit.core.provision import orphans

        return sum(self.adopt(rec.id) for rec in orphans(self.config, state_namespace=self.settings.state_namespace))

    def _sweep_loop(self) -> None:
        from toolkit.core.provision import forget_deprovisioned

        rounds = 0
        while not self._stop.wait(self.settings.timing.renew):
            rounds += 1
            try:
                self.sweep()
                if rounds % 60 == 0:  # now and then: deprovisioned instances are remembered for an hour
                    forget_deprovisioned(self.config, state_namespace=self.settings.state_namespace)
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("sweep failed: %s", exc)


# -- answers ----------------------------------------------------------------------------------------------------

def _error(status: int, error: str | None, description: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"description": description or error or "error"}
    if error:
        body["error"] = error
    body.update(extra)
    return JSONResponse(body, status_code=status)


def _of(exc: ChartkitError, *, missing: int = 400) -> JSONResponse:
    """The spec's answer for one of our errors (``missing``: the status an unknown resource gets here)."""
    text = exc.message if not exc.hint else f"{exc.message} ({exc.hint})"
    if isinstance(exc, VersionConflictError):
        return _error(422, "MaintenanceInfoConflict", text)
    if isinstance(exc, NotFoundError):
        return _error(410 if exc.gone and missing in (404, 410) else missing, "NotFound" if missing != 410 else "Gone",
                      text)
    if isinstance(exc, (InputError, CatalogError)):
        return _error(400, "BadRequest", text)
    if isinstance(exc, ConflictError):
        return _error(409, "Conflict", text)
    if isinstance(exc, BusyError):
        return _error(422, "ConcurrencyError", text)
    if isinstance(exc, BrokerError):
        return _error(502, "UpstreamBroker", text)
    log.error("request failed: %s", text)
    return _error(500, "InternalError", text)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise InputError("unable to read the request: the body is not JSON") from None
    if not isinstance(data, dict):
        raise InputError("unable to read the request: the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, *, required: bool = False) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise InputError(f'unable to read the request: "{name}" is required')
        return None
    if not isinstance(value, kind) or (kind is str and not value):
        raise InputError(f'unable to read the request: "{name}" must be a {"non-empty string" if kind is str else "JSON object"}')
    return value


def _async(request: Request) -> bool:
    return request.query_params.get("accepts_incomplete", "").lower() == "true"


def _query(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InputError(f'unable to read the request: query parameter "{name}" is required')
    return value


ASYNC_REQUIRED = "This service plan requires client support for asynchronous service operations."


def create_app(broker: Broker) -> Starlette:
    """The ASGI application over one Broker."""
    from toolkit.core.bind import (ServiceBindOptions, bind_service, credentials_of, service_binding,
                                   unbind_service)
    from toolkit.core.provision import (InstanceRef, ProvisionOptions, UpdateOptions, deprovision, fetch,
                                        last_operation, provision, rotate_binding, update)

    config, settings = broker.config, broker.settings
    holder = broker.holder.identity
    state_ns = settings.state_namespace

    def ref(instance_id: str, operation: str | None = None) -> InstanceRef:
        return InstanceRef(instance_id=instance_id, operation=operation, state_namespace=state_ns)

    async def catalog(request: Request) -> Response:
        items = await run_in_threadpool(broker.offerings.get)
        return JSONResponse({"services": [o.to_osb() for o in items]})

    async def put_instance(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        data = await _body(request)
        maintenance = _field(data, "maintenance_info", dict)
        options = ProvisionOptions(
            service=_field(data, "service_id", str, required=True), plan=_field(data, "plan_id", str, required=True),
            instance_id=instance_id, parameters=_field(data, "parameters", dict) or {},
            context=_field(data, "context", dict) or {}, version=(maintenance or {}).get("version"),
            identity=request.headers.get("x-broker-api-originating-identity", ""),
            namespace=settings.instances_namespace, state_namespace=state_ns)
        accepted = await run_in_threadpool(provision, config, options, holder=holder, offerings=broker.offerings,
                                           dry_run=not _async(request))
        if accepted.existed:
            return JSONResponse({}, status_code=200)
        if not _async(request):
            return _error(422, "AsyncRequired", ASYNC_REQUIRED)
        assert accepted.operation is not None
        if accepted.started:
            broker.run(instance_id, accepted.operation.id)
        return JSONResponse({"operation": accepted.operation.id}, status_code=202)

    async def patch_instance(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        data = await _body(request)
        maintenance = _field(data, "maintenance_info", dict)
        parameters = _field(data, "parameters", dict)
        options = UpdateOptions(ref=ref(instance_id), service=_field(data, "service_id", str, required=True),
                                plan=_field(data, "plan_id", str), parameters=parameters,
                                version=(maintenance or {}).get("version"), context=_field(data, "context", dict) or {},
                                identity=request.headers.get("x-broker-api-originating-identity", ""))
        accepted = await run_in_threadpool(update, config, options, holder=holder, offerings=broker.offerings,
                                           dry_run=not _async(request))
        if accepted.needs_operation:
            return _error(422, "AsyncRequired", ASYNC_REQUIRED)
        if accepted.operation is None:
            return JSONResponse({}, status_code=200)
        if not _async(request):
            return _error(422, "AsyncRequired", ASYNC_REQUIRED)
        if accepted.started:
            broker.run(instance_id, accepted.operation.id)
        return JSONResponse({"operation": accepted.operation.id}, status_code=202)

    async def delete_instance(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        _query(request, "service_id")
        _query(request, "plan_id")
        try:
            accepted = await run_in_threadpool(deprovision, config, ref(instance_id), holder=holder,
                                               dry_run=not _async(request))
        except NotFoundError as exc:
            return _error(410, "Gone", exc.message)
        if not _async(request):
            return _error(422, "AsyncRequired", ASYNC_REQUIRED)
        assert accepted.operation is not None
        if accepted.started:
            broker.run(instance_id, accepted.operation.id)
        return JSONResponse({"operation": accepted.operation.id}, status_code=202)

    async def get_instance(request: Request) -> Response:
        try:
            rec = await run_in_threadpool(fetch, config, ref(request.path_params["instance_id"]))
        except NotFoundError as exc:
            return _error(404, "NotFound", exc.message)
        # parameters are left out: they may hold credentials the provisioner chose (the spec allows it)
        return JSONResponse({"service_id": rec.service_id, "plan_id": rec.plan_id,
                             "maintenance_info": {"version": rec.version},
                             "metadata": {"labels": {"chartkit.io/release": rec.release,
                                                     "chartkit.io/namespace": rec.namespace,
                                                     "chartkit.io/type": rec.type, "chartkit.io/plan": rec.plan}}})

    async def instance_last_operation(request: Request) -> Response:
        instance_id = request.path_params["instance_id"]
        try:
            last = await run_in_threadpool(last_operation, config,
                                           ref(instance_id, request.query_params.get("operation") or None))
        except NotFoundError as exc:
            return _error(410 if exc.gone else 404, "Gone" if exc.gone else "NotFound", exc.message)
        body = last.to_osb()
        if last.orphaned and await run_in_threadpool(broker.adopt, instance_id):
            body["description"] = f"{last.operation.kind.value} taken over by this broker (its runner stopped)"
        headers = {"Retry-After": "2"} if body["state"] == "in progress" else {}
        return JSONResponse(body, headers=headers)

    def bind_ref(request: Request) -> tuple[str, str]:
        return request.path_params["instance_id"], request.path_params["binding_id"]

    async def put_binding(request: Request) -> Response:
        instance_id, binding_id = bind_ref(request)
        data = await _body(request)
        options = ServiceBindOptions(
            instance_id=instance_id, binding_id=binding_id, service_id=_field(data, "service_id", str, required=True),
            plan_id=_field(data, "plan_id", str, required=True), parameters=_field(data, "parameters", dict) or {},
            bind_resource=_field(data, "bind_resource", dict) or {}, context=_field(data, "context", dict) or {},
            state_namespace=state_ns)
        predecessor = _field(data, "predecessor_binding_id", str)
        if predecessor:
            made = await run_in_threadpool(rotate_binding, config, options, predecessor, holder=holder,
                                           offerings=broker.offerings)
        else:
            made = await run_in_threadpool(bind_service, config, options)
        credentials = await run_in_threadpool(credentials_of, config, made.record.secret_name,
                                              made.record.secret_namespace)
        return JSONResponse({"credentials": credentials}, status_code=201 if made.created else 200)

    async def get_binding(request: Request) -> Response:
        instance_id, binding_id = bind_ref(request)
        try:
            record = await run_in_threadpool(service_binding, config, instance_id, binding_id,
                                             state_namespace=state_ns)
        except NotFoundError as exc:
            return _error(404, "NotFound", exc.message)
        # credentials are handed out once, in the bind answer (the spec allows it for synchronous bindings): a
        # fetch says where they live instead
        return JSONResponse({"parameters": dict(record.parameters),
                             "metadata": {"labels": {"chartkit.io/secret": record.secret_name,
                                                     "chartkit.io/namespace": record.secret_namespace}}})

    async def delete_binding(request: Request) -> Response:
        instance_id, binding_id = bind_ref(request)
        _query(request, "service_id")
        _query(request, "plan_id")
        try:
            await run_in_threadpool(unbind_service, config, instance_id, binding_id, state_namespace=state_ns)
        except NotFoundError as exc:
            return _error(410, "Gone", exc.message)
        return JSONResponse({}, status_code=200)

    async def binding_last_operation(request: Request) -> Response:
        instance_id, binding_id = bind_ref(request)
        try:
            await run_in_threadpool(service_binding, config, instance_id, binding_id, state_namespace=state_ns)
        except NotFoundError as exc:
            return _error(404, "NotFound", exc.message)
        if request.query_params.get("operation"):
            return _error(400, "BadRequest", "bindings are made synchronously: there is no such operation")
        return JSONResponse({"state": "succeeded", "description": "bound"})

    def guarded(handler: Callable[[Request], Awaitable[Response]], *, missing: int = 400) -> Callable:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except ChartkitError as exc:
                return _of(exc, missing=missing)
        return endpoint

    instance = "/v2/service_instances/{instance_id}"
    binding = instance + "/service_bindings/{binding_id}"
    routes = [
        Route("/v2/catalog", guarded(catalog), methods=["GET"]),
        Route(instance, guarded(put_instance), methods=["PUT"]),
        Route(instance, guarded(patch_instance), methods=["PATCH"]),
        Route(instance, guarded(delete_instance, missing=410), methods=["DELETE"]),
        Route(instance, guarded(get_instance, missing=404), methods=["GET"]),
        Route(instance + "/last_operation", guarded(instance_last_operation, missing=404), methods=["GET"]),
        Route(binding, guarded(put_binding), methods=["PUT"]),
        Route(binding, guarded(get_binding, missing=404), methods=["GET"]),
        Route(binding, guarded(delete_binding, missing=410), methods=["DELETE"]),
        Route(binding + "/last_operation", guarded(binding_last_operation, missing=404), methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_Guard, credentials=settings.credentials)  # type: ignore[arg-type]
    return app


class _Guard:
    """Every request: basic auth (401), then ``X-Broker-API-Version`` ≥ 2.13 (412); echoes the request identity."""

    def __init__(self, app: Any, credentials: BasicCredentials | None) -> None:
        self.app, self.credentials = app, credentials

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        refusal = self._refusal(headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        identity = headers.get("x-broker-api-request-identity")

        async def send_with_identity(message: dict) -> None:
            if identity and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-broker-api-request-identity", identity.encode("latin-1"))]}
            await send(message)

        await self.app(scope, receive, send_with_identity)

    def _refusal(self, headers: dict[str, str]) -> Response | None:
        if self.credentials is not None:
            scheme, _, token = headers.get("authorization", "").partition(" ")
            try:
                user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            if scheme.lower() != "basic" or not self.credentials.matches(user, password):
                response = _error(401, "Unauthorized", "unable to authenticate: basic credentials required")
                response.headers["WWW-Authenticate"] = 'Basic realm="chartkit broker"'
                return response
        match = _VERSION.match(headers.get("x-broker-api-version", ""))
        if match is None or (int(match.group(1)), int(match.group(2))) < MIN_API_VERSION or int(match.group(1)) != 2:
            given = headers.get("x-broker-api-version") or "none"
            return _error(412, "PreconditionFailed", f"unable to serve X-Broker-API-Version {given}: this broker "
                          f"speaks Open Service Broker API 2.{MIN_API_VERSION[1]} to 2.17")
        return None
