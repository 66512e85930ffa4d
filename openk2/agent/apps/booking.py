"""Booking app: flights, hotels and restaurants from a seeded catalogue, with prices, capacity and cancellations."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Literal

from ..tools import Tool, function_tool
from .store import Store
from .world import NOW, Cast, from_db, now, show_time, to_db, zone

SCHEMA = """
CREATE TABLE IF NOT EXISTS flights (id TEXT PRIMARY KEY, flight_no TEXT NOT NULL, origin TEXT NOT NULL,
    destination TEXT NOT NULL, depart_utc TEXT NOT NULL, arrive_utc TEXT NOT NULL, price_saver REAL NOT NULL,
    price_flex REAL NOT NULL, seats_left INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hotels (id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
    neighbourhood TEXT NOT NULL, stars INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS hotel_nights (hotel_id TEXT NOT NULL REFERENCES hotels(id), night TEXT NOT NULL,
    price REAL NOT NULL, rooms_left INTEGER NOT NULL, PRIMARY KEY (hotel_id, night));
CREATE TABLE IF NOT EXISTS restaurants (id TEXT PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL,
    neighbourhood TEXT NOT NULL, cuisine TEXT NOT NULL, price_per_person REAL NOT NULL);
CREATE TABLE IF NOT EXISTS restaurant_slots (restaurant_id TEXT NOT NULL REFERENCES restaurants(id), day TEXT NOT NULL,
    time TEXT NOT NULL, seats_left INTEGER NOT NULL, PRIMARY KEY (restaurant_id, day, time));
CREATE TABLE IF NOT EXISTS bookings (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, item_id TEXT NOT NULL,
    name TEXT NOT NULL, starts TEXT NOT NULL, ends TEXT, quantity INTEGER NOT NULL, fare TEXT, price REAL NOT NULL,
    status TEXT NOT NULL, refund REAL, booked_at TEXT NOT NULL);
"""
CURRENCY = "GBP"  # every price in the catalogue
CATALOGUE_DAYS = 21
CITIES = {"London": ("LHR", "Europe/London"), "Berlin": ("BER", "Europe/Berlin"), "Paris": ("CDG", "Europe/Paris"),
          "New York": ("JFK", "America/New_York")}
# (city a, city b, airline code, hours in the air, typical saver fare)
ROUTES = [("London", "Berlin", "NW", 1.75, 90), ("London", "Paris", "NW", 1.25, 80), ("London", "New York", "AT", 8.0, 420),
          ("Berlin", "Paris", "EU", 1.75, 85), ("Berlin", "New York", "AT", 9.0, 460), ("Paris", "New York", "AT", 8.5, 440)]
DEPARTURES = (time(7, 30), time(13, 15), time(18, 45))
ROOMS_PER_HOTEL = 8
SEATINGS = tuple(time(h, m) for h, m in [(12, 0), (12, 30), (13, 0), (13, 30), (18, 0), (18, 30), (19, 0), (19, 30),
                                           (20, 0), (20, 30), (21, 0), (21, 30)])
SEATS_PER_SEATING = 24
MAX_PARTY = 12


class Booking:
    """A travel and dining catalogue: search it, check availability, book and cancel (capacity is shared and finite)."""

    name = "booking"
    tables = ("flights", "hotels", "hotel_nights", "restaurants", "restaurant_slots", "bookings")

    def __init__(self, store: Store):
        self.store = store
        store.script(SCHEMA)

    def reset(self, rng: random.Random, cast: Cast) -> None:
        """A fresh three-week catalogue with seeded prices and demand, and two bookings the user already holds."""
        self.store.clear(reversed(self.tables))
        first = NOW.date()
        days = [first + timedelta(days=d) for d in range(CATALOGUE_DAYS)]
        flights = []
        for r, (a, b, airline, hours, fare) in enumerate(ROUTES):
            for n, (origin, destination) in enumerate([(a, b), (b, a)]):
                for k, departs in enumerate(DEPARTURES):
                    number = f"{airline}{100 + r * 10 + n * 5 + k}"
                    for day in days:
                        depart = datetime.combine(day, departs, zone(CITIES[origin][1]))
                        saver = round(fare * rng.uniform(0.7, 1.6))
                        seats = rng.choice([0, 1, 2, 4, 9, 20, 35, 60])
                        flights.append((f"{number}-{day.isoformat()}", number, origin, destination, to_db(depart),
                                        to_db(depart + timedelta(hours=hours)), saver, round(saver * 1.8), seats))
        self.store.executemany("INSERT INTO flights VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", flights)
        hotels = [(f"H{i + 1}", name, city, area, stars) for i, (city, name, area, stars, _) in enumerate(cast.hotels)]
        self.store.executemany("INSERT INTO hotels VALUES (?, ?, ?, ?, ?)", hotels)
        self.store.executemany("INSERT INTO hotel_nights VALUES (?, ?, ?, ?)", [
            (f"H{i + 1}", day.isoformat(), round(price * rng.uniform(0.85, 1.3) * (1.15 if day.weekday() >= 4 else 1)),
             rng.choice([0, 1, 2, 3, 5, ROOMS_PER_HOTEL])) for i, (*_, price) in enumerate(cast.hotels) for day in days])
        restaurants = [(f"R{i + 1}", name, city, area, cuisine, price)
                       for i, (city, name, area, cuisine, price) in enumerate(cast.restaurants)]
        self.store.executemany("INSERT INTO restaurants VALUES (?, ?, ?, ?, ?, ?)", restaurants)
        self.store.executemany("INSERT INTO restaurant_slots VALUES (?, ?, ?, ?)", [
            (rid, day.isoformat(), at.strftime("%H:%M"), SEATS_PER_SEATING - min(SEATS_PER_SEATING, int(
                rng.betavariate(2, 2 if day.weekday() < 4 else 1) * 1.2 * SEATS_PER_SEATING)))
            for rid, *_ in restaurants for day in days for at in SEATINGS])
        # The user already holds a dinner for four this Friday and a hotel stay in two weeks (wherever there is room).
        friday, stay = (first + timedelta(days=4)).isoformat(), (first + timedelta(days=14)).isoformat()
        table = self.store.row("SELECT * FROM restaurant_slots WHERE day = ? AND time >= '19:00' AND seats_left >= 4 "
                               "ORDER BY restaurant_id = ? DESC, time, restaurant_id LIMIT 1",
                               [friday, f"R{min(5, len(restaurants))}"])
        if table:
            self.book_restaurant(table["restaurant_id"], friday, table["time"], 4)
        room = self.store.row("SELECT hotel_id FROM hotel_nights WHERE night IN (?, ?) GROUP BY hotel_id "
                              "HAVING min(rooms_left) >= 1 AND count(*) = 2 ORDER BY hotel_id = ? DESC, hotel_id LIMIT 1",
                              [stay, (first + timedelta(days=15)).isoformat(), f"H{min(7, len(hotels))}"])
        if room:
            self.book_hotel(room["hotel_id"], stay, (first + timedelta(days=16)).isoformat())

    # --- helpers --------------------------------------------------------------------------------

    def day(self, text: str) -> date:
        day, first = parse_day(text), NOW.date()
        if not first <= day < first + timedelta(days=CATALOGUE_DAYS):
            raise ValueError(f"{day} is outside the catalogue, which covers {first} to {first + timedelta(days=CATALOGUE_DAYS - 1)}")
        return day

    def city(self, text: str) -> str:
        for city, (airport, _) in CITIES.items():
            if text.strip().lower() in (city.lower(), airport.lower()):
                return city
        raise ValueError(f"unknown city {text!r}; the catalogue covers {', '.join(CITIES)}")

    def flight(self, flight_id: str) -> dict:
        found = self.store.row("SELECT * FROM flights WHERE id = ?", [flight_id])
        if found is None:
            raise ValueError(f"no flight {flight_id!r}; ids look like NW100-2025-06-10 (from search_flights)")
        return found

    def flight_view(self, f: dict) -> dict:
        depart_tz, arrive_tz = zone(CITIES[f["origin"]][1]), zone(CITIES[f["destination"]][1])
        return {"id": f["id"], "flight_no": f["flight_no"], "from": f"{f['origin']} ({CITIES[f['origin']][0]})",
                "to": f"{f['destination']} ({CITIES[f['destination']][0]})",
                "departs": show_time(from_db(f["depart_utc"]), depart_tz), "arrives": show_time(from_db(f["arrive_utc"]), arrive_tz),
                "price_saver": f["price_saver"], "price_flex": f["price_flex"], "currency": CURRENCY, "seats_left": f["seats_left"]}

    def item(self, table: str, item_id: str) -> dict:
        found = self.store.row(f"SELECT * FROM {table} WHERE id = ?", [item_id])
        if found is None:
            raise ValueError(f"no {table[:-1]} {item_id!r}")
        return found

    def nights(self, check_in: str, check_out: str) -> list[str]:
        """The nights of a stay; the morning of check-out may fall the day after the catalogue ends."""
        a = self.day(check_in)
        b = self.day((parse_day(check_out) - timedelta(days=1)).isoformat()) + timedelta(days=1)
        if b <= a:
            raise ValueError("check_out must be after check_in")
        return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days)]

    def hotel_offer(self, hotel_id: str, nights: list[str], rooms: int) -> dict:
        rows = self.store.rows(f"SELECT * FROM hotel_nights WHERE hotel_id = ? AND night IN ({marks(nights)}) ORDER BY night",
                               [hotel_id, *nights])
        rooms_left = min(r["rooms_left"] for r in rows)
        return {"rooms_left": rooms_left, "available": rooms_left >= rooms,
                "price_total": sum(r["price"] for r in rows) * rooms, "nightly_prices": [r["price"] for r in rows]}

    def seating(self, restaurant_id: str, day: str, at: str) -> dict:
        at = at.strip()[:5]
        found = self.store.row("SELECT * FROM restaurant_slots WHERE restaurant_id = ? AND day = ? AND time = ?",
                               [restaurant_id, self.day(day).isoformat(), at])
        if found is None:
            raise ValueError(f"no seating at {at}; seatings are {', '.join(t.strftime('%H:%M') for t in SEATINGS)}")
        return found

    def record(self, kind: str, item_id: str, name: str, starts: str, ends: str | None, quantity: int,
               fare: str | None, price: float) -> dict:
        booking_id = self.store.execute(
            "INSERT INTO bookings (kind, item_id, name, starts, ends, quantity, fare, price, status, booked_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'confirmed', ?)",
            [kind, item_id, name, starts, ends, quantity, fare, price, to_db(now(self.store))])
        return self.booking(booking_id)

    def booking(self, booking_id: int) -> dict:
        found = self.store.row("SELECT * FROM bookings WHERE id = ?", [booking_id])
        if found is None:
            raise ValueError(f"no booking with id {booking_id}")
        return {**{k: v for k, v in found.items() if k != "booked_at"}, "currency": CURRENCY}

    # --- tools ----------------------------------------------------------------------------------

    def search_flights(self, origin: str, destination: str, date: str, passengers: int = 1) -> list[dict]:
        """Flights on a day (local departure date), with saver (non-refundable) and flex (refundable) fares in GBP.

        Args:
            origin: departure city or airport code (London/LHR, Berlin/BER, Paris/CDG, New York/JFK).
            destination: arrival city or airport code.
            date: departure date, YYYY-MM-DD.
            passengers: how many seats are needed; flights with fewer seats left are left out.
        """
        a, b, day = self.city(origin), self.city(destination), self.day(date)
        tz = zone(CITIES[a][1])
        start = datetime.combine(day, time(0), tz)
        rows = self.store.rows("SELECT * FROM flights WHERE origin = ? AND destination = ? AND depart_utc >= ? AND "
                               "depart_utc < ? AND seats_left >= ? ORDER BY depart_utc",
                               [a, b, to_db(start), to_db(start + timedelta(days=1)), passengers])
        return [self.flight_view(f) for f in rows]

    def search_hotels(self, city: str, check_in: str, check_out: str, rooms: int = 1,
                      max_price_per_night: float | None = None) -> list[dict]:
        """Hotels with enough rooms free on every night of a stay, with the total price in GBP.

        Args:
            city: London, Berlin, Paris or New York.
            check_in: arrival date, YYYY-MM-DD.
            check_out: departure date, YYYY-MM-DD.
            rooms: rooms needed.
            max_price_per_night: leave out hotels whose dearest night costs more than this.
        """
        nights = self.nights(check_in, check_out)
        found = []
        for hotel in self.store.rows("SELECT * FROM hotels WHERE city = ? ORDER BY id", [self.city(city)]):
            offer = self.hotel_offer(hotel["id"], nights, rooms)
            if offer["available"] and (max_price_per_night is None or max(offer["nightly_prices"]) <= max_price_per_night):
                found.append({**hotel, **offer, "currency": CURRENCY})
        return found

    def search_restaurants(self, city: str, date: str, party_size: int = 2, time: str | None = None,
                           cuisine: str | None = None, neighbourhood: str | None = None) -> list[dict]:
        """Restaurants with a table for the party on a day, and the seating times still free.

        Args:
            city: London, Berlin, Paris or New York.
            date: the day, YYYY-MM-DD.
            party_size: number of guests.
            time: only restaurants free at this seating (HH:MM; lunch 12:00-13:30, dinner 18:00-21:30, every half hour).
            cuisine: e.g. Italian, French, Japanese.
            neighbourhood: e.g. King's Cross, Soho.
        """
        day = self.day(date).isoformat()
        sql, params = "SELECT * FROM restaurants WHERE city = ?", [self.city(city)]
        if cuisine:
            sql, params = sql + " AND lower(cuisine) = lower(?)", params + [cuisine.strip()]
        if neighbourhood:
            sql, params = sql + " AND instr(lower(neighbourhood), lower(?)) > 0", params + [neighbourhood.strip()]
        found = []
        for r in self.store.rows(sql + " ORDER BY id", params):
            free = [s["time"] for s in self.store.rows(
                "SELECT time FROM restaurant_slots WHERE restaurant_id = ? AND day = ? AND seats_left >= ? ORDER BY time",
                [r["id"], day, party_size])]
            if free and (time is None or time.strip()[:5] in free):
                found.append({**r, "currency": CURRENCY, "free_seatings": free})
        return found

    def check_availability(self, item_id: str, date: str, quantity: int = 1, time: str | None = None,
                           nights: int = 1) -> dict:
        """Whether a flight, hotel or restaurant can take a booking, and at what price in GBP.

        Args:
            item_id: a flight id (NW100-2025-06-10), hotel id (H1) or restaurant id (R1).
            date: the day (for a hotel, the check-in date), YYYY-MM-DD.
            quantity: seats (flight), rooms (hotel) or guests (restaurant).
            time: restaurant seating, HH:MM.
            nights: hotel nights.
        """
        if item_id.startswith("H"):
            hotel = self.item("hotels", item_id)
            check_in = self.day(date)
            offer = self.hotel_offer(item_id, self.nights(check_in.isoformat(), (check_in + timedelta(days=nights)).isoformat()), quantity)
            return {"item": hotel["name"], **offer, "currency": CURRENCY}
        if item_id.startswith("R"):
            if time is None:
                raise ValueError("a restaurant needs a seating time (HH:MM)")
            restaurant, slot = self.item("restaurants", item_id), self.seating(item_id, date, time)
            return {"item": restaurant["name"], "seats_left": slot["seats_left"], "available": slot["seats_left"] >= quantity,
                    "estimated_price": restaurant["price_per_person"] * quantity, "currency": CURRENCY}
        flight = self.flight_view(self.flight(item_id))
        return {**flight, "available": flight["seats_left"] >= quantity,
                "price_total_saver": flight["price_saver"] * quantity, "price_total_flex": flight["price_flex"] * quantity}

    def book_flight(self, flight_id: str, passengers: int = 1, fare: Literal["saver", "flex"] = "saver") -> dict:
        """Book seats on a flight. Saver fares are cheaper but not refundable; flex fares are refunded in full on cancellation.

        Args:
            flight_id: the flight's id from search_flights, e.g. NW100-2025-06-10.
            passengers: seats to book.
            fare: saver or flex.
        """
        if not 1 <= passengers <= 9:
            raise ValueError("book between 1 and 9 seats")
        with self.store.transaction():
            f = self.flight(flight_id)
            if from_db(f["depart_utc"]) <= now(self.store):
                raise ValueError(f"flight {flight_id} has already left")
            if f["seats_left"] < passengers:
                raise ValueError(f"flight {flight_id} has only {f['seats_left']} seats left")
            self.store.execute("UPDATE flights SET seats_left = seats_left - ? WHERE id = ?", [passengers, flight_id])
            view = self.flight_view(f)
            return self.record("flight", flight_id, f"{f['flight_no']} {view['from']} to {view['to']}", view["departs"],
                               view["arrives"], passengers, fare, f[f"price_{fare}"] * passengers)

    def book_hotel(self, hotel_id: str, check_in: str, check_out: str, rooms: int = 1) -> dict:
        """Book hotel rooms for a stay; free cancellation until the day before check-in, then the first night is charged.

        Args:
            hotel_id: the hotel's id, e.g. H1.
            check_in: arrival date, YYYY-MM-DD.
            check_out: departure date, YYYY-MM-DD.
            rooms: rooms to book.
        """
        if not 1 <= rooms <= ROOMS_PER_HOTEL:
            raise ValueError(f"book between 1 and {ROOMS_PER_HOTEL} rooms")
        nights = self.nights(check_in, check_out)
        with self.store.transaction():
            hotel, offer = self.item("hotels", hotel_id), self.hotel_offer(hotel_id, nights, rooms)
            if not offer["available"]:
                raise ValueError(f"{hotel['name']} has only {offer['rooms_left']} rooms left on some night of that stay")
            self.store.execute(f"UPDATE hotel_nights SET rooms_left = rooms_left - ? WHERE hotel_id = ? "
                               f"AND night IN ({marks(nights)})", [rooms, hotel_id, *nights])
            return self.record("hotel", hotel_id, f"{hotel['name']}, {hotel['city']}", nights[0],
                               (date.fromisoformat(nights[-1]) + timedelta(days=1)).isoformat(), rooms, None, offer["price_total"])

    def book_restaurant(self, restaurant_id: str, date: str, time: str, party_size: int) -> dict:
        """Reserve a table. Free to cancel; the price is an estimate paid at the restaurant.

        Args:
            restaurant_id: the restaurant's id, e.g. R1.
            date: the day, YYYY-MM-DD.
            time: seating time, HH:MM.
            party_size: number of guests.
        """
        if not 1 <= party_size <= MAX_PARTY:
            raise ValueError(f"tables are for 1 to {MAX_PARTY} guests")
        with self.store.transaction():
            restaurant, slot = self.item("restaurants", restaurant_id), self.seating(restaurant_id, date, time)
            starts = datetime.combine(self.day(date), datetime.strptime(slot["time"], "%H:%M").time(), zone(CITIES[restaurant["city"]][1]))
            if starts <= now(self.store):
                raise ValueError(f"{slot['day']} {slot['time']} is in the past")
            if slot["seats_left"] < party_size:
                raise ValueError(f"{restaurant['name']} has only {slot['seats_left']} seats left at {slot['time']} on {slot['day']}")
            self.store.execute("UPDATE restaurant_slots SET seats_left = seats_left - ? WHERE restaurant_id = ? AND day = ? AND time = ?",
                               [party_size, restaurant_id, slot["day"], slot["time"]])
            return self.record("restaurant", restaurant_id, f"{restaurant['name']}, {restaurant['neighbourhood']}",
                               starts.isoformat(timespec="minutes"), None, party_size, None,
                               restaurant["price_per_person"] * party_size)

    def cancel_booking(self, booking_id: int) -> dict:
        """Cancel a booking, give its capacity back and report the refund in GBP.

        Args:
            booking_id: the booking's id (from list_bookings).
        """
        with self.store.transaction():
            b = self.booking(booking_id)
            if b["status"] != "confirmed":
                raise ValueError(f"booking {booking_id} is already {b['status']}")
            release = {"flight": self.release_flight, "hotel": self.release_hotel, "restaurant": self.release_restaurant}
            refund = release[b["kind"]](b, now(self.store))
            self.store.execute("UPDATE bookings SET status = 'cancelled', refund = ? WHERE id = ?", [refund, booking_id])
            return self.booking(booking_id)

    def release_flight(self, b: dict, current: datetime) -> float:
        """Give the seats back; the refund: flex fares in full, saver fares nothing."""
        if from_db(self.flight(b["item_id"])["depart_utc"]) <= current:
            raise ValueError("the flight has already left")
        self.store.execute("UPDATE flights SET seats_left = seats_left + ? WHERE id = ?", [b["quantity"], b["item_id"]])
        return b["price"] if b["fare"] == "flex" else 0.0

    def release_hotel(self, b: dict, current: datetime) -> float:
        """Give the rooms back; the refund: everything, less the first night within a day of check-in."""
        nights = self.store.rows("SELECT night, price FROM hotel_nights WHERE hotel_id = ? AND night >= ? AND night < ? "
                                 "ORDER BY night", [b["item_id"], b["starts"], b["ends"]])
        city = self.item("hotels", b["item_id"])["city"]
        check_in = datetime.combine(date.fromisoformat(b["starts"]), time(0), zone(CITIES[city][1]))
        if check_in <= current:
            raise ValueError("the stay has already begun")
        self.store.executemany("UPDATE hotel_nights SET rooms_left = rooms_left + ? WHERE hotel_id = ? AND night = ?",
                               [(b["quantity"], b["item_id"], n["night"]) for n in nights])
        late = check_in - current < timedelta(days=1)
        return b["price"] - (nights[0]["price"] * b["quantity"] if late else 0.0)

    def release_restaurant(self, b: dict, current: datetime) -> float:
        """Give the seats back; nothing was paid up front, so nothing is refunded."""
        starts = datetime.fromisoformat(b["starts"])
        if starts <= current:
            raise ValueError("the reservation time has passed")
        self.store.execute("UPDATE restaurant_slots SET seats_left = seats_left + ? WHERE restaurant_id = ? AND day = ? "
                           "AND time = ?", [b["quantity"], b["item_id"], starts.date().isoformat(), starts.strftime("%H:%M")])
        return 0.0

    def list_bookings(self, include_cancelled: bool = False) -> list[dict]:
        """The user's bookings, oldest first.

        Args:
            include_cancelled: also list cancelled bookings.
        """
        sql = "SELECT id FROM bookings" + ("" if include_cancelled else " WHERE status = 'confirmed'") + " ORDER BY id"
        return [self.booking(r["id"]) for r in self.store.rows(sql)]

    def tools(self) -> list[Tool]:
        return [function_tool(self.search_flights), function_tool(self.search_hotels), function_tool(self.search_restaurants),
                function_tool(self.check_availability), function_tool(self.book_flight, side_effect=True),
                function_tool(self.book_hotel, side_effect=True), function_tool(self.book_restaurant, side_effect=True),
                function_tool(self.cancel_booking, side_effect=True), function_tool(self.list_bookings)]


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValueError(f"{text!r} is not a date such as 2025-06-10") from None


def marks(values: list) -> str:
    """SQL placeholders for an IN (...) list."""
    return ",".join("?" * len(values))
