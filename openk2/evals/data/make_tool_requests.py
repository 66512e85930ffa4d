"""Writes tool_requests.jsonl, the request set of `openk2 eval schema` (same output every run).

    .venv/bin/python openk2/evals/data/make_tool_requests.py

One OpenAI chat completion request per line, in the K2 Vendor Verifier's format (model, messages, tools,
temperature, max_tokens, stream, and here tool_choice). 18 agentic tools whose parameter schemas use
nested objects, enums, arrays with maxItems, required fields, integer/number bounds, booleans, a nullable
field and an anyOf; every free string has maxLength <= 40 and every array maxItems <= 4, so that a
random-weight model under schema-constrained decoding still finishes its arguments. Requests are single
turns, conversations that already hold assistant tool calls (ids "functions.NAME:IDX", as K2 expects)
with their results, a few that need no tool, and two with the verifier's "_input" role; tool_choice
is absent, "auto", "required" or one named function. Checks every schema (Draft 2020-12) and every
tool call of the histories against its schema before writing.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from jsonschema import Draft202012Validator

OUT = Path(__file__).parent / "tool_requests.jsonl"


def s(max_length: int = 40, description: str | None = None, **more) -> dict:
    schema = {"type": "string", "maxLength": max_length, **more}
    return {**schema, "description": description} if description else schema


def enum(*values: str, description: str | None = None) -> dict:
    schema = {"type": "string", "enum": list(values)}
    return {**schema, "description": description} if description else schema


def integer(minimum: int, maximum: int, description: str | None = None) -> dict:
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    return {**schema, "description": description} if description else schema


def obj(properties: dict, required: list[str], description: str | None = None) -> dict:
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return {**schema, "description": description} if description else schema


def tool(name: str, description: str, parameters: dict) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CNY", "CHF", "CAD", "AUD")
AIRPORTS = ("SFO", "JFK", "LHR", "SIN", "FCO", "BOS", "CDG", "HND", "PEK", "SEA")
DATE = "date as YYYY-MM-DD"

TOOLS = {t["function"]["name"]: t for t in [
    tool("get_weather", "Current conditions and daily forecast for a place.", obj({
        "location": s(40, "city name, optionally with country"),
        "unit": enum("celsius", "fahrenheit"),
        "days": integer(1, 7, "forecast length in days"),
    }, ["location"])),
    tool("create_calendar_event", "Add an event to the user's calendar.", obj({
        "title": s(40),
        "start": obj({"date": s(10, DATE), "time": s(5, "24-hour HH:MM")}, ["date"]),
        "duration_minutes": integer(5, 480),
        "all_day": {"type": "boolean"},
        "attendees": {"type": "array", "items": s(40, "email address"), "maxItems": 4},
        "reminder": enum("none", "5m", "15m", "1h", "1d"),
    }, ["title", "start"])),
    tool("send_email", "Send an email from the user's account.", obj({
        "to": {"type": "array", "items": s(40), "minItems": 1, "maxItems": 4},
        "cc": {"type": "array", "items": s(40), "maxItems": 4},
        "subject": s(40),
        "body": s(40),
        "priority": enum("low", "normal", "high"),
    }, ["to", "subject", "body"])),
    tool("book_flight", "Search and book a flight.", obj({
        "origin": enum(*AIRPORTS, description="IATA airport code"),
        "destination": enum(*AIRPORTS, description="IATA airport code"),
        "date": s(10, DATE),
        "passengers": obj({"adults": integer(1, 9), "children": integer(0, 8)}, ["adults"]),
        "cabin": enum("economy", "premium_economy", "business", "first"),
        "flexible_dates": {"type": "boolean"},
    }, ["origin", "destination", "date", "passengers"])),
    tool("book_restaurant", "Reserve a table at a restaurant.", obj({
        "restaurant": s(40),
        "date": s(10, DATE),
        "time": s(5, "24-hour HH:MM"),
        "party_size": integer(1, 20),
        "dietary": {"type": "array", "maxItems": 4,
                    "items": enum("vegetarian", "vegan", "gluten_free", "nut_allergy", "halal", "kosher")},
        "seating": enum("indoor", "outdoor", "bar", "any"),
    }, ["restaurant", "time", "party_size"])),
    tool("web_search", "Search the web. Up to 3 queries per call.", obj({
        "queries": {"type": "array", "items": s(40), "minItems": 1, "maxItems": 3},
        "recency": enum("any", "day", "week", "month", "year"),
        "max_results": integer(1, 10),
    }, ["queries"])),
    tool("run_code", "Execute a short snippet in a sandbox and return stdout.", obj({
        "language": enum("python", "javascript", "bash"),
        "code": s(40),
        "timeout_seconds": {"type": "number", "minimum": 0.5, "maximum": 60},
    }, ["language", "code"])),
    tool("add_to_cart", "Add a product to the shopping cart.", obj({
        "product_id": s(20),
        "quantity": integer(1, 10),
        "options": obj({"size": enum("XS", "S", "M", "L", "XL"),
                        "color": enum("black", "white", "blue", "red", "green", "grey")}, []),
        "gift_wrap": {"type": "boolean"},
    }, ["product_id", "quantity"])),
    tool("checkout", "Pay for a cart and ship it.", obj({
        "cart_id": s(20),
        "payment_method": enum("card", "paypal", "apple_pay", "gift_card"),
        "shipping": obj({
            "method": enum("standard", "express", "pickup"),
            "address": obj({"street": s(40), "city": s(30), "postal_code": s(10),
                            "country": enum("US", "GB", "FR", "DE", "JP", "CN", "CA")},
                           ["street", "city", "country"]),
        }, ["method"]),
    }, ["cart_id", "payment_method", "shipping"])),
    tool("set_thermostat", "Control a smart thermostat.", obj({
        "device": enum("living_room", "bedroom", "hallway", "office"),
        "target_celsius": {"type": "number", "minimum": 10, "maximum": 30},
        "mode": enum("heat", "cool", "auto", "off"),
    }, ["device", "mode"])),
    tool("create_ticket", "Open an issue in the team's tracker.", obj({
        "title": s(40),
        "severity": enum("low", "medium", "high", "critical"),
        "labels": {"type": "array", "maxItems": 4,
                   "items": enum("bug", "backend", "frontend", "regression", "docs", "security", "performance")},
        "assignee": {"type": ["string", "null"], "maxLength": 30, "description": "username, or null"},
    }, ["title", "severity"])),
    tool("convert_currency", "Convert an amount between currencies at today's rate.", obj({
        "amount": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000000},
        "from_currency": enum(*CURRENCIES),
        "to_currency": enum(*CURRENCIES),
    }, ["amount", "from_currency", "to_currency"])),
    tool("get_stock_quote", "Latest price of a listed stock.", obj({
        "symbol": s(8, "ticker symbol"),
        "include_history": {"type": "boolean"},
        "history_days": integer(1, 30),
    }, ["symbol"])),
    tool("translate_text", "Translate a short text.", obj({
        "text": s(40),
        "target_language": enum("en", "zh", "ja", "de", "fr", "es", "ko"),
        "formal": {"type": "boolean"},
    }, ["text", "target_language"])),
    tool("list_directory", "List files in the workspace.", obj({
        "path": s(40),
        "recursive": {"type": "boolean"},
        "max_depth": integer(1, 5),
    }, ["path"])),
    tool("read_file", "Read a text file from the workspace.", obj({
        "path": s(40),
        "start_line": integer(1, 100000),
        "max_lines": integer(1, 500),
    }, ["path"])),
    tool("set_reminder", "Remind the user later.", obj({
        "text": s(40),
        "minutes_from_now": integer(1, 10080),
        "channel": enum("push", "email", "sms"),
    }, ["text", "minutes_from_now"])),
    tool("query_database", "Read rows from the shop's database.", obj({
        "table": enum("orders", "customers", "products", "users"),
        "filters": {"type": "array", "maxItems": 3, "items": obj({
            "column": s(20),
            "op": enum("=", "!=", "<", "<=", ">", ">=", "contains"),
            "value": {"anyOf": [s(30), {"type": "number"}, {"type": "boolean"}]},
        }, ["column", "op", "value"])},
        "order_by": obj({"column": s(20), "descending": {"type": "boolean"}}, ["column"]),
        "limit": integer(1, 100),
    }, ["table"])),
    tool("get_directions", "Route between two places.", obj({
        "origin": s(40),
        "destination": s(40),
        "mode": enum("driving", "walking", "cycling", "transit"),
        "avoid": {"type": "array", "maxItems": 3, "items": enum("tolls", "highways", "ferries")},
    }, ["origin", "destination"])),
]}

SYSTEMS = [
    None,
    "You are Kimi, an AI assistant created by Moonshot AI.",
    "You are a helpful assistant with access to tools. Today is 2025-03-10. Call a tool when it helps.",
    "你是 Kimi，由月之暗面科技有限公司（MoonshotAI）开发的人工智能助手。",
]

# (tool the user asks for, or None when no tool is needed; the user's message)
SINGLE = [
    ("get_weather", "What's the weather going to be like in Lisbon for the next 3 days? Use Celsius."),
    ("get_weather", "Will it rain in Seattle tomorrow?"),
    ("get_weather", "东京这周末天气怎么样？"),
    ("get_weather", "What's the weather in Reykjavik in Fahrenheit for the next 5 days?"),
    ("create_calendar_event", ("Put a 45-minute design review on my calendar for 2025-03-14 at 10:30 with "
                              "ana@example.com and li@example.com, remind me 15 minutes before.")),
    ("create_calendar_event", "Block all of Friday 2025-06-20 as 'Offsite'."),
    ("create_calendar_event", "Schedule 'Dentist' on 2025-08-12 at 09:00 for an hour."),
    ("send_email", "Email bob@example.com that the Q3 report is delayed until Monday. High priority."),
    ("send_email", "Send a quick thank-you note to team@acme.io with the subject 'Thanks for the launch'."),
    ("send_email", "Tell my landlord (landlord@flatmail.com) the heater is broken; cc me at me@home.net."),
    ("book_flight", ("Find me a flight from SFO to JFK on 2025-05-10 for two adults and one child, economy. "
                    "My dates are flexible.")),
    ("book_flight", "Book business class from Heathrow to Singapore on 2025-09-01 for one adult."),
    ("book_restaurant", ("Reserve a table for 4 at Nopa tonight at 19:30; one of us is vegetarian and one "
                        "is gluten-free.")),
    ("book_restaurant", "Can you get me a table for two at Le Bernardin on 2025-02-14 at 20:00?"),
    ("web_search", "What's the latest on the James Webb telescope findings this week?"),
    ("web_search", "Search for the differences between MLA and GQA attention."),
    ("web_search", "帮我查一下2024年诺贝尔物理学奖得主是谁。"),
    ("web_search", "Look up 'best budget mechanical keyboard 2025' and 'hot-swappable keyboards'."),
    ("run_code", "Compute 2 to the power of 100 exactly using Python."),
    ("run_code", "Run `ls -la /tmp` and tell me what's there."),
    ("run_code", "What does [1,2,3].map(x => x*2) return in JavaScript? Run it."),
    ("run_code", "Run this Python and give me the result: sum(range(101))"),
    ("add_to_cart", "Add two of product SKU-88412 in size M, blue, to my cart."),
    ("add_to_cart", "Add the noise-cancelling headphones (id HD-700) to the cart, gift-wrapped."),
    ("add_to_cart", "Add one pair of running shoes, SKU RUN-42, size L in black."),
    ("checkout", "Check out cart c-1029 with PayPal, express shipping to 12 Rue de Rivoli, 75001 Paris, France."),
    ("set_thermostat", "Set the living room thermostat to 21.5 degrees in heat mode."),
    ("set_thermostat", "Turn the bedroom AC to cool at 19."),
    ("create_ticket", ("File a critical bug: the login page returns 500 after the deploy. Label it backend and "
                      "regression and assign it to dana.")),
    ("create_ticket", "Create a low-severity docs ticket about improving the CLI help text; leave it unassigned."),
    ("convert_currency", "How much is 250 euros in Japanese yen?"),
    ("convert_currency", "Convert 1,999.99 USD to GBP."),
    ("convert_currency", "Convert 10000 JPY to CNY."),
    ("get_stock_quote", "What's NVDA trading at right now? Include the last week's history."),
    ("translate_text", "Translate 'Where is the train station?' into Japanese."),
    ("translate_text", "Translate 'Thank you for your patience' to formal German."),
    ("list_directory", "List everything under ./src recursively, but only two levels deep."),
    ("read_file", "Show me the first 50 lines of config/settings.yaml."),
    ("set_reminder", "Remind me in 20 minutes to take the laundry out."),
    ("set_reminder", "Text me a reminder in 3 days to renew my passport."),
    ("query_database", "From the orders table, get the 10 most recent orders over $100 with status shipped."),
    ("query_database", "Which products have fewer than 5 units in stock? Top 20 by name."),
    ("get_directions", "How do I get from Union Square to the Golden Gate Bridge by bike, avoiding highways?"),
    ("get_directions", "Walking directions from Shibuya Station to Tokyo Tower, please."),
    (None, "Thanks, that's all for now!"),
    (None, "Explain in one sentence what a mixture-of-experts model is."),
    (None, "你好，你是谁？"),
    (None, "Write a haiku about autumn."),
]


def call(name: str, arguments: dict) -> tuple[str, dict]:
    return name, arguments


# (earlier turns as [user, [calls], [tool results], (assistant text)], the next user message, tool it needs)
CONVERSATIONS = [
    ("What's the weather in Paris tonight?",
     [call("get_weather", {"location": "Paris, France", "unit": "celsius", "days": 1})],
     [('{"location": "Paris", "now": {"temp_c": 18, "sky": "clear"}, '
       '"forecast": [{"day": "today", "low": 12, "high": 21}]}')],
     "Clear skies in Paris tonight, around 18 °C.",
     "Perfect, then book a table for 2 at Septime at 20:00 tonight, outside if possible.", "book_restaurant"),
    ("Search for cheap flights from Boston to Rome in early July.",
     [call("web_search", {"queries": ["cheap flights Boston Rome July"], "recency": "week"})],
     ['[{"title": "BOS-FCO from $612", "snippet": "Jul 3, economy, 1 stop"}]'],
     "The cheapest I found is Boston to Rome Fiumicino on July 3 from $612 in economy.",
     "Book that one for me: BOS to FCO on 2025-07-03, one adult, economy.", "book_flight"),
    ("Add three of the travel adapters (TRV-20) to my cart.",
     [call("add_to_cart", {"product_id": "TRV-20", "quantity": 3})],
     ['{"ok": true, "cart_id": "c-551", "items": 3, "total": 59.97}'],
     "Added 3 travel adapters; your cart c-551 totals $59.97.",
     "Great, check out with my card, standard shipping to 500 Oak St, Austin, US.", "checkout"),
    ("What's Apple's stock price?",
     [call("get_stock_quote", {"symbol": "AAPL"})],
     ['{"symbol": "AAPL", "price": 227.48, "currency": "USD"}'],
     "Apple (AAPL) is at $227.48.",
     "How much is that in euros?", "convert_currency"),
    ("Run print(1/0) in Python.",
     [call("run_code", {"language": "python", "code": "print(1/0)", "timeout_seconds": 5})],
     ['{"stdout": "", "stderr": "ZeroDivisionError: division by zero", "exit_code": 1}'],
     None,
     "Okay, now try echo $((7*6)) in bash.", "run_code"),
    ("What's in the docs folder?",
     [call("list_directory", {"path": "docs", "recursive": False})],
     ['{"entries": ["README.md", "serving.md", "training.md", "images/"]}'],
     "docs/ has README.md, serving.md, training.md and an images/ folder.",
     "Open serving.md.", "read_file"),
    ("Schedule a team sync on 2025-03-12 at 14:00 for 30 minutes.",
     [call("create_calendar_event", {"title": "Team sync", "start": {"date": "2025-03-12", "time": "14:00"},
                                     "duration_minutes": 30})],
     ['{"ok": false, "error": "conflict with \'Budget review\' 13:30-14:30"}'],
     "That slot conflicts with your Budget review (13:30-14:30).",
     "Move it to 15:00 then, and invite kai@example.com.", "create_calendar_event"),
    ("Which users signed up for a trial yesterday?",
     [call("query_database", {"table": "users", "limit": 50, "filters": [
         {"column": "plan", "op": "=", "value": "trial"},
         {"column": "signup_day", "op": "=", "value": "2025-03-09"}]})],
     ['[{"email": "mira@example.com"}, {"email": "tom@example.org"}]'],
     "Two: mira@example.com and tom@example.org.",
     "Email both of them that their trial ends in 14 days.", "send_email"),
    ("How do I drive from Sacramento to Lake Tahoe without tolls?",
     [call("get_directions", {"origin": "Sacramento, CA", "destination": "South Lake Tahoe, CA", "mode": "driving",
                              "avoid": ["tolls"]})],
     ['{"distance_km": 165, "duration_min": 122, "summary": "US-50 E"}'],
     "Take US-50 E: about 165 km, roughly 2 hours, no tolls.",
     "And what will the weather be like there for the next two days?", "get_weather"),
    ("Open a high-severity ticket: checkout times out for EU customers. Assign it to lena.",
     [call("create_ticket", {"title": "Checkout times out for EU customers", "severity": "high",
                             "labels": ["bug", "backend"], "assignee": "lena"})],
     ['{"id": "OPS-4312", "url": "https://tracker.example.com/OPS-4312"}'],
     "Created OPS-4312 and assigned it to lena.",
     "Remind me in 2 hours to follow up on it.", "set_reminder"),
    ("Translate 'See you tomorrow at the station' into Japanese.",
     [call("translate_text", {"text": "See you tomorrow at the station", "target_language": "ja"})],
     ['{"translation": "明日、駅で会いましょう"}'],
     "明日、駅で会いましょう",
     "Email that translation to yuki@example.jp with the subject 'Tomorrow'.", "send_email"),
    ("Find recent papers on speculative decoding.",
     [call("web_search", {"queries": ["speculative decoding paper"], "recency": "year", "max_results": 5})],
     ['[{"title": "Medusa: simple LLM inference acceleration", "year": 2024}]'],
     None,
     "Search again, narrower: only EAGLE and tree-based drafting.", "web_search"),
    ("Set the office to 22 degrees, heat.",
     [call("set_thermostat", {"device": "office", "target_celsius": 22, "mode": "heat"})],
     ['{"ok": false, "error": "device office is offline"}'],
     "The office thermostat is offline.",
     "Try the hallway one instead, same settings.", "set_thermostat"),
    ("Convert 80 GBP to USD.",
     [call("convert_currency", {"amount": 80, "from_currency": "GBP", "to_currency": "USD"})],
     ['{"amount": 101.6, "currency": "USD", "rate": 1.27}'],
     "80 GBP is about 101.60 USD.",
     "Nice. Add 2 of the wool scarves (SCARF-9) in grey to my cart.", "add_to_cart"),
    ("Is it warmer in Madrid or in Berlin today?",
     [call("get_weather", {"location": "Madrid", "unit": "celsius", "days": 1}),
      call("get_weather", {"location": "Berlin", "unit": "celsius", "days": 1})],
     ['{"location": "Madrid", "now": {"temp_c": 24}}', '{"location": "Berlin", "now": {"temp_c": 11}}'],
     "Madrid is much warmer: 24 °C against 11 °C in Berlin.",
     "Then search for flights from Paris to Madrid next weekend.", "web_search"),
    ("上海明天会下雨吗？",
     [call("get_weather", {"location": "上海", "unit": "celsius", "days": 2})],
     ['{"location": "上海", "forecast": [{"day": "tomorrow", "rain_probability": 0.8}]}'],
     None,
     "那帮我设置一个明早7点的提醒，提醒我带伞（现在是晚上10点）。", "set_reminder"),
]
# Conversations whose last turn is the verifier's "_input" instruction (sent as a system message).
INPUT_ROLE = {11, 15}


def validate_arguments(name: str, arguments: dict) -> None:
    errors = list(Draft202012Validator(TOOLS[name]["function"]["parameters"]).iter_errors(arguments))
    assert not errors, (name, arguments, errors[0].message)


def tool_choice(rng: random.Random, target: str | None) -> str | dict | None:
    if target is None:
        return rng.choice([None, "auto"])
    return rng.choices([None, "auto", "required", {"type": "function", "function": {"name": target}}],
                       weights=[2, 2, 3, 3])[0]


def request(rng: random.Random, messages: list[dict], target: str | None, used: set[str]) -> dict:
    others = [name for name in TOOLS if name != target and name not in used]
    names = {*(used | ({target} if target else set())), *rng.sample(others, rng.randint(1, 4))}
    tools = [TOOLS[name] for name in rng.sample(sorted(names), len(names))]
    system = rng.choice(SYSTEMS)
    body = {"model": "kimi-k2", "messages": ([{"role": "system", "content": system}] if system else []) + messages,
            "tools": tools, "temperature": 0.6, "max_tokens": 512, "stream": rng.random() < 0.5}
    choice = tool_choice(rng, target)
    if choice is not None:
        body["tool_choice"] = choice
    if target and rng.random() < 0.15:
        body["parallel_tool_calls"] = False
    return body


def conversation(index: int, first: str, calls: list, results: list[str], reply: str | None, next_user: str,
                 ) -> list[dict]:
    tool_calls = []
    for k, (name, arguments) in enumerate(calls):
        validate_arguments(name, arguments)
        tool_calls.append({"id": f"functions.{name}:{k}", "type": "function",
                           "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)}})
    messages = [{"role": "user", "content": first}, {"role": "assistant", "content": "", "tool_calls": tool_calls}]
    messages += [{"role": "tool", "tool_call_id": c["id"], "content": r} for c, r in zip(tool_calls, results)]
    if index in INPUT_ROLE:  # as in the verifier's samples: tool results, then an "_input" instruction
        messages.append({"role": "_input", "content": "If the tool results answer the question, reply; otherwise "
                                                      "call another tool."})
    if reply is not None:
        messages.append({"role": "assistant", "content": reply})
    messages.append({"role": "user", "content": next_user})
    return messages


def main() -> None:
    for t in TOOLS.values():
        Draft202012Validator.check_schema(t["function"]["parameters"])
    rng = random.Random(2025)
    lines = [(target, request(rng, [{"role": "user", "content": text}], target, set())) for target, text in SINGLE]
    for index, (first, calls, results, reply, next_user, target) in enumerate(CONVERSATIONS):
        used = {name for name, _ in calls}
        lines.append((target, request(rng, conversation(index, first, calls, results, reply, next_user), target, used)))
    rng.shuffle(lines)
    OUT.write_text("".join(json.dumps(body, ensure_ascii=False) + "\n" for _, body in lines), encoding="utf-8")
    print(f"wrote {len(lines)} requests to {OUT}")


if __name__ == "__main__":
    main()
