"""Smart home: lights and thermostats by room; switching lights and setting temperatures (10-28 °C)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import BOOLEAN, INTEGER, NUMBER, STRING, array, enum, number_facts, obj, param, say

ROOMS = ("living room", "kitchen", "bedroom", "office", "hallway", "bathroom")
ROOM_WORDS = {"living room": ("Wohnzimmer", "客厅"), "kitchen": ("Küche", "厨房"), "bedroom": ("Schlafzimmer", "卧室"),
              "office": ("Arbeitszimmer", "书房"), "hallway": ("Flur", "走廊"), "bathroom": ("Bad", "浴室")}
LIGHTS = {"living room": ["ceiling light", "floor lamp", "reading lamp"], "kitchen": ["ceiling light", "counter lights"],
          "bedroom": ["ceiling light", "bedside lamp"], "office": ["desk lamp", "ceiling light"], "hallway": ["hall light"],
          "bathroom": ["mirror light"]}
MIN_C, MAX_C = 10, 28

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_smarthome_devices (device_id TEXT PRIMARY KEY, name TEXT NOT NULL, room TEXT NOT NULL,
    kind TEXT NOT NULL, is_on INTEGER NOT NULL, brightness INTEGER, target_c REAL, current_c REAL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows, ids = [], iter(rng.sample(range(10, 100), 20))
    always_on = set(rng.sample(["living room", "kitchen", "bedroom", "office"], 2))  # two rooms with every light on
    for room in ROOMS:
        for light in LIGHTS[room]:
            on = 1 if room in always_on else int(rng.random() < 0.5)
            rows.append((f"dev_{next(ids)}", light, room, "light", on, rng.choice([30, 50, 70, 100]), None, None))
        if room in ("living room", "bedroom", "office", "bathroom"):
            target = rng.choice([18.0, 19.0, 19.5, 20.0, 21.0, 22.0])
            rows.append((f"dev_{next(ids)}", "thermostat", room, "thermostat", 1, None, target,
                         round(target + rng.uniform(-2.5, 1.5), 1)))
    store.executemany("INSERT INTO syn_smarthome_devices VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def device_record(r: dict) -> dict:
    record = {"device_id": r["device_id"], "name": r["name"], "room": r["room"], "type": r["kind"], "on": bool(r["is_on"])}
    if r["kind"] == "light":
        record["brightness"] = r["brightness"]
    else:
        record["target_celsius"], record["current_celsius"] = r["target_c"], r["current_c"]
    return record


def device(store: Store, device_id: str, kind: str) -> dict:
    row = store.row("SELECT * FROM syn_smarthome_devices WHERE device_id = ?", [device_id.strip()])
    if row is None:
        raise ValueError(f"unknown device {device_id!r}; list the devices to see their ids")
    if row["kind"] != kind:
        raise ValueError(f"{device_id} is a {row['kind']} ({row['name']}, {row['room']}), not a {kind}")
    return row


def list_devices(store: Store, args: dict) -> dict:
    rows = store.rows("SELECT * FROM syn_smarthome_devices ORDER BY device_id")
    return {"devices": [device_record(r) for r in rows if not args.get("room") or r["room"] == args["room"]]}


def set_light(store: Store, args: dict) -> dict:
    with store.transaction():
        row = device(store, args["device_id"], "light")
        brightness = args.get("brightness", row["brightness"])
        store.execute("UPDATE syn_smarthome_devices SET is_on = ?, brightness = ? WHERE device_id = ?",
                      [int(args["on"]), brightness, row["device_id"]])
    return device_record({**row, "is_on": int(args["on"]), "brightness": brightness})


def set_thermostat(store: Store, args: dict) -> dict:
    value = args["celsius"]
    with store.transaction():
        row = device(store, args["device_id"], "thermostat")
        if not MIN_C <= value <= MAX_C:
            raise ValueError(f"thermostats accept {MIN_C}-{MAX_C} °C; {value} °C is out of range")
        store.execute("UPDATE syn_smarthome_devices SET target_c = ? WHERE device_id = ?", [float(value), row["device_id"]])
    return device_record({**row, "target_c": float(value)})


DEVICE = obj({"device_id": STRING, "name": STRING, "room": STRING, "type": enum(["light", "thermostat"]), "on": BOOLEAN,
              "brightness": INTEGER, "target_celsius": NUMBER, "current_celsius": NUMBER},
             optional=("brightness", "target_celsius", "current_celsius"))
DEVICE_ID = param("device_id", ("device_id", "device", "id"), STRING, "The device's id.", "Which device.")
TOOLS = (
    ToolDef("list", ("list_devices", "home_devices", "get_devices", "smart_home_status"),
            ("Lights and thermostats in the home, with their state.", "List smart-home devices, optionally in one room."),
            (param("room", ("room", "area", "room_name"), enum(ROOMS), "Only devices in this room.", "Room filter.", required=False),),
            obj({"devices": array(DEVICE)}), list_devices),
    ToolDef("light", ("set_light", "switch_light", "control_light", "light_power"),
            ("Turn a light on or off, optionally setting brightness.", "Switch a smart light."),
            (DEVICE_ID, param("on", ("on", "power", "turn_on"), BOOLEAN, "true for on, false for off.", "Desired state."),
             param("brightness", ("brightness", "level", "dim_to"), {"type": "integer", "minimum": 1, "maximum": 100},
                   "Brightness in percent.", "How bright (1-100).", required=False)),
            DEVICE, set_light, writes=True),
    ToolDef("thermostat", ("set_thermostat", "set_temperature", "adjust_heating", "thermostat_target"),
            (f"Set a thermostat's target temperature ({MIN_C}-{MAX_C} °C).", "Change the heating target in a room."),
            (DEVICE_ID, param("celsius", ("celsius", "temperature", "target_c", "degrees"), NUMBER, "Target in °C.",
                              "Temperature to heat to.")),
            DEVICE, set_thermostat, writes=True),
)


def room_word(room: str, language: str) -> str:
    return {"en": room, "de": ROOM_WORDS[room][0], "zh": ROOM_WORDS[room][1]}[language]


def article(room: str) -> str:
    """German: im Wohnzimmer, in der Küche."""
    return "in der" if room == "kitchen" else "im"


def thermostat(store: Store, room: str) -> dict:
    return store.row("SELECT * FROM syn_smarthome_devices WHERE room = ? AND kind = 'thermostat'", [room])


def heating_rooms(store: Store) -> list[str]:
    return [r["room"] for r in store.rows("SELECT room FROM syn_smarthome_devices WHERE kind = 'thermostat' ORDER BY room")]


def status_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    room = ctx.rng.choice(heating_rooms(store))
    t = thermostat(store, room)
    w = room_word(room, language)
    request = ctx.pick({
        "en": [f"How warm is the {w} right now, and what's the heating set to?", f"What temperature is the {w} thermostat set to?",
               f"Check the {w} thermostat for me."],
        "de": [f"Wie warm ist es gerade {article(room)} {w}, und worauf steht die Heizung?", f"Auf welche Temperatur ist das Thermostat {article(room)} {w} eingestellt?",
               f"Schau mal nach dem Thermostat {article(room)} {w}."],
        "zh": [f"{w}现在多少度？暖气设的是多少？", f"{w}的温控器设定在多少度？", f"帮我看看{w}的温控器。"],
    })

    def answer(results):
        d = next(x for x in results[0][0]["devices"] if x["type"] == "thermostat")
        cur, tgt = show_c(d["current_celsius"], language), show_c(d["target_celsius"], language)
        return say(language, f"The {w} is at {cur} °C; the thermostat is set to {tgt} °C.",
                   f"{article(room).capitalize()} {w} sind es {cur} °C; das Thermostat steht auf {tgt} °C.",
                   f"{w}现在{cur}°C，温控器设定为{tgt}°C。")

    return Scenario(request, [[Call("list", {"room": room})]], answer,
                    facts=[number_facts(t["current_c"]), number_facts(t["target_c"])])


def show_c(value: float, language: str) -> str:
    text = str(int(value)) if float(value).is_integer() else str(value)
    return text.replace(".", ",") if language == "de" else text


def heat_scenario(ctx, store: Store) -> Scenario:
    """Chain with a write: list the room's devices to find the thermostat, then set it."""
    language = ctx.language
    room = ctx.rng.choice(heating_rooms(store))
    t = thermostat(store, room)
    value = ctx.rng.choice([v for v in (17, 18, 19, 20, 21, 22, 23) if v != t["target_c"]])
    w = room_word(room, language)
    request = ctx.pick({
        "en": [f"Set the {w} to {value} degrees.", f"Turn the heating in the {w} to {value} °C.", f"Can you make the {w} {value} °C?"],
        "de": [f"Stell das {w} auf {value} Grad.",  # rooms with a thermostat are all neuter
               f"Dreh die Heizung {article(room)} {w} auf {value} °C.", f"Kannst du {article(room)} {w} {value} °C einstellen?"],
        "zh": [f"把{w}调到{value}度。", f"把{w}的暖气设为{value}°C。", f"能把{w}设置成{value}°C吗？"],
    })

    def answer(results):
        return say(language, f"Done: the {w} thermostat is now set to {value} °C.",
                   f"Erledigt: das Thermostat {article(room)} {w} steht jetzt auf {value} °C.", f"好的，{w}温控器已设为{value}°C。")

    return Scenario(request, [[Call("list", {"room": room})], [Call("thermostat", {"device_id": t["device_id"], "celsius": value})]],
                    answer, facts=[[str(value)]],
                    changes=[{"kind": "syn_smarthome_devices", "op": "update", "id": t["device_id"],
                              "fields": {"target_c": float(value)}}])


