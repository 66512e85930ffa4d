"""The playground in a real browser (Debian's Chromium driven by Playwright): streaming chat, tool cards, stop, the agent's
world, small screens, and a clear message for every way a request fails. Screenshots go to tests/artifacts/playground/.

Skipped when Playwright or Chromium is missing (`apt-get install chromium`); CI installs both and sets
OPENK2_REQUIRE_BROWSER=1, which turns that skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from openk2.server.auth import KeyStore

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture says why the tests skip
    expect = None
from openk2.server.db import open_database

from conftest import HELLO_REPLY, WEATHER_TOOL, live_server
from scripted_endpoint import ScriptedEndpoint, answer, calls

ARTIFACTS = Path(__file__).parent / "artifacts" / "playground"
NEW_EVENT = {"title": "Roadmap with Anna", "start": "2025-06-03T15:00", "end": "2025-06-03T16:00",
             "attendees": ["anna.schmidt@northwind.example"], "allow_conflicts": True}
pytestmark = pytest.mark.slow


def chromium() -> str | None:
    return os.environ.get("OPENK2_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable(reason: str) -> None:
    if os.environ.get("OPENK2_REQUIRE_BROWSER"):
        pytest.fail(f"{reason} (OPENK2_REQUIRE_BROWSER is set)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed: pip install -e '.[test]'")
    executable = chromium()
    if executable is None or not Path(executable).is_file():
        unavailable(f"no Chromium to drive{f' at {executable}' if executable else ''}: apt-get install chromium "
                    "(or set OPENK2_CHROMIUM to its path)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@contextmanager
def page_of(browser, server_url: str, width: int = 1280, height: int = 800):
    """A fresh page at the playground; on the way out, every request it made must have gone to the server."""
    context = browser.new_context(viewport={"width": width, "height": height})
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(20_000)
    page.goto(f"{server_url}/")
    page.wait_for_selector("body[data-ready]")
    try:
        yield page
    finally:
        context.close()
    outside = [url for url in requests if not url.startswith(server_url + "/") and not url.startswith("data:")]
    assert not outside, f"the page made requests outside the server: {outside}"
    assert any(url.startswith(server_url) for url in requests)
    assert not errors, f"the page raised: {errors}"


def until(condition, timeout: float = 20):
    """Poll a condition from here (the page's CSP forbids the eval behind Playwright's wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
    return value


def shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png")


def banner(page) -> str:
    page.wait_for_selector("#banner:not([hidden])")
    return page.inner_text("#banner-text")


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def last_reply(page):
    return page.locator("article.msg.assistant").last


def set_value(page, selector: str, value: str) -> None:
    page.eval_on_selector(selector, """(el, value) => { el.value = value;
        el.dispatchEvent(new Event("input", {bubbles: true})); el.dispatchEvent(new Event("change", {bubbles: true})); }""", value)


def scripted_agent(request: dict) -> dict:
    if request["messages"][-1]["role"] == "user":
        return calls(("create_event", NEW_EVENT), content="Let me put that in your calendar.")
    return answer("Done: **Roadmap with Anna** is on Tuesday 3 June, 15:00–16:00.")


@pytest.fixture(scope="module")
def site(scripted_checkpoint, tmp_path_factory):
    """The scripted model behind the chat; its agent sessions' model is a scripted endpoint that creates an event."""
    with ScriptedEndpoint(scripted_agent) as model, \
            live_server(scripted_checkpoint.path, tmp_path_factory.mktemp("site"), agent={"base_url": model.base_url}) as live:
        yield live


@pytest.fixture(scope="module")
def endless(endless_checkpoint, tmp_path_factory):
    with live_server(endless_checkpoint, tmp_path_factory.mktemp("endless"),
                     engine={"cache_budget_bytes": 16 * 1024**2}) as live:
        yield live


def test_chat_streams_a_reply_with_its_tokens_and_cost(browser, site):
    with page_of(browser, site.url) as page:
        assert page.get_attribute("#mode-chat", "aria-selected") == "true"
        with page.expect_response(re.compile(r"/v1/chat/completions$")) as response:
            send(page, "Hello")
        assert response.value.headers["content-type"].startswith("text/event-stream")  # streamed, as SSE
        reply = last_reply(page)
        page.wait_for_selector("article.msg.assistant:not(.streaming)")
        assert reply.locator(".body").inner_text() == HELLO_REPLY
        assert page.locator("article.msg.user .body").inner_text() == "Hello"
        # Tokens and cost come from the usage ledger's row for this reply.
        reply.locator(".meta", has_text="$").wait_for()
        meta = reply.locator(".meta").inner_text()
        site.wait_idle()
        row = site.serving.ledger.rows()[-1]
        assert f"{row.prompt_tokens} prompt" in meta and f"{row.completion_tokens} completion tokens" in meta
        shown = float(re.search(r"\$(\d+\.\d+)", meta).group(1))
        assert shown == pytest.approx(row.cost, abs=1e-6) and row.cost > 0 and meta.endswith("stop")
        # The conversation goes on from there, and Reset starts it over.
        assert page.evaluate("document.activeElement.id") == "prompt"
        shot(page, "chat")
        page.click("#reset")
        assert page.locator("#log-chat article").count() == 0


def test_markdown_renders_code_and_never_markup(browser, site):
    text = ("# Title\n\nSome **bold**, *italic*, `code` and a [link](https://example.org/docs).\n\n"
            "```python\nprint('<b>hi</b>')\n```\n\n- one\n- two\n  - nested\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
            "<img src=x onerror=\"window.pwned=1\"> <script>window.pwned=2</script> [bad](javascript:alert(1)) "
            "![pic](https://images.example/a.png)")
    with page_of(browser, site.url) as page:
        html = page.evaluate("""(text) => { const box = document.createElement("div"); box.className = "markdown";
            box.append(Markdown.render(text)); document.getElementById("log-chat").append(box); return box.innerHTML; }""",
                             text)
        box = page.locator("#log-chat .markdown")
        assert box.locator("h3").inner_text() == "Title"
        assert box.locator("strong").inner_text() == "bold" and box.locator("em").inner_text() == "italic"
        assert box.locator(".code code.language-python").inner_text() == "print('<b>hi</b>')"
        assert box.locator("a[href='https://example.org/docs']").get_attribute("rel") == "noopener noreferrer nofollow"
        assert box.locator("ul ul li").inner_text() == "nested" and box.locator("td").count() == 2
        # Model output is text, never markup: no element from it, no script run, no javascript: link, no image.
        assert "<img" not in html and "<script" not in html and "&lt;img src=x" in html
        assert box.locator("img, script, [onerror]").count() == 0
        assert box.locator("a[href^='javascript']").count() == 0
        page.wait_for_timeout(200)
        assert page.evaluate("window.pwned") is None


def test_a_forced_tool_call_renders_as_a_card(browser, site):
    with page_of(browser, site.url) as page:
        page.fill("#tools", json.dumps([WEATHER_TOOL], indent=2))
        page.dispatch_event("#tools", "input")
        assert page.inner_text("#tools-status") == "✓ 1 tool: get_weather"
        page.select_option("#tool-choice", "function:get_weather")
        send(page, "What is the weather in Paris?")
        card = page.locator(".toolcard").first
        card.locator("textarea").wait_for()  # the call is complete and waits for its result
        assert card.locator(".tool-name").inner_text() == "get_weather"
        assert json.loads(card.locator(".tool-args").inner_text())["city"] == "Paris"
        assert card.get_attribute("aria-label") == "Tool call get_weather"
        request = site.serving.ledger.rows()[-1]
        assert request.finish_reason == "tool_calls"
        shot(page, "tool-card")
        # The user plays the tool: its result goes back and the model answers.
        card.locator("textarea").fill("sunny, 24 C")
        card.locator("button", has_text="Send result").click()
        page.locator("article.msg.assistant:not(.streaming)").nth(1).wait_for()
        assert card.locator(".tool-status").inner_text() == "done"
        assert "sunny, 24 C" in card.locator(".tool-result pre").inner_text()


def metric(server_url: str, line_start: str) -> float:
    for line in httpx.get(f"{server_url}/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_stop_cancels_the_request_on_the_server(browser, endless):
    cancelled = 'openk2_requests_total{endpoint="chat.completions",finish_reason="cancelled"}'
    with page_of(browser, endless.url) as page:
        set_value(page, "#temperature", "0")
        page.fill("#max-tokens", "6000")  # this model never ends its turn: only Stop ends this reply early
        send(page, "Tell me a long story")
        body = last_reply(page).locator(".body")
        first = until(lambda: len(body.inner_text()) > 20 and len(body.inner_text()))
        until(lambda: len(body.inner_text()) > first)  # it grows as it streams
        assert page.is_visible("#stop") and not page.is_visible("#send")
        page.click("#stop")
        # The server saw the request end, cancelled, long before its 6000 tokens.
        deadline = time.monotonic() + 10
        while metric(endless.url, cancelled) < 1:
            assert time.monotonic() < deadline, "the server did not cancel the stopped request"
            time.sleep(0.05)
        endless.wait_idle()
        [row] = endless.serving.ledger.rows()
        assert row.finish_reason == "cancelled" and 0 < row.completion_tokens < 6000
        assert metric(endless.url, "openk2_requests_running") == 0
        last_reply(page).locator(".meta", has_text="stopped").wait_for()
        assert page.is_visible("#send") and not page.is_visible("#stop")
        shot(page, "stopped")


def test_agent_mode_changes_the_calendar_view(browser, site):
    with page_of(browser, site.url, width=1400, height=860) as page:
        page.click("#mode-agent")
        page.wait_for_selector(".week-grid .event")
        assert "Week of Mon 2 Jun 2025" in page.inner_text(".week-label")
        assert page.locator(".event", has_text="Roadmap with Anna").count() == 0
        events_before = page.locator(".week-grid .event").count()
        send(page, "Put a roadmap review with Anna on Tuesday at 3 pm")
        added = page.locator(".week-grid .event.mark-added", has_text="Roadmap with Anna")
        added.wait_for()
        assert page.locator(".week-grid .event").count() == events_before + 1
        assert added.locator(".event-time").inner_text() == "15:00" and added.get_attribute("data-mark") == "added"
        # The tool call is a card with its result and a chip naming what it changed; the run ends with its usage.
        card = page.locator("#log-agent .toolcard")
        assert card.locator(".tool-name").inner_text() == "create_event"
        assert card.locator(".chip-added").inner_text() == "added event “Roadmap with Anna”"
        page.locator("#log-agent .meta", has_text="done").wait_for()
        assert "Roadmap with Anna" in page.locator("#log-agent article.msg.assistant").last.inner_text()
        assert "added event" in page.inner_text("#world-news")  # said to screen readers too
        shot(page, "agent")
        # Another week and back: the chip brings the change into view.
        page.click("button[aria-label='Next week']")
        assert page.locator(".week-grid .event.mark-added").count() == 0
        card.locator(".chip-added").click()
        added.wait_for()
        # A reset rebuilds the world from its seed: the event is gone.
        page.click("#reset-world")
        expect(page.locator(".week-grid .event.mark-added")).to_have_count(0)
        assert page.locator(".event", has_text="Roadmap with Anna").count() == 0
        assert "World reset with seed 0" in page.inner_text("#log-agent")


def test_small_screen_and_keyboard(browser, site):
    with page_of(browser, site.url, width=375, height=740) as page:
        overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert page.evaluate(overflow) == 0  # nothing wider than a phone
        assert not page.is_visible("#settings")  # settings open on demand, over the page
        page.click("#settings-toggle")
        assert page.is_visible("#settings") and page.get_attribute("#settings-toggle", "aria-expanded") == "true"
        assert page.evaluate("document.activeElement.id") == "settings-close"
        shot(page, "mobile-settings")
        page.keyboard.press("Escape")  # closes it, back to its button
        assert not page.is_visible("#settings") and page.evaluate("document.activeElement.id") == "settings-toggle"
        page.click("#settings-toggle")
        page.click("#settings-close")
        assert not page.is_visible("#settings")
        # Shift+Enter is a new line, Enter sends.
        page.click("#prompt")
        page.keyboard.type("Hel")
        page.keyboard.press("Shift+Enter")
        assert page.input_value("#prompt") == "Hel\n"
        page.fill("#prompt", "Hello")
        page.keyboard.press("Enter")
        page.wait_for_selector("article.msg.assistant:not(.streaming)")
        assert last_reply(page).locator(".body").inner_text() == HELLO_REPLY
        shot(page, "mobile-chat")
        # The agent's world fits too, as an agenda list rather than a week grid; the mode tabs take arrow keys.
        page.focus("#mode-chat")
        page.keyboard.press("ArrowRight")
        assert page.get_attribute("#mode-agent", "aria-selected") == "true"
        page.wait_for_selector(".agenda .agenda-event")
        assert not page.is_visible(".week-grid")
        assert page.evaluate(overflow) == 0
        # Every control has a name a screen reader can read.
        unnamed = page.evaluate("""() => [...document.querySelectorAll('button, input, select, textarea')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
            .map(el => el.outerHTML)""")
        assert unnamed == []
        shot(page, "mobile-agent")


def test_bad_input_gets_a_clear_message(browser, scripted_checkpoint, tmp_path):
    with live_server(scripted_checkpoint.path, tmp_path, api_key_required=True) as live:
        keys = KeyStore(open_database(f"sqlite:///{tmp_path / 'server.db'}"))
        good, limited = keys.create("good"), keys.create("limited", requests_per_minute=1)
        with page_of(browser, live.url) as page:
            # 401: the page asks for a key (its model list already failed on load).
            assert "needs a valid API key (401" in banner(page)
            assert page.is_visible("#api-key") and "required" in page.inner_text("#key-hint")
            send(page, "Hello")
            expect(page.locator("#prompt")).to_have_value("Hello")  # given back, to retry
            assert "Enter one under Settings" in banner(page)
            assert page.locator("#log-chat article").count() == 0
            shot(page, "error-401")

            # A good key: the same message goes through.
            page.fill("#api-key", good)
            page.dispatch_event("#api-key", "change")
            page.press("#prompt", "Enter")
            page.wait_for_selector("article.msg.assistant:not(.streaming)")
            assert last_reply(page).locator(".body").inner_text() == HELLO_REPLY
            assert page.is_hidden("#banner")

            # Invalid tool JSON is caught in the page, before any request.
            page.fill("#tools", '[{"type": "function", "function": {"name": "get_weather",}}]')
            page.dispatch_event("#tools", "input")
            assert page.inner_text("#tools-status").startswith("✗ not valid JSON (line 1, column ")
            assert page.get_attribute("#tools", "aria-invalid") == "true"
            sent = len(live.serving.ledger.rows())
            send(page, "What is the weather?")
            assert "Fix the tool declarations before sending: not valid JSON" in banner(page)
            page.fill("#tools", '[{"type": "function", "function": {"name": "get weather", "parameters": {"type": "object"}}}]')
            page.dispatch_event("#tools", "input")
            assert "tools[0].function.name must be 1-64 letters" in page.inner_text("#tools-status")
            page.fill("#tools", '[{"type": "function", "function": {"name": "w", "parameters": {"type": "object", '
                                '"properties": {"city": {"type": "text"}}, "required": ["town"]}}}]')
            page.dispatch_event("#tools", "input")
            assert '"text" is not a JSON Schema type' in page.inner_text("#tools-status")
            live.wait_idle()
            assert len(live.serving.ledger.rows()) == sent
            shot(page, "error-tools")
            page.fill("#tools", "")
            page.dispatch_event("#tools", "input")

            # 429: a key allowed one request a minute (the model list took it).
            with page.expect_response(re.compile(r"/v1/models$")):
                page.fill("#api-key", limited)
                page.dispatch_event("#api-key", "change")
            send(page, "Hello")
            message = banner(page)
            assert message.startswith("Rate limit reached (429): rate limit reached (1 requests per minute)")
            assert re.search(r"Try again in \d+ s\.$", message)
            shot(page, "error-429")

            # The server goes away: the page says so and keeps the conversation.
            with page.expect_response(re.compile(r"/v1/models$")):
                page.fill("#api-key", good)
                page.dispatch_event("#api-key", "change")
            live.stop()
            send(page, "Hello again")
            assert "Cannot reach the openk2 server" in banner(page)
            assert page.locator("#log-chat article.msg").count() == 2  # the earlier exchange is still there
            assert page.input_value("#prompt") == "Hello again" and page.is_visible("#composer")
            shot(page, "error-server-down")
