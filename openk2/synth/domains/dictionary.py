"""Dictionary: single-word translations between seven languages, and English definitions (read-only)."""

from __future__ import annotations

import random

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import STRING, array, obj, param, say, split_pool

CODES = ("en", "de", "fr", "es", "it", "ja", "zh")
# en, de, fr, es, it, ja, zh, part of speech, definition
WORDS = [
    ("apple", "Apfel", "pomme", "manzana", "mela", "りんご", "苹果", "noun", "the round fruit of a tree of the rose family"),
    ("bridge", "Brücke", "pont", "puente", "ponte", "橋", "桥", "noun", "a structure carrying a road or path across a river or road"),
    ("butterfly", "Schmetterling", "papillon", "mariposa", "farfalla", "蝶", "蝴蝶", "noun", "an insect with large, often colourful wings"),
    ("cloud", "Wolke", "nuage", "nube", "nuvola", "雲", "云", "noun", "a visible mass of water droplets floating in the sky"),
    ("library", "Bibliothek", "bibliothèque", "biblioteca", "biblioteca", "図書館", "图书馆", "noun", "a building or room holding books to read or borrow"),
    ("mountain", "Berg", "montagne", "montaña", "montagna", "山", "山", "noun", "a large natural elevation of the earth's surface"),
    ("umbrella", "Regenschirm", "parapluie", "paraguas", "ombrello", "傘", "雨伞", "noun", "a folding canopy that protects from rain"),
    ("window", "Fenster", "fenêtre", "ventana", "finestra", "窓", "窗户", "noun", "an opening in a wall, fitted with glass, to let in light"),
    ("key", "Schlüssel", "clé", "llave", "chiave", "鍵", "钥匙", "noun", "a small piece of shaped metal used to open a lock"),
    ("kitchen", "Küche", "cuisine", "cocina", "cucina", "台所", "厨房", "noun", "a room where food is prepared and cooked"),
    ("friendship", "Freundschaft", "amitié", "amistad", "amicizia", "友情", "友谊", "noun", "the relationship between friends"),
    ("river", "Fluss", "rivière", "río", "fiume", "川", "河", "noun", "a large natural stream of water flowing to the sea"),
    ("bicycle", "Fahrrad", "vélo", "bicicleta", "bicicletta", "自転車", "自行车", "noun", "a vehicle with two wheels moved by pedals"),
    ("island", "Insel", "île", "isla", "isola", "島", "岛", "noun", "a piece of land surrounded by water"),
    ("moon", "Mond", "lune", "luna", "luna", "月", "月亮", "noun", "the natural satellite of the earth"),
    ("breakfast", "Frühstück", "petit-déjeuner", "desayuno", "colazione", "朝食", "早餐", "noun", "the first meal of the day"),
    ("garden", "Garten", "jardin", "jardín", "giardino", "庭", "花园", "noun", "a piece of ground where flowers or vegetables are grown"),
    ("mirror", "Spiegel", "miroir", "espejo", "specchio", "鏡", "镜子", "noun", "a glass surface that reflects a clear image"),
    ("candle", "Kerze", "bougie", "vela", "candela", "ろうそく", "蜡烛", "noun", "a stick of wax with a wick that is burnt to give light"),
    ("station", "Bahnhof", "gare", "estación", "stazione", "駅", "车站", "noun", "a place where trains stop for passengers"),
    ("cheese", "Käse", "fromage", "queso", "formaggio", "チーズ", "奶酪", "noun", "a food made from the pressed curds of milk"),
    ("star", "Stern", "étoile", "estrella", "stella", "星", "星星", "noun", "a point of light seen in the night sky"),
    ("forest", "Wald", "forêt", "bosque", "foresta", "森", "森林", "noun", "a large area covered chiefly with trees"),
    ("bread", "Brot", "pain", "pan", "pane", "パン", "面包", "noun", "a food made of flour, water and yeast, baked"),
]
LANGUAGE_NAMES = {"en": ("English", "Englisch", "英语"), "de": ("German", "Deutsch", "德语"), "fr": ("French", "Französisch", "法语"),
                  "es": ("Spanish", "Spanisch", "西班牙语"), "it": ("Italian", "Italienisch", "意大利语"),
                  "ja": ("Japanese", "Japanisch", "日语"), "zh": ("Chinese", "Chinesisch", "中文")}

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_dictionary_words (headword TEXT PRIMARY KEY, de TEXT NOT NULL, fr TEXT NOT NULL,
    es TEXT NOT NULL, it TEXT NOT NULL, ja TEXT NOT NULL, zh TEXT NOT NULL, pos TEXT NOT NULL, definition TEXT NOT NULL);