def lights_off_scenario(ctx, store: Store) -> Scenario:
    """List a room's lights, then switch off every one that is on, in one parallel step."""
    language = ctx.language
    rooms = [r for r in ROOMS if len(store.rows("SELECT 1 AS x FROM syn_smarthome_devices WHERE room = ? AND kind = 'light' "
                                                "AND is_on = 1", [r])) >= 2]
    room = ctx.rng.choice(rooms)
    lit = store.rows("SELECT * FROM syn_smarthome_devices WHERE room = ? AND kind = 'light' AND is_on = 1 ORDER BY device_id", [room])
    w = room_word(room, language)
    request = ctx.pick({
        "en": [f"Turn off all the lights in the {w}.", f"Switch off every light in the {w}, please.", f"Lights off in the {w}."],
        "de": [f"Mach alle Lichter {article(room)} {w} aus.", f"Schalte bitte jedes Licht {article(room)} {w} aus.",
               f"Licht aus {article(room)} {w}."],
        "zh": [f"把{w}的灯全关了。", f"请关掉{w}所有的灯。", f"{w}关灯。"],
    })
    names = [d["name"] for d in lit]

    def answer(results):
        return say(language, f"Switched off in the {w}: {', '.join(names)}.", f"Ausgeschaltet {article(room)} {w}: {', '.join(names)}.",
                   f"已关闭{w}的灯：{'、'.join(names)}。")

    return Scenario(request, [[Call("list", {"room": room})],
                              [Call("light", {"device_id": d["device_id"], "on": False}) for d in lit]], answer,
                    facts=[[n] for n in names],
                    changes=[{"kind": "syn_smarthome_devices", "op": "update", "id": d["device_id"], "fields": {"is_on": 0}}
                             for d in lit])


