"""The HTTP API of the placement service (FastAPI; OpenAPI at ``/docs``), versioned under ``/v1``.

- ``POST /v1/workflows``: submit a workflow (a workflow of a workload file); the answer places
  the tasks ready at its arrival.
- ``POST /v1/events``: report task starts and finishes; the answer places the tasks they made ready.
- ``GET /v1/workflows/{id}``, ``GET /v1/metrics``, ``GET /v1/info``, ``GET /v1/health``.

Bodies are parsed here, not by pydantic, so that a workflow is checked exactly as a workload
file is (JSON Schema, then the workflow's own checks). A bad request gets a 4xx with a JSON body
``{"error": code, "message": one line naming the field or id, "where": ...}``.

The two endpoints a runtime calls for every decision (``POST /v1/workflows`` and ``POST
/v1/events``) are answered by :class:`FastPath`, plain ASGI in front of FastAPI's routing and
response classes (about 0.2 ms of a ~1 ms loopback request); FastAPI keeps their documentation
and serves every other path.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from scale_pl.io.schema import load_schema
from scale_pl.serve.errors import RequestError
from scale_pl.serve.events import EVENTS_SCHEMA
from scale_pl.serve.service import Service

MAX_BODY = 1 << 20  # bytes; a workflow of thousands of tasks fits well within it
PUBLIC = ("/v1/health",)  # the only path that needs no token


class BodyTooLarge(Exception):
    pass


class Guard:
    """ASGI middleware: the bearer token (every path but health) and the request size limit.

    Args:
        app: the wrapped application.
        token: the token every request must carry as ``Authorization: Bearer <token>``; None: open.
        max_body: the largest request body in bytes (413 beyond).
    """

    def __init__(self, app, token: str | None, max_body: int) -> None:
        self.app, self.max_body = app, max_body
        self.expected = f"Bearer {token}".encode() if token else None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.expected is not None and scope["path"] not in PUBLIC:
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                error = RequestError(401, "unauthorized", "missing or wrong 'Authorization: Bearer <token>' header")
                response = JSONResponse(error.body(), 401, headers={"WWW-Authenticate": "Bearer"})
                return await response(scope, receive, send)
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return await _too_large(self.max_body)(scope, receive, send)
        seen = 0

        async def limited_receive():  # a body sent without Content-Length (chunked) is counted as it comes
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise BodyTooLarge
            return message

        return await self.app(scope, limited_receive, send)


class FastPath:
    """ASGI middleware: answers ``POST /v1/workflows`` and ``POST /v1/events`` straight from the
    service, with the same bodies, status codes and headers as the FastAPI routes below.

    Args:
        app: the wrapped application (everything else).
        service: the service the requests go to.
        max_body: the request size limit, for the 413 of a body that grows past it while read.
    """

    PATHS: ClassVar[dict[str, str]] = {"/v1/workflows": "submit", "/v1/events": "events"}

    def __init__(self, app, service: Service, max_body: int) -> None:
        self.app, self.service, self.max_body = app, service, max_body

    async def __call__(self, scope, receive, send) -> None:
        kind = self.PATHS.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if kind is None:
            return await self.app(scope, receive, send)
        headers = {}
        try:
            body = parse_json(await _body(receive))
            key = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"idempotency-key"), None)
            response, repeat = self.service.handle(kind, body, key)
            status = 200
            if repeat:
                headers["Idempotent-Replayed"] = "true"
        except RequestError as exc:
            status, response = exc.status, exc.body()
        except BodyTooLarge:
            status, response = 413, _too_large_body(self.max_body)
        await JSONResponse(response, status, headers=headers)(scope, receive, send)


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large_body(limit: int) -> dict[str, Any]:
    return RequestError(413, "too_large", f"request body over the limit of {limit} bytes").body()


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(_too_large_body(limit), 413)


async def read_json(request: Request) -> Any:
    """The JSON body of ``request``; 400 for malformed JSON (NaN and Infinity included)."""
    return parse_json(await request.body())


def parse_json(raw: bytes) -> Any:
    """A request body's JSON; 400 for malformed JSON (NaN and Infinity included)."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise RequestError(400, "malformed_json", f"body: malformed JSON{where} ({message})", "body") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """A schema with its ``#/$defs/...`` references replaced by the definitions (for OpenAPI)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$schema"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _body_doc(schema: dict[str, Any], summary: str) -> dict[str, Any]:
    return {
        "requestBody": {"required": True, "description": summary, "content": {"application/json": {"schema": schema}}}
    }


def create_app(service: Service, token: str | None = None, max_body: int = MAX_BODY) -> FastAPI:
    """The ASGI application over ``service``."""
    app = FastAPI(
        title="scale_pl placement service",
        version="1",
        description="Online placement of agentic LLM workflow tasks on a heterogeneous cluster. See docs/serve.md.",
    )
    workload = load_schema("workload")
    workflow_schema = _inline(workload["$defs"]["workflow"], workload["$defs"])
    placements = {"placements": "decided in order", "clock": "the service clock after the request"}

    @app.exception_handler(RequestError)
    async def request_error(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        return _too_large(max_body)

    def answer(response: dict[str, Any], repeat: bool) -> JSONResponse:
        return JSONResponse(response, headers={"Idempotent-Replayed": "true"} if repeat else None)

    # The two POST routes document the API; FastPath answers them before FastAPI's routing.
    @app.post(
        "/v1/workflows",
        summary="Submit a workflow; returns the placements of the tasks ready at its arrival",
        openapi_extra=_body_doc(workflow_schema, "a workflow as in a workload file; arrival = its timestamp"),
        responses={200: {"description": str(placements)}},
    )
    async def submit(request: Request) -> JSONResponse:
        body = await read_json(request)
        return answer(*service.handle("submit", body, request.headers.get("idempotency-key")))

    @app.post(
        "/v1/events",
        summary="Report task starts and finishes (time order); returns the placements of the tasks they made ready",
        openapi_extra=_body_doc(EVENTS_SCHEMA, "events in time order; all events of one timestamp in one request"),
        responses={200: {"description": str(placements)}},
    )
    async def events(request: Request) -> JSONResponse:
        body = await read_json(request)
        return answer(*service.handle("events", body, request.headers.get("idempotency-key")))

    @app.get("/v1/workflows/{workflow_id}", summary="A workflow's state: each task's state, server and times")
    async def workflow(workflow_id: str) -> JSONResponse:
        return JSONResponse(service.workflow(workflow_id))

    @app.get("/v1/metrics", summary="Decisions, completed workflows and their ART, latency percentiles")
    async def metrics() -> JSONResponse:
        return JSONResponse(service.metrics())

    @app.get("/v1/info", summary="The servers, the catalogue and the policy")
    async def info() -> JSONResponse:
        return JSONResponse(service.info)

    @app.get("/v1/health", summary="Liveness (no token needed)")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app.add_middleware(FastPath, service=service, max_body=max_body)
    app.add_middleware(Guard, token=token, max_body=max_body)  # added last: the outermost, it runs first
    return app
