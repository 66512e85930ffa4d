"""The calendar, email and booking apps: seeded reproducible state, time zones, conflicts, capacity, cancellations."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from openk2.agent.apps import World
from openk2.agent.apps.world import USER

ANNA, CHEN, DANA = "anna.schmidt@northwind.example", "chen.wei@northwind.example", "dana.cruz@northwind.example"


@pytest.fixture(scope="module")
def pristine() -> dict:
    return World(seed=0).snapshot()


@pytest.fixture
def world() -> World:
    return World(seed=0)


def call(world: World, name: str, **arguments):
    """Through the tool interface, as the model calls it."""
    tool = next(t for t in world.tools() if t.name == name)
    result = asyncio.run(tool.run(arguments))
    return result if result.is_error else json.loads(result.content)


# --- the world ---------------------------------------------------------------------------------

def test_reset_is_reproducible_and_seeds_differ(world, pristine):
    assert world.snapshot() == pristine
    assert World(seed=1).snapshot() != pristine
    world.apps["calendar"].delete_event(1)
    world.reset(0)
    assert world.snapshot() == pristine
    tables = pristine.keys()
    assert {"events", "emails", "flights", "bookings", "people"} <= set(tables)


def test_a_database_file_keeps_its_state(tmp_path):
    path = tmp_path / "world.sqlite"
    World(path, seed=3).apps["email"].send_email(["Anna"], "Hi", "Hello")
    reopened = World(path, seed=99)  # an existing world is not reseeded
    assert reopened.apps["email"].search_emails(folder="sent", query="Hello")[0]["to"] == [ANNA]


def test_apps_and_tools():
    with pytest.raises(ValueError, match="unknown app 'chess'"):
        World(apps=["chess"])
    world = World(apps=["calendar"])
    names = [t.name for t in World().tools()]
    assert len(names) == len(set(names)) and "create_event" in names and "book_hotel" in names
    assert all(t.description for t in World().tools())
    assert [t.name for t in world.tools()][0] == "current_time"
    side_effects = {t.name for t in World().tools() if t.side_effect}
    assert side_effects == {"delete_event", "send_email", "reply_to_email", "send_draft", "book_flight", "book_hotel",
                            "book_restaurant", "cancel_booking"}
    assert "Sam Taylor" in world.describe() and "Monday 02 June 2025, 09:00" in world.describe()


# --- calendar ----------------------------------------------------------------------------------

def test_events_keep_their_time_zone_and_show_in_any(world):
    event = call(world, "create_event", title="Sync", start="2025-06-10T16:00", end="2025-06-10T16:30",
                 timezone="Europe/Berlin", attendees=["Anna"])
    assert event["start"] == "2025-06-10T16:00+02:00" and event["timezone"] == "Europe/Berlin"  # in its own zone
    assert call(world, "get_event", event_id=event["id"])["start"] == "2025-06-10T15:00+01:00"  # the user's, by default
    assert event["attendees"] == [USER, ANNA] and event["conflicts"] == []
    assert call(world, "get_event", event_id=event["id"], timezone="Asia/Singapore")["start"] == "2025-06-10T22:00+08:00"
    # An explicit offset wins over the timezone argument.
    offset = call(world, "create_event", title="Call", start="2025-06-11T15:00:00Z", end="2025-06-11T15:30:00Z",
                  timezone="America/New_York")
    assert offset["start"] == "2025-06-11T11:00-04:00"
    listed = call(world, "list_events", start="2025-06-10T00:00", end="2025-06-11T00:00")
    assert event["id"] in [e["id"] for e in listed]
    assert [e["start"] for e in listed] == sorted(e["start"] for e in listed)
    assert "unknown time zone 'Mars/Olympus'" in call(world, "current_time", timezone="Mars/Olympus").content
    assert "not an ISO 8601" in call(world, "list_events", start="next tuesday").content


def test_conflicts_are_detected_for_the_user_and_attendees(world):
    standup = call(world, "search_events", query="Stand-up")[5]  # Monday 9 June, 9:30 London
    assert standup["start"] == "2025-06-09T09:30+01:00"
    clash = call(world, "create_event", title="Clash", start="2025-06-09T09:00", end="2025-06-09T10:00")
    assert clash.is_error and "conflicts with" in clash.content and "Stand-up" in clash.content
    forced = call(world, "create_event", title="Clash", start="2025-06-09T09:00", end="2025-06-09T10:00",
                  allow_conflicts=True)
    assert len(forced["conflicts"]) == 1
    # An attendee's own meeting counts too, even when the user is free.
    store = world.store
    theirs = store.row("SELECT e.* FROM events e WHERE NOT EXISTS (SELECT 1 FROM attendees a WHERE a.event_id = e.id "
                       "AND a.email = ?) ORDER BY id LIMIT 1", [USER])
    who = store.row("SELECT email FROM attendees WHERE event_id = ?", [theirs["id"]])["email"]
    blocked = call(world, "create_event", title="Meet", start=theirs["start_utc"], end=theirs["end_utc"], attendees=[who])
    assert blocked.is_error and who in blocked.content
    # Moving an event onto a busy time is refused the same way; overlapping only itself is no conflict.
    refused = call(world, "update_event", event_id=standup["id"], start="2025-06-09T09:35")
    assert refused.is_error and f"#{forced['id']} 'Clash'" in refused.content
    call(world, "delete_event", event_id=forced["id"])
    moved = call(world, "update_event", event_id=standup["id"], start="2025-06-09T09:35")
    assert moved["start"] == "2025-06-09T09:35+01:00" and moved["end"] == "2025-06-09T09:50+01:00"


def test_update_and_delete(world):
    event = call(world, "create_event", title="Draft", start="2025-06-12T11:00", end="2025-06-12T12:00",
                 attendees=["anna.schmidt@northwind.example"])
    updated = call(world, "update_event", event_id=event["id"], title="Final", attendees=["Ben Okafor"], location="Room 4")
    assert updated["title"] == "Final" and updated["attendees"] == [USER, "ben.okafor@northwind.example"]
    assert updated["start"] == event["start"] and updated["location"] == "Room 4"
    assert call(world, "delete_event", event_id=event["id"])["deleted"]["title"] == "Final"
    assert "no event with id" in call(world, "get_event", event_id=event["id"]).content
    assert world.store.rows("SELECT * FROM attendees WHERE event_id = ?", [event["id"]]) == []


def test_free_slots_respect_everyones_diary_and_working_hours(world):
    calendar = world.apps["calendar"]
    slots = call(world, "find_free_slots", attendees=["Anna"], start="2025-06-09T00:00", end="2025-06-14T00:00",
                 duration_minutes=60, limit=50)
    assert len(slots) > 30
    for slot in slots:  # each slot: free for both, 9-17 London for Sam and 9-17 Berlin (8-16 London) for Anna
        assert "09:00" <= slot["start"][11:16] and slot["end"][11:16] <= "16:00"
        from datetime import datetime
        start, end = datetime.fromisoformat(slot["start"]), datetime.fromisoformat(slot["end"])
        assert not calendar.busy([USER, ANNA], start, end)
    # Singapore's working day ends at 10:00 in London, and the stand-up takes 9:30-9:45.
    with_chen = call(world, "find_free_slots", attendees=[CHEN], start="2025-06-09T00:00", end="2025-06-14T00:00",
                     duration_minutes=30)
    assert with_chen and all(s["start"][11:16] == "09:00" for s in with_chen)
    assert call(world, "find_free_slots", attendees=[CHEN, DANA], start="2025-06-09T00:00", end="2025-06-14T00:00") == []
    # Shown in another zone on request; never in the past.
    in_berlin = call(world, "find_free_slots", attendees=["Anna"], timezone="Europe/Berlin", limit=1)
    assert in_berlin[0]["start"].endswith("+02:00") and in_berlin[0]["start"] >= "2025-06-02T10:00"
    assert "ambiguous" not in call(world, "find_free_slots", attendees=["Nobody Known"]).content


# --- email -------------------------------------------------------------------------------------

def test_search_read_and_folders(world):
    inbox = call(world, "search_emails", folder="inbox")
    assert inbox[0]["date"] >= inbox[-1]["date"] and {"id", "from", "subject", "snippet", "unread"} <= set(inbox[0])
    found = call(world, "search_emails", query="Q3 roadmap")
    assert [e["from"] for e in found] == [ANNA]
    email = call(world, "read_email", email_id=found[0]["id"])
    assert "Dinner near your office" in email["body"] and email["unread"] is False
    assert call(world, "search_emails", sender="Anna", unread_only=True) == []
    folders = {f["folder"]: f for f in call(world, "list_folders")}
    assert folders["drafts"]["total"] == 1 and folders["trash"]["total"] == 0
    moved = call(world, "move_email", email_id=email["id"], folder="Archive")
    assert moved["folder"] == "archive" and call(world, "search_emails", query="Q3 roadmap", folder="inbox") == []
    assert call(world, "move_email", email_id=email["id"], folder="sent").is_error


def test_send_reply_and_drafts(world):
    sent = call(world, "send_email", to=["Anna", "priya.patel@acme.example"], cc=["ben.okafor@northwind.example"],
                subject="Dinner", body="Table booked for 19:00.")
    assert sent["folder"] == "sent" and sent["to"] == [ANNA, "priya.patel@acme.example"] and sent["from"] == USER
    assert sent["date"] == "2025-06-02T09:00+01:00"
    assert "no contact called 'Zed'" in call(world, "send_email", to=["Zed"], subject="x", body="y").content
    original = call(world, "search_emails", query="Q3 roadmap")[0]
    reply = call(world, "reply_to_email", email_id=original["id"], body="Tuesday works.")
    assert reply["subject"] == "Re: Next week" and reply["to"] == [ANNA] and reply["in_reply_to"] == original["id"]
    draft = call(world, "save_draft", to=["Chen"], subject="Offsite", body="The 22nd works.")
    assert draft["folder"] == "drafts" and draft["date"] is None
    assert call(world, "send_draft", draft_id=draft["id"])["folder"] == "sent"
    assert "not a draft" in call(world, "send_draft", draft_id=draft["id"]).content
    assert call(world, "search_contacts", query="acme")[0]["email"] == "priya.patel@acme.example"


# --- booking -----------------------------------------------------------------------------------

def test_restaurant_capacity_and_cancellation(world):
    booking = world.apps["booking"]
    slot = world.store.row("SELECT * FROM restaurant_slots WHERE restaurant_id = 'R1' AND day = '2025-06-09' AND time = '19:00'")
    seats = slot["seats_left"]
    assert seats >= 2
    found = call(world, "search_restaurants", city="London", date="2025-06-09", time="19:00", party_size=seats,
                 neighbourhood="King's Cross")
    assert "R1" in [r["id"] for r in found] and all(r["neighbourhood"] == "King's Cross" for r in found)
    first = call(world, "book_restaurant", restaurant_id="R1", date="2025-06-09", time="19:00", party_size=seats - 1)
    assert first["status"] == "confirmed" and first["price"] == 45 * (seats - 1) and first["starts"] == "2025-06-09T19:00+01:00"
    full = call(world, "book_restaurant", restaurant_id="R1", date="2025-06-09", time="19:00", party_size=2)
    assert full.is_error and "only 1 seats left" in full.content
    assert call(world, "check_availability", item_id="R1", date="2025-06-09", time="19:00", quantity=2)["available"] is False
    cancelled = call(world, "cancel_booking", booking_id=first["id"])
    assert cancelled["status"] == "cancelled" and cancelled["refund"] == 0
    assert booking.seating("R1", "2025-06-09", "19:00")["seats_left"] == seats
    assert "already cancelled" in call(world, "cancel_booking", booking_id=first["id"]).content
    assert "no seating at 08:00" in call(world, "book_restaurant", restaurant_id="R1", date="2025-06-03", time="08:00",
                                         party_size=2).content
    assert "outside the catalogue" in call(world, "search_restaurants", city="London", date="2025-07-30").content


def test_parallel_bookings_never_oversell(world):
    booking = world.apps["booking"]
    world.store.execute("UPDATE restaurant_slots SET seats_left = 3 WHERE restaurant_id = 'R2' AND day = '2025-06-10' AND time = '20:00'")

    def try_book(_):
        try:
            return booking.book_restaurant("R2", "2025-06-10", "20:00", 1)
        except ValueError:
            return None

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(try_book, range(8)))
    assert sum(r is not None for r in results) == 3
    assert booking.seating("R2", "2025-06-10", "20:00")["seats_left"] == 0


def test_flights_fares_and_refunds(world):
    flights = call(world, "search_flights", origin="LHR", destination="Berlin", date="2025-06-10", passengers=2)
    assert flights and all(f["seats_left"] >= 2 for f in flights)
    flight = flights[0]
    assert flight["departs"].startswith("2025-06-10") and flight["arrives"].endswith("+02:00")
    saver = call(world, "book_flight", flight_id=flight["id"], passengers=2)
    flex = call(world, "book_flight", flight_id=flight["id"], passengers=0)
    assert "between 1 and 9" in flex.content
    flex = call(world, "book_flight", flight_id=flight["id"], fare="flex")
    assert saver["price"] == 2 * flight["price_saver"] and flex["price"] == flight["price_flex"]
    assert call(world, "check_availability", item_id=flight["id"], date="2025-06-10")["seats_left"] == flight["seats_left"] - 3
    assert call(world, "cancel_booking", booking_id=saver["id"])["refund"] == 0
    assert call(world, "cancel_booking", booking_id=flex["id"])["refund"] == flight["price_flex"]
    assert call(world, "check_availability", item_id=flight["id"], date="2025-06-10")["seats_left"] == flight["seats_left"]
    sold_out = world.store.row("SELECT * FROM flights WHERE seats_left = 0 AND depart_utc > '2025-06-03' LIMIT 1")
    assert "only 0 seats left" in call(world, "book_flight", flight_id=sold_out["id"]).content
    assert "unknown city 'Atlantis'" in call(world, "search_flights", origin="Atlantis", destination="Paris",
                                             date="2025-06-10").content


def test_hotel_stays_and_late_cancellation(world):
    hotels = call(world, "search_hotels", city="Berlin", check_in="2025-06-09", check_out="2025-06-12")
    assert hotels and all(h["rooms_left"] >= 1 and len(h["nightly_prices"]) == 3 for h in hotels)
    hotel = hotels[0]
    stay = call(world, "book_hotel", hotel_id=hotel["id"], check_in="2025-06-09", check_out="2025-06-12")
    assert stay["price"] == hotel["price_total"] and (stay["starts"], stay["ends"]) == ("2025-06-09", "2025-06-12")
    nights = world.store.rows("SELECT rooms_left FROM hotel_nights WHERE hotel_id = ? AND night BETWEEN '2025-06-09' AND '2025-06-11'",
                              [hotel["id"]])
    assert len(nights) == 3
    assert call(world, "cancel_booking", booking_id=stay["id"])["refund"] == stay["price"]  # a week ahead: free
    # Tomorrow's check-in is less than a day away: the first night is charged.
    tomorrow = call(world, "search_hotels", city="London", check_in="2025-06-03", check_out="2025-06-05")[0]
    late = call(world, "book_hotel", hotel_id=tomorrow["id"], check_in="2025-06-03", check_out="2025-06-05")
    refund = call(world, "cancel_booking", booking_id=late["id"])["refund"]
    assert refund == late["price"] - tomorrow["nightly_prices"][0]
    assert "check_out must be after check_in" in call(world, "book_hotel", hotel_id="H1", check_in="2025-06-05",
                                                      check_out="2025-06-05").content
    assert [b["kind"] for b in call(world, "list_bookings")] == ["restaurant", "hotel"]
    assert len(call(world, "list_bookings", include_cancelled=True)) == 4
