// The openk2 playground: chat with streaming, tools as cards, and an agent acting on a sandboxed world on the server.
// Talks only to the server that served it (the page's Content-Security-Policy allows nothing else): the OpenAI
// API, /v1/usage/{id} for each reply's cost from the usage ledger, and /v1/agent/sessions for agent mode.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const config = JSON.parse(document.querySelector('meta[name="openk2-config"]').content || "{}");
  const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
  const JSON_TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"];
  const EXAMPLE_TOOLS = [{
    type: "function",
    function: {
      name: "get_weather",
      description: "Current weather in a city",
      parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    },
  }];

  const state = {
    mode: "chat",
    chat: [], // OpenAI messages of each mode's conversation (the system prompt is added when sending)
    agent: [],
    busy: null, // the AbortController of the request in flight
    session: null, // the agent session: {id, seed, world}
    pendingCalls: null, // chat mode: tool calls waiting for the user's results
  };

  // ---- messages the user can act on ---------------------------------------------------------------

  class UserError extends Error {}

  function banner(message) {
    $("banner-text").textContent = message;
    $("banner").hidden = false;
  }

  function clearBanner() {
    $("banner").hidden = true;
    $("banner-text").textContent = "";
  }

  // One sentence for each way a request can fail: what happened and what to do.
  async function httpError(response) {
    let detail = "";
    try {
      const body = await response.json();
      const error = body.error || body;
      detail = (typeof error === "string" ? error : error.message) || "";
    } catch { /* not JSON: a proxy's page, say */ }
    const status = response.status;
    if (status === 401) {
      showSettings(true);
      $("key-box").classList.add("needs-key");
      $("api-key").focus();
      return new UserError(`The server needs a valid API key (401${detail ? `: ${detail}` : ""}). ` +
        "Enter one under Settings → API key and send again.");
    }
    if (status === 429) {
      const wait = response.headers.get("Retry-After");
      return new UserError(`Rate limit reached (429): ${detail || "too many requests"}.` +
        (wait ? ` Try again in ${wait} s.` : " Try again shortly."));
    }
    if (status === 503 || status === 529) return new UserError(`The server is busy (${status}): ${detail || "retry shortly"}.`);
    if (status === 413) return new UserError(`The request is too large for the server (413): ${detail}`);
    if (status >= 500) return new UserError(`The server failed (${status}): ${detail || response.statusText}. Its log has the details.`);
    const error = new UserError(`The server refused the request (${status}): ${detail || response.statusText}`);
    error.status = status;
    return error;
  }

  function headers(json) {
    const out = {};
    if (json) out["Content-Type"] = "application/json";
    const key = $("api-key").value.trim();
    if (key) out.Authorization = `Bearer ${key}`;
    return out;
  }

  async function api(path, { method = "GET", body, signal } = {}) {
    let response;
    try {
      response = await fetch(path, { method, headers: headers(body !== undefined), signal,
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new UserError(`Cannot reach the openk2 server at ${location.origin}: is \`openk2 serve\` still running? ` +
        "Your conversation is kept: send again when it is back.");
    }
    if (!response.ok) throw await httpError(response);
    return response;
  }

  // Server-sent events: each `data:` payload, as text.
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        let chunk;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (e.name === "AbortError") throw e;
          throw new UserError("The connection to the server broke in the middle of the reply.");
        }
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
          if (data) yield data;
        }
      }
    } finally {
      reader.releaseLock();
    }
  }

  // ---- settings -----------------------------------------------------------------------------------

  const SAVED = ["system", "temperature", "max-tokens", "tools", "tool-choice", "seed", "max-turns"];

  function loadSettings() {
    for (const id of SAVED) {
      const value = localStorage.getItem(`openk2.${id}`);
      if (value !== null) $(id).value = value;
    }
    $("api-key").value = sessionStorage.getItem("openk2.api-key") || "";
    $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
    const required = config.api_key_required;
    $("key-hint").textContent = required ? "(required by this server)" : "(optional: for metered keys)";
    $("model-badge").textContent = config.model || "";
  }

  function saveSetting(id) {
    if (id === "api-key") sessionStorage.setItem("openk2.api-key", $("api-key").value);
    else if (SAVED.includes(id)) localStorage.setItem(`openk2.${id}`, $(id).value);
  }

  function showSettings(open) {
    const wasOpen = $("settings").classList.contains("open");
    $("settings").classList.toggle("open", open);
    $("settings-toggle").setAttribute("aria-expanded", String(open));
    // On narrow screens the panel covers the page: move the focus into it, and back to its button after.
    if (open && !wasOpen && getComputedStyle($("settings-close")).display !== "none") $("settings-close").focus();
    if (!open && wasOpen && $("settings").contains(document.activeElement)) $("settings-toggle").focus();
  }

  async function loadModels() {
    const select = $("model");
    const fill = (names) => {
      const current = select.value || config.model;
      select.replaceChildren(...names.map((name) => new Option(name, name)));
      select.value = names.includes(current) ? current : names[0];
    };
    fill([config.model].filter(Boolean));
    try {
      const response = await api("/v1/models");
      const body = await response.json();
      fill(body.data.map((m) => m.id));
      $("key-box").classList.remove("needs-key");
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      // Not fatal: the page works with the model it was told about, and the banner says what is wrong.
      banner(e.message);
    }
  }

  // ---- tool declarations ------------------------------------------------------------------------

  // A JSON Schema's shape, checked enough to catch what people get wrong; the server checks the rest (400).
  function checkSchema(schema, path, problems) {
    if (typeof schema === "boolean") return;
    if (!schema || typeof schema !== "object" || Array.isArray(schema)) {
      problems.push(`${path} must be a JSON Schema object`);
      return;
    }
    if ("type" in schema) {
      const types = Array.isArray(schema.type) ? schema.type : [schema.type];
      for (const t of types) {
        if (!JSON_TYPES.includes(t)) problems.push(`${path}.type: ${JSON.stringify(t)} is not a JSON Schema type (${JSON_TYPES.join(", ")})`);
      }
    }
    if ("properties" in schema) {
      if (!schema.properties || typeof schema.properties !== "object" || Array.isArray(schema.properties)) {
        problems.push(`${path}.properties must be an object of schemas`);
      } else {
        for (const [name, sub] of Object.entries(schema.properties)) checkSchema(sub, `${path}.properties.${name}`, problems);
      }
    }
    if ("required" in schema) {
      if (!Array.isArray(schema.required) || schema.required.some((r) => typeof r !== "string")) {
        problems.push(`${path}.required must be a list of property names`);
      } else if (schema.properties && typeof schema.properties === "object") {
        for (const name of schema.required) {
          if (!(name in schema.properties)) problems.push(`${path}.required names "${name}", which is not in its properties`);
        }
      }
    }
    if ("items" in schema) checkSchema(schema.items, `${path}.items`, problems);
    for (const key of ["anyOf", "oneOf", "allOf"]) {
      if (key in schema) {
        if (!Array.isArray(schema[key]) || !schema[key].length) problems.push(`${path}.${key} must be a non-empty list of schemas`);
        else schema[key].forEach((sub, k) => checkSchema(sub, `${path}.${key}[${k}]`, problems));
      }
    }
    if ("enum" in schema && (!Array.isArray(schema.enum) || !schema.enum.length)) problems.push(`${path}.enum must be a non-empty list`);
    if ("pattern" in schema) {
      try { new RegExp(schema.pattern, "u"); } catch { problems.push(`${path}.pattern is not a valid regular expression`); }
    }
    for (const key of ["minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems"]) {
      if (key in schema && typeof schema[key] !== "number") problems.push(`${path}.${key} must be a number`);
    }
  }

  function jsonErrorWhere(text, error) {
    const at = /position (\d+)/.exec(error.message);
    if (at) {
      const before = text.slice(0, Number(at[1]));
      const line = before.split("\n").length;
      return `line ${line}, column ${before.length - before.lastIndexOf("\n")}`;
    }
    const lc = /line (\d+) column (\d+)/.exec(error.message);
    return lc ? `line ${lc[1]}, column ${lc[2]}` : "";
  }

  // The tools in the editor: {tools} when valid (an empty editor: no tools), else {error}.
  function parseTools() {
    const text = $("tools").value;
    if (!text.trim()) return { tools: [] };
    let value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      const where = jsonErrorWhere(text, e);
      const what = e.message.replace(/^JSON\.parse: /, "").replace(/ in JSON at position \d+.*$/, "").replace(/ at line \d+ column \d+.*$/, "");
      return { error: `not valid JSON${where ? ` (${where})` : ""}: ${what}` };
    }
    if (!Array.isArray(value)) value = [value];
    const problems = [], names = [];
    value.forEach((tool, k) => {
      const path = `tools[${k}]`;
      if (!tool || typeof tool !== "object" || Array.isArray(tool)) return problems.push(`${path} must be an object`);
      if (tool.type !== "function") problems.push(`${path}.type must be "function"`);
      const fn = tool.function;
      if (!fn || typeof fn !== "object") return problems.push(`${path}.function must be an object with a name and parameters`);
      if (typeof fn.name !== "string" || !TOOL_NAME.test(fn.name)) {
        problems.push(`${path}.function.name must be 1-64 letters, digits, _ or -`);
      } else if (names.includes(fn.name)) {
        problems.push(`${path}.function.name: "${fn.name}" is declared twice`);
      } else {
        names.push(fn.name);
      }
      if ("description" in fn && typeof fn.description !== "string") problems.push(`${path}.function.description must be text`);
      if ("parameters" in fn) {
        const params = fn.parameters;
        if (!params || typeof params !== "object" || Array.isArray(params) || params.type !== "object") {
          problems.push(`${path}.function.parameters must be a JSON Schema with "type": "object"`);
        } else {
          checkSchema(params, `${path}.function.parameters`, problems);
        }
      }
    });
    if (problems.length) return { error: problems[0] + (problems.length > 1 ? ` (and ${problems.length - 1} more)` : "") };
    return { tools: value };
  }

  function refreshTools() {
    const status = $("tools-status");
    const { tools, error } = parseTools();
    $("tools").setAttribute("aria-invalid", String(Boolean(error)));
    status.classList.toggle("error", Boolean(error));
    status.textContent = error ? `✗ ${error}` : tools.length ? `✓ ${tools.length} tool${tools.length > 1 ? "s" : ""}: ${tools.map((t) => t.function.name).join(", ")}` : "No tools declared.";
    const select = $("tool-choice");
    const current = localStorage.getItem("openk2.tool-choice") || select.value;
    const options = [["auto", "auto: the model decides"], ["none", "none: answer in text"], ["required", "required: call a tool"],
      ...(tools || []).map((t) => [`function:${t.function.name}`, `${t.function.name}: call this one`])];
    select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
    select.value = options.some(([value]) => value === current) ? current : "auto";
    return { tools, error };
  }

  // ---- rendering the conversation ---------------------------------------------------------------

  function log() {
    return $(state.mode === "chat" ? "log-chat" : "log-agent");
  }

  function scrollDown(node) {
    const box = node || log();
    box.scrollTop = box.scrollHeight;
  }

  function addUserMessage(text) {
    const article = document.createElement("article");
    article.className = "msg user";
    const who = document.createElement("h2");
    who.className = "who";
    who.textContent = "You";
    const body = document.createElement("div");
    body.className = "body plain";
    body.textContent = text;
    article.append(who, body);
    log().append(article);
    scrollDown();
    state.lastUser = article;
  }

  // An assistant turn being streamed: text rendered as Markdown (at most once a frame), tool cards, a meta line.
  class Reply {
    constructor(box, name) {
      this.box = box;
      this.article = document.createElement("article");
      this.article.className = "msg assistant streaming";
      this.article.setAttribute("aria-busy", "true");
      const who = document.createElement("h2");
      who.className = "who";
      who.textContent = name;
      this.reasoningBox = document.createElement("details");
      this.reasoningBox.className = "reasoning";
      this.reasoningBox.hidden = true;
      const summary = document.createElement("summary");
      summary.textContent = "Reasoning";
      this.reasoningText = document.createElement("div");
      this.reasoningText.className = "plain";
      this.reasoningBox.append(summary, this.reasoningText);
      this.body = document.createElement("div");
      this.body.className = "body markdown";
      this.cards = document.createElement("div");
      this.cards.className = "cards";
      this.meta = document.createElement("p");
      this.meta.className = "meta";
      this.article.append(who, this.reasoningBox, this.body, this.cards, this.meta);
      box.append(this.article);
      this.content = "";
      this.reasoning = "";
      this.calls = []; // {id, name, arguments, card}
      this.frame = null;
    }

    addText(text) {
      this.content += text;
      this.schedule();
    }

    addReasoning(text) {
      this.reasoning += text;
      this.reasoningBox.hidden = false;
      this.schedule();
    }

    schedule() {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => this.paint());
    }

    paint() {
      this.frame = null;
      this.body.replaceChildren(Markdown.render(this.content));
      this.reasoningText.textContent = this.reasoning;
      for (const call of this.calls) call.card.setArguments(call.arguments);
      scrollDown(this.box);
    }

    call(index) {
      if (!this.calls[index]) this.calls[index] = { id: "", name: "", arguments: "", card: new ToolCard(this.cards) };
      return this.calls[index];
    }

    addCallDelta(delta) {
      const call = this.call(delta.index ?? 0);
      if (delta.id) call.id = delta.id;
      if (delta.function?.name) { call.name += delta.function.name; call.card.setName(call.name); }
      if (delta.function?.arguments) call.arguments += delta.function.arguments;
      this.schedule();
    }

    done(note) {
      if (this.frame) cancelAnimationFrame(this.frame);
      this.paint();
      this.article.classList.remove("streaming");
      this.article.removeAttribute("aria-busy");
      if (note) this.meta.textContent = note;
    }
  }

  // A tool call: its name and arguments (pretty when they parse), then its result.
  class ToolCard {
    constructor(parent) {
      this.node = document.createElement("section");
      this.node.className = "toolcard";
      const head = document.createElement("header");
      this.badge = document.createElement("span");
      this.badge.className = "tool-badge";
      this.badge.textContent = "tool call";
      this.name = document.createElement("code");
      this.name.className = "tool-name";
      this.status = document.createElement("span");
      this.status.className = "tool-status";
      this.status.textContent = "writing…";
      head.append(this.badge, this.name, this.status);
      this.args = document.createElement("pre");
      this.args.className = "tool-args";
      this.args.tabIndex = 0;
      this.args.setAttribute("aria-label", "Arguments");
      this.result = document.createElement("div");
      this.result.className = "tool-result";
      this.node.append(head, this.args, this.result);
      parent.append(this.node);
    }

    setName(name) {
      this.name.textContent = name;
      this.node.setAttribute("aria-label", `Tool call ${name}`);
    }

    setArguments(text) {
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* still streaming */ }
      this.args.textContent = shown || "{}";
    }

    setStatus(text, kind) {
      this.status.textContent = text;
      this.node.dataset.state = kind || "";
    }

    showResult(content, isError) {
      this.result.replaceChildren();
      const label = document.createElement("h3");
      label.className = "tool-result-label";
      label.textContent = isError ? "Error" : "Result";
      const pre = document.createElement("pre");
      pre.tabIndex = 0;
      let shown = content;
      try { shown = JSON.stringify(JSON.parse(content), null, 2); } catch { /* plain text */ }
      pre.textContent = shown;
      this.result.append(label, pre);
      this.setStatus(isError ? "error" : "done", isError ? "error" : "done");
    }

    // Chat mode: the user plays the tool, typing its result.
    askResult(onSubmit) {
      this.setStatus("waiting for your result", "waiting");
      const id = `result-${Math.random().toString(36).slice(2)}`;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = `Result of ${this.name.textContent}`;
      const input = document.createElement("textarea");
      input.id = id;
      input.rows = 2;
      input.className = "code-input";
      input.placeholder = '{"temperature": 21} (Ctrl+Enter sends)';
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Send result";
      const submit = () => {
        input.disabled = button.disabled = true;
        this.showResult(input.value, false);
        onSubmit(input.value);
      };
      button.addEventListener("click", submit);
      input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); submit(); }
      });
      this.result.replaceChildren(label, input, button);
      return input;
    }
  }

  function money(cost) {
    return `$${cost < 0.01 ? cost.toFixed(6) : cost.toFixed(4)}`;
  }

  function usageLine(u, extra) {
    const cached = u.cached_tokens ? ` (${u.cached_tokens} cached)` : "";
    const parts = [`${u.prompt_tokens} prompt${cached} + ${u.completion_tokens} completion tokens`];
    if (u.cost !== undefined && u.cost !== null) parts.push(money(u.cost));
    if (u.latency !== undefined) parts.push(`${u.latency.toFixed(2)} s`);
    if (u.finish_reason) parts.push(u.finish_reason === "cancelled" ? "stopped" : u.finish_reason);
    return parts.concat(extra || []).join(" · ");
  }

  // The reply's row in the usage ledger; a stopped request's row lands a moment after the page lets go.
  async function ledgerRow(id, attempts) {
    for (let k = 0; k < attempts; k++) {
      try {
        return await (await api(`/v1/usage/${encodeURIComponent(id)}`)).json();
      } catch (e) {
        if (!(e instanceof UserError) || e.status !== 404) return null;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return null;
  }

  // ---- busy state and stopping ------------------------------------------------------------------

  function setBusy(controller) {
    state.busy = controller;
    $("send").hidden = Boolean(controller);
    $("stop").hidden = !controller;
    $("reset").disabled = Boolean(controller);
    $("reset-world").disabled = Boolean(controller);
    if (controller) $("stop").focus({ preventScroll: true });
    else if (document.activeElement === $("stop") || document.activeElement === document.body) $("prompt").focus({ preventScroll: true });
  }

  function stop() {
    if (state.busy) state.busy.abort();
  }

  // ---- chat mode --------------------------------------------------------------------------------

  function sampling() {
    const body = { temperature: Number($("temperature").value) };
    const max = $("max-tokens").value.trim();
    if (max) {
      if (!/^\d+$/.test(max) || Number(max) < 1) throw new UserError("Max tokens must be a whole number of at least 1, or empty.");
      body.max_tokens = Number(max);
    }
    return body;
  }

  function withSystem(messages) {
    const system = $("system").value.trim();
    return system ? [{ role: "system", content: system }, ...messages] : messages;
  }

  async function sendChat(text) {
    const { tools, error } = refreshTools();
    if (error) {
      showSettings(true);
      $("tools").focus();
      throw new UserError(`Fix the tool declarations before sending: ${error}`);
    }
    const body = { model: $("model").value, stream: true, stream_options: { include_usage: true }, ...sampling() };
    if (tools.length) {
      body.tools = tools;
      const choice = $("tool-choice").value;
      body.tool_choice = choice.startsWith("function:") ? { type: "function", function: { name: choice.slice(9) } } : choice;
    }
    if (text !== null) {
      state.chat.push({ role: "user", content: text });
      addUserMessage(text);
    }
    body.messages = withSystem(state.chat);
    await completeChat(body);
  }

  async function completeChat(body) {
    const reply = new Reply($("log-chat"), body.model);
    const controller = new AbortController();
    setBusy(controller);
    let id = null, usage = null, finish = null, stopped = false;
    try {
      const response = await api("/v1/chat/completions", { method: "POST", body, signal: controller.signal });
      for await (const data of events(response)) {
        if (data === "[DONE]") break;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new UserError(`The server stopped the reply: ${chunk.error.message}`);
        id = id || chunk.id;
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices || []) {
          const delta = choice.delta || {};
          if (delta.reasoning_content) reply.addReasoning(delta.reasoning_content);
          if (delta.content) reply.addText(delta.content);
          for (const call of delta.tool_calls || []) reply.addCallDelta(call);
          if (choice.finish_reason) finish = choice.finish_reason;
        }
      }
    } catch (e) {
      if (e.name === "AbortError") stopped = true;
      else {
        reply.done("no reply");
        setBusy(null);
        if (!reply.content && !reply.calls.length) reply.article.remove();
        throw e;
      }
    }
    setBusy(null);
    reply.done(stopped ? "stopped" : "");
    const calls = reply.calls.filter((c) => c.name);
    const message = { role: "assistant", content: reply.content || (calls.length && !stopped ? null : "") };
    if (calls.length && !stopped) {
      message.tool_calls = calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
    }
    if (reply.content || message.tool_calls) state.chat.push(message);
    for (const c of calls) c.card.setStatus(stopped ? "stopped" : "", stopped ? "error" : "");
    // Tokens and cost from the ledger (the stream's own usage if the ledger cannot say).
    if (id) {
      const row = await ledgerRow(id, stopped ? 8 : 2);
      if (row) reply.meta.textContent = usageLine(row);
      else if (usage) reply.meta.textContent = usageLine({ ...usage, cached_tokens: usage.prompt_tokens_details?.cached_tokens, finish_reason: stopped ? "cancelled" : finish });
    }
    if (message.tool_calls) waitForResults(calls, body);
  }

  function waitForResults(calls, body) {
    const results = new Array(calls.length).fill(null);
    state.pendingCalls = calls;
    let first = null;
    calls.forEach((call, k) => {
      const input = call.card.askResult((content) => {
        results[k] = content;
        if (results.every((r) => r !== null)) {
          state.pendingCalls = null;
          calls.forEach((c, j) => state.chat.push({ role: "tool", tool_call_id: c.id, name: c.name, content: results[j] }));
          run(() => completeChat({ ...body, messages: withSystem(state.chat) }));
        }
      });
      first = first || input;
    });
    if (first) first.focus();
  }

  // ---- agent mode -------------------------------------------------------------------------------

  let world = null;

  function seed() {
    const value = $("seed").value.trim() || "0";
    if (!/^\d+$/.test(value)) throw new UserError("The seed must be a whole number (0 or more).");
    return Number(value);
  }

  function apps() {
    const chosen = [...document.querySelectorAll('input[name="app"]:checked')].map((box) => box.value);
    if (!chosen.length) throw new UserError("Choose at least one app for the agent's world (Settings → Agent world).");
    return chosen;
  }

  async function newSession() {
    const response = await api("/v1/agent/sessions", { method: "POST", body: { seed: seed(), apps: apps() } });
    state.session = await response.json();
    world.load(state.session.world);
  }

  async function ensureSession() {
    if (!state.session) await newSession();
  }

  async function resetWorld() {
    const value = seed();
    if (!state.session) return newSession();
    try {
      const response = await api(`/v1/agent/sessions/${state.session.id}/reset`, { method: "POST", body: { seed: value } });
      state.session = await response.json();
    } catch (e) {
      if (e.status !== 404) throw e;
      return newSession(); // the session expired: a new one with this seed
    }
    world.load(state.session.world);
    state.agent = [];
    $("log-agent").replaceChildren();
    note(`World reset with seed ${value}.`);
  }

  function note(text) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = text;
    $("log-agent").append(p);
    scrollDown($("log-agent"));
  }

  function changeChips(card, changes) {
    const box = document.createElement("div");
    box.className = "changes";
    const names = { events: ["event", "events"], emails: ["e-mail", "e-mails"], bookings: ["booking", "bookings"] };
    for (const [kind, diff] of Object.entries(changes)) {
      for (const [what, ids] of Object.entries(diff)) {
        for (const id of ids) {
          const item = World.find(world.world, kind, id);
          const button = document.createElement("button");
          button.type = "button";
          button.className = `chip chip-${what}`;
          const title = item ? ` “${item.title || item.subject || item.name}”` : ` #${id}`;
          button.textContent = `${what} ${names[kind] ? names[kind][0] : kind}${title}`;
          button.addEventListener("click", () => world.reveal(kind, id));
          box.append(button);
        }
      }
    }
    if (box.children.length) card.node.append(box);
  }

  async function sendAgent(text) {
    await ensureSession();
    state.agent.push({ role: "user", content: text });
    addUserMessage(text);
    world.clearMarks();
    const body = { messages: state.agent, model: $("model").value, max_turns: Number($("max-turns").value) || 8, ...sampling() };
    const system = $("system").value.trim();
    if (system) body.system = system;
    const controller = new AbortController();
    setBusy(controller);
    const box = $("log-agent");
    let reply = null, stopped = false;
    const cards = {};
    const turn = () => (reply = reply || new Reply(box, body.model));
    try {
      let response;
      try {
        response = await api(`/v1/agent/sessions/${state.session.id}/runs`, { method: "POST", body, signal: controller.signal });
      } catch (e) {
        if (e.status !== 404) throw e;
        await newSession(); // the session expired (or the server restarted): a fresh world, and go on
        note("The previous agent session had ended: this is a fresh world.");
        response = await api(`/v1/agent/sessions/${state.session.id}/runs`, { method: "POST", body, signal: controller.signal });
      }
      for await (const data of events(response)) {
        if (data === "[DONE]") break;
        const event = JSON.parse(data);
        if (event.type === "text") turn().addText(event.text);
        else if (event.type === "reasoning") turn().addReasoning(event.text);
        else if (event.type === "message") {
          state.agent.push(event.message);
          turn().done();
        } else if (event.type === "tool_call") {
          const card = new ToolCard(turn().cards);
          card.setName(event.call.name);
          card.setArguments(event.call.arguments);
          card.setStatus("running…", "running");
          cards[event.call.id] = card;
        } else if (event.type === "tool_result") {
          state.agent.push(event.message);
          const card = cards[event.call_id];
          if (card) {
            card.showResult(event.content, event.is_error);
            if (event.world) world.update(event.world, event.changes);
            changeChips(card, event.changes || {});
          }
          reply = null; // the next model turn is a new reply
          scrollDown(box);
        } else if (event.type === "final") {
          const meta = turn();
          if (!meta.content && !meta.calls.length) meta.article.classList.add("summary");
          meta.done(usageLine({ ...event.usage, cost: event.cost },
            [`${event.turns} model call${event.turns === 1 ? "" : "s"}`, event.stop_reason === "answer" ? "done" : `stopped: ${event.stop_reason}`]));
        } else if (event.type === "error") {
          const hint = /context/.test(event.message) ? " Fewer apps (Settings → Agent world) make a shorter prompt." : "";
          throw new UserError(event.message + hint);
        }
      }
    } catch (e) {
      if (e.name === "AbortError") stopped = true;
      else throw e;
    } finally {
      setBusy(null);
      if (reply) reply.done(stopped ? "stopped" : undefined);
      for (const card of Object.values(cards)) if (card.node.dataset.state === "running") card.setStatus("stopped", "error");
      state.agent = consistent(state.agent);
    }
  }

  // A stopped run can leave tool calls without results; the next run's conversation must not.
  function consistent(messages) {
    const out = [...messages];
    const last = [...out].reverse().find((m) => m.role === "assistant");
    if (last && last.tool_calls) {
      for (const call of last.tool_calls) {
        if (!out.some((m) => m.role === "tool" && m.tool_call_id === call.id)) {
          out.push({ role: "tool", tool_call_id: call.id, name: call.function.name, content: "Error: stopped by the user before this call ran." });
        }
      }
    }
    return out;
  }

  // ---- wiring -----------------------------------------------------------------------------------

  // Run an action, turning any failure into a banner: the page is never left blank or stuck.
  async function run(action) {
    clearBanner();
    try {
      await action();
    } catch (e) {
      setBusy(null);
      banner(e instanceof UserError ? e.message : `Unexpected error in the page: ${e.message}`);
      if (!(e instanceof UserError)) console.error(e);
    }
  }

  function send() {
    const text = $("prompt").value;
    if (state.busy) return;
    if (!text.trim()) {
      $("prompt").focus();
      return;
    }
    if (state.mode === "chat" && state.pendingCalls) {
      banner("Give the tool results first (the cards above), or press Reset to start over.");
      return;
    }
    $("prompt").value = "";
    run(async () => {
      try {
        await (state.mode === "chat" ? sendChat(text) : sendAgent(text));
      } catch (e) {
        // Nothing was answered: take the message back into the box, so retrying is one key press.
        const messages = state[state.mode];
        const last = messages[messages.length - 1];
        if (last && last.role === "user" && last.content === text && log().lastElementChild === state.lastUser) {
          messages.pop();
          state.lastUser.remove();
          if (!$("prompt").value) $("prompt").value = text;
        }
        throw e;
      }
    });
  }

  function reset() {
    if (state.busy) return;
    clearBanner();
    state.pendingCalls = null;
    if (state.mode === "chat") {
      state.chat = [];
      $("log-chat").replaceChildren();
    } else {
      state.agent = [];
      $("log-agent").replaceChildren();
      if (world.world) world.clearMarks();
    }
    $("prompt").focus();
  }

  function setMode(mode) {
    state.mode = mode;
    $("main").dataset.mode = mode;
    for (const name of ["chat", "agent"]) {
      const tab = $(`mode-${name}`);
      tab.setAttribute("aria-selected", String(name === mode));
      tab.tabIndex = name === mode ? 0 : -1;
    }
    $("system").placeholder = mode === "chat" ? "Default: the model's own"
      : "Default: who the user is, the time, and how to use the tools";
    if (mode === "agent" && !state.session) run(newSession);
  }

  function init() {
    world = new World.View($("world"), (text) => { $("world-news").textContent = text; });
    loadSettings();
    refreshTools();
    $("composer").addEventListener("submit", (e) => { e.preventDefault(); send(); });
    $("prompt").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
    });
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape") return;
      if (state.busy) { e.preventDefault(); stop(); }
      else if ($("settings").classList.contains("open")) { e.preventDefault(); showSettings(false); }
    });
    $("key-box").addEventListener("submit", (e) => e.preventDefault());
    $("settings-close").addEventListener("click", () => showSettings(false));
    $("stop").addEventListener("click", stop);
    $("reset").addEventListener("click", reset);
    $("banner-close").addEventListener("click", clearBanner);
    $("settings-toggle").addEventListener("click", () => showSettings(!$("settings").classList.contains("open")));
    $("temperature").addEventListener("input", () => { $("temperature-value").textContent = Number($("temperature").value).toFixed(2); });
    for (const id of [...SAVED, "api-key"]) $(id).addEventListener("change", () => saveSetting(id));
    $("api-key").addEventListener("change", () => { $("key-box").classList.remove("needs-key"); run(loadModels); });
    $("tools").addEventListener("input", refreshTools);
    $("tool-choice").addEventListener("change", () => saveSetting("tool-choice"));
    $("tools-example").addEventListener("click", () => {
      $("tools").value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
      refreshTools();
      saveSetting("tools");
    });
    $("tools-format").addEventListener("click", () => {
      const { tools, error } = refreshTools();
      if (!error && tools.length) $("tools").value = JSON.stringify(tools, null, 2);
    });
    $("reset-world").addEventListener("click", () => run(resetWorld));
    // Other apps make another world: a new session, and a new conversation to go with it.
    document.querySelectorAll('input[name="app"]').forEach((box) => box.addEventListener("change", () => run(async () => {
      if (state.busy) return;
      await newSession();
      state.agent = [];
      $("log-agent").replaceChildren();
      note(`A new world with ${apps().join(", ")} (seed ${seed()}).`);
    })));
    for (const name of ["chat", "agent"]) {
      const tab = $(`mode-${name}`);
      tab.addEventListener("click", () => setMode(name));
      tab.addEventListener("keydown", (e) => {
        if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
        e.preventDefault();
        const other = name === "chat" ? "agent" : "chat";
        setMode(other);
        $(`mode-${other}`).focus();
      });
    }
    // Copy buttons of code blocks, wherever Markdown put them.
    document.addEventListener("click", (e) => {
      const button = e.target.closest("button.copy");
      if (!button) return;
      const code = button.closest(".code").querySelector("code").textContent;
      const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(code).then(done, () => {});
      else {
        const range = document.createRange();
        range.selectNodeContents(button.closest(".code").querySelector("code"));
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        document.execCommand("copy");
        done();
      }
    });
    window.addEventListener("error", (e) => banner(`Unexpected error in the page: ${e.message}`));
    window.addEventListener("unhandledrejection", (e) => banner(`Unexpected error in the page: ${e.reason?.message || e.reason}`));
    run(loadModels);
    $("prompt").focus();
    document.body.dataset.ready = "true"; // for tests and screenshots: the page is wired
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
