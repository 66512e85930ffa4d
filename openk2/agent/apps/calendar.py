"""Calendar app: events with time zones and attendees, free slots across people, conflict detection."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..tools import Tool, function_tool
from .store import Store
from .world import (NOW, WORK_END, WORK_START, Cast, find_person, from_db, now, parse_time, setting, show_time, to_db,
                    user, zone)

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, title TEXT NOT NULL, start_utc TEXT NOT NULL,
    end_utc TEXT NOT NULL, timezone TEXT NOT NULL, organizer TEXT NOT NULL, location TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS attendees (event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    email TEXT NOT NULL, PRIMARY KEY (event_id, email));
"""
MAX_EVENT = timedelta(days=7)
MAX_SEARCH_WINDOW = timedelta(days=31)



class Calendar:
    """The user's calendar, and everyone else's busy times, in one shared SQLite world."""

    name = "calendar"
    tables = ("events", "attendees")

    def __init__(self, store: Store):
        self.store = store
        store.script(SCHEMA)

    # --- world building -------------------------------------------------------------------------

    def reset(self, rng: random.Random, cast: Cast) -> None:
        """A fresh fortnight (this week and next): daily stand-ups, a weekly 1:1 and random meetings."""
        self.store.clear(self.tables)
        people = [p.email for p in cast.people]
        me, manager = people[0], cast.people[1]
        home, manager_zone = ZoneInfo(cast.user.timezone), ZoneInfo(manager.timezone)
        monday = NOW.astimezone(home).date()
        days = [monday + timedelta(days=d) for d in range(14) if (monday + timedelta(days=d)).weekday() < 5]
        team = [me, people[2], people[5]]
        for day in days:
            self.insert("Stand-up", datetime.combine(day, time(9, 30), home), timedelta(minutes=15), home.key,
                        me, team, location="Video call")
            if day.weekday() == 1:
                self.insert(f"1:1 {manager.first_name} / {cast.user.first_name}",
                            datetime.combine(day, time(14, 0), manager_zone), timedelta(minutes=30), manager_zone.key,
                            manager.email, [manager.email, me])
        for _ in range(40):  # random meetings that fit everyone's working hours and existing diaries
            organizer = rng.choice(people[:7])
            guests = [organizer] + rng.sample([p for p in people[:7] if p != organizer], rng.randint(0, 2))
            tz = zone(self.person_zone(organizer))
            day = rng.choice(days)
            start = datetime.combine(day, time(rng.randint(WORK_START, WORK_END - 2), rng.choice((0, 30))), tz)
            length = timedelta(minutes=rng.choice((30, 60, 60, 90)))
            fits = all(working_hours(zone(self.person_zone(g)), start, start + length) for g in guests)
            if fits and not self.busy(guests, start, start + length):
                self.insert(rng.choice(cast.meeting_titles), start, length, tz.key, organizer, guests)

    def insert(self, title: str, start: datetime, length: timedelta, tz: str, organizer: str, guests: list[str],
               location: str = "", description: str = "") -> int:
        with self.store.transaction():
            event_id = self.store.execute(
                "INSERT INTO events (title, start_utc, end_utc, timezone, organizer, location, description) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [title, to_db(start), to_db(start + length), tz, organizer, location, description])
            self.store.executemany("INSERT INTO attendees VALUES (?, ?)", [(event_id, g) for g in dict.fromkeys(guests)])
        return event_id

    # --- queries the tools share ----------------------------------------------------------------

    def person_zone(self, email: str) -> str:
        return find_person(self.store, email)["timezone"] or user(self.store)["timezone"]


    def busy(self, emails: list[str], start: datetime, end: datetime, skip_event: int | None = None) -> list[dict]:
        """Events of any of these people overlapping [start, end), each with who among them attends."""
        marks = ",".join("?" * len(emails))
        rows = self.store.rows(
            f"SELECT e.*, group_concat(a.email) AS who FROM events e JOIN attendees a ON a.event_id = e.id "
            f"WHERE a.email IN ({marks}) AND e.start_utc < ? AND e.end_utc > ? AND e.id IS NOT ? "
            f"GROUP BY e.id ORDER BY e.start_utc, e.id", [*emails, to_db(end), to_db(start), skip_event])
        return rows

    def view(self, event: dict, tz: ZoneInfo) -> dict:
        guests = [r["email"] for r in self.store.rows("SELECT email FROM attendees WHERE event_id = ? ORDER BY rowid", [event["id"]])]
        view = {"id": event["id"], "title": event["title"], "start": show_time(from_db(event["start_utc"]), tz),
                "end": show_time(from_db(event["end_utc"]), tz), "timezone": event["timezone"],
                "organizer": event["organizer"], "attendees": guests}
        # Empty fields are left out: every token of a tool result is one the model reads on every later turn.
        return view | {k: event[k] for k in ("location", "description") if event[k]}

    def view_zone(self, timezone: str | None) -> ZoneInfo:
        return zone(timezone or user(self.store)["timezone"])

    def event(self, event_id: int) -> dict:
        found = self.store.row("SELECT * FROM events WHERE id = ?", [event_id])
        if found is None:
            raise ValueError(f"no event with id {event_id}")
        return found

    def window(self, start: str | None, end: str | None, tz: ZoneInfo, default: timedelta) -> tuple[datetime, datetime]:
        a = parse_time(start, tz) if start else now(self.store)
        b = parse_time(end, tz) if end else a + default
        if b <= a:
            raise ValueError(f"end ({end}) must be after start ({start})")
        if b - a > MAX_SEARCH_WINDOW:
            raise ValueError("search windows are limited to 31 days")
        return a, b

    def conflicts(self, guests: list[str], start: datetime, end: datetime, tz: ZoneInfo, skip_event: int | None = None) -> list[str]:
        return [f"#{e['id']} {e['title']!r} {show_time(from_db(e['start_utc']), tz)} to "
                f"{show_time(from_db(e['end_utc']), tz)} (busy: {e['who']})"
                for e in self.busy(guests, start, end, skip_event)]

    def checked_span(self, a: datetime, b: datetime) -> tuple[datetime, datetime]:
        if b <= a:
            raise ValueError(f"the end ({b.isoformat()}) must be after the start ({a.isoformat()})")
        if b - a > MAX_EVENT:
            raise ValueError("events are limited to 7 days")
        return a, b

    # --- tools ----------------------------------------------------------------------------------

    def current_time(self, timezone: str | None = None) -> dict:
        """The current date and time.

        Args:
            timezone: IANA time zone to show it in (default: the user's).
        """
        tz = self.view_zone(timezone)
        local = now(self.store).astimezone(tz)
        return {"now": show_time(local, tz), "weekday": local.strftime("%A"), "timezone": tz.key}

    def list_events(self, start: str | None = None, end: str | None = None, timezone: str | None = None) -> list[dict]:
        """The user's events overlapping a time window, in start order.

        Args:
            start: ISO 8601 start of the window, e.g. 2025-06-09T00:00 (default: now).
            end: ISO 8601 end of the window (default: 7 days after start).
            timezone: IANA time zone for times without an offset and for the answer (default: the user's).
        """
        tz = self.view_zone(timezone)
        a, b = self.window(start, end, tz, timedelta(days=7))
        return [self.view(e, tz) for e in self.busy([setting(self.store, "user")], a, b)]

    def search_events(self, query: str, timezone: str | None = None) -> list[dict]:
        """The user's events whose title, description, location or attendees contain the query.

        Args:
            query: text to look for (case-insensitive).
            timezone: IANA time zone for the answer (default: the user's).
        """
        tz = self.view_zone(timezone)
        rows = self.store.rows(
            "SELECT DISTINCT e.* FROM events e JOIN attendees me ON me.event_id = e.id AND me.email = ? "
            "JOIN attendees a ON a.event_id = e.id WHERE instr(lower(e.title || ' ' || e.description || ' ' || "
            "e.location || ' ' || a.email), lower(?)) > 0 ORDER BY e.start_utc, e.id", [setting(self.store, "user"), query])
        return [self.view(e, tz) for e in rows]

    def get_event(self, event_id: int, timezone: str | None = None) -> dict:
        """One event by id.

        Args:
            event_id: the event's id.
            timezone: IANA time zone for the answer (default: the user's).
        """
        return self.view(self.event(event_id), self.view_zone(timezone))

    def create_event(self, title: str, start: str, end: str, timezone: str | None = None,
                     attendees: list[str] | None = None, location: str = "", description: str = "",
                     allow_conflicts: bool = False) -> dict:
        """Create an event on the user's calendar and invite attendees. Refuses overlaps unless allowed.

        Args:
            title: the event's title.
            start: ISO 8601 start, e.g. 2025-06-10T14:00 (read in `timezone` unless it has an offset).
            end: ISO 8601 end.
            timezone: IANA time zone of the event (default: the user's).
            attendees: e-mail addresses or contact names to invite; the user always attends.
            location: where it happens.
            description: notes for the attendees.
            allow_conflicts: create it even if it overlaps someone's existing events.
        """
        tz = self.view_zone(timezone)
        a, b = self.checked_span(parse_time(start, tz), parse_time(end, tz))
        me = setting(self.store, "user")
        guests = list(dict.fromkeys([me] + [find_person(self.store, who)["email"] for who in attendees or []]))
        with self.store.transaction():  # check and insert atomically: parallel calls must not double-book
            clashes = self.conflicts(guests, a, b, tz)
            if clashes and not allow_conflicts:
                raise ValueError(f"conflicts with {'; '.join(clashes)}. Pick another time or set allow_conflicts")
            event_id = self.insert(title, a, b - a, tz.key, me, guests, location, description)
        return {**self.view(self.event(event_id), tz), "conflicts": clashes}

    def update_event(self, event_id: int, title: str | None = None, start: str | None = None, end: str | None = None,
                     timezone: str | None = None, attendees: list[str] | None = None, location: str | None = None,
                     description: str | None = None, allow_conflicts: bool = False) -> dict:
        """Change an event; fields left out stay as they are. Refuses overlaps unless allowed.

        Args:
            event_id: the event's id.
            title: new title.
            start: new ISO 8601 start (read in `timezone` unless it has an offset).
            end: new ISO 8601 end.
            timezone: IANA time zone for the new times and of the event (default: the event's own).
            attendees: the new full list of attendees (e-mail addresses or contact names).
            location: new location.
            description: new description.
            allow_conflicts: save it even if it overlaps someone's existing events.
        """
        event = self.event(event_id)
        tz = zone(timezone or event["timezone"])
        a = parse_time(start, tz) if start else from_db(event["start_utc"])
        b = parse_time(end, tz) if end else from_db(event["end_utc"]) + (a - from_db(event["start_utc"]))
        a, b = self.checked_span(a, b)
        current = [r["email"] for r in self.store.rows("SELECT email FROM attendees WHERE event_id = ? ORDER BY rowid", [event_id])]
        guests = current if attendees is None else list(dict.fromkeys(
            [event["organizer"]] + [find_person(self.store, who)["email"] for who in attendees]))
        with self.store.transaction():
            clashes = self.conflicts(guests, a, b, tz, skip_event=event_id)
            if clashes and not allow_conflicts:
                raise ValueError(f"conflicts with {'; '.join(clashes)}. Pick another time or set allow_conflicts")
            self.store.execute(
                "UPDATE events SET title = ?, start_utc = ?, end_utc = ?, timezone = ?, location = ?, description = ? WHERE id = ?",
                [title if title is not None else event["title"], to_db(a), to_db(b), tz.key,
                 location if location is not None else event["location"],
                 description if description is not None else event["description"], event_id])
            self.store.execute("DELETE FROM attendees WHERE event_id = ?", [event_id])
            self.store.executemany("INSERT INTO attendees VALUES (?, ?)", [(event_id, g) for g in guests])
        return {**self.view(self.event(event_id), tz), "conflicts": clashes}

    def delete_event(self, event_id: int) -> dict:
        """Delete an event from everyone's calendar.

        Args:
            event_id: the event's id.
        """
        event = self.view(self.event(event_id), self.view_zone(None))
        self.store.execute("DELETE FROM events WHERE id = ?", [event_id])
        return {"deleted": event}

    def find_free_slots(self, attendees: list[str], start: str | None = None, end: str | None = None,
                        duration_minutes: int = 60, timezone: str | None = None, limit: int = 10) -> list[dict]:
        """Times when the user and all attendees are free, within everyone's working hours (9:00-17:00 Mon-Fri, local time).

        Args:
            attendees: e-mail addresses or contact names (the user is always included).
            start: ISO 8601 start of the search window (default: now).
            end: ISO 8601 end of the search window (default: 7 days after start).
            duration_minutes: length of the meeting.
            timezone: IANA time zone for times without an offset and for the answer (default: the user's).
            limit: at most this many slots.
        """
        if not 5 <= duration_minutes <= 8 * 60:
            raise ValueError("duration_minutes must be between 5 and 480")
        tz = self.view_zone(timezone)
        a, b = self.window(start, end, tz, timedelta(days=7))
        guests = list(dict.fromkeys([setting(self.store, "user")] + [find_person(self.store, w)["email"] for w in attendees]))
        busy = [(from_db(e["start_utc"]), from_db(e["end_utc"])) for e in self.busy(guests, a, b)]
        length, step = timedelta(minutes=duration_minutes), timedelta(minutes=30)
        zones = [zone(self.person_zone(g)) for g in guests]
        t = max(a, now(self.store))
        t = round_up(t, step)
        slots = []
        while t + length <= b and len(slots) < limit:
            if (all(working_hours(z, t, t + length) for z in zones)
                    and not any(s < t + length and t < e for s, e in busy)):
                slots.append({"start": show_time(t, tz), "end": show_time(t + length, tz)})
            t += step
        return slots

    def tools(self) -> list[Tool]:
        return [function_tool(self.current_time), function_tool(self.list_events), function_tool(self.search_events),
                function_tool(self.get_event), function_tool(self.create_event), function_tool(self.update_event),
                function_tool(self.delete_event, side_effect=True), function_tool(self.find_free_slots)]


def working_hours(tz: ZoneInfo, start: datetime, end: datetime) -> bool:
    """Whether [start, end) lies within one working day (Mon-Fri, WORK_START to WORK_END) in time zone tz."""
    day = start.astimezone(tz).date()
    opens, closes = datetime.combine(day, time(WORK_START), tz), datetime.combine(day, time(WORK_END), tz)
    return day.weekday() < 5 and opens <= start and end <= closes


def round_up(t: datetime, step: timedelta) -> datetime:
    """The first whole step (counted from the top of the hour) at or after t: slots start on the half hour."""
    rounded = t.replace(minute=0, second=0, microsecond=0)
    while rounded < t:
        rounded += step
    return rounded
