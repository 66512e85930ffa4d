"""Bank: the user's own accounts and balances, and transfers between them (at most 2,500 GBP each, never overdrawn)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..language import TODAY
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, NUMBER, STRING, array, enum, obj, param, say, show_amount

LIMIT_CENTS = 250_000
ACCOUNTS = [("current", "Everyday Current"), ("savings", "Rainy Day Savings"), ("savings", "Holiday Fund"),
            ("joint", "Joint Household")]
ACCOUNT_WORDS = {"Everyday Current": ("current account", "Girokonto", "活期账户"),
                 "Rainy Day Savings": ("savings account", "Sparkonto", "储蓄账户"),
                 "Holiday Fund": ("holiday fund", "Urlaubskonto", "旅行基金账户"),  # German words are all neuter (-konto)
                 "Joint Household": ("joint account", "Gemeinschaftskonto", "联名账户")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_bank_accounts (account_id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,
    balance_cents INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS syn_bank_transfers (transfer_id INTEGER PRIMARY KEY, from_account TEXT NOT NULL,
    to_account TEXT NOT NULL, amount_cents INTEGER NOT NULL, reference TEXT NOT NULL, day TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    rows = [(f"ACC-{rng.randint(1000, 9999)}{i}", name, kind, rng.randint(30_000, 900_000)) for i, (kind, name) in enumerate(ACCOUNTS)]
    store.executemany("INSERT INTO syn_bank_accounts VALUES (?, ?, ?, ?)", rows)
    store.execute("INSERT INTO syn_bank_transfers VALUES (?, ?, ?, ?, ?, ?)",
                  [rng.randint(500, 900), rows[0][0], rows[1][0], 20_000, "monthly saving", "2025-05-28"])


def account(store: Store, account_id: str) -> dict:
    row = store.row("SELECT * FROM syn_bank_accounts WHERE account_id = ?", [account_id.strip().upper()])
    if row is None:
        raise ValueError(f"unknown account {account_id!r}; list the accounts to see their ids")
    return row


def money(cents: int) -> float:
    return round(cents / 100, 2)


def accounts(store: Store, args: dict) -> dict:
    rows = store.rows("SELECT * FROM syn_bank_accounts ORDER BY account_id")
    return {"currency": "GBP", "accounts": [{"account_id": r["account_id"], "name": r["name"], "type": r["type"],
                                             "balance": money(r["balance_cents"])}
                                            for r in rows if not args.get("type") or r["type"] == args["type"]]}


def transfer(store: Store, args: dict) -> dict:
    cents = round(args["amount"] * 100)
    with store.transaction():
        source, target = account(store, args["from_account"]), account(store, args["to_account"])
        if source["account_id"] == target["account_id"]:
            raise ValueError("the two accounts must differ")
        if cents <= 0:
            raise ValueError("the amount must be positive")
        if cents > LIMIT_CENTS:
            raise ValueError(f"transfers between your accounts are limited to {money(LIMIT_CENTS):.2f} GBP each; "
                             f"{args['amount']:.2f} GBP is over the limit")
        if cents > source["balance_cents"]:
            raise ValueError(f"insufficient funds: {source['name']} holds {money(source['balance_cents']):.2f} GBP")
        store.execute("UPDATE syn_bank_accounts SET balance_cents = balance_cents - ? WHERE account_id = ?", [cents, source["account_id"]])
        store.execute("UPDATE syn_bank_accounts SET balance_cents = balance_cents + ? WHERE account_id = ?", [cents, target["account_id"]])
        tid = store.execute("INSERT INTO syn_bank_transfers (from_account, to_account, amount_cents, reference, day) "
                            "VALUES (?, ?, ?, ?, ?)", [source["account_id"], target["account_id"], cents,
                                                       (args.get("reference") or "").strip(), TODAY.isoformat()])
    return {"transfer_id": tid, "from_account": source["account_id"], "to_account": target["account_id"], "amount": money(cents),
            "currency": "GBP", "from_balance": money(source["balance_cents"] - cents),
            "to_balance": money(target["balance_cents"] + cents)}


TOOLS = (
    ToolDef("accounts", ("list_accounts", "get_balances", "account_overview", "check_balances"),
            ("The user's bank accounts with their ids and balances.", "Show all own accounts and what they hold."),
            (param("type", ("type", "account_type", "kind"), enum(["current", "savings", "joint"]),
                   "Only accounts of this type.", "Filter by account type.", required=False),),
            obj({"currency": STRING, "accounts": array(obj({"account_id": STRING, "name": STRING,
                                                                "type": enum(["current", "savings", "joint"]),
                                                                "balance": NUMBER}))}), accounts),
    ToolDef("transfer", ("transfer_funds", "move_money", "internal_transfer", "transfer_between_accounts"),
            ("Move money between two of the user's own accounts (max 2,500 GBP per transfer).",
             "Transfer an amount from one own account to another."),
            (param("from_account", ("from_account", "source_account", "debit_account"), STRING, "Account id to take money from.",
                   "Source account id."),
             param("to_account", ("to_account", "target_account", "credit_account"), STRING, "Account id to pay into.",
                   "Destination account id."),
             param("amount", ("amount", "sum", "value_gbp"), {"type": "number", "exclusiveMinimum": 0}, "Amount in GBP.",
                   "How much to move."),
             param("reference", ("reference", "memo", "note"), STRING, "Optional reference text.", "A note for the statement.",
                   required=False)),
            obj({"transfer_id": INTEGER, "from_account": STRING, "to_account": STRING, "amount": NUMBER, "currency": STRING,
                 "from_balance": NUMBER, "to_balance": NUMBER}), transfer, writes=True),
)


def by_name(store: Store, name: str) -> dict:
    return store.row("SELECT * FROM syn_bank_accounts WHERE name = ?", [name])


def account_word(name: str, language: str) -> str:
    return dict(zip(("en", "de", "zh"), ACCOUNT_WORDS[name]))[language]


def pounds(value: float, language: str) -> str:
    return say(language, f"£{show_amount(value, 'en')}", f"{show_amount(value, 'de')} £", f"{show_amount(value, 'zh')}英镑")


def amount_facts(value: float) -> list[str]:
    return [f"{value:.2f}", f"{value:.2f}".replace(".", ","), str(value)]


def balance_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    name = ctx.rng.choice([n for _, n in ACCOUNTS])
    w = account_word(name, language)
    request = ctx.pick({
        "en": [f"How much is in my {w}?", f"What's the balance of my {w}?", f"Check my {w} balance, please."],
        "de": [f"Wie viel ist auf meinem {w}?", f"Wie ist der Kontostand meines {w}s?", f"Prüf bitte den Stand von meinem {w}."],
        "zh": [f"我的{w}里有多少钱？", f"我{w}的余额是多少？", f"帮我查一下{w}余额。"],
    })
    balance = money(by_name(store, name)["balance_cents"])

    def answer(results):
        a = next(x for x in results[0][0]["accounts"] if x["name"] == name)
        return say(language, f"Your {w} ({name}) holds {pounds(a['balance'], 'en')}.",
                   f"Auf {name} ({w}) sind {pounds(a['balance'], 'de')}.", f"你的{w}（{name}）余额为{pounds(a['balance'], 'zh')}。")

    kind = by_name(store, name)["type"]
    return Scenario(request, [[Call("accounts", {"type": kind})]], answer, facts=[amount_facts(balance)])


def transfer_request(ctx, amount: int, a: str, b: str) -> str:
    return ctx.pick({
        "en": [f"Move £{amount} from my {a} to my {b}.", f"Transfer {amount} pounds from the {a} into the {b}, please.",
               f"Put £{amount} from my {a} into my {b}."],
        "de": [f"Überweis {amount} £ von meinem {a} auf mein {b}.", f"Buch bitte {amount} Pfund vom {a} aufs {b} um.",
               f"Schieb {amount} £ von meinem {a} auf mein {b}."],
        "zh": [f"从我的{a}转{amount}英镑到{b}。", f"请把{amount}英镑从{a}转到{b}。", f"把{a}里的{amount}英镑转进{b}。"],
    })


def transfer_scenario(ctx, store: Store) -> Scenario:
    """Chain with a write: list the accounts for their ids, then transfer."""
    language = ctx.language
    a, b = "Everyday Current", ctx.rng.choice(["Rainy Day Savings", "Holiday Fund"])
    src, dst = by_name(store, a), by_name(store, b)
    amount = ctx.rng.choice([x for x in (50, 100, 150, 200, 250, 300, 400, 500) if x * 100 <= src["balance_cents"]] or [1])
    wa, wb = account_word(a, language), account_word(b, language)
    cents = amount * 100

    def answer(results):
        r = results[1][0]
        return say(language, f"Done: £{amount} moved from {a} to {b}. New balances: {a} {pounds(r['from_balance'], 'en')}, "
                             f"{b} {pounds(r['to_balance'], 'en')}.",
                   f"Erledigt: {amount} £ von {a} auf {b} überwiesen. Neue Stände: {a} {pounds(r['from_balance'], 'de')}, "
                   f"{b} {pounds(r['to_balance'], 'de')}.",
                   f"已完成：从{a}转出{amount}英镑到{b}。最新余额：{a} {pounds(r['from_balance'], 'zh')}，{b} {pounds(r['to_balance'], 'zh')}。")

    return Scenario(transfer_request(ctx, amount, wa, wb),
                    [[Call("accounts", {})],
                     [Call("transfer", {"from_account": src["account_id"], "to_account": dst["account_id"], "amount": amount})]],
                    answer, facts=[amount_facts(money(src["balance_cents"] - cents))],
                    changes=[{"kind": "syn_bank_accounts", "op": "update", "id": src["account_id"],
                              "fields": {"balance_cents": src["balance_cents"] - cents}},
                             {"kind": "syn_bank_accounts", "op": "update", "id": dst["account_id"],
                              "fields": {"balance_cents": dst["balance_cents"] + cents}},
                             {"kind": "syn_bank_transfers", "op": "insert",
                              "fields": {"from_account": src["account_id"], "to_account": dst["account_id"], "amount_cents": cents}}])


def over_limit_scenario(ctx, store: Store) -> Scenario:
    """Over the per-transfer limit: the transfer fails, nothing moves, and the expert explains the limit."""
    language = ctx.language
    a, b = ctx.rng.choice([("Rainy Day Savings", "Everyday Current"), ("Everyday Current", "Rainy Day Savings"),
                           ("Holiday Fund", "Everyday Current")])
    amount = ctx.rng.choice([3000, 4000, 5000, 6000])
    src, dst = by_name(store, a), by_name(store, b)
    wa, wb = account_word(a, language), account_word(b, language)

    def answer(results):
        return say(language, f"Sorry, I couldn't make that transfer: transfers between your accounts are limited to £2,500.00 "
                             f"each, and £{amount} is over the limit. Nothing was moved. I could transfer £2,500 now if you like.",
                   f"Das ging leider nicht: Umbuchungen zwischen deinen Konten sind auf 2500,00 £ pro Überweisung begrenzt, "
                   f"{amount} £ liegen darüber. Es wurde nichts überwiesen. Soll ich 2500 £ überweisen?",
                   f"抱歉，无法转账：账户间每笔转账上限为2500.00英镑，{amount}英镑超出了限额。未转出任何资金。需要我先转2500英镑吗？")

    return Scenario(transfer_request(ctx, amount, wa, wb),
                    [[Call("accounts", {})],
                     [Call("transfer", {"from_account": src["account_id"], "to_account": dst["account_id"], "amount": amount})]],
                    answer, facts=[["2500.00", "2,500.00", "2500,00"]],
                    says=[["sorry", "couldn't", "leider", "抱歉", "无法"]])


register(Domain("bank", "both", SCHEMA, {"syn_bank_accounts": "account_id", "syn_bank_transfers": "transfer_id"}, seed, TOOLS,
                (("single", balance_scenario), ("write", transfer_scenario), ("error", over_limit_scenario))))
