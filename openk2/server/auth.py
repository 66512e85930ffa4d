"""API keys (stored as SHA-256 hashes), checked from the headers before a request's body is read, and per-key
requests- and tokens-per-minute limits."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone

import anyio.to_thread
from fastapi import Request
from sqlalchemy import DateTime, Engine, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from starlette.types import ASGIApp, Receive, Scope, Send

from .db import Base
from .errors import APIError

KEY_PREFIX = "sk-openk2-"
WINDOW_SECONDS = 60.0


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # A key is 256 random bits, so a fast hash is enough: there is nothing to brute-force.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(32))  # the key's first characters, to tell keys apart in listings
    requests_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: the server's default
    tokens_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


@dataclass
class Caller:
    """Who sent a request: an API key's name (None: anonymous) and its per-minute limits (0: none)."""

    key: str | None = None
    requests_per_minute: int = 0
    tokens_per_minute: int = 0


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        Base.metadata.create_all(engine, tables=[ApiKey.__table__])

    def create(self, name: str, requests_per_minute: int | None = None, tokens_per_minute: int | None = None) -> str:
        """Store a new key and return it: the only time the key itself is seen."""
        if not name.strip():
            raise ValueError("a key needs a name")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
                raise ValueError(f"a key named {name!r} already exists")
            session.add(ApiKey(name=name, key_hash=hash_key(key), hint=key[: len(KEY_PREFIX) + 4],
                               requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute,
                               created_at=datetime.now(timezone.utc).replace(tzinfo=None)))
            session.commit()
        return key

    def list(self) -> list[ApiKey]:
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def revoke(self, name: str) -> None:
        with Session(self.engine) as session:
            row = session.scalar(select(ApiKey).where(ApiKey.name == name))
            if row is None:
                raise ValueError(f"no key named {name!r}")
            if row.revoked_at is None:
                row.revoked_at = datetime.now(timezone.utc).replace(tzinfo=None)
                session.commit()

    def lookup(self, key: str) -> ApiKey | None:
        """The key row for a presented key (revoked ones too: check revoked_at); None if unknown."""
        with Session(self.engine, expire_on_commit=False) as session:
            return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))


@dataclass(eq=False)
class Reservation:
    """Tokens held against a key's per-minute limit from admission until the request settles its real count."""

    key: str
    at: float
    tokens: int


class RateLimiter:
    """Sliding one-minute windows per key: requests when they arrive, tokens reserved when a request is admitted
    (its prompt plus max_tokens for every choice: what it may use) and settled to what it used when it ends. A limit
    caps usage before the work is done, rather than counting it afterwards.

    In-memory, so each server of a fleet enforces its own share.
    """

    def __init__(self):
        self.requests: dict[str, deque[float]] = {}
        self.tokens: dict[str, deque[Reservation]] = {}
        self.lock = threading.Lock()  # requests are admitted from worker threads

    def admit(self, caller: Caller, now: float | None = None) -> None:
        """Count a request against its key, or raise 429 with the seconds until it would fit."""
        if caller.key is None or not caller.requests_per_minute:
            return
        now = time.monotonic() if now is None else now
        with self.lock:
            requests = self.requests.setdefault(caller.key, deque())
            while requests and requests[0] <= now - WINDOW_SECONDS:
                requests.popleft()
            if len(requests) >= caller.requests_per_minute:
                raise _limited(f"{caller.requests_per_minute} requests per minute", requests[0] + WINDOW_SECONDS - now)
            requests.append(now)

    def reserve(self, caller: Caller, tokens: int, now: float | None = None) -> Reservation | None:
        """Hold `tokens` (the most the request may use) against the key's tokens per minute: 429 with the wait
        until they fit, or 400 if they never could. None when the caller has no token limit."""
        if caller.key is None or not caller.tokens_per_minute:
            return None
        limit = caller.tokens_per_minute
        if tokens > limit:
            raise APIError(400, f"this request may use {tokens} tokens (its prompts, plus max_tokens for each of its "
                                f"choices), more than this key's limit of {limit} tokens per minute: lower max_tokens "
                                "or n, or send fewer prompts", "max_tokens", "rate_limit_exceeded")
        now = time.monotonic() if now is None else now
        with self.lock:
            window = self.tokens.setdefault(caller.key, deque())
            while window and window[0].at <= now - WINDOW_SECONDS:
                window.popleft()
            used = sum(r.tokens for r in window)
            if used + tokens > limit:
                # Wait until enough of the window's tokens have aged out for these to fit.
                freed, wait = used, 0.0
                for r in window:
                    freed -= r.tokens
                    wait = r.at + WINDOW_SECONDS - now
                    if freed + tokens <= limit:
                        break
                raise _limited(f"{limit} tokens per minute", wait)
            reservation = Reservation(caller.key, now, tokens)
            window.append(reservation)
            return reservation

    def settle(self, reservation: Reservation | None, tokens: int) -> None:
        """The request is over: it used `tokens`, at most what it reserved."""
        if reservation is not None:
            with self.lock:
                reservation.tokens = tokens


