"""Booking families: restaurant tables (named, by cuisine, a full seating, no time given, a change of mind), hotels
within a nightly budget (or over it), flights (a price, by time of day, two days compared, one that has left) and
cancelling bookings after asking.

One way per request kind, so that a small model can learn it: a named restaurant is found with
`search_restaurants(city, date, party_size, time, neighbourhood)` as the user named them (the user always says the
neighbourhood; London when no city is said) and booked from the hit with that name; a full seating shows as the
restaurant missing from that search, and the same search without a time shows its free seatings; a hotel budget
goes into `max_price_per_night`; a flight's time of day is read from the day's three departures (before noon,
noon to five, evening); the first flight of today is tried and, once the app says it has left, the next one booked;
a booking to cancel is found with `list_bookings` and cancelled only after the user says yes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from openk2.agent.apps.booking import CITIES, ROUTES
from openk2.agent.apps.world import zone

from ..family import Act, Context, Say, Skip, family
from ..language import DECLINE, TODAY, clock_phrase, day_phrase, money_facts, show_day, show_money, time_facts
from .common import OK, when
from .email import ask

DAYS = [TODAY + timedelta(days=d) for d in range(1, 14)]      # tomorrow to a fortnight out (the catalogue has three weeks)
CITY = {"London": ("London", "London", "伦敦"), "Berlin": ("Berlin", "Berlin", "柏林"), "Paris": ("Paris", "Paris", "巴黎"),
        "New York": ("New York", "New York", "纽约")}
LANG = {"en": 0, "de": 1, "zh": 2}
# Cuisines as the user names them (en article form, German adjective stem, Chinese): only kinds the training pools hold.
CUISINES = {"Italian": ("an Italian", "italienisch", "意大利菜"), "French": ("a French", "französisch", "法国菜"),
            "Japanese": ("a Japanese", "japanisch", "日本料理"), "Indian": ("an Indian", "indisch", "印度菜"),
            "Chinese": ("a Chinese", "chinesisch", "中餐"), "Greek": ("a Greek", "griechisch", "希腊菜"),
            "Portuguese": ("a Portuguese", "portugiesisch", "葡萄牙菜"), "British": ("a British", "britisch", "英国菜"),
            "German": ("a German", "deutsch", "德国菜"), "Vietnamese": ("a Vietnamese", "vietnamesisch", "越南菜"),
            "Middle Eastern": ("a Middle Eastern", "nahöstlich", "中东菜"), "American": ("an American", "amerikanisch", "美式餐厅"),
            "Asian": ("an Asian", "asiatisch", "亚洲菜")}
DINNER = ["18:00", "18:30", "19:00", "19:30", "20:00", "20:30", "21:00", "21:30"]
LUNCH = ["12:00", "12:30", "13:00", "13:30"]


def city_name(ctx: Context, city: str) -> str:
    return CITY[city][LANG[ctx.language]]


def money(ctx: Context, amount: float) -> str:
    return show_money(amount, ctx.language)


def hm(text: str) -> str:
    """'2025-06-05T19:30+01:00' -> '19:30' (the apps show local times)."""
    return datetime.fromisoformat(text).strftime("%H:%M")


def booked(ctx: Context, kind: str, item_id: str, starts: str, ends: str | None = None, quantity: int = 1,
           fare: str | None = None, status: str = "confirmed") -> None:
    """Expect a new booking with exactly these fields (`item_id` may be {"any_of": [...]})."""
    ctx.change("booking", "insert", kind=kind, item_id=item_id, starts=starts, ends=ends, quantity=quantity, fare=fare, status=status)


# --- restaurants --------------------------------------------------------------------------------------


def seatings(ctx: Context, restaurant_id: str, day: date) -> dict[str, int]:
    """time -> seats left, for one restaurant's day."""
    return {r["time"]: r["seats_left"] for r in ctx.world.store.rows(
        "SELECT time, seats_left FROM restaurant_slots WHERE restaurant_id = ? AND day = ? ORDER BY time", [restaurant_id, day.isoformat()])}


def restaurant_table(ctx: Context, london: float = 0.75) -> tuple[dict, date, int]:
    """A restaurant (London most of the time), a day and a party size."""
    rows = ctx.world.store.rows("SELECT * FROM restaurants ORDER BY id")
    in_london = ctx.rng.random() < london
    pool = [r for r in rows if (r["city"] == "London") == in_london] or rows
    return ctx.rng.choice(pool), ctx.rng.choice(DAYS), ctx.rng.choice([2, 2, 3, 4, 4, 5, 6])


def place(ctx: Context, r: dict) -> str:
    """How the user names a restaurant: with its neighbourhood, and its city unless it is London."""
    if r["city"] == "London":
        return {"en": f"{r['name']} in {r['neighbourhood']}", "de": f"{r['name']} in {r['neighbourhood']}",
                "zh": f"{r['neighbourhood']}的{r['name']}"}[ctx.language]
    c = city_name(ctx, r["city"])
    return {"en": f"{r['name']} in {r['neighbourhood']}, {c}", "de": f"{r['name']} in {r['neighbourhood']}, {c}",
            "zh": f"{c}{r['neighbourhood']}的{r['name']}"}[ctx.language]


def starts_at(r: dict, day: date, seating: str) -> datetime:
    hour, minute = map(int, seating.split(":"))
    return datetime.combine(day, datetime.min.time().replace(hour=hour, minute=minute), zone(CITIES[r["city"]][1]))


def search_call(r: dict, day: date, party: int, seating: str | None = None) -> tuple[str, dict]:
    args = {"city": r["city"], "date": day.isoformat(), "party_size": party}
    if seating:
        args["time"] = seating
    args["neighbourhood"] = r["neighbourhood"]
    return "search_restaurants", args


def book_call(hit: dict, day: date, seating: str, party: int) -> tuple[str, dict]:
    return "book_restaurant", {"restaurant_id": hit["id"], "date": day.isoformat(), "time": seating, "party_size": party}


def table_done(ctx: Context, b: dict, party: int) -> str:
    """The answer after a table is booked: where, when, for how many, the booking number."""
    s = datetime.fromisoformat(b["starts"])
    name = b["name"].split(",")[0]
    return ctx.say({"en": f"Booked a table for {party} at {name} on {show_day(s.date(), 'en')}, {s:%H:%M} (booking #{b['id']}).",
                    "de": f"Tisch für {party} im {name} am {show_day(s.date(), 'de')} um {s:%H:%M} reserviert (Buchung #{b['id']}).",
                    "zh": f"已在{name}订好{party}人桌，{show_day(s.date(), 'zh')} {s:%H:%M}（预订号#{b['id']}）。"})


