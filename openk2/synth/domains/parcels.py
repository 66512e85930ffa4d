"""Parcel tracking: where a parcel is and when it arrives; changing how an undelivered parcel is delivered."""

from __future__ import annotations

import json
import random
import string
from datetime import date, timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY, day_facts, show_day
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import STRING, array, enum, obj, param, say

CARRIERS = ("DHL", "UPS", "DPD", "Royal Mail", "SF Express")
STATUSES = ("label_created", "in_transit", "out_for_delivery", "delivered")
OPTIONS = ("home", "neighbour", "pickup_point", "safe_place")
HUBS = ["Leipzig hub", "Cologne hub", "East Midlands hub", "Heathrow depot", "Birmingham depot", "London Bow depot",
        "Shenzhen sorting centre", "Paris Roissy hub"]
OPTION_WORDS = {"neighbour": ("left with a neighbour", "bei einem Nachbarn abgegeben", "交给邻居代收"),
                "pickup_point": ("held at a pickup point", "an eine Abholstelle geliefert", "送到自提点"),
                "safe_place": ("left in a safe place", "an einem sicheren Ort abgelegt", "放在安全的地方")}
OPTION_INFINITIVES = {"neighbour": "bei einem Nachbarn abgeben", "pickup_point": "an eine Abholstelle liefern",
                      "safe_place": "an einem sicheren Ort ablegen"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_parcels (tracking_number TEXT PRIMARY KEY, carrier TEXT NOT NULL, sender TEXT NOT NULL,
    status TEXT NOT NULL, location TEXT NOT NULL, eta TEXT NOT NULL, delivery_option TEXT NOT NULL, events TEXT NOT NULL);
"""


def number(carrier: str, rng: random.Random) -> str:
    digits = lambda n: "".join(rng.choice(string.digits) for _ in range(n))  # noqa: E731
    return {"DHL": lambda: "JJD" + digits(12), "UPS": lambda: "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits)
                                                                              for _ in range(16)),
            "DPD": lambda: digits(14), "Royal Mail": lambda: "".join(rng.choice(string.ascii_uppercase) for _ in range(2))
            + digits(9) + "GB", "SF Express": lambda: "SF" + digits(12)}[carrier]()


def seed(store: Store, rng: random.Random) -> None:
    rows = []
    senders = ["Bookshop Online", "Outdoor Gear Co", "Tea Traders", "PhoneParts", "Home & Garden Direct", "Kids Toys Ltd",
               "Camera World", "Fashion Hub"]
    for i, status in enumerate(["in_transit", "in_transit", "out_for_delivery", "label_created", "delivered", "delivered",
                                "in_transit", "out_for_delivery"]):
        carrier = CARRIERS[i % len(CARRIERS)]
        hub = rng.choice(HUBS)
        events = [{"time": f"{(TODAY - timedelta(days=3)).isoformat()} 18:{rng.randint(10, 59)}", "place": senders[i],
                   "description": "label created"}]
        if status != "label_created":
            events.append({"time": f"{(TODAY - timedelta(days=2)).isoformat()} 0{rng.randint(1, 9)}:{rng.randint(10, 59)}",
                           "place": hub, "description": "arrived at sorting hub"})
        if status in ("out_for_delivery", "delivered"):
            events.append({"time": f"{(TODAY - timedelta(days=0 if status != 'delivered' else 1)).isoformat()} "
                                   f"07:{rng.randint(10, 59)}", "place": "local depot", "description": "out for delivery"})
        delivered_on = TODAY - timedelta(days=1)
        if status == "delivered":
            events.append({"time": f"{delivered_on.isoformat()} {rng.randint(11, 17)}:{rng.randint(10, 59)}",
                           "place": "front door", "description": "delivered"})
        eta = delivered_on if status == "delivered" else TODAY if status == "out_for_delivery" else \
            TODAY + timedelta(days=rng.randint(1, 4))
        location = events[-1]["place"]
        rows.append((number(carrier, rng), carrier, senders[i], status, location, eta.isoformat(), "home",
                     json.dumps(events)))
    store.executemany("INSERT INTO syn_parcels VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def parcel(store: Store, tracking: str) -> dict:
    row = store.row("SELECT * FROM syn_parcels WHERE tracking_number = ?", [tracking.strip().upper().replace(" ", "")])
    if row is None:
        raise ValueError(f"no parcel with tracking number {tracking!r}; check the number on the shipping e-mail")
    return row


def track(store: Store, args: dict) -> dict:
    row = parcel(store, args["tracking_number"])
    return {"tracking_number": row["tracking_number"], "carrier": row["carrier"], "sender": row["sender"],
            "status": row["status"], "location": row["location"], "estimated_delivery": row["eta"],
            "delivery_option": row["delivery_option"], "events": json.loads(row["events"])}


def change(store: Store, args: dict) -> dict:
    with store.transaction():
        row = parcel(store, args["tracking_number"])
        if row["status"] == "delivered":
            raise ValueError(f"parcel {row['tracking_number']} was already delivered on {row['eta']}; "
                             "delivery can no longer be changed")
        store.execute("UPDATE syn_parcels SET delivery_option = ? WHERE tracking_number = ?",
                      [args["option"], row["tracking_number"]])
    return {"tracking_number": row["tracking_number"], "delivery_option": args["option"], "estimated_delivery": row["eta"]}


TRACKING = param("tracking_number", ("tracking_number", "tracking_id", "parcel_id", "shipment"), STRING,
                 "The carrier's tracking number.", "Tracking code from the shipping notice.")
TOOLS = (
    ToolDef("track", ("track_parcel", "track_package", "parcel_status", "where_is_my_parcel", "shipment_tracking"),
            ("Where a parcel is and when it will arrive.", "Tracking details and history of a shipment."),
            (TRACKING,),
            obj({"tracking_number": STRING, "carrier": enum(CARRIERS), "sender": STRING, "status": enum(STATUSES),
                 "location": STRING, "estimated_delivery": STRING, "delivery_option": enum(OPTIONS),
                 "events": array(obj({"time": STRING, "place": STRING, "description": STRING}))}), track),
    ToolDef("change", ("change_delivery", "redirect_parcel", "set_delivery_option", "update_delivery"),
            ("Change how a parcel that is still on its way gets delivered.",
             "Redirect a shipment: neighbour, pickup point, safe place or home."),
            (TRACKING, param("option", ("option", "delivery_option", "deliver_to"), enum(OPTIONS),
                             "home, neighbour, pickup_point or safe_place.", "Where the parcel should go.")),
            obj({"tracking_number": STRING, "delivery_option": enum(OPTIONS), "estimated_delivery": STRING}), change,
            writes=True),
)
STATUS_WORDS = {"label_created": ("the label has been created", "das Label wurde erstellt", "已创建运单"),
                "in_transit": ("in transit", "unterwegs", "运输中"), "out_for_delivery": ("out for delivery", "in Zustellung", "派送中"),
                "delivered": ("delivered", "zugestellt", "已签收")}


def parcels(store: Store, *statuses: str) -> list[dict]:
    return [r for r in store.rows("SELECT * FROM syn_parcels ORDER BY tracking_number") if r["status"] in statuses]


def track_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    row = ctx.rng.choice(parcels(store, "in_transit", "out_for_delivery", "label_created"))
    t = row["tracking_number"]
    request = ctx.pick({
        "en": [f"Where is my parcel {t}?", f"When will package {t} arrive?", f"Can you track {t} for me?"],
        "de": [f"Wo ist mein Paket {t}?", f"Wann kommt die Sendung {t} an?", f"Kannst du {t} für mich verfolgen?"],
        "zh": [f"我的包裹{t}到哪儿了？", f"快递{t}什么时候到？", f"帮我查一下{t}的物流。"],
    })

    def answer(results):
        r = results[0][0]
        word = dict(zip(("en", "de", "zh"), STATUS_WORDS[r["status"]]))[language]
        day = show_day(date.fromisoformat(r["estimated_delivery"]), language)
        return say(language, f"Your {r['carrier']} parcel from {r['sender']} is {word}; last seen at {r['location']}. "
                             f"Expected delivery: {day}.",
                   f"Dein {r['carrier']}-Paket von {r['sender']} ist {word}; zuletzt gesehen: {r['location']}. "
                   f"Voraussichtliche Zustellung: {day}.",
                   f"你来自{r['sender']}的{r['carrier']}包裹{word}，最新位置：{r['location']}。预计送达：{day}。")

    return Scenario(request, [[Call("track", {"tracking_number": t})]], answer,
                    facts=[day_facts(date.fromisoformat(row["eta"])), [row["location"]]])


def redirect_request(ctx, t: str, option: str) -> str:
    en, de, zh = OPTION_WORDS[option]
    return ctx.pick({
        "en": [f"I won't be home. Can parcel {t} be {en} instead?", f"Please have {t} {en}.",
               f"Change the delivery of {t}: I'd like it {en}."],
        "de": [f"Ich bin nicht zu Hause. Kann das Paket {t} stattdessen {de} werden?", f"Bitte das Paket {t} {OPTION_INFINITIVES[option]}.",
               f"Ändere die Zustellung von {t}: es soll {de} werden."],
        "zh": [f"我不在家，包裹{t}能改成{zh}吗？", f"请把{t}改为{zh}。", f"修改{t}的派送方式：{zh}。"],
    })


def redirect_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    row = ctx.rng.choice(parcels(store, "in_transit", "out_for_delivery", "label_created"))
    option = ctx.rng.choice(["neighbour", "pickup_point", "safe_place"])
    t = row["tracking_number"]

    def answer(results):
        return say(language, f"Done: parcel {t} will be {OPTION_WORDS[option][0]}.",
                   f"Erledigt: das Paket {t} wird {OPTION_WORDS[option][1]}.", f"已修改：包裹{t}将{OPTION_WORDS[option][2]}。")

    return Scenario(redirect_request(ctx, t, option), [[Call("change", {"tracking_number": t, "option": option})]], answer,
                    facts=[[t]], changes=[{"kind": "syn_parcels", "op": "update", "id": t,
                                           "fields": {"delivery_option": option}}])


def delivered_scenario(ctx, store: Store) -> Scenario:
    """The parcel was delivered yesterday: the change fails, and the expert explains instead of retrying."""
    language = ctx.language
    row = ctx.rng.choice(parcels(store, "delivered"))
    option = ctx.rng.choice(["neighbour", "pickup_point", "safe_place"])
    t = row["tracking_number"]
    day = date.fromisoformat(row["eta"])

    def answer(results):
        return say(language, f"Sorry, I can't change that: parcel {t} was already delivered on {show_day(day, 'en')}.",
                   f"Das geht leider nicht mehr: das Paket {t} wurde bereits am {show_day(day, 'de')} zugestellt.",
                   f"抱歉，无法修改：包裹{t}已于{show_day(day, 'zh')}签收。")

    return Scenario(redirect_request(ctx, t, option), [[Call("change", {"tracking_number": t, "option": option})]], answer,
                    facts=[day_facts(day)], says=[["sorry", "can't", "cannot", "leider", "nicht mehr", "抱歉", "无法"]])


register(Domain("parcels", "both", SCHEMA, {"syn_parcels": "tracking_number"}, seed, TOOLS,
                (("single", track_scenario), ("write", redirect_scenario), ("error", delivered_scenario))))
