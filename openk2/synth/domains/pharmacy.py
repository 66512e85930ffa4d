"""Pharmacy: the user's prescriptions with refills left, and refill requests for pickup at a store."""

from __future__ import annotations

import random
from datetime import timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_facts, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, array, enum, obj, param, say

MEDICATIONS = ["Atorvastatin 20 mg", "Lisinopril 10 mg", "Metformin 500 mg", "Levothyroxine 50 mcg", "Omeprazole 20 mg",
               "Sertraline 50 mg", "Salbutamol inhaler", "Cetirizine 10 mg", "Amlodipine 5 mg", "Montelukast 10 mg"]
STORES = ("High Street", "Station Road", "Market Square")

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_pharmacy_prescriptions (rx_id TEXT PRIMARY KEY, medication TEXT NOT NULL,
    directions TEXT NOT NULL, refills_left INTEGER NOT NULL, last_filled TEXT NOT NULL, prescriber TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS syn_pharmacy_refills (refill_id INTEGER PRIMARY KEY, rx_id TEXT NOT NULL, store TEXT NOT NULL,
    ready_on TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    meds = rng.sample(MEDICATIONS, 5)
    refills = [0, rng.randint(1, 2), rng.randint(1, 5), rng.randint(2, 5), rng.randint(0, 3)]
    rows = [(f"RX-{number}", med, rng.choice(["one tablet daily", "one tablet twice daily",
                                                                  "two puffs as needed", "one tablet at night"]),
             left, (TODAY - timedelta(days=rng.randint(10, 80))).isoformat(), rng.choice(["Dr Patel", "Dr Okafor", "Dr Lindqvist"]))
            for number, med, left in zip(rng.sample(range(10000, 99999), 5), meds, refills)]
    store.executemany("INSERT INTO syn_pharmacy_prescriptions VALUES (?, ?, ?, ?, ?, ?)", rows)


def record(r: dict) -> dict:
    return {"prescription_id": r["rx_id"], "medication": r["medication"], "directions": r["directions"],
            "refills_left": r["refills_left"], "last_filled": r["last_filled"], "prescriber": r["prescriber"]}


def prescriptions(store: Store, args: dict) -> dict:
    wanted = (args.get("medication") or "").strip().casefold()
    return {"prescriptions": [record(r) for r in store.rows("SELECT * FROM syn_pharmacy_prescriptions ORDER BY rx_id")
                              if wanted in r["medication"].casefold()]}


def refill(store: Store, args: dict) -> dict:
    with store.transaction():
        rx = store.row("SELECT * FROM syn_pharmacy_prescriptions WHERE rx_id = ?", [args["prescription_id"].strip().upper()])
        if rx is None:
            raise ValueError(f"unknown prescription {args['prescription_id']!r}; list the prescriptions for their ids")
        if rx["refills_left"] <= 0:
            raise ValueError(f"no refills left on {rx['rx_id']} ({rx['medication']}); ask {rx['prescriber']} for a new prescription")
        ready = (TODAY + timedelta(days=1)).isoformat()
        store.execute("UPDATE syn_pharmacy_prescriptions SET refills_left = refills_left - 1 WHERE rx_id = ?", [rx["rx_id"]])
        rid = store.execute("INSERT INTO syn_pharmacy_refills (rx_id, store, ready_on) VALUES (?, ?, ?)",
                            [rx["rx_id"], args["store"], ready])
    return {"refill_id": rid, "prescription_id": rx["rx_id"], "medication": rx["medication"], "store": args["store"],
            "ready_on": ready, "refills_left": rx["refills_left"] - 1}


TOOLS = (
    ToolDef("list", ("list_prescriptions", "my_prescriptions", "get_prescriptions", "rx_overview"),
            ("The user's prescriptions with refills left.", "Show current prescriptions and their refills."),
            (param("medication", ("medication", "drug", "medicine"), STRING, "Only prescriptions whose drug name contains this.",
                   "Filter by medication name.", required=False),),
            obj({"prescriptions": array(obj({"prescription_id": STRING, "medication": STRING, "directions": STRING,
                                                 "refills_left": INTEGER, "last_filled": STRING, "prescriber": STRING}))}),
            prescriptions),
    ToolDef("refill", ("request_refill", "refill_prescription", "order_refill", "renew_medication"),
            ("Request a refill of a prescription for pickup at a store.", "Order a prescription refill."),
            (param("prescription_id", ("prescription_id", "rx_id", "rx_number"), STRING, "The prescription's id (RX-...).",
                   "Which prescription."),
             param("store", ("store", "pickup_store", "pharmacy"), enum(STORES), "Pharmacy branch for pickup.", "Where to collect it.")),
            obj({"refill_id": INTEGER, "prescription_id": STRING, "medication": STRING, "store": enum(STORES), "ready_on": STRING,
                 "refills_left": INTEGER}), refill, writes=True),
)


def drug(medication: str) -> str:
    return medication.split()[0]


def refills_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    rx = ctx.rng.choice(store.rows("SELECT * FROM syn_pharmacy_prescriptions ORDER BY rx_id"))
    d = drug(rx["medication"])
    request = ctx.pick({
        "en": [f"How many refills do I have left on my {d}?", f"Can I still refill my {d} prescription?", f"Check my {d}: any refills left?"],
        "de": [f"Wie viele Folgerezepte habe ich noch für {d}?", f"Kann ich mein {d}-Rezept noch einlösen?", f"Prüf mal {d}: noch Nachfüllungen übrig?"],
        "zh": [f"我的{d}还能续几次药？", f"我的{d}处方还能续吗？", f"查一下{d}：还有续药次数吗？"],
    })

    def answer(results):
        r = next(x for x in results[0][0]["prescriptions"] if x["prescription_id"] == rx["rx_id"])
        n = r["refills_left"]
        if n == 0:
            return say(language, f"Your {r['medication']} ({r['prescription_id']}) has no refills left; ask {r['prescriber']} for a new prescription.",
                       f"Für {r['medication']} ({r['prescription_id']}) sind keine Nachfüllungen mehr übrig; bitte {r['prescriber']} um ein neues Rezept.",
                       f"你的{r['medication']}（{r['prescription_id']}）已没有续药次数，请找{r['prescriber']}开新处方。")
        return say(language, f"Your {r['medication']} ({r['prescription_id']}) has {n} refill{'s' if n > 1 else ''} left.",
                   f"Für {r['medication']} ({r['prescription_id']}) sind noch {n} Nachfüllung{'en' if n > 1 else ''} übrig.",
                   f"你的{r['medication']}（{r['prescription_id']}）还能续药{n}次。")

    n = rx["refills_left"]
    amount = ["no refills", "keine Nachfüllungen", "没有续药", '"refills_left":0'] if n == 0 else \
        [f"{n} refill", f"{n} Nachfüllung", f"续药{n}次", f'"refills_left":{n}']
    return Scenario(request, [[Call("list", {"medication": d})]], answer, facts=[[rx["rx_id"]], amount])


def refill_scenario(ctx, store: Store) -> Scenario:
    """Chain with a write: list the prescriptions for the id, then request the refill."""
    language = ctx.language
    rx = ctx.rng.choice(store.rows("SELECT * FROM syn_pharmacy_prescriptions WHERE refills_left > 0 ORDER BY rx_id"))
    branch = ctx.rng.choice(STORES)
    d = drug(rx["medication"])
    request = ctx.pick({
        "en": [f"Please refill my {d}; I'll pick it up at the {branch} pharmacy.", f"Order a refill of {d} for pickup at {branch}.",
               f"I'm running out of {d}. Can you request a refill at {branch}?"],
        "de": [f"Bitte bestell mein {d} nach; ich hole es in der Apotheke {branch} ab.", f"Bestell eine Nachfüllung {d} zur Abholung in {branch}.",
               f"Mein {d} geht zur Neige. Kannst du in {branch} nachbestellen?"],
        "zh": [f"请帮我续{d}，我去{branch}药店取。", f"给{d}下个续药单，在{branch}取药。", f"我的{d}快吃完了，能在{branch}续药吗？"],
    })
    ready = TODAY + timedelta(days=1)

    def answer(results):
        r = results[1][0]
        return say(language, f"Refill of {r['medication']} requested at {branch}: ready {show_day(ready, 'en')}; "
                             f"{r['refills_left']} refill{'' if r['refills_left'] == 1 else 's'} left after this.",
                   f"Nachfüllung von {r['medication']} in {branch} bestellt: abholbereit am {show_day(ready, 'de')}; danach noch {r['refills_left']} übrig.",
                   f"已在{branch}申请续{r['medication']}：{show_day(ready, 'zh')}可取，之后还剩{r['refills_left']}次。")

    return Scenario(request, [[Call("list", {})], [Call("refill", {"prescription_id": rx["rx_id"], "store": branch})]], answer,
                    facts=[day_facts(ready)],
                    changes=[{"kind": "syn_pharmacy_prescriptions", "op": "update", "id": rx["rx_id"],
                              "fields": {"refills_left": rx["refills_left"] - 1}},
                             {"kind": "syn_pharmacy_refills", "op": "insert", "fields": {"rx_id": rx["rx_id"], "store": branch}}])


def no_refills_scenario(ctx, store: Store) -> Scenario:
    """No refills left: the request fails and the expert says to ask the prescriber."""
    language = ctx.language
    rx = store.row("SELECT * FROM syn_pharmacy_prescriptions WHERE refills_left = 0 ORDER BY rx_id")
    branch = ctx.rng.choice(STORES)
    d = drug(rx["medication"])
    request = ctx.pick({
        "en": [f"Please refill my {d} at {branch}.", f"Order more {d} for pickup at the {branch} pharmacy.", f"I need a refill of {d}, {branch} store please."],
        "de": [f"Bitte bestell mein {d} in {branch} nach.", f"Bestell mehr {d} zur Abholung in der Apotheke {branch}.",
               f"Ich brauche Nachschub von {d}, bitte in {branch}."],
        "zh": [f"请在{branch}帮我续{d}。", f"再订一些{d}，在{branch}药店取。", f"我需要续{d}，在{branch}取。"],
    })

    def answer(results):
        return say(language, f"Sorry, I couldn't order it: your {rx['medication']} prescription ({rx['rx_id']}) has no refills left. "
                             f"Please ask {rx['prescriber']} for a new prescription.",
                   f"Das ging leider nicht: auf deinem Rezept für {rx['medication']} ({rx['rx_id']}) sind keine Nachfüllungen mehr. "
                   f"Bitte {rx['prescriber']} um ein neues Rezept.",
                   f"抱歉，无法续药：你的{rx['medication']}处方（{rx['rx_id']}）已没有续药次数，请找{rx['prescriber']}开新处方。")

    return Scenario(request, [[Call("list", {})], [Call("refill", {"prescription_id": rx["rx_id"], "store": branch})]], answer,
                    facts=[[rx["prescriber"]], ["new prescription", "neues Rezept", "新处方"]],  # the second: only the error says it
                    says=[["sorry", "couldn't", "leider", "抱歉", "无法"]])


register(Domain("pharmacy", "both", SCHEMA, {"syn_pharmacy_prescriptions": "rx_id", "syn_pharmacy_refills": "refill_id"}, seed,
                TOOLS, (("single", refills_scenario), ("write", refill_scenario), ("error", no_refills_scenario))))
