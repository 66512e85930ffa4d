"""Vet clinic (held out: training never shows it): the user's pets, free appointment slots, and booking one."""

from __future__ import annotations

import random
from datetime import timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_phrase, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, array, enum, obj, param, say

VETS = ("Dr Moreau", "Dr Albrecht", "Dr Nakamura")
REASONS = ("check-up", "vaccination", "dental", "skin", "limping", "follow-up")
PETS = [("Biscuit", "dog", "beagle"), ("Mochi", "cat", "british shorthair"), ("Pepper", "rabbit", "lop"),
        ("Luna", "dog", "labrador"), ("Ziggy", "cat", "tabby"), ("Nugget", "guinea pig", "abyssinian")]
DAYS = [TODAY + timedelta(days=i) for i in range(1, 6)]
TIMES = ["09:00", "09:30", "10:00", "11:00", "14:00", "15:30", "16:00", "17:00"]
SPECIES_WORDS = {"dog": ("dog", "Hund", "狗"), "cat": ("cat", "Katze", "猫"), "rabbit": ("rabbit", "Kaninchen", "兔子"),
                 "guinea pig": ("guinea pig", "Meerschweinchen", "豚鼠")}
REASON_WORDS = {"check-up": ("a check-up", "Check-up", "体检"), "vaccination": ("vaccinations", "Impfung", "打疫苗"),
                "dental": ("a dental check", "Zahnkontrolle", "检查牙齿"), "limping": ("limping", "Humpeln", "跛行")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_vet_pets (pet_id TEXT PRIMARY KEY, name TEXT NOT NULL, species TEXT NOT NULL,
    breed TEXT NOT NULL, born TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS syn_vet_slots (slot_id TEXT PRIMARY KEY, vet TEXT NOT NULL, day TEXT NOT NULL, time TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS syn_vet_appointments (appointment_id INTEGER PRIMARY KEY, pet_id TEXT NOT NULL,
    slot_id TEXT NOT NULL UNIQUE, reason TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    pets = rng.sample(PETS, 3)
    store.executemany("INSERT INTO syn_vet_pets VALUES (?, ?, ?, ?, ?)",
                      [(f"pet_{i}", n, s, b, f"{rng.randint(2014, 2023)}-{rng.randint(1, 12):02d}-01")
                       for i, (n, s, b) in zip(rng.sample(range(10, 99), 3), pets)])
    slots, ids = [], iter(rng.sample(range(100, 1000), len(VETS) * len(DAYS) * 4))
    for vet in VETS:
        for day in DAYS:
            for time in sorted(rng.sample(TIMES, 4)):
                slots.append((f"slot_{next(ids)}", vet, day.isoformat(), time))
    store.executemany("INSERT INTO syn_vet_slots VALUES (?, ?, ?, ?)", slots)


def pets(store: Store, args: dict) -> dict:
    return {"pets": [{"pet_id": r["pet_id"], "name": r["name"], "species": r["species"], "breed": r["breed"], "born": r["born"]}
                     for r in store.rows("SELECT * FROM syn_vet_pets ORDER BY pet_id")]}


def free_slots(store: Store, args: dict) -> dict:
    sql, params = ("SELECT * FROM syn_vet_slots WHERE slot_id NOT IN (SELECT slot_id FROM syn_vet_appointments)", [])
    if args.get("date"):
        sql, params = sql + " AND day = ?", params + [args["date"]]
    if args.get("vet"):
        sql, params = sql + " AND lower(vet) = lower(?)", params + [args["vet"].strip()]
    rows = store.rows(sql + " ORDER BY day, time, vet", params)
    return {"slots": [{"slot_id": r["slot_id"], "vet": r["vet"], "date": r["day"], "time": r["time"]} for r in rows]}


def book(store: Store, args: dict) -> dict:
    with store.transaction():
        pet = store.row("SELECT * FROM syn_vet_pets WHERE pet_id = ?", [args["pet_id"].strip()])
        if pet is None:
            raise ValueError(f"unknown pet {args['pet_id']!r}; list the pets for their ids")
        slot = store.row("SELECT * FROM syn_vet_slots WHERE slot_id = ?", [args["slot_id"].strip()])
        if slot is None:
            raise ValueError(f"unknown slot {args['slot_id']!r}; look up free slots first")
        if store.row("SELECT 1 AS x FROM syn_vet_appointments WHERE slot_id = ?", [slot["slot_id"]]):
            raise ValueError(f"slot {slot['slot_id']} is already taken; choose another")
        aid = store.execute("INSERT INTO syn_vet_appointments (pet_id, slot_id, reason) VALUES (?, ?, ?)",
                            [pet["pet_id"], slot["slot_id"], args["reason"]])
    return {"appointment_id": aid, "pet": pet["name"], "vet": slot["vet"], "date": slot["day"], "time": slot["time"],
            "reason": args["reason"]}


TOOLS = (
    ToolDef("pets", ("list_pets", "my_pets", "pet_profiles"),
            ("The user's registered pets with their ids.", "List the pets on the user's clinic account."),
            (), obj({"pets": array(obj({"pet_id": STRING, "name": STRING, "species": STRING, "breed": STRING, "born": STRING}))}),
            pets),
    ToolDef("slots", ("vet_free_slots", "find_vet_appointments", "clinic_availability", "open_vet_slots"),
            ("Free appointment slots at the vet clinic.", "When the vets have time, soonest first."),
            (param("date", ("date", "day", "on_date"), {"type": "string", "format": "date"}, "Only this day (YYYY-MM-DD).",
                   "Day filter.", required=False),
             param("vet", ("vet", "doctor", "veterinarian"), enum(VETS), "Only this vet.", "Vet filter.", required=False)),
            obj({"slots": array(obj({"slot_id": STRING, "vet": STRING, "date": STRING, "time": STRING}))}), free_slots),
    ToolDef("book", ("book_vet_appointment", "schedule_vet_visit", "reserve_vet_slot"),
            ("Book a free slot for a pet.", "Make a vet appointment for a pet in a slot."),
            (param("pet_id", ("pet_id", "animal_id", "pet"), STRING, "The pet's id.", "Which pet."),
             param("slot_id", ("slot_id", "slot", "appointment_slot"), STRING, "The free slot's id.", "Which slot."),
             param("reason", ("reason", "visit_type", "purpose"), enum(REASONS), "Why the pet is coming.", "Kind of visit.")),
            obj({"appointment_id": INTEGER, "pet": STRING, "vet": STRING, "date": STRING, "time": STRING, "reason": enum(REASONS)}),
            book, writes=True),
)


def earliest_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    vet = ctx.rng.choice(VETS)
    day = ctx.rng.choice(DAYS)
    when = day_phrase(day, language, ctx.rng)
    request = ctx.pick({
        "en": [f"When is {vet} free {when}?", f"What slots does {vet} have {when}?", f"Can I see {vet} {when}? Which times are open?"],
        "de": [f"Wann hat {vet} {when} Zeit?", f"Welche Termine hat {vet} {when} frei?", f"Kann ich {when} zu {vet}? Welche Zeiten sind frei?"],
        "zh": [f"{vet}{when}什么时候有空？", f"{vet}{when}有哪些空档？", f"{when}能约{vet}吗？有哪些时间？"],
    })
    expected = free_slots(store, {"date": day.isoformat(), "vet": vet})["slots"]

    def answer(results):
        times = ", ".join(s["time"] for s in results[0][0]["slots"])
        return say(language, f"{vet} has free slots on {show_day(day, 'en')} at {times}.",
                   f"{vet} hat am {show_day(day, 'de')} frei um {times}.", f"{vet}在{show_day(day, 'zh')}的空档：{times}。")

    return Scenario(request, [[Call("slots", {"date": day.isoformat(), "vet": vet})]], answer,
                    facts=[[s["time"]] for s in expected])


def book_scenario(ctx, store: Store) -> Scenario:
    """Pets and free slots together, then book the earliest slot on the day asked for."""
    language = ctx.language
    pet = ctx.rng.choice(pets(store, {})["pets"])
    day = ctx.rng.choice(DAYS)
    reason = ctx.rng.choice(list(REASON_WORDS))
    slot = free_slots(store, {"date": day.isoformat()})["slots"][0]
    when = day_phrase(day, language, ctx.rng)
    r = dict(zip(("en", "de", "zh"), REASON_WORDS[reason]))[language]
    n = pet["name"]
    request = ctx.pick({
        "en": [f"Book {n} in at the vet {when} for {r}, earliest slot please.", f"{n} needs to see the vet for {r}. Take the first free slot {when}.",
               f"Get {n} the earliest vet appointment {when} ({r})."],
        "de": [f"Buch für {n} {when} den frühesten Tierarzttermin (Grund: {r}).",
               f"{n} muss zum Tierarzt ({r}). Nimm den ersten freien Termin {when}.",
               f"Besorg {n} {when} den frühesten Termin beim Tierarzt ({r})."],
        "zh": [f"{when}给{n}约最早的兽医号，{r}。", f"{n}要去看兽医（{r}），约{when}第一个空档。", f"帮{n}约{when}最早的兽医预约（{r}）。"],
    })

    def answer(results):
        a = results[1][0]
        return say(language, f"Booked: {n} sees {a['vet']} on {show_day(day, 'en')} at {a['time']} ({reason}), appointment {a['appointment_id']}.",
                   f"Gebucht: {n} hat am {show_day(day, 'de')} um {a['time']} einen Termin bei {a['vet']} ({r}), Nr. {a['appointment_id']}.",
                   f"已预约：{n}于{show_day(day, 'zh')}{a['time']}看{a['vet']}（{r}），预约号{a['appointment_id']}。")

    return Scenario(request, [[Call("pets", {}), Call("slots", {"date": day.isoformat()})],
                              [Call("book", {"pet_id": pet["pet_id"], "slot_id": slot["slot_id"], "reason": reason})]], answer,
                    facts=[[slot["time"]], [slot["vet"]]],
                    changes=[{"kind": "syn_vet_appointments", "op": "insert",
                              "fields": {"pet_id": pet["pet_id"], "slot_id": slot["slot_id"], "reason": reason}}])


register(Domain("vet", "heldout", SCHEMA, {"syn_vet_pets": "pet_id", "syn_vet_slots": "slot_id",
                                           "syn_vet_appointments": "appointment_id"}, seed, TOOLS,
                (("single", earliest_scenario), ("write", book_scenario))))