def _limited(limit: str, wait: float) -> APIError:
    seconds = max(1, math.ceil(wait))
    return APIError(429, f"rate limit reached ({limit}); retry in {seconds} s", code="rate_limit_exceeded",
                    headers={"Retry-After": str(seconds)})


class Auth:
    """Who is calling: the key from `Authorization: Bearer` or Anthropic's `x-api-key`, checked against the store."""

    def __init__(self, keys: KeyStore, limiter: RateLimiter, required: bool, requests_per_minute: int = 0,
                 tokens_per_minute: int = 0):
        self.keys, self.limiter, self.required = keys, limiter, required
        self.default_rpm, self.default_tpm = requests_per_minute, tokens_per_minute

    def authenticate(self, headers) -> Caller:
        """Who sent these headers, or 401. A key that is presented must be valid, in either mode: a wrong, revoked
        or unknown openk2 key is refused, never served as anonymous. Anonymous callers are those who present no
        key (or, when keys are optional, a placeholder that is not an openk2 key, like the `EMPTY` that clients
        must send when they have no key), and only when the server allows them."""
        key = headers.get("x-api-key") or ""
        authorization = headers.get("authorization") or ""
        if not key and authorization[:7].lower() == "bearer ":
            key = authorization[7:].strip()
        if not key or (not self.required and not key.startswith(KEY_PREFIX)):
            if self.required:
                raise APIError(401, "missing API key: send `Authorization: Bearer KEY` or `x-api-key: KEY`",
                               code="invalid_api_key")
            return Caller()
        row = self.keys.lookup(key)
        if row is None:
            raise APIError(401, "invalid API key", code="invalid_api_key")
        if row.revoked_at is not None:
            raise APIError(401, "this API key has been revoked", code="invalid_api_key")
        return Caller(row.name, _limit(row.requests_per_minute, self.default_rpm),
                      _limit(row.tokens_per_minute, self.default_tpm))

    def admit(self, headers) -> Caller:
        """authenticate, then count the request against its key's requests per minute (429 past it)."""
        caller = self.authenticate(headers)
        self.limiter.admit(caller)
        return caller


def _limit(own: int | None, default: int) -> int:
    return default if own is None else own


def authenticate(request: Request) -> Caller:
    """FastAPI dependency: the request's caller, as AuthMiddleware found it before the body was read."""
    return request.state.caller


DOCS_PATHS = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
OPEN_PATHS = ("/", "/health")  # who is here (or the playground page), and is it alive: for load balancers
OPEN_PREFIXES = ("/playground/",)  # the playground page's own files (no data: its API calls carry the key)


class AuthMiddleware:
    """Authenticates every request from its headers, before its body is read or parsed: a client without a valid
    key cannot make the server read, parse or validate megabytes of JSON. The key lookup (a database query) runs
    in a worker thread. /docs, /openapi.json and /metrics follow the server's setting unless made public."""

    def __init__(self, app: ASGIApp, auth: Auth, public_docs: bool = False, public_metrics: bool = False):
        self.app, self.auth = app, auth
        self.public = set(OPEN_PATHS) | (set(DOCS_PATHS) if public_docs else set()) | ({"/metrics"} if public_metrics else set())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.public or scope["path"].startswith(OPEN_PREFIXES):
            return await self.app(scope, receive, send)
        request = Request(scope)
        try:
            caller = await anyio.to_thread.run_sync(self.auth.admit, request.headers)
        except APIError as error:
            response = scope["app"].state.error_response(request, error)
            return await response(scope, receive, send)
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)