def too_hot_scenario(ctx, store: Store) -> Scenario:
    """The user asks for more than the thermostat allows: the call fails and the expert explains the limit."""
    language = ctx.language
    room = ctx.rng.choice(heating_rooms(store))
    t = thermostat(store, room)
    value = ctx.rng.choice([30, 32, 35])
    w = room_word(room, language)
    request = ctx.pick({
        "en": [f"Crank the {w} up to {value} degrees.", f"Set the {w} thermostat to {value} °C.", f"I'm freezing, put the {w} on {value} °C."],
        "de": [f"Dreh die Heizung {article(room)} {w} auf {value} Grad.", f"Stell das Thermostat {article(room)} {w} auf {value} °C.",
               f"Mir ist kalt, stell {article(room)} {w} {value} °C ein."],
        "zh": [f"把{w}调到{value}度。", f"把{w}温控器设为{value}°C。", f"我好冷，把{w}开到{value}°C。"],
    })

    def answer(results):
        return say(language, f"Sorry, I can't set {value} °C: the thermostats only go from {MIN_C} to {MAX_C} °C. "
                             f"The {w} stays at {show_c(t['target_c'], 'en')} °C; shall I set it to {MAX_C} °C instead?",
                   f"Das geht leider nicht: die Thermostate erlauben nur {MIN_C} bis {MAX_C} °C. "
                   f"{article(room).capitalize()} {w} bleibt es bei {show_c(t['target_c'], 'de')} °C; soll ich {MAX_C} °C einstellen?",
                   f"抱歉，无法设为{value}°C：温控器只支持{MIN_C}到{MAX_C}°C。{w}保持{show_c(t['target_c'], 'zh')}°C，要改成{MAX_C}°C吗？")

    return Scenario(request, [[Call("list", {"room": room})], [Call("thermostat", {"device_id": t["device_id"], "celsius": value})]],
                    answer, facts=[[f"{MIN_C}-{MAX_C}", f"{MIN_C} to {MAX_C}", f"{MIN_C} bis {MAX_C}", f"{MIN_C}到{MAX_C}"]],
                    says=[["sorry", "can't", "leider", "抱歉", "无法"]])


register(Domain("smarthome", "both", SCHEMA, {"syn_smarthome_devices": "device_id"}, seed, TOOLS,
                (("single", status_scenario), ("write", heat_scenario), ("parallel", lights_off_scenario),
                 ("error", too_hot_scenario))))
