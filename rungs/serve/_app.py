"""The assistant behind an OpenAI-compatible HTTP API, and a chat page for staff at `/` (`rungs serve`).

Endpoints: `POST /v1/chat/completions` (plain JSON, or Server-Sent Events with `"stream": true`, in
OpenAI's chunk format), `GET /v1/models`, `GET /health`, `GET /` (the chat page, rungs/serve/static/).

- Binds 127.0.0.1 unless told otherwise; with an API key (`--api-key` or `$RUNGS_API_KEY`) every /v1
  call needs `Authorization: Bearer KEY` (401 otherwise).
- Requests are checked against Pydantic models of OpenAI's schema (rungs/serve/_schema.py) before any
  work: a body over `max_request_bytes` gets 413, malformed JSON (or JSON nested too deep), a field of
  the wrong type or out of range, a text that is not valid Unicode, `max_tokens` above the server's
  limit or a malformed conversation get 400, an unknown model 404, and any other path or method
  404/405: every error in OpenAI's shape (`{"error": {message, type, param, code}}`), never a 500 for
  anything a client sends. The OpenAPI schema is at `/openapi.json`.
- One model, one generation at a time: requests wait in line for it; more than `max_queue` requests
  waiting or generating get 503 with Retry-After instead of piling up. Red flags and don't-know replies
  never wait: they do not use the model.
- Every answer carries its sources: a `citations` list on the completion (and on the last stream chunk),
  and, unless the request says `"sources_footer": false`, the numbered titles at the end of the text.
- Conversation text is never logged: the access log has method, path (without its query string, where
  a client may have put a key) and status only, and errors are logged by type, never with their message
  or the request.
"""

# no `from __future__ import annotations`: FastAPI reads the handlers' annotations (Request) at runtime,
# and Request is imported inside create_app so that `rungs --help` does not load FastAPI.

import asyncio
import hmac
import ipaddress
import json
import logging
import sys
import threading
import time
import uuid
from importlib import resources
from typing import Any

from rungs.assistant import MODEL_ID, Assistant, Reply

