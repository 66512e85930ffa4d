"""The playground page at `/` (plain static files in `static/`, no CDN, no build step) and the small API it adds:
a reply's tokens and cost from the usage ledger."""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from .. import __version__
from .auth import Caller, authenticate
from .errors import APIError
from .protocol import OpenAIError
from .usage import ANONYMOUS

router = APIRouter()
STATIC = Path(__file__).with_name("static")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml", ".png": "image/png"}
# The page may talk to this server only: no other origin for scripts, styles, images, fonts or fetches, no inline
# script (the Markdown renderer builds DOM nodes, so model output cannot become markup), and no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of the page, read once: a fixed table, so no request path ever reaches the file system."""
    assets = {}
    for path in sorted(STATIC.iterdir()):
        if path.suffix in TYPES:
            body = path.read_bytes()
            assets[path.name] = Asset(body, TYPES[path.suffix], '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
    return assets


ASSETS = load_assets()


def serve(asset: Asset, request: Request, body: bytes | None = None) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}  # revalidate: upgrades show at once
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body if body is None else body, media_type=asset.media_type, headers=headers)


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


@router.get("/", tags=["Server"], responses={200: {"content": {"text/html": {}}}})
async def root(request: Request) -> Response:
    """The playground for browsers (`Accept: text/html`); for programs, who is here."""
    serving = request.app.state.serving
    if not wants_html(request):
        return JSONResponse({"name": "openk2", "version": __version__, "model": serving.model.name})
    # The page learns the server's settings from a meta tag, so it needs no request before it can render.
    config = {"model": serving.model.name, "version": __version__,
              "api_key_required": request.app.state.auth.required}
    page = ASSETS["index.html"]
    body = page.body.replace(b"{{config}}", html.escape(json.dumps(config)).encode())
    return serve(Asset(body, page.media_type, '"' + hashlib.sha256(body).hexdigest()[:16] + '"'), request)


router.head("/", include_in_schema=False)(root)  # agent front-ends probe `HEAD /` before they start


@router.get("/playground/{name}", include_in_schema=False)
async def asset(name: str, request: Request) -> Response:
    if name not in ASSETS or name == "index.html":
        raise APIError(404, f"the playground has no file {name!r}")
    return serve(ASSETS[name], request)


router.head("/playground/{name}", include_in_schema=False)(asset)


@router.get("/v1/usage/{request_id}", tags=["Usage"],
            responses={status: {"model": OpenAIError} for status in (400, 401, 404, 413, 429)})
async def request_usage(request_id: str, request: Request, caller: Caller = Depends(authenticate)) -> JSONResponse:
    """One request's row in the usage ledger (tokens, cost, latency, finish reason), for the caller's own requests:
    how the playground shows each reply's cost. The id is the response's `id` (chatcmpl-..., msg_...)."""
    rows = await run_in_threadpool(request.app.state.serving.ledger.requests, [request_id])
    mine = [r for r in rows if r.key == (caller.key or ANONYMOUS)]
    if not mine:
        raise APIError(404, f"no finished request {request_id!r} of yours in the usage ledger", "request_id")
    row = mine[0]
    return JSONResponse({"id": row.request_id, "model": row.model, "endpoint": row.endpoint,
                         "prompt_tokens": row.prompt_tokens, "cached_tokens": row.cached_tokens,
                         "completion_tokens": row.completion_tokens,
                         "total_tokens": row.prompt_tokens + row.completion_tokens, "cost": row.cost,
                         "latency": row.latency, "finish_reason": row.finish_reason,
                         "created_at": row.created_at.isoformat() + "Z"})
