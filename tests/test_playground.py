"""The playground's HTTP side: the page at / for browsers (JSON for programs), its files with a strict CSP, and a reply's
ledger row at /v1/usage/{id}. (The page itself is driven in a browser by test_playground_browser.py.)"""

from __future__ import annotations

import html
import json
import re

import httpx
import openai
import pytest

from openk2.server.auth import KeyStore
from openk2.server.db import open_database
from openk2.server.playground import ASSETS, STATIC

from conftest import HELLO, live_server

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_root_is_the_page_for_browsers_and_json_for_programs(server):
    page = httpx.get(f"{server.url}/", headers=BROWSER)
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and page.headers["x-content-type-options"] == "nosniff"
    config = json.loads(html.unescape(re.search(r'name="openk2-config" content="([^"]*)"', page.text).group(1)))
    assert config == {"model": "openk2-test", "version": config["version"], "api_key_required": False}
    assert httpx.head(f"{server.url}/", headers=BROWSER).status_code == 200
    # Programs (and agent front-ends probing the server) still get who is here.
    assert httpx.get(f"{server.url}/").json() == {"name": "openk2", "version": config["version"], "model": "openk2-test"}
    assert httpx.head(f"{server.url}/").status_code == 200


def test_page_files_are_served_revalidated_and_nothing_else(server):
    for name, media in [("playground.js", "text/javascript"), ("markdown.js", "text/javascript"),
                        ("world.js", "text/javascript"), ("playground.css", "text/css")]:
        response = httpx.get(f"{server.url}/playground/{name}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(media)
        assert response.content == (STATIC / name).read_bytes()
        assert response.headers["cache-control"] == "no-cache" and "content-security-policy" in response.headers
        again = httpx.get(f"{server.url}/playground/{name}", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and not again.content
    for path in ["/playground/nope.js", "/playground/..%2Fapp.py", "/playground/%2e%2e%2fplayground.py",
                 "/playground/index.html", "/playground/"]:
        assert httpx.get(f"{server.url}{path}").status_code == 404, path


def test_page_files_name_no_other_origin():
    """The page must work offline: no CDN, no web font, no analytics. (The browser test watches the real requests.)"""
    assert set(ASSETS) == {"index.html", "playground.js", "markdown.js", "world.js", "playground.css"}
    for name, asset in ASSETS.items():
        text = asset.body.decode()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), name
        assert not re.search(r"""url\(\s*["']?(https?:)?//""", text), name
        assert not re.search(r"""(fetch|import|importScripts)\(\s*["'`](https?:)?//""", text), name


def test_package_ships_the_page():
    """A wheel carries the static files (package data), not only the Python modules."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    config = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["openk2"]
    shipped = {p.name for pattern in patterns for p in (Path(__file__).parents[1] / "openk2").glob(pattern)}
    assert set(ASSETS) <= shipped


def test_a_replys_usage_row_is_the_callers_own(scripted_checkpoint, tmp_path):
    with live_server(scripted_checkpoint.path, tmp_path) as live:
        keys = KeyStore(open_database(f"sqlite:///{tmp_path / 'server.db'}"))
        alice, bob = keys.create("alice"), keys.create("bob")
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=alice, max_retries=0)
        reply = client.chat.completions.create(model="openk2-test", messages=HELLO, temperature=0)
        row = httpx.get(f"{live.url}/v1/usage/{reply.id}", headers={"Authorization": f"Bearer {alice}"}).json()
        assert row["id"] == reply.id and row["endpoint"] == "chat.completions" and row["finish_reason"] == "stop"
        assert row["prompt_tokens"] == reply.usage.prompt_tokens and row["completion_tokens"] == reply.usage.completion_tokens
        assert row["cost"] == pytest.approx((reply.usage.prompt_tokens * 0.60 + reply.usage.completion_tokens * 2.50) / 1e6)
        # Nobody else's: another key and anonymous callers get 404, as for an id that does not exist.
        for headers in [{"Authorization": f"Bearer {bob}"}, {}]:
            refused = httpx.get(f"{live.url}/v1/usage/{reply.id}", headers=headers)
            assert refused.status_code == 404 and "request_id" == refused.json()["error"]["param"]
        assert httpx.get(f"{live.url}/v1/usage/chatcmpl-unknown", headers={"x-api-key": alice}).status_code == 404
