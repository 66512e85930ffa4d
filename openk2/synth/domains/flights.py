"""Flight status: today's departures with gates, delays and cancellations (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, array, enum, obj, param, say, split_pool

# code -> (airline in en, de, zh)
AIRLINES = {"LH": ("Lufthansa", "Lufthansa", "汉莎航空"), "BA": ("British Airways", "British Airways", "英国航空"),
            "AF": ("Air France", "Air France", "法国航空"), "KL": ("KLM", "KLM", "荷兰皇家航空"),
            "IB": ("Iberia", "Iberia", "伊比利亚航空"), "LX": ("Swiss", "Swiss", "瑞士国际航空"),
            "OS": ("Austrian", "Austrian", "奥地利航空"), "SK": ("SAS", "SAS", "北欧航空"), "AY": ("Finnair", "Finnair", "芬兰航空"),
            "TP": ("TAP Air Portugal", "TAP Air Portugal", "葡萄牙航空"), "CA": ("Air China", "Air China", "中国国际航空"),
            "MU": ("China Eastern", "China Eastern", "东方航空"), "NH": ("ANA", "ANA", "全日空"),
            "SQ": ("Singapore Airlines", "Singapore Airlines", "新加坡航空"), "EK": ("Emirates", "Emirates", "阿联酋航空"),
            "UA": ("United", "United", "美国联合航空"), "DL": ("Delta", "Delta", "达美航空"), "AC": ("Air Canada", "Air Canada", "加拿大航空")}
AIRPORTS = ["LHR", "FRA", "CDG", "AMS", "MAD", "ZRH", "VIE", "CPH", "HEL", "LIS", "PEK", "PVG", "HND", "SIN", "DXB",
            "JFK", "ATL", "YYZ", "MUC", "BCN"]
STATUSES = ("scheduled", "on_time", "delayed", "boarding", "departed", "cancelled")
STATUS_WORDS = {"scheduled": ("scheduled", "planmäßig", "计划中"), "on_time": ("on time", "pünktlich", "准点"),
                "delayed": ("delayed", "verspätet", "延误"), "boarding": ("boarding", "beim Boarding", "正在登机"),
                "departed": ("departed", "gestartet", "已起飞"), "cancelled": ("cancelled", "gestrichen", "已取消")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_flights_status (flight TEXT PRIMARY KEY, airline TEXT NOT NULL, origin TEXT NOT NULL,
    destination TEXT NOT NULL, scheduled TEXT NOT NULL, status TEXT NOT NULL, delay_min INTEGER NOT NULL,
    terminal TEXT NOT NULL, gate TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows = []
    for code in AIRLINES:
        for number in rng.sample(range(10, 990), 2):
            origin, destination = rng.sample(AIRPORTS, 2)
            minute = rng.randrange(6 * 12, 23 * 12) * 5  # 06:00 .. 22:55; it is 09:00 now
            if minute < 8 * 60 + 30:
                state = rng.choice(["departed", "departed", "cancelled"])
            elif minute < 9 * 60 + 45:
                state = rng.choice(["boarding", "delayed", "on_time"])
            else:
                state = rng.choices(["scheduled", "on_time", "delayed", "cancelled"], weights=(2, 4, 3, 1))[0]
            delay = rng.choice([15, 25, 40, 55, 70, 95, 130]) if state == "delayed" else 0
            rows.append((f"{code}{number}", AIRLINES[code][0], origin, destination, f"{minute // 60:02d}:{minute % 60:02d}",
                         state, delay, str(rng.randint(1, 5)), f"{rng.choice('ABCDEFGHK')}{rng.randint(1, 48)}"))
    store.executemany("INSERT INTO syn_flights_status VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


def expected_time(scheduled: str, delay: int) -> str:
    h, m = map(int, scheduled.split(":"))
    total = h * 60 + m + delay
    return f"{total // 60 % 24:02d}:{total % 60:02d}"


def status(store: Store, args: dict) -> dict:
    number = args["flight"].strip().upper().replace(" ", "")
    row = store.row("SELECT * FROM syn_flights_status WHERE flight = ?", [number])
    if row is None:
        raise ValueError(f"no flight {args['flight']!r} today; give the IATA flight number: airline code and digits, "
                         "e.g. LH400")
    if args.get("date") not in (None, "2025-06-02"):
        raise ValueError(f"status is only available for today's flights (2025-06-02), not {args['date']!r}")
    return {"flight": row["flight"], "airline": row["airline"], "from": row["origin"], "to": row["destination"],
            "date": "2025-06-02", "scheduled_departure": row["scheduled"], "status": row["status"],
            "delay_minutes": row["delay_min"],
            "expected_departure": None if row["status"] == "cancelled" else expected_time(row["scheduled"], row["delay_min"]),
            "terminal": row["terminal"], "gate": None if row["status"] == "cancelled" else row["gate"]}


def departures(store: Store, args: dict) -> dict:
    airport = args["airport"].strip().upper()
    if airport not in AIRPORTS:
        raise ValueError(f"unknown airport {args['airport']!r}; use a three-letter IATA code such as LHR or FRA")
    rows = store.rows("SELECT * FROM syn_flights_status WHERE origin = ? ORDER BY scheduled, flight", [airport])
    return {"airport": airport, "date": "2025-06-02", "departures": [
        {"flight": r["flight"], "to": r["destination"], "scheduled_departure": r["scheduled"], "status": r["status"]}
        for r in rows[: args.get("limit") or 10]]}


STATUS_RESULT = obj({"flight": STRING, "airline": STRING, "from": STRING, "to": STRING, "date": STRING,
                     "scheduled_departure": STRING, "status": enum(STATUSES), "delay_minutes": INTEGER,
                     "expected_departure": {"type": ["string", "null"]}, "terminal": STRING, "gate": {"type": ["string", "null"]}})
TOOLS = (
    ToolDef("status", ("flight_status", "get_flight_status", "track_flight", "check_flight", "lookup_flight"),
            ("Today's status of a flight: delay, gate and expected departure.", "Check whether a flight is on time.",
             "Live status for a flight number."),
            (param("flight", ("flight_number", "flight", "flight_no", "number"), STRING,
                   "IATA flight number, e.g. LH400.", "Airline code plus digits."),
             param("date", ("date", "day", "departure_date"), {"type": "string", "format": "date"},
                   "Departure date (YYYY-MM-DD); only today is available.", "Date of the flight.", required=False)),
            STATUS_RESULT, status),
    ToolDef("departures", ("airport_departures", "departure_board", "list_departures", "flights_leaving"),
            ("Today's departures from an airport.", "The departure board of an airport, in time order."),
            (param("airport", ("airport", "airport_code", "iata"), STRING, "Three-letter IATA code, e.g. FRA.",
                   "Which airport."),
             param("limit", ("limit", "max_flights"), {"type": "integer", "minimum": 1, "maximum": 20},
                   "At most this many flights (default 10).", "How many departures.", required=False)),
            obj({"airport": STRING, "date": STRING, "departures": array(obj({
                "flight": STRING, "to": STRING, "scheduled_departure": STRING, "status": enum(STATUSES)}))}),
            departures),
)


def flights(store: Store) -> list[str]:
    return [r["flight"] for r in store.rows("SELECT flight FROM syn_flights_status ORDER BY flight")]


def describe(r: dict, language: str) -> str:
    word = dict(zip(("en", "de", "zh"), STATUS_WORDS[r["status"]]))[language]
    f = r["flight"]
    if r["status"] == "cancelled":
        return say(language, f"{f} to {r['to']} is cancelled.", f"{f} nach {r['to']} ist gestrichen.", f"{f}飞往{r['to']}的航班已取消。")
    if r["status"] == "delayed":
        return say(language, f"{f} to {r['to']} is delayed by {r['delay_minutes']} minutes: scheduled {r['scheduled_departure']}, "
                             f"now expected at {r['expected_departure']}, terminal {r['terminal']}, gate {r['gate']}.",
                   f"{f} nach {r['to']} hat {r['delay_minutes']} Minuten Verspätung: geplant {r['scheduled_departure']}, "
                   f"jetzt voraussichtlich {r['expected_departure']} Uhr, Terminal {r['terminal']}, Gate {r['gate']}.",
                   f"{f}飞往{r['to']}的航班延误{r['delay_minutes']}分钟：原定{r['scheduled_departure']}，现预计{r['expected_departure']}起飞，"
                   f"{r['terminal']}号航站楼，{r['gate']}登机口。")
    if r["status"] == "departed":
        return say(language, f"{f} to {r['to']} has already departed (at {r['expected_departure']}, terminal {r['terminal']}, "
                             f"gate {r['gate']}).",
                   f"{f} nach {r['to']} ist bereits gestartet (um {r['expected_departure']} Uhr, Terminal {r['terminal']}, "
                   f"Gate {r['gate']}).",
                   f"{f}飞往{r['to']}的航班已于{r['expected_departure']}起飞（{r['terminal']}号航站楼，{r['gate']}登机口）。")
    if r["status"] == "boarding":
        return say(language, f"{f} to {r['to']} is boarding now at terminal {r['terminal']}, gate {r['gate']}; departure "
                             f"{r['expected_departure']}.",
                   f"{f} nach {r['to']} ist beim Boarding: Terminal {r['terminal']}, Gate {r['gate']}, Abflug {r['expected_departure']} Uhr.",
                   f"{f}飞往{r['to']}的航班正在登机：{r['terminal']}号航站楼{r['gate']}登机口，{r['expected_departure']}起飞。")
    return say(language, f"{f} to {r['to']} is {word}, departing at {r['expected_departure']} from terminal {r['terminal']}, gate {r['gate']}.",
               f"{f} nach {r['to']} ist {word}, Abflug um {r['expected_departure']} Uhr ab Terminal {r['terminal']}, Gate {r['gate']}.",
               f"{f}飞往{r['to']}的航班{word}，{r['expected_departure']}从{r['terminal']}号航站楼{r['gate']}登机口出发。")


def flight_facts(r: dict) -> list[list[str]]:
    if r["status"] == "cancelled":
        return [[r["flight"]], ["cancel", "gestrichen", "annulliert", "取消"]]
    return [[r["flight"]], [r["expected_departure"]], [r["gate"]]]


def single_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    f = ctx.rng.choice(split_pool(ctx, flights(store)))
    request = ctx.pick({
        "en": [f"Is flight {f} on time?", f"What's the status of {f} today?", f"Which gate does {f} leave from, and is it delayed?",
               f"Can you check my flight {f}?"],
        "de": [f"Ist der Flug {f} pünktlich?", f"Wie ist der Status von {f} heute?", f"Von welchem Gate geht {f}, und hat er Verspätung?",
               f"Kannst du meinen Flug {f} prüfen?"],
        "zh": [f"{f}航班准点吗？", f"今天{f}的航班状态怎么样？", f"{f}从哪个登机口出发？有没有延误？", f"帮我查一下{f}航班。"],
    })
    expected = status(store, {"flight": f})
    return Scenario(request, [[Call("status", {"flight": f})]], lambda results: describe(results[0][0], language),
                    facts=flight_facts(expected))


def parallel_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    a, b = ctx.rng.sample(split_pool(ctx, flights(store)), 2)
    request = ctx.pick({
        "en": [f"Check {a} and {b} for me: are they on time?", f"What's the status of flights {a} and {b}?",
               f"My parents are on {a} and my sister on {b}. Any delays?"],
        "de": [f"Prüf bitte {a} und {b}: sind die pünktlich?", f"Wie ist der Status der Flüge {a} und {b}?",
               f"Meine Eltern fliegen mit {a}, meine Schwester mit {b}. Gibt es Verspätungen?"],
        "zh": [f"帮我查一下{a}和{b}，准点吗？", f"{a}和{b}这两个航班现在什么状态？", f"我爸妈坐{a}，我妹妹坐{b}，有延误吗？"],
    })
    ea, eb = status(store, {"flight": a}), status(store, {"flight": b})
    return Scenario(request, [[Call("status", {"flight": a}), Call("status", {"flight": b})]],
                    lambda results: " ".join(describe(r, language) for r in results[0]),
                    facts=flight_facts(ea) + flight_facts(eb))


def airline_scenario(ctx, store: Store) -> Scenario:
    """The first call passes the airline's name and the digits as the user said them; the error shows the format."""
    language = ctx.language
    f = ctx.rng.choice(split_pool(ctx, flights(store)))
    code, digits = f[:2], f[2:]
    airline = dict(zip(("en", "de", "zh"), AIRLINES[code]))[language]
    request = ctx.pick({
        "en": [f"Is {airline} flight {digits} on time today?", f"What's the status of {airline} {digits}?",
               f"Can you check {airline} flight number {digits} for me?"],
        "de": [f"Ist der {airline}-Flug {digits} heute pünktlich?", f"Wie ist der Status von {airline} {digits}?",
               f"Kannst du {airline} Flugnummer {digits} für mich prüfen?"],
        "zh": [f"{airline}的{digits}航班今天准点吗？", f"{airline} {digits}航班现在什么状态？", f"帮我查一下{airline}的{digits}号航班。"],
    })
    expected = status(store, {"flight": f})
    return Scenario(request, [[Call("status", {"flight": f"{AIRLINES[code][0]} {digits}"})], [Call("status", {"flight": f})]],
                    lambda results: describe(results[-1][0], language), facts=flight_facts(expected))


register(Domain("flights", "both", SCHEMA, {"syn_flights_status": "flight"}, seed, TOOLS,
                (("single", single_scenario), ("parallel", parallel_scenario), ("error", airline_scenario))))
