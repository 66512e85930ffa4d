"""What every app shares: the world's clock, time zones, and the people in it (the user first)."""

from __future__ import annotations

from dataclasses import dataclass
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
HOTELS = [("London", "Pancras Grand Hotel", "King's Cross", 4, 230), ("London", "Soho Square Inn", "Soho", 3, 180),
          ("London", "Thames View Hotel", "South Bank", 5, 390), ("Berlin", "Hotel Mitte", "Mitte", 4, 150),
          ("Berlin", "Spree Loft", "Friedrichshain", 3, 110), ("Berlin", "Tiergarten Palace", "Tiergarten", 5, 280),
          ("Paris", "Hotel du Marais", "Le Marais", 4, 220), ("Paris", "Gare du Nord Hotel", "10e", 3, 140),
          ("Paris", "Rive Gauche Palace", "Saint-Germain", 5, 420), ("New York", "Midtown Tower", "Midtown", 4, 310),
          ("New York", "Brooklyn Bridge Inn", "Brooklyn", 3, 210), ("New York", "Central Park Grand", "Upper East Side", 5, 520)]
RESTAURANTS = [("London", "Granary Kitchen", "King's Cross", "British", 45), ("London", "Coal Drops Bistro", "King's Cross", "French", 55),
               ("London", "Pancras Pasta", "King's Cross", "Italian", 35), ("London", "Canal Sushi", "King's Cross", "Japanese", 60),
               ("London", "Soho Tandoor", "Soho", "Indian", 40), ("London", "Little Lisbon", "Soho", "Portuguese", 45),
               ("London", "Shoreditch Smokehouse", "Shoreditch", "Barbecue", 38),
               ("London", "Garden Court", "Covent Garden", "Modern European", 70),
               ("Berlin", "Spree Haus", "Mitte", "German", 40), ("Berlin", "Kreuzberg Kitchen", "Kreuzberg", "Middle Eastern", 30),
               ("Paris", "Le Petit Marais", "Le Marais", "French", 60), ("Paris", "Canal Saint-Martin Bistro", "10e", "French", 45),
               ("New York", "Hudson Yards Grill", "Midtown", "Steakhouse", 90),
               ("New York", "Brooklyn Noodle Bar", "Brooklyn", "Asian", 35)]
MEETING_TITLES = ["Roadmap review", "Design critique", "Hiring sync", "Customer call", "Budget planning",
                  "Architecture deep-dive", "Quarterly OKRs", "Interview", "Vendor demo", "Focus time"]
WORK_START, WORK_END = 9, 17  # everyone's working hours, in their own time zone


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    timezone: str
    organisation: str
    role: str

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass(frozen=True)
class Cast:
    """The entities a world is built from: the user and the people they work with, their office, the venues.

    `people[0]` is the user. The apps give the first seven people fixed parts, so a world with other names
    keeps the same shape: 1 the user's manager (Berlin), 2 a designer and 5 an engineer on the user's team,
    3 a colleague in Singapore, 4 one in New York, 6 a contact at another company. Anyone after those is
    simply in the address book. Hotels are (city, name, neighbourhood, stars, typical nightly price);
    restaurants are (city, name, neighbourhood, cuisine, price per person); prices in GBP.
    """

    people: tuple[Person, ...]
    office: str
    hotels: tuple[tuple[str, str, str, int, int], ...]
    restaurants: tuple[tuple[str, str, str, str, int], ...]
    meeting_titles: tuple[str, ...]

    @property
    def user(self) -> Person:
        return self.people[0]

    def __post_init__(self):
        if len(self.people) < 7:
            raise ValueError(f"a cast needs at least 7 people (the user and six colleagues), not {len(self.people)}")
        emails = [p.email for p in self.people]
        if len(set(emails)) != len(emails):
            raise ValueError("every person in a cast needs their own e-mail address")

DEFAULT_CAST = Cast(people=tuple(Person(*p) for p in PEOPLE), office=OFFICE, hotels=tuple(HOTELS),
                    restaurants=tuple(RESTAURANTS), meeting_titles=tuple(MEETING_TITLES))

SCHEMA = """
CREATE TABLE IF NOT EXISTS world (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (email TEXT PRIMARY KEY, name TEXT NOT NULL, timezone TEXT NOT NULL,
                                   organisation TEXT NOT NULL, role TEXT NOT NULL);
"""
TABLES = ("world", "people")


def reset_world(store: Store, seed: int, cast: Cast) -> None:
    store.clear(TABLES)
    store.executemany("INSERT INTO world VALUES (?, ?)",
                      [("now", to_db(NOW)), ("user", cast.user.email), ("office", cast.office), ("seed", str(seed))])
    store.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?)",
                      [(p.email, p.name, p.timezone, p.organisation, p.role) for p in cast.people])


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
