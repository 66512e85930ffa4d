"""Shared pieces of the synthetic domains: result-shape builders, parameters, numbers and names in three languages.

Not a domain itself (nothing here registers). Numbers in answers follow the user's language (German uses a
decimal comma); `number_facts` gives the rubric both spellings, since the checker finds a fact in the reply and
in the tool results independently.
"""

from __future__ import annotations

from ..synthetic import Param

STRING = {"type": "string"}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}


def obj(properties: dict, optional: tuple[str, ...] = ()) -> dict:
    """A closed object shape: every property required except `optional`."""
    return {"type": "object", "properties": properties, "required": [k for k in properties if k not in optional],
            "additionalProperties": False}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


def enum(values: list[str] | tuple[str, ...]) -> dict:
    return {"type": "string", "enum": list(values)}


def param(key: str, names: tuple[str, ...], schema: dict, *descriptions: str, required: bool = True) -> Param:
    return Param(key, names, schema, descriptions, required)


def split_pool(ctx, items: list) -> list:
    """The entities a split's requests name: every third one is held out, as with phrasings (the state holds all)."""
    chosen = [x for i, x in enumerate(items) if (i % 3 == 2) == (ctx.split == "heldout")]
    return chosen or list(items)


def show_number(value: float | int, language: str) -> str:
    """A number as an answer writes it: no trailing .0, a decimal comma in German."""
    text = str(int(value)) if float(value).is_integer() else str(value)
    return text.replace(".", ",") if language == "de" else text


def show_amount(value: float | int, language: str) -> str:
    """Money: two decimals (12.50; 12,50 in German)."""
    text = f"{value:.2f}"
    return text.replace(".", ",") if language == "de" else text


def number_facts(value: float | int) -> list[str]:
    """How a reply may state a number the results show: 12.5, 12,5, 12.50, 12,50 (and 12 for 12.0)."""
    text = str(int(value)) if float(value).is_integer() else str(value)
    money = f"{value:.2f}"
    return list(dict.fromkeys([text, text.replace(".", ","), money, money.replace(".", ",")]))


def localized(name: str, language: str, de: dict[str, str], zh: dict[str, str]) -> str:
    return zh.get(name, name) if language == "zh" else de.get(name, name) if language == "de" else name


def name_facts(name: str, de: dict[str, str], zh: dict[str, str]) -> list[str]:
    """A name in every spelling an answer may use (the results hold the English one)."""
    return list(dict.fromkeys([name, de.get(name, name), zh.get(name, name)]))


def say(language: str, en: str, de: str, zh: str) -> str:
    return {"en": en, "de": de, "zh": zh}[language]


# Cities shared by several domains (names in English in the state; de / zh spellings for requests and answers).
CITY_DE = {"Lisbon": "Lissabon", "Rome": "Rom", "Vienna": "Wien", "Prague": "Prag", "Zurich": "Zürich",
           "Warsaw": "Warschau", "Athens": "Athen", "Cape Town": "Kapstadt", "Munich": "München", "Cologne": "Köln",
           "Copenhagen": "Kopenhagen", "Brussels": "Brüssel", "Milan": "Mailand", "Venice": "Venedig",
           "Florence": "Florenz", "Naples": "Neapel", "Geneva": "Genf", "Moscow": "Moskau", "Beijing": "Peking",
           "Singapore": "Singapur", "Tokyo": "Tokio", "Mexico City": "Mexiko-Stadt", "Sao Paulo": "São Paulo",
           "Cairo": "Kairo", "Hong Kong": "Hongkong", "Seville": "Sevilla"}
CITY_ZH = {"Lisbon": "里斯本", "Madrid": "马德里", "Rome": "罗马", "Vienna": "维也纳", "Prague": "布拉格", "Oslo": "奥斯陆",
           "Dublin": "都柏林", "Amsterdam": "阿姆斯特丹", "Zurich": "苏黎世", "Warsaw": "华沙", "Athens": "雅典",
           "Tokyo": "东京", "Seoul": "首尔", "Sydney": "悉尼", "Toronto": "多伦多", "Chicago": "芝加哥", "Boston": "波士顿",
           "Cape Town": "开普敦", "Dubai": "迪拜", "Mumbai": "孟买", "London": "伦敦", "Paris": "巴黎", "Berlin": "柏林",
           "Munich": "慕尼黑", "Hamburg": "汉堡", "Cologne": "科隆", "Frankfurt": "法兰克福", "Copenhagen": "哥本哈根",
           "Stockholm": "斯德哥尔摩", "Helsinki": "赫尔辛基", "Brussels": "布鲁塞尔", "Barcelona": "巴塞罗那",
           "Milan": "米兰", "Venice": "威尼斯", "Florence": "佛罗伦萨", "Naples": "那不勒斯", "Geneva": "日内瓦",
           "Budapest": "布达佩斯", "New York": "纽约", "San Francisco": "旧金山", "Los Angeles": "洛杉矶",
           "Singapore": "新加坡", "Hong Kong": "香港", "Shanghai": "上海", "Beijing": "北京", "Bangkok": "曼谷",
           "Mexico City": "墨西哥城", "Sao Paulo": "圣保罗", "Vancouver": "温哥华", "Melbourne": "墨尔本",
           "Istanbul": "伊斯坦布尔", "Cairo": "开罗", "Nairobi": "内罗毕", "Auckland": "奥克兰", "Moscow": "莫斯科",
           "Edinburgh": "爱丁堡", "Manchester": "曼彻斯特", "Lyon": "里昂", "Porto": "波尔图", "Seville": "塞维利亚"}


def city_name(city: str, language: str) -> str:
    return localized(city, language, CITY_DE, CITY_ZH)


def city_facts(city: str) -> list[str]:
    return name_facts(city, CITY_DE, CITY_ZH)