log = logging.getLogger("rungs.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_REQUEST_BYTES = 64 * 1024  # a long conversation is a few KB; 64 KB leaves room without inviting abuse
MAX_QUEUE = 8  # at ~10 s per CPU answer, the 8th in line waits over a minute: beyond that, say busy


class APIError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _static(name: str) -> bytes:
    return resources.files("rungs.serve").joinpath("static", name).read_bytes()


def parse_request(body: Any, max_tokens_limit: int) -> dict:
    """A chat completion request, checked: what reply() needs, or an APIError saying what is wrong."""
    from ._schema import validate_request

    try:
        req = validate_request(body)
    except ValueError as exc:
        message, param = exc.args
        raise APIError(400, message, param=param) from None
    max_tokens, param = req.max_completion_tokens, "max_completion_tokens"
    if max_tokens is None:
        max_tokens, param = req.max_tokens, "max_tokens"
    if max_tokens is not None and max_tokens > max_tokens_limit:
        raise APIError(400, f"'{param}' must be between 1 and {max_tokens_limit}; this server allows at most {max_tokens_limit}",
                       param=param, code="max_tokens_exceeded")
    messages = [{"role": m.role, "content": m.content if not isinstance(m.content, list) else
                 [{"type": "text", "text": part.text} for part in m.content]} for m in req.messages]
    return {"messages": messages, "model": req.model, "stream": req.stream, "max_tokens": max_tokens,
            "temperature": req.temperature,
            "include_usage": bool(req.stream_options and req.stream_options.include_usage),
            "sources_footer": req.sources_footer}


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise APIError(400, "the request body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError):
        raise APIError(400, "the request body is not valid JSON") from None


class DropQuery(logging.Filter):
    """Access-log filter: the path without its query string (a client may put a key or text there)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def log_config() -> dict:
    """uvicorn's logging configuration with `DropQuery` on the access log."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["drop_query"] = {"()": DropQuery}
    config["handlers"]["access"]["filters"] = ["drop_query"]
    return config


class _Pump:
    """Runs a Reply in its own thread and hands its pieces to the event loop; stop() ends it early."""

    def __init__(self, reply: Reply, loop: asyncio.AbstractEventLoop):
        self.reply = reply
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rungs-reply", daemon=True)
        self.thread.start()

    def _put(self, item) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _run(self) -> None:
        try:
            for piece in self.reply:
                self._put(("piece", piece))
                if self.stopped.is_set():
                    break
        except Exception as exc:  # noqa: BLE001  (handed to the request, which answers with an error)
            self._put(("error", exc))
        finally:
            self.reply.close()  # same thread as the iteration: releases the model at once
            self._put(("end", None))

    def stop(self) -> None:
        self.stopped.set()
        self.reply.cancel()

    async def pieces(self):
        while True:
            kind, value = await self.queue.get()
            if kind == "piece":
                yield value
            elif kind == "error":
                raise value
            else:
                return


def create_app(assistant: Assistant, *, api_key: str | None = None, max_request_bytes: int = MAX_REQUEST_BYTES,
               max_tokens: int | None = None, max_queue: int = MAX_QUEUE):
    """The FastAPI application serving `assistant`."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    from ._schema import validation_message

    max_tokens_limit = int(max_tokens or assistant.prompt.max_new_tokens)
    app = FastAPI(title="rungs assistant", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    state = {"active": 0}
    created = int(time.time())
    names = {MODEL_ID, assistant.refs.model.ref, assistant.refs.model.id}
    if assistant.refs.adapter is not None:
        names |= {assistant.refs.adapter.ref, assistant.refs.adapter.id}

    @app.exception_handler(APIError)
    async def _api_error(request, exc: APIError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request, exc: HTTPException):  # an unknown path (404), a wrong method (405)
        what = {404: ("not found: no such endpoint", "not_found"), 405: ("method not allowed", "method_not_allowed")}
        message, code = what.get(exc.status_code, (str(exc.detail), None))
        headers = dict(exc.headers or {})
        return JSONResponse(APIError(exc.status_code, message, code=code).body(), status_code=exc.status_code,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, exc: RequestValidationError):
        message, param = validation_message(list(exc.errors()))
        return JSONResponse(APIError(400, message, param=param).body(), status_code=400)

    @app.exception_handler(Exception)
    async def _server_error(request, exc: Exception):  # a bug, never the client's input: logged by type only
        log.error("request failed: %s", type(exc).__name__)
        return JSONResponse(APIError(500, "internal error", type_="server_error").body(), status_code=500)

    def _check_key(request: Request) -> None:
        if not api_key:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
            raise APIError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", code="invalid_api_key",
                           headers={"WWW-Authenticate": "Bearer"})

    async def _read_body(request: Request) -> Any:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_request_bytes:
            raise APIError(413, f"request body of {length} bytes is over this server's limit of {max_request_bytes}",
                           code="request_too_large")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_request_bytes:
                raise APIError(413, f"request body is over this server's limit of {max_request_bytes} bytes",
                               code="request_too_large")
            chunks.append(chunk)
        return _parse_json(b"".join(chunks))

    def _model_card() -> dict:
        return {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "rungs", "rungs": assistant.describe()}

    @app.get("/", include_in_schema=False)
    async def page():
        return Response(_static("index.html"), media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": MODEL_ID, **assistant.refs.describe(), "busy": assistant.lock.locked(),
                "in_line": state["active"], "max_queue": max_queue, "auth": bool(api_key)}

    @app.get("/v1/models")
    async def models(request: Request):
        _check_key(request)
        return {"object": "list", "data": [_model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str, request: Request):
        _check_key(request)
        if model_id not in names:
            raise APIError(404, f"model {model_id!r} is not served here; use {MODEL_ID!r}", code="model_not_found", param="model")
        return _model_card()

    @app.post("/v1/chat/completions", openapi_extra=_completion_openapi())
    async def chat_completions(request: Request):
        _check_key(request)
        req = parse_request(await _read_body(request), max_tokens_limit)
        if req["model"] is not None and req["model"] not in names:
            raise APIError(404, f"model {req['model']!r} is not served here; use {MODEL_ID!r}", code="model_not_found",
                           param="model")
        try:
            reply = await run_in_threadpool(
                assistant.reply, req["messages"], max_new_tokens=req["max_tokens"], temperature=req["temperature"],
                sources_footer=req["sources_footer"],
            )
        except ValueError as exc:  # a malformed conversation; the message names no user text
            raise APIError(400, str(exc), param="messages") from None
        except Exception as exc:  # noqa: BLE001  (a failure before generation: a server error, said in OpenAI's shape)
            log.error("preparing the answer failed: %s", type(exc).__name__)
            raise APIError(500, "the answer could not be prepared", type_="server_error") from None
        uses_model = reply.kind == "answer"
        if uses_model and state["active"] >= max_queue:
            raise APIError(503, f"busy: {state['active']} requests are already waiting for the model; retry shortly",
                           type_="server_error", code="queue_full", headers={"Retry-After": "10"})
        state["active"] += uses_model
        try:
            pump = _Pump(reply, asyncio.get_running_loop())
        except BaseException:
            state["active"] -= uses_model
            raise
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        now = int(time.time())
        extra = {"citations": [c.to_dict() for c in reply.citations],
                 "rungs": {"kind": reply.kind, "red_flag": reply.red_flag, **assistant.refs.describe()}}

        def usage() -> dict:
            return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens}

        def chunk(delta: dict, finish: str | None = None, **more) -> str:
            body = {"id": cid, "object": "chat.completion.chunk", "created": now, "model": MODEL_ID,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **more}
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        if not req["stream"]:
            try:
                text = "".join([piece async for piece in pump.pieces()])
            except Exception as exc:  # noqa: BLE001  (any failure is a 500 without its message)
                log.error("generation failed: %s", type(exc).__name__)
                raise APIError(500, "the answer could not be generated", type_="server_error") from None
            finally:
                pump.stop()
                state["active"] -= uses_model
            return {
                "id": cid, "object": "chat.completion", "created": now, "model": MODEL_ID,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "logprobs": None, "finish_reason": reply.finish_reason}],
                "usage": usage(), **extra,
            }

        async def events():
            try:
                yield chunk({"role": "assistant", "content": ""})
                try:
                    async for piece in pump.pieces():
                        yield chunk({"content": piece})
                except Exception as exc:  # noqa: BLE001  (the stream has started: report in-band)
                    log.error("generation failed: %s", type(exc).__name__)
                    error = APIError(500, "the answer could not be generated", type_="server_error")
                    yield f"data: {json.dumps(error.body())}\n\n"
                    return
                yield chunk({}, reply.finish_reason, **extra)
                if req["include_usage"]:
                    body = {"id": cid, "object": "chat.completion.chunk", "created": now, "model": MODEL_ID,
                            "choices": [], "usage": usage()}
                    yield f"data: {json.dumps(body)}\n\n"
                yield "data: [DONE]\n\n"
            finally:  # also when the client goes away mid-answer: the model stops at its next token
                pump.stop()
                state["active"] -= uses_model

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    _document(app)
    return app


def _completion_openapi() -> dict:
    """The request body and error responses of /v1/chat/completions, for the OpenAPI schema (the handler
    reads the body itself, to enforce the size limit before parsing)."""
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    return {
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}}},
        "responses": {str(code): {"description": why, **error} for code, why in (
            (400, "invalid request"), (401, "missing or wrong API key"), (404, "unknown model"),
            (413, "request body too large"), (503, "busy: too many requests waiting"))},
    }


def _document(app) -> None:
    """Put the Pydantic models' schemas where the OpenAPI document's references point, and the API key scheme."""
    from fastapi.openapi.utils import get_openapi

    from ._schema import ChatCompletionRequest, ErrorBody

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description="rungs' assistant behind OpenAI's chat completions API")
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ChatCompletionRequest, ErrorBody):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(body.pop("$defs", {}))
            schemas[model.__name__] = body
        schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        for path, ops in schema["paths"].items():
            if path.startswith("/v1/"):
                for op in ops.values():
                    op["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


# ------------------------------------------------------------------------------------------ serving


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """What to tell the operator before serving on a non-loopback address without an API key."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback or api_key:
        return None
    return (f"serving on {host} without an API key: anyone who can reach it can use the assistant "
            "(set --api-key or $RUNGS_API_KEY)")


def run_server(assistant: Assistant, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, api_key: str | None = None,
               max_request_bytes: int = MAX_REQUEST_BYTES, max_tokens: int | None = None, max_queue: int = MAX_QUEUE,
               log_level: str = "info") -> None:
    """Serve `assistant` until interrupted (uvicorn)."""
    import uvicorn

    app = create_app(assistant, api_key=api_key, max_request_bytes=max_request_bytes, max_tokens=max_tokens,
                     max_queue=max_queue)
    print(f"rungs serve — {assistant.refs.summary()} on http://{host}:{port}/ "
          f"(API at /v1, {'API key required' if api_key else 'no API key'})", file=sys.stderr, flush=True)
    # the access log records method, path (no query string) and status: never a body, so never conversation text
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=True, timeout_graceful_shutdown=5,
                log_config=log_config())
