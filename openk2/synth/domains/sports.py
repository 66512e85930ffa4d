"""Football scores: each team's latest result and the league tables, from a seeded season of matches (read-only)."""

from __future__ import annotations

import random
from datetime import timedelta

from openk2.agent.apps.store import Store

from ..language import TODAY
from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import INTEGER, STRING, array, enum, obj, param, say, split_pool

LEAGUES = {"Northern League": ["Harbor City FC", "Redfield United", "Ashford Rovers", "Millbrook Athletic", "Stonebridge Town",
                               "Kingsport Wanderers", "Westvale FC", "Lakeside Albion"],
           "Southern League": ["Riverton Rangers", "Bayshore Comets", "Granite Peak FC", "Silverlake Owls", "Eastgate Town",
                               "Oakmont United", "Pinecrest Athletic", "Sunhill Rovers"]}
TEAMS = [t for teams in LEAGUES.values() for t in teams]
LEAGUE_WORDS = {"Northern League": ("Northern League", "Northern League", "北部联赛"),
                "Southern League": ("Southern League", "Southern League", "南部联赛")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_sports_matches (match_id INTEGER PRIMARY KEY, league TEXT NOT NULL, day TEXT NOT NULL,
    home TEXT NOT NULL, away TEXT NOT NULL, home_goals INTEGER NOT NULL, away_goals INTEGER NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    """Six rounds: on each of the last six Saturdays every team plays once."""
    rows = []
    for league, teams in LEAGUES.items():
        for round_ in range(6):
            day = TODAY - timedelta(days=2 + 7 * (5 - round_))
            order = rng.sample(teams, len(teams))
            for home, away in zip(order[::2], order[1::2]):
                rows.append((len(rows) + 1, league, day.isoformat(), home, away, rng.choice([0, 0, 1, 1, 1, 2, 2, 3, 4]),
                             rng.choice([0, 0, 1, 1, 2, 2, 3])))
    store.executemany("INSERT INTO syn_sports_matches VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def team_name(store: Store, name: str) -> str:
    wanted = name.strip().casefold()
    for team in TEAMS:
        if team.casefold() == wanted:
            return team
    raise ValueError(f"no team called {name!r}; teams are listed in the league tables")


def last_result(store: Store, args: dict) -> dict:
    team = team_name(store, args["team"])
    m = store.row("SELECT * FROM syn_sports_matches WHERE home = ? OR away = ? ORDER BY day DESC LIMIT 1", [team, team])
    home = m["home"] == team
    scored, conceded = (m["home_goals"], m["away_goals"]) if home else (m["away_goals"], m["home_goals"])
    return {"team": team, "league": m["league"], "date": m["day"], "opponent": m["away"] if home else m["home"],
            "venue": "home" if home else "away", "score": f"{m['home_goals']}-{m['away_goals']}",
            "goals_for": scored, "goals_against": conceded,
            "result": "win" if scored > conceded else "loss" if scored < conceded else "draw"}


def table(store: Store, args: dict) -> dict:
    league = args["league"]
    stats = {t: {"team": t, "played": 0, "won": 0, "drawn": 0, "lost": 0, "goals_for": 0, "goals_against": 0, "points": 0}
             for t in LEAGUES[league]}
    for m in store.rows("SELECT * FROM syn_sports_matches WHERE league = ?", [league]):
        for team, scored, conceded in ((m["home"], m["home_goals"], m["away_goals"]), (m["away"], m["away_goals"], m["home_goals"])):
            s = stats[team]
            s["played"] += 1
            s["goals_for"] += scored
            s["goals_against"] += conceded
            key = "won" if scored > conceded else "lost" if scored < conceded else "drawn"
            s[key] += 1
            s["points"] += {"won": 3, "drawn": 1, "lost": 0}[key]
    ranked = sorted(stats.values(), key=lambda s: (-s["points"], -(s["goals_for"] - s["goals_against"]), -s["goals_for"], s["team"]))
    return {"league": league, "standings": [{"position": i + 1, **s} for i, s in enumerate(ranked[: args.get("top") or 8])]}


ROW = obj({"position": INTEGER, "team": STRING, "played": INTEGER, "won": INTEGER, "drawn": INTEGER, "lost": INTEGER,
           "goals_for": INTEGER, "goals_against": INTEGER, "points": INTEGER})
TOOLS = (
    ToolDef("last", ("last_match", "latest_result", "team_result", "get_last_game"),
            ("A team's most recent match result.", "How a football team did in its latest game."),
            (param("team", ("team", "club", "team_name"), STRING, "The club's full name.", "Which team."),),
            obj({"team": STRING, "league": STRING, "date": STRING, "opponent": STRING, "venue": enum(["home", "away"]),
                 "score": STRING, "goals_for": INTEGER, "goals_against": INTEGER, "result": enum(["win", "draw", "loss"])}),
            last_result),
    ToolDef("table", ("league_table", "standings", "get_standings", "league_ranking"),
            ("The current league table.", "Standings of a league: points, wins, goals."),
            (param("league", ("league", "competition", "division"), enum(list(LEAGUES)), "Which league.", "The competition."),
             param("top", ("top", "limit", "positions"), {"type": "integer", "minimum": 1, "maximum": 8},
                   "Only the top N teams (default all).", "How many rows.", required=False)),
            obj({"league": STRING, "standings": array(ROW)}), table),
)
RESULT_WORDS = {"win": ("won", "gewonnen", "赢了"), "draw": ("drew", "unentschieden gespielt", "战平了"),
                "loss": ("lost", "verloren", "输了")}


def result_text(r: dict, language: str) -> str:
    en, de, zh = RESULT_WORDS[r["result"]]
    where = say(language, "at home" if r["venue"] == "home" else "away", "zu Hause" if r["venue"] == "home" else "auswärts",
                "主场" if r["venue"] == "home" else "客场")
    score = f"{r['goals_for']}-{r['goals_against']}"
    return say(language, f"{r['team']} {en} {score} {where} against {r['opponent']} on {r['date']}.",
               f"{r['team']} hat am {r['date']} {where} gegen {r['opponent']} {score} {de}.",
               f"{r['team']}于{r['date']}在{where}以{score}{zh}{r['opponent']}。" if r["result"] != "draw"
               else f"{r['team']}于{r['date']}在{where}与{r['opponent']}{score}战平。")


def facts_for(r: dict) -> list[list[str]]:
    # the reply gives the score from the team's side; the result's "score" is home-away
    return [[r["opponent"]], [f"{r['goals_for']}-{r['goals_against']}", f"{r['goals_for']}:{r['goals_against']}", r["score"]]]


def last_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    team = ctx.rng.choice(split_pool(ctx, TEAMS))
    request = ctx.pick({
        "en": [f"How did {team} do in their last match?", f"What was {team}'s latest result?", f"Did {team} win last weekend?"],
        "de": [f"Wie hat {team} im letzten Spiel abgeschnitten?", f"Wie ging das letzte Spiel von {team} aus?",
               f"Hat {team} am Wochenende gewonnen?"],
        "zh": [f"{team}上一场比赛表现如何？", f"{team}最近一场比赛结果是什么？", f"{team}上周末赢了吗？"],
    })
    expected = last_result(store, {"team": team})
    return Scenario(request, [[Call("last", {"team": team})]], lambda results: result_text(results[0][0], language),
                    facts=facts_for(expected))


def two_teams_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    a, b = ctx.rng.sample(split_pool(ctx, TEAMS), 2)
    while last_result(store, {"team": a})["opponent"] == b:  # two different matches, so each call has its own facts
        b = ctx.rng.choice([t for t in split_pool(ctx, TEAMS) if t != a])
    request = ctx.pick({
        "en": [f"How did {a} and {b} get on last weekend?", f"Latest results for {a} and {b}?", f"Did {a} or {b} win their last games?"],
        "de": [f"Wie haben {a} und {b} am letzten Wochenende gespielt?", f"Letzte Ergebnisse von {a} und {b}?",
               f"Haben {a} oder {b} ihre letzten Spiele gewonnen?"],
        "zh": [f"{a}和{b}上周末踢得怎么样？", f"{a}和{b}最近的比赛结果？", f"{a}和{b}上一场赢了吗？"],
    })
    ea, eb = last_result(store, {"team": a}), last_result(store, {"team": b})
    return Scenario(request, [[Call("last", {"team": a}), Call("last", {"team": b})]],
                    lambda results: " ".join(result_text(r, language) for r in results[0]),
                    facts=facts_for(ea) + facts_for(eb))


def leader_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    league = ctx.rng.choice(list(LEAGUES))
    w = dict(zip(("en", "de", "zh"), LEAGUE_WORDS[league]))[language]
    request = ctx.pick({
        "en": [f"Who's top of the {w}?", f"Show me the top three of the {w}.", f"Who leads the {w} right now, and by how much?"],
        "de": [f"Wer führt die {w} an?", f"Zeig mir die ersten drei der {w}.", f"Wer ist gerade Tabellenführer der {w}, und mit wie viel Vorsprung?"],
        "zh": [f"{w}谁排第一？", f"给我看看{w}前三名。", f"{w}现在谁领先，领先多少分？"],
    })
    expected = table(store, {"league": league, "top": 3})["standings"]

    def answer(results):
        rows = results[0][0]["standings"]
        listed = "; ".join(f"{r['position']}. {r['team']} ({r['points']})" for r in rows[:3])
        return say(language, f"{w} top three (points): {listed}.", f"Die ersten drei der {w} (Punkte): {listed}.",
                   f"{w}前三名（积分）：{listed}。")

    return Scenario(request, [[Call("table", {"league": league, "top": 3})]], answer,
                    facts=[[r["team"]] for r in expected])


register(Domain("sports", "both", SCHEMA, {"syn_sports_matches": "match_id"}, seed, TOOLS,
                (("single", last_scenario), ("parallel", two_teams_scenario), ("single", leader_scenario))))