"""


def seed(store: Store, rng: random.Random) -> None:
    store.executemany("INSERT INTO syn_dictionary_words VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", WORDS)


def code(value: str, what: str) -> str:
    c = value.strip().lower()
    if c not in CODES:
        raise ValueError(f"unsupported {what} {value!r}; use a two-letter code: {', '.join(CODES)}")
    return c


def entry(store: Store, word: str, language: str) -> dict:
    column = "headword" if language == "en" else language
    row = store.row(f"SELECT * FROM syn_dictionary_words WHERE lower({column}) = lower(?)", [word.strip()])
    if row is None:
        raise ValueError(f"{word!r} is not in the {LANGUAGE_NAMES[language][0]} dictionary; check the spelling and source language")
    return row


def translate(store: Store, args: dict) -> dict:
    source, target = code(args.get("source") or "en", "source language"), code(args["target"], "target language")
    row = entry(store, args["word"], source)
    return {"word": args["word"].strip(), "source": source, "target": target,
            "translation": row["headword"] if target == "en" else row[target], "part_of_speech": row["pos"]}


def define(store: Store, args: dict) -> dict:
    row = entry(store, args["word"], "en")
    return {"word": row["headword"], "part_of_speech": row["pos"], "definitions": [row["definition"]]}


TOOLS = (
    ToolDef("translate", ("translate_word", "word_translation", "dictionary_translate", "lookup_translation"),
            ("Translate a single word between languages.", "Dictionary lookup: a word's equivalent in another language."),
            (param("word", ("word", "term", "text"), STRING, "The word to translate.", "A single word."),
             param("target", ("target_language", "to_lang", "target"), STRING, "Two-letter code of the language wanted, e.g. fr.",
                   "Language to translate into (ISO 639-1 code)."),
             param("source", ("source_language", "from_lang", "source"), STRING, "Two-letter code of the word's language (default en).",
                   "The word's language (ISO 639-1).", required=False)),
            obj({"word": STRING, "source": STRING, "target": STRING, "translation": STRING, "part_of_speech": STRING}),
            translate),
    ToolDef("define", ("define_word", "word_definition", "lookup_definition", "dictionary_define"),
            ("English definition of an English word.", "What an English word means."),
            (param("word", ("word", "term", "headword"), STRING, "The English word.", "Word to define."),),
            obj({"word": STRING, "part_of_speech": STRING, "definitions": array(STRING)}), define),
)
COLUMN = {c: i for i, c in enumerate(CODES)}


def lang_name(c: str, language: str) -> str:
    return dict(zip(("en", "de", "zh"), LANGUAGE_NAMES[c]))[language]


def pick_word(ctx) -> tuple:
    return ctx.rng.choice(split_pool(ctx, WORDS))


def ask(ctx, word: str, targets: list[str]) -> str:
    language = ctx.language
    names = [lang_name(t, language) for t in targets]
    if len(names) == 1:
        n = names[0]
        return ctx.pick({
            "en": [f"What's '{word}' in {n}?", f"How do you say '{word}' in {n}?", f"Translate '{word}' into {n}."],
            "de": [f"Was heißt '{word}' auf {n}?", f"Wie sagt man '{word}' auf {n}?", f"Übersetz '{word}' ins {n}e."],
            "zh": [f"“{word}”用{n}怎么说？", f"“{word}”的{n}是什么？", f"把“{word}”翻译成{n}。"],
        })
    a, b = names
    return ctx.pick({
        "en": [f"How do you say '{word}' in {a} and in {b}?", f"Translate '{word}' into {a} and {b}.",
               f"What's '{word}' in {a}? And in {b}?"],
        "de": [f"Wie sagt man '{word}' auf {a} und auf {b}?", f"Übersetz '{word}' ins {a}e und ins {b}e.",
               f"Was heißt '{word}' auf {a}? Und auf {b}?"],
        "zh": [f"“{word}”用{a}和{b}分别怎么说？", f"把“{word}”翻译成{a}和{b}。", f"“{word}”的{a}是什么？{b}呢？"],
    })


def answer_for(language: str, word: str, results: list[dict]) -> str:
    parts = [f"{lang_name(r['target'], language)}: {r['translation']}" for r in results]
    return say(language, f"'{word}' in " + "; ".join(parts) + ".", f"'{word}' auf " + "; ".join(parts) + ".",
               f"“{word}”的翻译——" + "；".join(parts) + "。")


def targets_for(ctx, count: int) -> list[str]:
    return ctx.rng.sample([c for c in CODES if c != ctx.language], count)


def single_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    row = pick_word(ctx)
    word = row[COLUMN[language]]
    [target] = targets_for(ctx, 1)
    call = {"word": word, "target": target, "source": language}
    return Scenario(ask(ctx, word, [target]), [[Call("translate", call)]],
                    lambda results: answer_for(language, word, results[0]), facts=[[row[COLUMN[target]]]])


def parallel_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    row = pick_word(ctx)
    word = row[COLUMN[language]]
    a, b = targets_for(ctx, 2)
    if row[COLUMN[a]] == row[COLUMN[b]]:  # e.g. Spanish and Italian 'luna': ask for English instead
        b = next(c for c in ("en", "de", "ja") if c not in (language, a) and row[COLUMN[c]] != row[COLUMN[a]])
    return Scenario(ask(ctx, word, [a, b]), [[Call("translate", {"word": word, "target": a, "source": language}),
                                              Call("translate", {"word": word, "target": b, "source": language})]],
                    lambda results: answer_for(language, word, results[0]), facts=[[row[COLUMN[a]]], [row[COLUMN[b]]]])


def language_name_scenario(ctx, store: Store) -> Scenario:
    """The first call names the target language in words; the error lists the codes and the retry uses one."""
    language = ctx.language
    while True:  # the answer must not be readable off the error (Spanish 'pan' inside 'Spanish')
        row = pick_word(ctx)
        word = row[COLUMN[language]]
        [target] = targets_for(ctx, 1)
        try:
            translate(store, {"word": word, "target": lang_name(target, language), "source": language})
        except ValueError as e:
            if row[COLUMN[target]].casefold() not in str(e).casefold():
                break
    call = {"word": word, "target": target, "source": language}
    return Scenario(ask(ctx, word, [target]),
                    [[Call("translate", {**call, "target": lang_name(target, language)})], [Call("translate", call)]],
                    lambda results: answer_for(language, word, results[-1]), facts=[[row[COLUMN[target]]]])


def define_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    row = pick_word(ctx)
    word = row[0]
    request = ctx.pick({
        "en": [f"What does '{word}' mean?", f"Define '{word}' for me.", f"Give me the dictionary definition of '{word}'."],
        "de": [f"Was bedeutet das englische Wort '{word}'?", f"Definier mir das englische Wort '{word}'.",
               f"Wie lautet die Wörterbuchdefinition von '{word}' (Englisch)?"],
        "zh": [f"英语单词“{word}”是什么意思？", f"给我解释一下英文“{word}”。", f"“{word}”这个英文词的词典释义是什么？"],
    })

    def answer(results):
        r = results[0][0]
        local = row[COLUMN[language]]
        return say(language, f"'{word}' ({r['part_of_speech']}): {r['definitions'][0]}.",
                   f"'{word}' ({local}): {r['definitions'][0]}.", f"“{word}”（{local}）：{r['definitions'][0]}。")

    return Scenario(request, [[Call("define", {"word": word})]], answer, facts=[[row[8]]])


register(Domain("dictionary", "both", SCHEMA, {"syn_dictionary_words": "headword"}, seed, TOOLS,
                (("single", single_scenario), ("parallel", parallel_scenario), ("error", language_name_scenario),
                 ("single", define_scenario))))