NAMED = {
    "en": ["Book a table for {n} at {r} {d} {t}.", "Can you reserve {r} {d} {t}? We're {n}.", "Get me a table for {n} at {r}, {d} {t}.",
           "Please book {r} for {n} people {d} {t}.", "I'd like a table at {r} {d} {t} for {n}.", "Reserve a table for {n} at {r} {d} {t}, please."],
    "de": ["Buch einen Tisch für {n} im {r} {d} {t}.", "Kannst du das {r} {d} {t} reservieren? Wir sind {n}.", "Besorg mir einen Tisch für {n} im {r}, {d} {t}.",
           "Bitte buch das {r} für {n} Personen {d} {t}.", "Ich hätte gern einen Tisch im {r} {d} {t} für {n}.", "Reservier bitte einen Tisch für {n} im {r} {d} {t}."],
    "zh": ["{d}{t}在{r}订一张{n}人桌。", "能帮我订{d}{t}的{r}吗？我们{n}个人。", "给我订{r}的{n}人桌，{d}{t}。", "请订{d}{t}的{r}，{n}位。",
           "我想{d}{t}在{r}订个位子，{n}个人。", "麻烦订一张{d}{t}{r}的{n}人桌。"],
}


@family("book_restaurant", ("booking",), ("sequential",))
def book_restaurant(ctx: Context):
    r, day, party = restaurant_table(ctx)
    free = [t for t, left in seatings(ctx, r["id"], day).items() if left >= party]
    wanted = [t for t in free if t in (DINNER if ctx.rng.random() < 0.8 else LUNCH)]
    if not wanted:
        raise Skip("no free seating")
    seating = ctx.rng.choice(wanted)
    start = starts_at(r, day, seating)
    d, t = when(ctx, start)
    ctx.request = ask(ctx, NAMED, n=party, r=place(ctx, r), d=d, t=t)
    booked(ctx, "restaurant", r["id"], start.isoformat(timespec="minutes"), quantity=party)
    ctx.mention([r["name"]], time_facts(start))

    def expert():
        [found] = yield Act([search_call(r, day, party, seating)])
        hit = next(x for x in found if x["name"] == r["name"])
        [b] = yield Act([book_call(hit, day, seating, party)])
        yield Say(table_done(ctx, b, party))
    return expert


@family("book_restaurant_cuisine", ("booking",), ("sequential",))
def book_restaurant_cuisine(ctx: Context):
    rows = [r for r in ctx.world.store.rows("SELECT * FROM restaurants ORDER BY id") if r["cuisine"] in CUISINES]
    if not rows:
        raise Skip("no restaurant of a cuisine the user can name")
    r = ctx.rng.choice(rows)
    day, party = ctx.rng.choice(DAYS), ctx.rng.choice([2, 2, 3, 4, 4, 5, 6])
    free = [t for t, left in seatings(ctx, r["id"], day).items() if left >= party and t in DINNER]
    if not free:
        raise Skip("no free dinner seating")
    seating = ctx.rng.choice(free)
    app = ctx.world.apps["booking"]
    matches = app.search_restaurants(r["city"], day.isoformat(), party, seating, r["cuisine"], r["neighbourhood"])
    start = starts_at(r, day, seating)
    d, t = when(ctx, start)
    a, stem, zh = CUISINES[r["cuisine"]]
    hood = r["neighbourhood"] if r["city"] == "London" else {"en": f"{r['neighbourhood']}, {r['city']}", "de": f"{r['neighbourhood']}, {r['city']}",
                                                              "zh": f"{city_name(ctx, r['city'])}{r['neighbourhood']}"}[ctx.language]
    ctx.request = ask(ctx, {
        "en": ["Book a table for {n} at {a} restaurant in {h} {d} {t}.", "Find {a} place in {h} with a table for {n} {d} {t} and book it.",
               "We're {n} and fancy {c} food {d} {t}. Book something in {h}.", "Can you get us a table for {n} {d} {t} somewhere {c} in {h}?",
               "Reserve {a} restaurant in {h} for {n} people {d} {t}.", "I'd like {c} food in {h} {d} {t}, table for {n} — please book one."],
        "de": ["Buch einen Tisch für {n} in einem {s}en Restaurant in {h} {d} {t}.", "Such ein {s}es Restaurant in {h} mit einem Tisch für {n} {d} {t} und buch es.",
               "Wir sind {n} und hätten {d} {t} Lust auf {s}es Essen. Buch etwas in {h}.", "Kannst du uns {d} {t} einen Tisch für {n} in einem {s}en Lokal in {h} besorgen?",
               "Reservier ein {s}es Restaurant in {h} für {n} Personen {d} {t}.", "Ich möchte {d} {t} {s} essen, in {h}, Tisch für {n} – bitte buch etwas."],
        "zh": ["{d}{t}在{h}订一家{z}，{n}个人。", "在{h}找一家{z}，{d}{t}有{n}人桌的，订下来。", "我们{n}个人，{d}{t}想吃{z}，在{h}订一家吧。",
               "能帮我们{d}{t}在{h}找家{z}订{n}人桌吗？", "订一家{h}的{z}，{n}位，{d}{t}。", "{d}{t}我想在{h}吃{z}，{n}人桌，请帮我订。"],
    }, n=party, a=a, c=r["cuisine"], s=stem, z=zh, h=hood, d=d, t=t)
    booked(ctx, "restaurant", {"any_of": [m["id"] for m in matches]}, start.isoformat(timespec="minutes"), quantity=party)
    ctx.mention([m["name"] for m in matches], time_facts(start))

    def expert():
        [found] = yield Act([("search_restaurants", {"city": r["city"], "date": day.isoformat(), "party_size": party, "time": seating,
                                                     "cuisine": r["cuisine"], "neighbourhood": r["neighbourhood"]})])
        hit = found[0]
        [b] = yield Act([book_call(hit, day, seating, party)])
        yield Say(table_done(ctx, b, party))
    return expert


