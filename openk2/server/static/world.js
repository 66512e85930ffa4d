// The agent's world as the page shows it: a calendar week (an agenda list on narrow screens), the mailbox by folder
// and the bookings, each item marked when the agent's last run added, changed or removed it. Times arrive as local
// ISO strings in the world user's time zone ("2025-06-03T14:00+01:00") and are shown as written, whatever the
// browser's own time zone.
"use strict";

const World = (() => {
  const FIRST_HOUR = 7, LAST_HOUR = 21, HOUR_PX = 44;
  const DAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const MARKS = { added: "new", changed: "changed", removed: "removed" };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // ---- dates as "YYYY-MM-DD" strings (UTC arithmetic, so the browser's zone never shifts a day) ----

  const toDate = (day) => new Date(`${day}T00:00:00Z`);
  const fromDate = (d) => d.toISOString().slice(0, 10);
  const addDays = (day, n) => fromDate(new Date(toDate(day).getTime() + n * 86400000));
  const monday = (day) => addDays(day, -((toDate(day).getUTCDay() + 6) % 7));
  const minutes = (iso) => Number(iso.slice(11, 13)) * 60 + Number(iso.slice(14, 16));
  const clock = (iso) => iso.slice(11, 16);
  const d_index = (d) => (d.getUTCDay() + 6) % 7;
  const dayLabel = (day) => {
    const d = toDate(day);
    return `${DAY_NAMES[(d.getUTCDay() + 6) % 7]} ${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]}`;
  };

  class View {
    constructor(root, onNews) {
      this.root = root;
      this.onNews = onNews; // a sentence for screen readers when the agent changes something
      this.world = null;
      this.week = null;
      this.folder = "inbox";
      this.marks = { events: {}, emails: {}, bookings: {} }; // id -> "added" | "changed" | "removed"
      this.ghosts = { events: {}, emails: {}, bookings: {} }; // removed items, still shown struck through
      this.tab = "calendar";
      root.querySelectorAll('[role="tab"]').forEach((tab) => {
        tab.addEventListener("click", () => this.show(tab.id.replace("tab-", "")));
        tab.addEventListener("keydown", (e) => this.tabKeys(e));
      });
    }

    // A fresh world (a new session or a reset): no marks, the week of "now".
    load(world) {
      this.world = world;
      this.marks = { events: {}, emails: {}, bookings: {} };
      this.ghosts = { events: {}, emails: {}, bookings: {} };
      this.week = monday(world.now.slice(0, 10));
      this.render();
    }

    clearMarks() {
      this.marks = { events: {}, emails: {}, bookings: {} };
      this.ghosts = { events: {}, emails: {}, bookings: {} };
      this.render();
    }

    // The world after a tool call, with what that call changed: mark it, and bring the first change into view.
    update(world, changes) {
      const before = this.world;
      this.world = world;
      const news = [];
      let target = null;
      for (const [kind, diff] of Object.entries(changes || {})) {
        if (!(kind in this.marks)) continue;
        for (const [what, ids] of Object.entries(diff)) {
          for (const id of ids) {
            this.marks[kind][id] = this.marks[kind][id] === "added" && what === "changed" ? "added" : what;
            const item = find(what === "removed" ? before : world, kind, id);
            if (what === "removed" && item) this.ghosts[kind][id] = item;
            if (item) news.push(`${what} ${kind === "events" ? "event" : kind === "emails" ? "e-mail" : "booking"} “${item.title || item.subject || item.name}”`);
            if (!target && item) target = { kind, item };
          }
        }
      }
      if (target) {
        if (target.kind === "events") {
          this.week = monday(target.item.start.slice(0, 10));
          this.tab = "calendar";
        } else if (target.kind === "emails") {
          this.folder = target.item.folder;
          this.tab = "mail";
        } else {
          this.tab = "bookings";
        }
      }
      this.render();
      if (news.length) this.onNews(`The agent ${news.join(", ")}.`);
      return target;
    }

    show(tab) {
      this.tab = tab;
      this.render();
      this.root.querySelector(`#tab-${tab}`).focus();
    }

    tabKeys(e) {
      const tabs = ["calendar", "mail", "bookings"];
      const k = tabs.indexOf(this.tab);
      if (e.key === "ArrowRight") this.show(tabs[(k + 1) % tabs.length]);
      else if (e.key === "ArrowLeft") this.show(tabs[(k + tabs.length - 1) % tabs.length]);
      else return;
      e.preventDefault();
    }

    render() {
      for (const tab of ["calendar", "mail", "bookings"]) {
        const button = this.root.querySelector(`#tab-${tab}`);
        const selected = tab === this.tab;
        button.setAttribute("aria-selected", String(selected));
        button.tabIndex = selected ? 0 : -1;
        this.root.querySelector(`#view-${tab}`).hidden = !selected;
        const count = tab === "calendar" ? Object.keys(this.marks.events).length
          : tab === "mail" ? Object.keys(this.marks.emails).length : Object.keys(this.marks.bookings).length;
        button.classList.toggle("has-changes", count > 0);
      }
      if (!this.world) return;
      this.root.querySelector("#world-clock").textContent =
        `${this.world.user.name} · now ${dayLabel(this.world.now.slice(0, 10))} ${clock(this.world.now)} (${this.world.timezone})`;
      this.renderCalendar(this.root.querySelector("#view-calendar"));
      this.renderMail(this.root.querySelector("#view-mail"));
      this.renderBookings(this.root.querySelector("#view-bookings"));
    }

    mark(node, kind, id) {
      const mark = this.marks[kind][id];
      if (!mark) return;
      node.classList.add(`mark-${mark}`);
      node.dataset.mark = mark;
      node.append(el("span", "mark-badge", MARKS[mark]));
    }

    // ---- calendar ----

    weekEvents() {
      const end = addDays(this.week, 7);
      const events = [...(this.world.events || []), ...Object.values(this.ghosts.events)];
      return events.filter((e) => e.start.slice(0, 10) < end && e.end.slice(0, 10) >= this.week)
        .sort((a, b) => a.start.localeCompare(b.start));
    }

    renderCalendar(box) {
      box.replaceChildren();
      if (!this.world.events) {
        box.append(el("p", "empty", "This world has no calendar app."));
        return;
      }
      const nav = el("div", "week-nav");
      const label = el("h3", "week-label", `Week of ${dayLabel(this.week)} ${toDate(this.week).getUTCFullYear()}`);
      label.id = "week-label";
      const prev = el("button", "ghost", "‹");
      prev.type = "button";
      prev.setAttribute("aria-label", "Previous week");
      prev.addEventListener("click", () => { this.week = addDays(this.week, -7); this.render(); });
      const next = el("button", "ghost", "›");
      next.type = "button";
      next.setAttribute("aria-label", "Next week");
      next.addEventListener("click", () => { this.week = addDays(this.week, 7); this.render(); });
      const today = el("button", "ghost", "This week");
      today.type = "button";
      today.addEventListener("click", () => { this.week = monday(this.world.now.slice(0, 10)); this.render(); });
      nav.append(prev, label, next, today);
      box.append(nav);
      const events = this.weekEvents();
      box.append(this.grid(events), this.agenda(events));
    }

    eventLabel(e) {
      const mark = this.marks.events[e.id];
      return `${e.title}, ${dayLabel(e.start.slice(0, 10))} ${clock(e.start)} to ${clock(e.end)}` +
        (e.location ? `, ${e.location}` : "") + (mark ? ` (${MARKS[mark]})` : "");
    }

    // The week as columns of hours; overlapping events share their column's width.
    grid(events) {
      const grid = el("div", "week-grid");
      grid.setAttribute("aria-hidden", "true"); // the agenda list beside it says the same to screen readers
      const hours = el("div", "hours");
      for (let h = FIRST_HOUR; h < LAST_HOUR; h++) hours.append(el("div", "hour", `${String(h).padStart(2, "0")}:00`));
      grid.append(el("div", "corner"));
      const today = this.world.now.slice(0, 10);
      for (let d = 0; d < 7; d++) {
        const day = addDays(this.week, d);
        const date = toDate(day);
        const head = el("div", "day-head" + (day === today ? " today" : ""), `${DAY_NAMES[d_index(date)]} ${date.getUTCDate()}`);
        grid.append(head);
      }
      grid.append(hours);
      for (let d = 0; d < 7; d++) {
        const day = addDays(this.week, d);
        const column = el("div", "day" + (d >= 5 ? " weekend" : ""));
        column.style.height = `${(LAST_HOUR - FIRST_HOUR) * HOUR_PX}px`;
        const mine = events.filter((e) => e.start.slice(0, 10) <= day && e.end.slice(0, 10) >= day);
        const lanes = [];
        for (const e of mine) {
          const top = e.start.slice(0, 10) < day ? 0 : minutes(e.start);
          const bottom = e.end.slice(0, 10) > day ? 24 * 60 : Math.max(minutes(e.end), top + 15);
          let lane = lanes.findIndex((end) => end <= top);
          if (lane === -1) { lane = lanes.length; lanes.push(bottom); } else lanes[lane] = bottom;
          e._slot = { top, bottom, lane };
        }
        for (const e of mine) {
          const { top, bottom, lane } = e._slot;
          const from = Math.max(top, FIRST_HOUR * 60), to = Math.min(bottom, LAST_HOUR * 60);
          const block = el("div", "event");
          block.dataset.id = e.id;
          block.style.top = `${Math.max(0, (Math.min(from, LAST_HOUR * 60 - 15) - FIRST_HOUR * 60) * HOUR_PX / 60)}px`;
          block.style.height = `${Math.max(14, (to - from) * HOUR_PX / 60)}px`;
          block.style.left = `${(lane / lanes.length) * 100}%`;
          block.style.width = `${100 / lanes.length}%`;
          block.title = this.eventLabel(e);
          block.append(el("span", "event-time", clock(e.start)), el("span", "event-title", e.title));
          this.mark(block, "events", e.id);
          column.append(block);
        }
        grid.append(column);
      }
      return grid;
    }

    agenda(events) {
      const list = el("ol", "agenda");
      list.setAttribute("aria-labelledby", "week-label");
      let last = null;
      for (const e of events) {
        const day = e.start.slice(0, 10);
        if (day !== last) {
          list.append(el("li", "agenda-day", dayLabel(day)));
          last = day;
        }
        const item = el("li", "agenda-event");
        item.dataset.id = e.id;
        item.append(el("span", "event-time", `${clock(e.start)}–${clock(e.end)}`), el("span", "event-title", e.title));
        if (e.location) item.append(el("span", "event-where", e.location));
        item.setAttribute("aria-label", this.eventLabel(e));
        this.mark(item, "events", e.id);
        list.append(item);
      }
      if (!events.length) list.append(el("li", "empty", "No events this week."));
      return list;
    }

    // ---- mail ----

    renderMail(box) {
      box.replaceChildren();
      if (!this.world.emails) {
        box.append(el("p", "empty", "This world has no e-mail app."));
        return;
      }
      const emails = [...this.world.emails, ...Object.values(this.ghosts.emails)];
      const folders = ["inbox", "sent", "drafts", ...new Set(emails.map((m) => m.folder))]
        .filter((f, k, all) => all.indexOf(f) === k);
      const bar = el("div", "folders");
      bar.setAttribute("role", "group");
      bar.setAttribute("aria-label", "Folders");
      for (const folder of folders) {
        const inFolder = emails.filter((m) => m.folder === folder);
        const unread = inFolder.filter((m) => m.unread).length;
        const button = el("button", "folder", `${folder[0].toUpperCase()}${folder.slice(1)} ${inFolder.length}` + (unread ? ` (${unread} unread)` : ""));
        button.type = "button";
        button.dataset.folder = folder;
        button.setAttribute("aria-pressed", String(folder === this.folder));
        if (inFolder.some((m) => this.marks.emails[m.id])) button.classList.add("has-changes");
        button.addEventListener("click", () => { this.folder = folder; this.render(); });
        bar.append(button);
      }
      box.append(bar);
      const list = el("ul", "mail-list");
      list.setAttribute("aria-label", `${this.folder} folder`);
      for (const m of emails.filter((e) => e.folder === this.folder)) {
        const item = el("li", "mail" + (m.unread ? " unread" : ""));
        item.dataset.id = m.id;
        const details = el("details");
        const summary = el("summary");
        const who = this.folder === "inbox" ? m.from : `to ${(m.to || []).join(", ")}`;
        summary.append(el("span", "mail-who", who), el("span", "mail-subject", m.subject || "(no subject)"),
          el("span", "mail-date", m.date ? `${dayLabel(m.date.slice(0, 10))} ${clock(m.date)}` : "draft"));
        this.mark(summary, "emails", m.id);
        details.append(summary, el("pre", "mail-body", m.body));
        item.append(details);
        list.append(item);
      }
      if (!list.children.length) list.append(el("li", "empty", "No messages."));
      box.append(list);
    }

    // ---- bookings ----

    renderBookings(box) {
      box.replaceChildren();
      if (!this.world.bookings) {
        box.append(el("p", "empty", "This world has no booking app."));
        return;
      }
      const bookings = [...this.world.bookings, ...Object.values(this.ghosts.bookings)];
      if (!bookings.length) {
        box.append(el("p", "empty", "No bookings yet."));
        return;
      }
      const wrap = el("div", "table-wrap");
      const table = el("table", "bookings");
      const caption = el("caption", "visually-hidden", "Bookings");
      const head = el("tr");
      for (const title of ["#", "What", "When", "Qty", "Price", "Status"]) {
        const th = el("th", "", title);
        th.scope = "col";
        head.append(th);
      }
      const thead = el("thead");
      thead.append(head);
      const tbody = el("tbody");
      for (const b of bookings) {
        const row = el("tr");
        row.dataset.id = b.id;
        const when = b.ends ? `${b.starts.replace("T", " ").slice(0, 16)} → ${b.ends.replace("T", " ").slice(0, 16)}` : b.starts.replace("T", " ").slice(0, 16);
        const what = el("td");
        what.append(el("span", "booking-kind", b.kind), document.createTextNode(` ${b.name}`));
        this.mark(what, "bookings", b.id);
        row.append(el("td", "", String(b.id)), what, el("td", "", when), el("td", "", String(b.quantity)),
          el("td", "", `${b.currency || ""} ${Number(b.price).toFixed(2)}`), el("td", `status-${b.status}`, b.status));
        tbody.append(row);
      }
      table.append(caption, thead, tbody);
      wrap.append(table);
      box.append(wrap);
    }

    // Bring an item into view: its tab, its week or folder, then scroll to it.
    reveal(kind, id) {
      const item = find(this.world, kind, id) || this.ghosts[kind][id];
      if (!item) return;
      if (kind === "events") { this.tab = "calendar"; this.week = monday(item.start.slice(0, 10)); }
      if (kind === "emails") { this.tab = "mail"; this.folder = item.folder; }
      if (kind === "bookings") this.tab = "bookings";
      this.render();
      const node = this.root.querySelector(`#view-${this.tab} [data-id="${CSS.escape(String(id))}"]`);
      if (node) node.scrollIntoView({ block: "nearest" });
    }
  }

  function find(world, kind, id) {
    return ((world && world[kind]) || []).find((x) => String(x.id) === String(id));
  }

  return { View, find };
})();
