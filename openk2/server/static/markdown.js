// Markdown to DOM nodes, safely: the renderer creates elements from a fixed list and puts all text in with
// textContent, and links only with http(s) or mailto targets, so nothing in a model's output can become markup,
// script, a style or a request. Supported: paragraphs (a newline is a line break), headings, fenced code with
// its language, inline code, bold, italic, strikethrough, links and bare URLs, lists (nested), block quotes,
// tables and rules. Unfinished constructs (mid-stream) render as the text they are so far.
"use strict";

const Markdown = (() => {
  const SAFE_URL = /^(https?:\/\/|mailto:)/i;
  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
  const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
  const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
  const QUOTE = /^ {0,3}> ?/;
  const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])([ \t]+|$)/;
  const TABLE_RULE = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(text) {
    const fragment = document.createDocumentFragment();
    blocks(String(text).replace(/\r\n?/g, "\n").split("\n"), fragment);
    return fragment;
  }

  function startsBlock(line) {
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || ITEM.test(line);
  }

  function blocks(lines, parent) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (!line.trim()) {
        i++;
      } else if ((m = FENCE.exec(line))) {
        const fence = m[1], body = [];
        i++;
        while (i < lines.length && !new RegExp(`^ {0,3}${fence[0]}{${fence.length},}\\s*$`).test(lines[i])) {
          body.push(lines[i++]);
        }
        i++; // the closing fence (or the end of a message still streaming)
        parent.append(codeBlock(body.join("\n"), m[2]));
      } else if ((m = HEADING.exec(line))) {
        // Headings inside a message sit below the page's own (h1 page, h2 panels): # -> h3 ... -> h6.
        const node = el(`h${Math.min(6, m[1].length + 2)}`);
        inline(m[2], node);
        parent.append(node);
        i++;
      } else if (RULE.test(line)) {
        parent.append(el("hr"));
        i++;
      } else if (QUOTE.test(line)) {
        const body = [];
        while (i < lines.length && QUOTE.test(lines[i])) body.push(lines[i++].replace(QUOTE, ""));
        const node = el("blockquote");
        blocks(body, node);
        parent.append(node);
      } else if (ITEM.test(line)) {
        i = list(lines, i, parent);
      } else if (line.includes("|") && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]) && lines[i + 1].includes("-")) {
        i = table(lines, i, parent);
      } else {
        const body = [];
        while (i < lines.length && lines[i].trim() && !(body.length && startsBlock(lines[i]))) body.push(lines[i++]);
        const node = el("p");
        body.forEach((text, k) => {
          if (k) node.append(el("br"));
          inline(text.trim(), node);
        });
        parent.append(node);
      }
    }
  }

  function codeBlock(code, language) {
    const box = el("div", "code");
    const head = el("div", "code-head");
    head.append(el("span", "code-lang", language || "text"));
    const copy = el("button", "copy", "Copy");
    copy.type = "button";
    copy.setAttribute("aria-label", `Copy the ${language || "text"} code`);
    head.append(copy);
    const pre = el("pre");
    const node = el("code", language ? `language-${language.replace(/[^\w+#-]/g, "")}` : "", code);
    pre.append(node);
    pre.tabIndex = 0; // long lines scroll sideways: keyboard users can scroll it too
    box.append(head, pre);
    return box;
  }

  function list(lines, i, parent) {
    const first = ITEM.exec(lines[i]);
    const ordered = /\d/.test(first[2]);
    const node = el(ordered ? "ol" : "ul");
    if (ordered && parseInt(first[2], 10) !== 1) node.start = parseInt(first[2], 10);
    while (i < lines.length) {
      const m = ITEM.exec(lines[i]);
      if (!m || /\d/.test(m[2]) !== ordered) break;
      const indent = m[0].length;
      const body = [lines[i].slice(indent)];
      i++;
      // The item goes on over indented lines, lazy continuation lines, and blank lines followed by indented ones.
      while (i < lines.length) {
        const line = lines[i];
        if (!line.trim()) {
          if (i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1])) { body.push(""); i++; continue; }
          break;
        }
        if (/^\s{2,}/.test(line)) { body.push(line.replace(new RegExp(`^ {0,${Math.max(indent, 2)}}`), "")); i++; continue; }
        if (ITEM.test(line) || startsBlock(line)) break;
        body.push(line); i++;
      }
      const item = el("li");
      if (body.length === 1 || !body.slice(1).some((l) => startsBlock(l.trim()) || !l.trim())) {
        // A tight item: its text inline, without a paragraph around it.
        body.forEach((text, k) => { if (k) item.append(el("br")); inline(text.trim(), item); });
      } else {
        blocks(body, item);
      }
      node.append(item);
      if (i < lines.length && !lines[i].trim()) i++;
    }
    parent.append(node);
    return i;
  }

  function cells(line) {
    let text = line.trim();
    if (text.startsWith("|")) text = text.slice(1);
    if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
    return text.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
  }

  function table(lines, i, parent) {
    const head = cells(lines[i]);
    const align = cells(lines[i + 1]).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : ""));
    const wrap = el("div", "table-wrap");
    const node = el("table");
    const thead = el("thead"), row = el("tr");
    head.forEach((text, k) => {
      const th = el("th");
      th.scope = "col";
      if (align[k]) th.className = `align-${align[k]}`;
      inline(text, th);
      row.append(th);
    });
    thead.append(row);
    const tbody = el("tbody");
    i += 2;
    while (i < lines.length && lines[i].includes("|") && lines[i].trim()) {
      const tr = el("tr");
      const values = cells(lines[i]);
      head.forEach((_, k) => {
        const td = el("td");
        if (align[k]) td.className = `align-${align[k]}`;
        inline(values[k] || "", td);
        tr.append(td);
      });
      tbody.append(tr);
      i++;
    }
    node.append(thead, tbody);
    wrap.append(node);
    parent.append(wrap);
    return i;
  }

  // ---- inline ------------------------------------------------------------------------------------

  const LINK = /^\[([^\]\n]*)\]\(\s*<?([^\s)<>]*)>?(?:\s+"[^"\n]*")?\s*\)/;
  const BARE_URL = /^https?:\/\/[^\s<>"'`]+/;
  const PUNCTUATION = /[!-/:-@[-`{-~]/;

  function link(href, parent, build) {
    if (!SAFE_URL.test(href)) return false;
    const a = el("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer nofollow";
    build(a);
    parent.append(a);
    return true;
  }

  // The index after a closing `marker` for an opening one at `start`, or -1; emphasis never spans empty text.
  function closing(text, start, marker) {
    let j = start + marker.length;
    while ((j = text.indexOf(marker, j)) !== -1) {
      const inner = text.slice(start + marker.length, j);
      const wordChar = marker[0] === "_" && /[\p{L}\p{N}]/u.test(text[j + marker.length] || "");
      if (inner.trim() && inner === inner.trim() && !wordChar && text[j + marker.length] !== marker[0]) return j;
      j += 1;
    }
    return -1;
  }

  function inline(text, parent) {
    let plain = "";
    const flush = () => { if (plain) { parent.append(document.createTextNode(plain)); plain = ""; } };
    let i = 0;
    while (i < text.length) {
      const c = text[i], rest = text.slice(i);
      let m;
      if (c === "\\" && PUNCTUATION.test(text[i + 1] || "")) {
        plain += text[i + 1];
        i += 2;
        continue;
      }
      if (c === "`") {
        const run = /^`+/.exec(rest)[0];
        const end = text.indexOf(run, i + run.length);
        if (end !== -1) {
          flush();
          const inner = text.slice(i + run.length, end);
          parent.append(el("code", "", inner.length > 2 && inner.startsWith(" ") && inner.endsWith(" ") ? inner.slice(1, -1) : inner));
          i = end + run.length;
          continue;
        }
        plain += run;
        i += run.length;
        continue;
      }
      if (c === "[" && (m = LINK.exec(rest))) {
        flush();
        const [whole, label, href] = m;
        if (!link(href, parent, (a) => inline(label || href, a))) plain += label; // unsafe target: the text alone
        i += whole.length;
        continue;
      }
      if (c === "h" && !/[\p{L}\p{N}]/u.test(text[i - 1] || "") && (m = BARE_URL.exec(rest))) {
        const url = m[0].replace(/[.,;:!?)\]]+$/, "");
        flush();
        link(url, parent, (a) => { a.textContent = url; });
        i += url.length;
        continue;
      }
      let matched = false;
      for (const [marker, tag] of [["**", "strong"], ["__", "strong"], ["~~", "del"], ["*", "em"], ["_", "em"]]) {
        if (!rest.startsWith(marker)) continue;
        if (marker[0] === "_" && /[\p{L}\p{N}]/u.test(text[i - 1] || "")) break; // snake_case stays as it is
        if (/\s/.test(text[i + marker.length] || " ")) break;
        const end = closing(text, i, marker);
        if (end === -1) break;
        flush();
        const node = el(tag);
        inline(text.slice(i + marker.length, end), node);
        parent.append(node);
        i = end + marker.length;
        matched = true;
        break;
      }
      if (matched) continue;
      plain += c;
      i++;
    }
    flush();
  }

  return { render, inline };
})();