@family("book_restaurant_next_free", ("booking",), ("recover",))
def book_restaurant_next_free(ctx: Context):
    r, day, party = restaurant_table(ctx)
    seats = seatings(ctx, r["id"], day)
    options = [(t, later) for t in DINNER[:-1]
               for later in [next((u for u in DINNER if u > t and seats[u] >= party), None)] if later]
    if not options:
        raise Skip("no later free seating that evening")
    seating, _ = ctx.rng.choice(options)
    ctx.add({"op": "restaurant_seats", "restaurant_id": r["id"], "day": day.isoformat(), "time": seating,
             "seats_left": ctx.rng.randint(0, party - 1)})
    later = next(u for u in DINNER if u > seating and seats[u] >= party)
    start, new = starts_at(r, day, seating), starts_at(r, day, later)
    d, t = when(ctx, start)
    ctx.request = ask(ctx, {
        "en": ["Book a table for {n} at {r} {d} {t}. If that's full, take the next free time that evening.",
               "Can you reserve {r} for {n} {d} {t}? Otherwise the next seating after that.",
               "Table for {n} at {r} {d} {t}, please — or the next free slot that evening if it's taken.",
               "Please book {r} {d} {t} for {n} people; if they're full, go for the next available time.",
               "I'd like {r} {d} {t} for {n}. If there's no room, book the first free seating after that.",
               "Reserve {r} for {n} {d} {t}, or the next free time that night."],
        "de": ["Buch einen Tisch für {n} im {r} {d} {t}. Falls das voll ist, nimm die nächste freie Zeit an dem Abend.",
               "Kannst du das {r} für {n} {d} {t} reservieren? Sonst den nächsten Termin danach.",
               "Einen Tisch für {n} im {r} {d} {t}, bitte – oder die nächste freie Zeit an dem Abend, falls es belegt ist.",
               "Bitte buch das {r} {d} {t} für {n} Personen; wenn es voll ist, nimm die nächste verfügbare Zeit.",
               "Ich hätte gern das {r} {d} {t} für {n}. Wenn nichts frei ist, buch die erste freie Zeit danach.",
               "Reservier das {r} für {n} {d} {t}, oder die nächste freie Zeit an dem Abend."],
        "zh": ["{d}{t}在{r}订一张{n}人桌。如果满了，就订当晚下一个有空的时间。", "能帮我订{d}{t}的{r}吗？{n}个人。不行的话就订之后的下一个时段。",
               "{d}{t}{r}的{n}人桌——如果已经满了，就订当晚下一个空位。", "请订{d}{t}的{r}，{n}位；满了的话就订下一个可订的时间。",
               "我想{d}{t}去{r}，{n}个人。没位子的话就订之后第一个有空的时段。", "订{d}{t}{r}的{n}人桌，或者当晚下一个空闲时间。"],
    }, n=party, r=place(ctx, r), d=d, t=t)
    booked(ctx, "restaurant", r["id"], new.isoformat(timespec="minutes"), quantity=party)
    ctx.mention([r["name"]], time_facts(new))

    def expert():
        [found] = yield Act([search_call(r, day, party, seating)])
        assert not any(x["name"] == r["name"] for x in found)
        [found] = yield Act([search_call(r, day, party)])
        hit = next(x for x in found if x["name"] == r["name"])
        take = next(u for u in hit["free_seatings"] if u > seating)
        [b] = yield Act([book_call(hit, day, take, party)])
        yield Say(ctx.say({"en": f"{r['name']} was full at {seating}, so I booked the next free time that evening: ",
                           "de": f"Um {seating} war das {r['name']} voll, daher habe ich die nächste freie Zeit an dem Abend genommen: ",
                           "zh": f"{r['name']}在{seating}已满，所以我订了当晚下一个空闲时间："}) + table_done(ctx, b, party))
    return expert


@family("book_restaurant_ask_time", ("booking",), ("clarify",))
def book_restaurant_ask_time(ctx: Context):
    r, day, party = restaurant_table(ctx)
    free = [t for t, left in seatings(ctx, r["id"], day).items() if left >= party and t in DINNER]
    if not free:
        raise Skip("no free dinner seating")
    seating = ctx.rng.choice(free)
    start = starts_at(r, day, seating)
    d, t = when(ctx, start)
    ctx.request = ask(ctx, {
        "en": ["Book a table for {n} at {r} {d}.", "Can you reserve {r} {d}? We're {n}.", "Get us a table for {n} at {r} {d}, please.",
               "I'd like to take {n} people to {r} {d}. Please book.", "Reserve {r} for {n} {d}.", "Please book {r} {d} for {n} of us."],
        "de": ["Buch einen Tisch für {n} im {r} {d}.", "Kannst du das {r} {d} reservieren? Wir sind {n}.", "Besorg uns bitte einen Tisch für {n} im {r} {d}.",
               "Ich möchte {d} mit {n} Leuten ins {r}. Bitte buchen.", "Reservier das {r} für {n} {d}.", "Bitte buch das {r} {d} für uns {n}."],
        "zh": ["{d}在{r}订一张{n}人桌。", "能帮我订{d}的{r}吗？我们{n}个人。", "请给我们订{d}{r}的{n}人桌。", "{d}我想带{n}个人去{r}，请帮我订。",
               "订{d}的{r}，{n}位。", "请帮我们{n}个人订{d}的{r}。"],
    }, n=party, r=place(ctx, r), d=d)
    clock = clock_phrase(start.hour, start.minute, ctx.language, ctx.rng)
    ctx.user_replies = [ctx.rng.choice({"en": [f"{clock}, please.", f"At {clock}.", f"Let's say {clock}."],
                                        "de": [f"{clock}, bitte.", f"Um {clock}.", f"Sagen wir {clock}."],
                                        "zh": [f"{clock}吧。", f"{clock}。", f"就{clock}。"]}[ctx.language])]
    ctx.user_instructions = f"You want the table at {seating}; say so when asked for a time."
    ctx.ask_first()
    booked(ctx, "restaurant", r["id"], start.isoformat(timespec="minutes"), quantity=party)
    ctx.mention([r["name"]], time_facts(start))

    def expert():
        reply = yield Say(ctx.say({"en": f"What time would you like the table for {party} at {r['name']} on {show_day(day, 'en')}?",
                                   "de": f"Um wie viel Uhr möchtest du den Tisch für {party} im {r['name']} am {show_day(day, 'de')}?",
                                   "zh": f"{show_day(day, 'zh')}在{r['name']}的{party}人桌，你想订几点？"}))
        if reply is None:
            return
        [found] = yield Act([search_call(r, day, party, seating)])
        hit = next(x for x in found if x["name"] == r["name"])
        [b] = yield Act([book_call(hit, day, seating, party)])
        yield Say(table_done(ctx, b, party))
    return expert


