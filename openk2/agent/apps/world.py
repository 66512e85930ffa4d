"""What every app shares: the world's clock, time zones, and the people in it (the user first)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .store import Store

# The world is frozen at one moment so that tasks ("next week", "tomorrow") mean the same thing on every run.
NOW = datetime(2025, 6, 2, 8, 0, tzinfo=timezone.utc)  # Monday 2 June 2025, 09:00 in London
USER = "sam.taylor@northwind.example"
OFFICE = "Northwind Labs, 5 Pancras Square, King's Cross, London N1C 4AG"

# (email, name, time zone, organisation, role); the user is the first person.
PEOPLE = [
    (USER, "Sam Taylor", "Europe/London", "Northwind Labs", "product lead"),
    ("anna.schmidt@northwind.example", "Anna Schmidt", "Europe/Berlin", "Northwind Labs", "engineering manager"),
    ("ben.okafor@northwind.example", "Ben Okafor", "Europe/London", "Northwind Labs", "designer"),
    ("chen.wei@northwind.example", "Chen Wei", "Asia/Singapore", "Northwind Labs", "sales lead APAC"),
    ("dana.cruz@northwind.example", "Dana Cruz", "America/New_York", "Northwind Labs", "research scientist"),
    ("eli.novak@northwind.example", "Eli Novak", "Europe/Berlin", "Northwind Labs", "engineer"),
    ("priya.patel@acme.example", "Priya Patel", "Europe/London", "Acme Corp", "procurement"),
]
WORK_START, WORK_END = 9, 17  # everyone's working hours, in their own time zone

SCHEMA = """
CREATE TABLE IF NOT EXISTS world (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (email TEXT PRIMARY KEY, name TEXT NOT NULL, timezone TEXT NOT NULL,
                                   organisation TEXT NOT NULL, role TEXT NOT NULL);
"""
TABLES = ("world", "people")


def reset_world(store: Store, seed: int) -> None:
    store.clear(TABLES)
    store.executemany("INSERT INTO world VALUES (?, ?)",
                      [("now", to_db(NOW)), ("user", USER), ("office", OFFICE), ("seed", str(seed))])
    store.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)", PEOPLE)


def setting(store: Store, key: str) -> str:
    return store.row("SELECT value FROM world WHERE key = ?", [key])["value"]


def now(store: Store) -> datetime:
    return from_db(setting(store, "now"))


def user(store: Store) -> dict:
    return store.row("SELECT * FROM people WHERE email = ?", [setting(store, "user")])


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin") from None


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601 text -> an aware UTC datetime; a time without an offset is read in `tz`."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time such as 2025-06-10T14:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(timezone.utc)


def show_time(dt: datetime, tz: ZoneInfo) -> str:
    """How the apps show a moment: local ISO 8601 with its UTC offset, to the minute."""
    return dt.astimezone(tz).isoformat(timespec="minutes")


def to_db(dt: datetime) -> str:
    # One fixed format in UTC, so that string comparison in SQL is time comparison.
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def from_db(text: str) -> datetime:
    return datetime.fromisoformat(text)


def find_person(store: Store, who: str) -> dict:
    """A person by e-mail address, full name or unique first name; unknown addresses are outside contacts."""
    who = who.strip()
    if found := store.row("SELECT * FROM people WHERE lower(email) = lower(?)", [who]):
        return found
    matches = store.rows("SELECT * FROM people WHERE lower(name) = lower(?) OR lower(name) LIKE lower(?) || ' %'",
                         [who, who])
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ValueError(f"{who!r} is ambiguous: {', '.join(m['name'] + ' <' + m['email'] + '>' for m in matches)}")
    if "@" in who and "." in who.split("@")[-1]:
        return {"email": who.lower(), "name": who, "timezone": None, "organisation": "", "role": ""}
    raise ValueError(f"no contact called {who!r}; use an e-mail address or search_contacts")


def describe(store: Store) -> str:
    """A paragraph for the system prompt: who the user is, where, and when it is now."""
    me, tz = user(store), zone(user(store)["timezone"])
    local = now(store).astimezone(tz)
    return (f"You act for {me['name']} <{me['email']}>, {me['role']} at {me['organisation']}. "
            f"Office: {setting(store, 'office')}. Time zone: {me['timezone']}. "
            f"It is now {local:%A %d %B %Y, %H:%M} ({show_time(local, tz)}).")
