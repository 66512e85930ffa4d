"""The endpoint under evaluation: its API root, an async OpenAI client for it, and the model it serves."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import openai


def api_base(url: str, option: str = "--base-url") -> str:
    """The openai client's base URL: `url` itself when its path ends in /v1, else `url` + /v1."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{option} {url!r} is not an http(s) URL like http://127.0.0.1:8000/v1")
    path = parts.path.rstrip("/")
    if path.endswith("/chat/completions"):  # a full endpoint URL pasted from a provider's docs
        path = path.removesuffix("/chat/completions")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def client(base_url: str, api_key: str, timeout: float = 600.0, retries: int = 3) -> openai.AsyncOpenAI:
    """An async client that retries connection errors, 408/409/429 and 5xx with the openai client's backoff."""
    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=retries)


async def served_model(api: openai.AsyncOpenAI) -> str:
    """The first model the endpoint lists; a one-line ValueError saying what to do when there is none."""
    try:
        models = await api.models.list()
    except Exception as error:  # noqa: BLE001 -- any failure here is reported as one line, with the fix
        raise ValueError(f"cannot list models at {api.base_url}models ({type(error).__name__}: {error}); "
                         f"is the server running? Pass --model to skip this") from None
    if not models.data:
        raise ValueError(f"{api.base_url}models lists no model; pass --model")
    return models.data[0].id


def is_infrastructure_error(error: BaseException) -> bool:
    """Errors that say nothing about the model (unreachable, overloaded, server bug): a trial that ends in
    one is not a result, and a rerun retries it. A 4xx other than 408/429 is the endpoint refusing what
    the model produced (a prompt grown past its context, say): that trial counts, as a failure."""
    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError, TimeoutError, ConnectionError)):
        return True
    if isinstance(error, openai.APIStatusError):
        return error.status_code in (401, 403, 404, 408, 429) or error.status_code >= 500
    return False


def describe_error(error: BaseException) -> str:
    """One line: the error's type, HTTP status and first line of its message."""
    status = f" {error.status_code}" if isinstance(error, openai.APIStatusError) else ""
    message = getattr(error, "message", None) or str(error) or repr(error)
    first = message.splitlines()[0][:200] if message else ""
    return f"{type(error).__name__}{status}: {first}"