@family("book_change_mind", ("booking",), ("change_mind",))
def book_change_mind(ctx: Context):
    r, day, party = restaurant_table(ctx)
    free = [t for t, left in seatings(ctx, r["id"], day).items() if left >= party and t in DINNER]
    if len(free) < 2:
        raise Skip("too few free seatings to change")
    first, second = ctx.rng.sample(free, 2)
    a, b = starts_at(r, day, first), starts_at(r, day, second)
    d, t = when(ctx, a)
    ctx.request = ask(ctx, NAMED, n=party, r=place(ctx, r), d=d, t=t)
    t2 = clock_phrase(b.hour, b.minute, ctx.language, ctx.rng)
    ctx.user_replies = [ctx.rng.choice({"en": [f"Actually, can you make it {t2} instead?", f"Sorry, {t2} would be better. Can you change it?"],
                                        "de": [f"Ach, kannst du stattdessen {t2} daraus machen?", f"Entschuldige, {t2} wäre besser. Kannst du das ändern?"],
                                        "zh": [f"其实改到{t2}可以吗？", f"不好意思，{t2}更合适，能改一下吗？"]}[ctx.language])]
    ctx.user_instructions = f"After the table is booked, change your mind: you want it at {second} the same day instead."
    booked(ctx, "restaurant", r["id"], a.isoformat(timespec="minutes"), quantity=party, status="cancelled")
    booked(ctx, "restaurant", r["id"], b.isoformat(timespec="minutes"), quantity=party)
    ctx.mention([r["name"]], time_facts(b))

    def expert():
        [found] = yield Act([search_call(r, day, party, first)])
        hit = next(x for x in found if x["name"] == r["name"])
        [old] = yield Act([book_call(hit, day, first, party)])
        reply = yield Say(table_done(ctx, old, party))
        if reply is None:
            return
        assert second in hit["free_seatings"]
        new, _ = yield Act([book_call(hit, day, second, party), ("cancel_booking", {"booking_id": old["id"]})])
        yield Say(ctx.say({"en": f"Changed: I cancelled the {first} table (#{old['id']}). ",
                           "de": f"Geändert: Den Tisch um {first} (#{old['id']}) habe ich storniert. ",
                           "zh": f"已改好：取消了{first}的预订（#{old['id']}）。"}) + table_done(ctx, new, party))
    return expert


# --- hotels -------------------------------------------------------------------------------------------


def stay(ctx: Context) -> tuple[str, date, date]:
    city = ctx.rng.choice(list(CITY))
    check_in = ctx.rng.choice(DAYS)
    return city, check_in, check_in + timedelta(days=ctx.rng.choice([1, 2, 2, 3]))


def bare_day(ctx: Context, day: date) -> str:
    """A day phrase without its preposition, for ranges: 'from 10 June to Friday', 'von morgen bis Donnerstag'."""
    phrase = day_phrase(day, ctx.language, ctx.rng)
    return phrase.removeprefix("on ").removeprefix("am ")


def budget_words(ctx: Context, amount: int) -> str:
    return ctx.rng.choice({"en": [f"£{amount}"], "de": [f"{amount} £", f"{amount} Pfund"], "zh": [f"{amount}英镑"]}[ctx.language])


HOTEL = {
    "en": ["Book the cheapest hotel in {c} from {d1} to {d2}, max {b} a night.", "I need a hotel in {c}, {d1} to {d2}, no more than {b} per night. The cheapest, please.",
           "Find me the cheapest room in {c} checking in {d1} and out {d2} — my budget is {b} a night — and book it.",
           "Can you book a hotel in {c} from {d1} until {d2}? Cheapest option under {b} a night.",
           "Please get me the cheapest hotel in {c} ({d1} to {d2}) that stays under {b} per night.",
           "Hotel in {c} from {d1} to {d2}: the cheapest with every night at most {b}. Book it."],
    "de": ["Buch das günstigste Hotel in {c} von {d1} bis {d2}, höchstens {b} pro Nacht.", "Ich brauche ein Hotel in {c}, {d1} bis {d2}, nicht mehr als {b} pro Nacht. Das günstigste bitte.",
           "Such mir das günstigste Zimmer in {c}, Anreise {d1}, Abreise {d2} – mein Budget ist {b} pro Nacht – und buch es.",
           "Kannst du ein Hotel in {c} von {d1} bis {d2} buchen? Die günstigste Option unter {b} pro Nacht.",
           "Bitte besorg mir das günstigste Hotel in {c} ({d1} bis {d2}), das unter {b} pro Nacht bleibt.",
           "Hotel in {c} von {d1} bis {d2}: das günstigste mit höchstens {b} pro Nacht. Buch es."],
    "zh": ["订{c}最便宜的酒店，{d1}入住，{d2}退房，每晚不超过{b}。", "我需要{c}的酒店，{d1}到{d2}，每晚不超过{b}，要最便宜的。",
           "帮我找{c}最便宜的房间，{d1}入住{d2}退房——预算每晚{b}——然后订下来。", "能帮我订{c}的酒店吗？{d1}到{d2}，每晚{b}以内最便宜的。",
           "请给我订{c}每晚不超过{b}的最便宜酒店（{d1}到{d2}）。", "{c}的酒店，{d1}到{d2}：每晚最多{b}，选最便宜的，订上。"],
}


def hotel_request(ctx: Context, city: str, check_in: date, check_out: date, limit: int) -> str:
    d1, d2 = (bare_day(ctx, d) for d in (check_in, check_out))
    return ask(ctx, HOTEL, c=city_name(ctx, city), d1=d1, d2=d2, b=budget_words(ctx, limit))


@family("book_hotel_budget", ("booking",), ("sequential",))
def book_hotel_budget(ctx: Context):
    city, check_in, check_out = stay(ctx)
    offers = ctx.world.apps["booking"].search_hotels(city, check_in.isoformat(), check_out.isoformat())
    if not offers:
        raise Skip("no hotel free")
    cap = ctx.rng.choice(offers)
    limit = -(-int(max(cap["nightly_prices"])) // 10) * 10 + ctx.rng.choice([0, 10, 20])
    within = [o for o in offers if max(o["nightly_prices"]) <= limit]
    best = min(within, key=lambda o: o["price_total"])
    if sum(1 for o in within if o["price_total"] == best["price_total"]) > 1:
        raise Skip("a tie for the cheapest")
    ctx.request = hotel_request(ctx, city, check_in, check_out, limit)
    booked(ctx, "hotel", best["id"], check_in.isoformat(), check_out.isoformat())
    ctx.mention([best["name"]], money_facts(best["price_total"]))
    call = {"city": city, "check_in": check_in.isoformat(), "check_out": check_out.isoformat(), "max_price_per_night": limit}

    def expert():
        [found] = yield Act([("search_hotels", call)])
        hit = min(found, key=lambda o: o["price_total"])
        [b] = yield Act([("book_hotel", {"hotel_id": hit["id"], "check_in": call["check_in"], "check_out": call["check_out"]})])
        d1, d2 = show_day(check_in, ctx.language), show_day(check_out, ctx.language)
        total, top = money(ctx, b["price"]), money(ctx, max(hit["nightly_prices"]))
        yield Say(ctx.say({"en": f"Booked {hit['name']} ({hit['neighbourhood']}), {d1} to {d2}: {total} in total, at most {top} a night — the cheapest within your budget. Booking #{b['id']}.",
                           "de": f"Gebucht: {hit['name']} ({hit['neighbourhood']}), {d1} bis {d2}, insgesamt {total}, höchstens {top} pro Nacht – das günstigste in deinem Budget. Buchung #{b['id']}.",
                           "zh": f"已订{hit['name']}（{hit['neighbourhood']}），{d1}至{d2}，共{total}，每晚最多{top}——预算内最便宜的。预订号#{b['id']}。"}))
    return expert


@family("book_hotel_over_budget", ("booking",), ("decline",))
def book_hotel_over_budget(ctx: Context):
    city, check_in, check_out = stay(ctx)
    offers = ctx.world.apps["booking"].search_hotels(city, check_in.isoformat(), check_out.isoformat())
    if not offers:
        raise Skip("no hotel free")
    floor = min(max(o["nightly_prices"]) for o in offers)
    limit = (int(floor) // 10) * 10 - ctx.rng.choice([10, 20, 30, 50])
    if limit < 50:
        raise Skip("too low a budget to be believable")
    best = min(offers, key=lambda o: o["price_total"])
    if sum(1 for o in offers if o["price_total"] == best["price_total"]) > 1:
        raise Skip("a tie for the cheapest")
    ctx.request = hotel_request(ctx, city, check_in, check_out, limit)
    ctx.says(DECLINE)
    ctx.mention([best["name"]])
    call = {"city": city, "check_in": check_in.isoformat(), "check_out": check_out.isoformat()}

    def expert():
        [found] = yield Act([("search_hotels", {**call, "max_price_per_night": limit})])
        assert found == []
        [found] = yield Act([("search_hotels", call)])
        hit = min(found, key=lambda o: o["price_total"])
        c, cap = city_name(ctx, city), money(ctx, limit)
        total, top = money(ctx, hit["price_total"]), money(ctx, max(hit["nightly_prices"]))
        yield Say(ctx.say({"en": f"Unfortunately no hotel in {c} stays within {cap} a night for those dates, so I booked nothing. The cheapest is {hit['name']} at {total} in total (up to {top} a night).",
                           "de": f"Leider bleibt für diese Daten kein Hotel in {c} unter {cap} pro Nacht, daher habe ich nichts gebucht. Am günstigsten ist {hit['name']} mit insgesamt {total} (bis zu {top} pro Nacht).",
                           "zh": f"抱歉，这些日期{c}没有每晚在{cap}以内的酒店，所以我没有预订。最便宜的是{hit['name']}，共{total}（每晚最高{top}）。"}))
    return expert


# --- flights ------------------------------------------------------------------------------------------

PERIODS = {"morning": ("in the morning", "morgens", "上午"), "afternoon": ("in the afternoon", "nachmittags", "下午"),
           "evening": ("in the evening", "abends", "晚上")}
PERIOD_ADJ = {"morning": ("morning", "Morgen", "早上"), "afternoon": ("afternoon", "Nachmittags", "下午"), "evening": ("evening", "Abend", "晚上")}


def period_of(departs: str) -> str:
    hour = datetime.fromisoformat(departs).hour
    return "morning" if hour < 12 else "afternoon" if hour < 17 else "evening"


def route(ctx: Context) -> tuple[str, str]:
    """(origin, destination): mostly from London, the user's home; any route in either direction otherwise."""
    pairs = [pair for a, b, *_ in ROUTES for pair in ((a, b), (b, a))]
    if ctx.rng.random() < 0.6:
        pairs = [(a, b) for a, b in pairs if a == "London"]
    return ctx.rng.choice(pairs)


def route_words(ctx: Context, origin: str, destination: str) -> str:
    """'to Paris' when leaving London (the user's home), 'from Berlin to Paris' otherwise."""
    o, b = city_name(ctx, origin), city_name(ctx, destination)
    if origin == "London" and ctx.rng.random() < 0.5:
        return {"en": f"to {b}", "de": f"nach {b}", "zh": f"去{b}"}[ctx.language]
    return {"en": f"from {o} to {b}", "de": f"von {o} nach {b}", "zh": f"从{o}到{b}"}[ctx.language]


def flight_done(ctx: Context, f: dict, b: dict) -> str:
    s, e = datetime.fromisoformat(f["departs"]), datetime.fromisoformat(f["arrives"])
    fare = {"en": {"saver": "saver fare", "flex": "flexible fare"}, "de": {"saver": "Spartarif", "flex": "flexibler Tarif"},
            "zh": {"saver": "经济票价", "flex": "灵活票价"}}[ctx.language][b["fare"]]
    return ctx.say({"en": f"Booked {f['flight_no']} {f['from']} → {f['to']} on {show_day(s.date(), 'en')}, departing {s:%H:%M}, arriving {e:%H:%M} local time ({fare}, {money(ctx, b['price'])}). Booking #{b['id']}.",
                    "de": f"Gebucht: {f['flight_no']} {f['from']} → {f['to']} am {show_day(s.date(), 'de')}, Abflug {s:%H:%M}, Ankunft {e:%H:%M} Ortszeit ({fare}, {money(ctx, b['price'])}). Buchung #{b['id']}.",
                    "zh": f"已订{f['flight_no']} {f['from']} → {f['to']}，{show_day(s.date(), 'zh')} {s:%H:%M}起飞，当地时间{e:%H:%M}到达（{fare}，{money(ctx, b['price'])}）。预订号#{b['id']}。"})


@family("book_flight", ("booking",), ("sequential",))
def book_flight(ctx: Context):
    origin, destination = route(ctx)
    day = ctx.rng.choice(DAYS)
    period = ctx.rng.choice(list(PERIODS))
    passengers = ctx.rng.choice([1, 1, 1, 2])
    fare = ctx.rng.choice(["saver", "saver", "flex"])
    flights = ctx.world.apps["booking"].search_flights(origin, destination, day.isoformat(), passengers)
    flight = next((f for f in flights if period_of(f["departs"]) == period), None)
    if flight is None:
        raise Skip("no seats on that flight")
    i = LANG[ctx.language]
    who = {1: ("", "", ""), 2: (" for two", " für zwei Personen", "，两个人")}[passengers][i]
    kind = {"saver": ("", "", ""), "flex": (", flexible fare", ", flexibler Tarif", "，要灵活票价")}[fare][i]
    ctx.request = ask(ctx, {
        "en": ["Book me a flight {r} {d} {p}{w}{f}.", "I need to fly {r} {d} {p}. Please book it{w}{f}.", "Can you book the {a} flight {r} {d}{w}{f}?",
               "Please book the {a} flight {r} {d}{w}{f}.", "Find a flight {r} {d} {p} and book it{w}{f}.", "I want a flight {r} {d} that leaves {p}. Book it{w}{f}."],
        "de": ["Buch mir einen Flug {r} {d} {p}{w}{f}.", "Ich muss {d} {p} {r} fliegen. Bitte buchen{w}{f}.", "Kannst du den {a}flug {r} {d}{w} buchen{f}?",
               "Bitte buch den {a}flug {r} {d}{w}{f}.", "Such einen Flug {r} {d} {p} und buch ihn{w}{f}.", "Ich will {d} {p} {r} fliegen. Buch den Flug{w}{f}."],
        "zh": ["帮我订{d}{p}{r}的航班{w}{f}。", "我{d}{p}要坐飞机{r}，请帮我订{w}{f}。", "能帮我订{d}{r}的{a}航班吗{w}{f}？",
               "请订{d}{r}的{a}航班{w}{f}。", "找一个{d}{p}{r}的航班订上{w}{f}。", "给我订{d}{p}{r}的飞机{w}{f}。"],
    }, r=route_words(ctx, origin, destination), d=day_phrase(day, ctx.language, ctx.rng),
              p=PERIODS[period][i], a=PERIOD_ADJ[period][i], w=who, f=kind)
    booked(ctx, "flight", flight["id"], flight["departs"], flight["arrives"], quantity=passengers, fare=fare)
    ctx.mention([flight["flight_no"]], time_facts(datetime.fromisoformat(flight["departs"])))

    def expert():
        search = {"origin": origin, "destination": destination, "date": day.isoformat()}
        if passengers != 1:
            search["passengers"] = passengers
        [found] = yield Act([("search_flights", search)])
        f = next(x for x in found if period_of(x["departs"]) == period)
        call = {"flight_id": f["id"]}
        if passengers != 1:
            call["passengers"] = passengers
        if fare != "saver":
            call["fare"] = fare
        [b] = yield Act([("book_flight", call)])
        yield Say(flight_done(ctx, f, b))
    return expert


@family("book_flight_price", ("booking",), ("single",))
def book_flight_price(ctx: Context):
    origin, destination = route(ctx)
    day = ctx.rng.choice(DAYS)
    period = ctx.rng.choice(list(PERIODS))
    flight = next((f for f in ctx.world.apps["booking"].search_flights(origin, destination, day.isoformat())
                   if period_of(f["departs"]) == period), None)
    if flight is None:
        raise Skip("that flight is full")
    i = LANG[ctx.language]
    ctx.request = ask(ctx, {
        "en": ["How much is the {a} flight {r} {d}?", "What does the {a} flight {r} cost {d}?", "Can you check the price of the {a} flight {r} {d}?",
               "I'm thinking of flying {r} {d} {p}. What's the fare?", "Price check: {a} flight {r} {d}.", "What would I pay for the {a} flight {r} {d}?"],
        "de": ["Was kostet der {a}flug {r} {d}?", "Wie teuer ist der {a}flug {r} {d}?", "Kannst du den Preis für den {a}flug {r} {d} prüfen?",
               "Ich überlege, {d} {p} {r} zu fliegen. Was kostet das?", "Preischeck: {a}flug {r} {d}.", "Was würde ich für den {a}flug {r} {d} zahlen?"],
        "zh": ["{d}{r}的{a}航班多少钱？", "{d}{r}的{a}航班票价是多少？", "能帮我查一下{d}{r}{a}航班的价格吗？", "我在考虑{d}{p}{r}，机票多少钱？",
               "查个价：{d}{r}的{a}航班。", "{d}{r}的{a}航班要花多少钱？"],
    }, a=PERIOD_ADJ[period][i], p=PERIODS[period][i], r=route_words(ctx, origin, destination), d=day_phrase(day, ctx.language, ctx.rng))
    ctx.mention([flight["flight_no"]], money_facts(flight["price_saver"]), money_facts(flight["price_flex"]))

    def expert():
        [found] = yield Act([("search_flights", {"origin": origin, "destination": destination, "date": day.isoformat()})])
        f = next(x for x in found if period_of(x["departs"]) == period)
        s = datetime.fromisoformat(f["departs"])
        saver, flex = money(ctx, f["price_saver"]), money(ctx, f["price_flex"])
        yield Say(ctx.say({"en": f"{f['flight_no']} {f['from']} → {f['to']} on {show_day(s.date(), 'en')} at {s:%H:%M}: {saver} saver (non-refundable) or {flex} flexible (refundable).",
                           "de": f"{f['flight_no']} {f['from']} → {f['to']} am {show_day(s.date(), 'de')} um {s:%H:%M}: {saver} im Spartarif (nicht erstattbar) oder {flex} flexibel (erstattbar).",
                           "zh": f"{f['flight_no']} {f['from']} → {f['to']}，{show_day(s.date(), 'zh')} {s:%H:%M}：经济票价{saver}（不可退），灵活票价{flex}（可退）。"}))
    return expert


@family("book_flight_compare", ("booking",), ("parallel",))
def book_flight_compare(ctx: Context):
    origin, destination = route(ctx)
    d1, d2 = sorted(ctx.rng.sample(DAYS[:10], 2))
    period = ctx.rng.choice(["morning", "evening"])
    app = ctx.world.apps["booking"]
    picks = [next((f for f in app.search_flights(origin, destination, d.isoformat()) if period_of(f["departs"]) == period), None)
             for d in (d1, d2)]
    if None in picks or picks[0]["price_saver"] == picks[1]["price_saver"]:
        raise Skip("a flight is full, or both cost the same")
    cheaper = min(picks, key=lambda f: f["price_saver"])
    i = LANG[ctx.language]
    day1, day2 = (day_phrase(d, ctx.language, ctx.rng) for d in (d1, d2))
    ctx.request = ask(ctx, {
        "en": ["Compare the {a} flight {r} {x} and {y}, and book the cheaper one.", "Is the {a} flight {r} cheaper {x} or {y}? Book whichever costs less.",
               "Check the {a} flights {r} {x} and {y} and put me on the cheaper.", "Which is cheaper, flying {r} {x} or {y} ({a} flight)? Book that one.",
               "Look up the {a} flight {r} for {x} and for {y}; book the less expensive.", "I can fly {r} {x} or {y}, {p}. Book the cheaper flight."],
        "de": ["Vergleich den {a}flug {r} {x} und {y} und buch den günstigeren.", "Ist der {a}flug {r} {x} oder {y} günstiger? Buch den billigeren.",
               "Prüf die {a}flüge {r} {x} und {y} und buch mir den günstigeren.", "Was ist günstiger: {r} {x} oder {y} fliegen ({a}flug)? Buch den.",
               "Schau dir den {a}flug {r} für {x} und für {y} an; buch den preiswerteren.", "Ich kann {x} oder {y} {r} fliegen, {p}. Buch den günstigeren Flug."],
        "zh": ["比较一下{x}和{y}{r}的{a}航班，订便宜的那个。", "{r}的{a}航班，{x}和{y}哪天便宜？订便宜的。", "查一下{x}和{y}{r}的{a}航班，给我订便宜的。",
               "{x}还是{y}{r}更便宜（{a}航班）？订那个。", "查{x}和{y}{r}的{a}航班，订价格低的。", "我可以{x}或{y}{p}{r}，订便宜的航班。"],
    }, a=PERIOD_ADJ[period][i], p=PERIODS[period][i], r=route_words(ctx, origin, destination), x=day1, y=day2)
    booked(ctx, "flight", cheaper["id"], cheaper["departs"], cheaper["arrives"], fare="saver")
    ctx.mention(money_facts(picks[0]["price_saver"]), money_facts(picks[1]["price_saver"]), [cheaper["flight_no"]])

    def expert():
        results = yield Act([("search_flights", {"origin": origin, "destination": destination, "date": d.isoformat()}) for d in (d1, d2)])
        options = [next(x for x in found if period_of(x["departs"]) == period) for found in results]
        best = min(options, key=lambda f: f["price_saver"])
        [b] = yield Act([("book_flight", {"flight_id": best["id"]})])
        p1, p2 = money(ctx, options[0]["price_saver"]), money(ctx, options[1]["price_saver"])
        s1, s2 = show_day(d1, ctx.language), show_day(d2, ctx.language)
        yield Say(ctx.say({"en": f"The {PERIOD_ADJ[period][0]} flight costs {p1} on {s1} and {p2} on {s2}. I booked the cheaper one. ",
                           "de": f"Der {PERIOD_ADJ[period][1]}flug kostet am {s1} {p1} und am {s2} {p2}. Ich habe den günstigeren gebucht. ",
                           "zh": f"{s1}的{PERIOD_ADJ[period][2]}航班是{p1}，{s2}是{p2}。我订了便宜的那个。"}) + flight_done(ctx, best, b))
    return expert


@family("book_flight_departed", ("booking",), ("recover",))
def book_flight_departed(ctx: Context):
    origin = ctx.rng.choice(["London", "London", "Berlin", "Paris"])
    destination = ctx.rng.choice([b for a, b, *_ in ROUTES if a == origin] + [a for a, b, *_ in ROUTES if b == origin])
    app = ctx.world.apps["booking"]
    today = TODAY.isoformat()
    day_flights = app.store.rows("SELECT * FROM flights WHERE origin = ? AND destination = ? AND depart_utc >= ? AND depart_utc < ? "
                                 "ORDER BY depart_utc", [origin, destination, f"{TODAY - timedelta(days=1)}T22:00", f"{today}T22:00"])
    first, later = day_flights[0], [f for f in day_flights[1:] if f["seats_left"] >= 1]
    if not later:
        raise Skip("no later flight with seats today")
    if first["seats_left"] < 1:
        ctx.add({"op": "flight_seats", "flight_id": first["id"], "seats_left": ctx.rng.choice([2, 4, 9])})
    take = app.flight_view(later[0])
    r = route_words(ctx, origin, destination)
    ctx.request = ask(ctx, {
        "en": ["Book me on the first flight {r} today. If that doesn't work, the next one.", "Get me on today's earliest flight {r}, or the next one after it.",
               "I need to fly {r} today — the first flight, please, or the following one if it's not possible.",
               "Please book the earliest flight {r} today; if you can't, take the next.", "Can you put me on the first flight {r} today? Otherwise the next one.",
               "First flight {r} today, please. If it fails, book the next flight."],
        "de": ["Buch mir den ersten Flug {r} heute. Falls das nicht klappt, den nächsten.", "Setz mich auf den frühesten Flug {r} heute, oder den danach.",
               "Ich muss heute {r} fliegen – bitte den ersten Flug, oder den nächsten, falls das nicht geht.",
               "Bitte buch den frühesten Flug {r} heute; wenn das nicht geht, nimm den nächsten.", "Kannst du mich heute auf den ersten Flug {r} buchen? Sonst den nächsten.",
               "Erster Flug {r} heute, bitte. Wenn das scheitert, buch den nächsten."],
        "zh": ["帮我订今天{r}的第一班飞机。不行的话就订下一班。", "给我订今天最早一班{r}的航班，或者之后的那班。", "我今天要飞{r}——请订第一班，不行就订后面一班。",
               "请订今天最早一班{r}的航班；订不了就订下一班。", "能帮我订今天{r}的首班机吗？不然就订下一班。", "今天{r}的第一班飞机，谢谢。失败的话就订下一班。"],
    }, r=r)
    booked(ctx, "flight", take["id"], take["departs"], take["arrives"], fare="saver")
    ctx.mention([take["flight_no"]], time_facts(datetime.fromisoformat(take["departs"])))

    def expert():
        [found] = yield Act([("search_flights", {"origin": origin, "destination": destination, "date": today})])
        [result] = yield Act([("book_flight", {"flight_id": found[0]["id"]})])
        assert isinstance(result, str) and "already left" in result, result
        nxt = found[1]
        [b] = yield Act([("book_flight", {"flight_id": nxt["id"]})])
        gone = hm(found[0]["departs"])
        yield Say(ctx.say({"en": f"The {gone} flight has already left, so I booked the next one. ",
                           "de": f"Der Flug um {gone} ist schon weg, daher habe ich den nächsten gebucht. ",
                           "zh": f"{gone}的航班已经起飞了，所以我订了下一班。"}) + flight_done(ctx, nxt, b))
    return expert


# --- the user's bookings ------------------------------------------------------------------------------


def add_flight_booking(ctx: Context, fare: str) -> dict:
    """Set up a flight the user already holds (London to somewhere, a few days out); returns its flight."""
    destination = ctx.rng.choice(["Berlin", "Paris", "New York"])
    day = ctx.rng.choice(DAYS[2:])
    flights = ctx.world.apps["booking"].search_flights("London", destination, day.isoformat())
    if not flights:
        raise Skip("no flight with seats")
    f = ctx.rng.choice(flights)
    ctx.add({"op": "book", "kind": "flight", "arguments": {"flight_id": f["id"], "fare": fare}})
    return f


def describe(ctx: Context, b: dict) -> str:
    """One booking as an answer lists it."""
    name = b["name"]
    if b["kind"] == "restaurant":
        s = datetime.fromisoformat(b["starts"])
        return ctx.say({"en": f"table for {b['quantity']} at {name}, {show_day(s.date(), 'en')} {s:%H:%M}",
                        "de": f"Tisch für {b['quantity']} im {name}, {show_day(s.date(), 'de')} {s:%H:%M}",
                        "zh": f"{name}的{b['quantity']}人桌，{show_day(s.date(), 'zh')} {s:%H:%M}"})
    if b["kind"] == "hotel":
        a, e = date.fromisoformat(b["starts"]), date.fromisoformat(b["ends"])
        return ctx.say({"en": f"{name}, {show_day(a, 'en')} to {show_day(e, 'en')}",
                        "de": f"{name}, {show_day(a, 'de')} bis {show_day(e, 'de')}",
                        "zh": f"{name}，{show_day(a, 'zh')}至{show_day(e, 'zh')}"})
    s = datetime.fromisoformat(b["starts"])
    return ctx.say({"en": f"flight {name}, {show_day(s.date(), 'en')} {s:%H:%M}",
                    "de": f"Flug {name}, {show_day(s.date(), 'de')} {s:%H:%M}",
                    "zh": f"航班{name}，{show_day(s.date(), 'zh')} {s:%H:%M}"})


def cancel_plan(ctx: Context, booking: dict, meant: Callable[[dict], bool], request: dict[str, list[str]], **words: str):
    """Find the booking with list_bookings (the one `meant` by what the user said), ask, cancel once the user says
    yes, report the refund."""
    assert [b["id"] for b in ctx.world.apps["booking"].list_bookings() if meant(b)] == [booking["id"]], "the request names one booking"
    ctx.request = ask(ctx, request, **words)
    ctx.user_replies = [ctx.rng.choice(OK[ctx.language])]
    ctx.user_instructions = f"You want booking #{booking['id']} ({booking['name']}) cancelled. When asked to confirm, say yes."
    ctx.ask_first()
    ctx.change("booking", "update", id=booking["id"], status="cancelled")

    def expert():
        [found] = yield Act([("list_bookings", {})])
        hit = next(b for b in found if meant(b))
        reply = yield Say(ctx.say({"en": f"I found booking #{hit['id']}: {describe(ctx, hit)}. Shall I cancel it?",
                                   "de": f"Ich habe die Buchung #{hit['id']} gefunden: {describe(ctx, hit)}. Soll ich sie stornieren?",
                                   "zh": f"找到了预订#{hit['id']}：{describe(ctx, hit)}。要取消吗？"}))
        if reply is None:
            return
        [done] = yield Act([("cancel_booking", {"booking_id": hit["id"]})])
        refund = money(ctx, done["refund"])
        yield Say(ctx.say({"en": f"Cancelled booking #{hit['id']} ({hit['name']}). Refund: {refund}.",
                           "de": f"Buchung #{hit['id']} ({hit['name']}) ist storniert. Erstattung: {refund}.",
                           "zh": f"已取消预订#{hit['id']}（{hit['name']}）。退款：{refund}。"}))
    return expert


@family("book_cancel", ("booking",), ("clarify",))
def book_cancel(ctx: Context):
    if ctx.rng.random() < 0.5:
        hotels = [b for b in ctx.world.apps["booking"].list_bookings() if b["kind"] == "hotel"]
        if len(hotels) != 1:
            raise Skip("no single hotel booking")
        booking = hotels[0]
        city = booking["name"].split(", ")[-1]
        ctx.mention(money_facts(booking["price"]))
        return cancel_plan(ctx, booking, lambda b: b["kind"] == "hotel" and b["name"].endswith(f", {city}"), {
            "en": ["Cancel my hotel booking in {c}.", "Please cancel the {c} hotel.", "I won't need the hotel in {c} after all — cancel it.",
                   "Can you cancel my room in {c}?", "Drop my {c} hotel reservation.", "Cancel the hotel I booked in {c}, please."],
            "de": ["Storniere meine Hotelbuchung in {c}.", "Bitte storniere das Hotel in {c}.", "Ich brauche das Hotel in {c} doch nicht – storniere es.",
                   "Kannst du mein Zimmer in {c} stornieren?", "Streich meine Hotelreservierung in {c}.", "Storniere bitte das Hotel, das ich in {c} gebucht habe."],
            "zh": ["取消我在{c}的酒店预订。", "请取消{c}的酒店。", "{c}的酒店我不需要了——取消吧。", "能帮我取消{c}的房间吗？", "把我{c}的酒店预订退掉。",
                   "请取消我在{c}订的酒店。"],
        }, c=city_name(ctx, city))
    fare = ctx.rng.choice(["saver", "flex"])
    f = add_flight_booking(ctx, fare)
    booking = ctx.world.apps["booking"].list_bookings()[-1]
    assert booking["item_id"] == f["id"]
    ctx.mention(money_facts(booking["price"] if fare == "flex" else 0))
    destination = f["to"].split(" (")[0]
    day = datetime.fromisoformat(f["departs"]).date()
    d = day_phrase(day, ctx.language, ctx.rng)
    return cancel_plan(ctx, booking, lambda b: b["kind"] == "flight" and f" to {destination} (" in b["name"]
                       and datetime.fromisoformat(b["starts"]).date() == day, {
        "en": ["Cancel my flight to {c} {d}.", "Please cancel the {c} flight {d}.", "I'm not flying to {c} {d} after all — cancel it.",
               "Can you cancel my flight to {c} {d}?", "Drop my flight to {c} {d}.", "Cancel the flight to {c} I have {d}, please."],
        "de": ["Storniere meinen Flug nach {c} {d}.", "Bitte storniere den Flug nach {c} {d}.", "Ich fliege {d} doch nicht nach {c} – storniere ihn.",
               "Kannst du meinen Flug nach {c} {d} stornieren?", "Streich meinen Flug {d} nach {c}.", "Storniere bitte meinen gebuchten Flug {d} nach {c}."],
        "zh": ["取消我{d}去{c}的航班。", "请取消{d}飞{c}的航班。", "{d}我不去{c}了——把航班取消吧。", "能帮我取消{d}去{c}的机票吗？", "把我{d}飞{c}的航班退掉。",
               "请取消我订的{d}去{c}的航班。"],
    }, c=city_name(ctx, destination), d=d)


@family("book_cancel_restaurant", ("booking",), ("clarify",), heldout_only=True)
def book_cancel_restaurant(ctx: Context):
    tables = [b for b in ctx.world.apps["booking"].list_bookings() if b["kind"] == "restaurant"]
    if len(tables) != 1:
        raise Skip("no single table booked")
    booking = tables[0]
    s = datetime.fromisoformat(booking["starts"])
    ctx.mention([booking["name"].split(",")[0]])
    return cancel_plan(ctx, booking, lambda b: b["kind"] == "restaurant" and datetime.fromisoformat(b["starts"]).date() == s.date(), {
        "en": ["Cancel my dinner reservation {d}.", "Please cancel my table {d}.", "We can't make dinner {d} — cancel the reservation.",
               "Can you cancel my restaurant booking {d}?", "Drop the table for {d}, please.", "Cancel the dinner booking {d}."],
        "de": ["Storniere meine Tischreservierung {d}.", "Bitte storniere meinen Tisch {d}.", "Wir schaffen das Abendessen {d} nicht – storniere die Reservierung.",
               "Kannst du meine Restaurantbuchung {d} stornieren?", "Streich bitte den Tisch {d}.", "Storniere die Abendessen-Reservierung {d}."],
        "zh": ["取消我{d}的晚餐预订。", "请取消我{d}订的餐位。", "{d}的晚饭我们去不了了——取消预订吧。", "能帮我取消{d}的餐厅预订吗？", "把{d}的餐位退掉吧。",
               "取消{d}的晚餐预订。"],
    }, d=day_phrase(s.date(), ctx.language, ctx.rng))
