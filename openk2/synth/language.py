"""Dates, times and money in English, German and Chinese: how users say them and how answers show them.

The world's clock is frozen (Monday 2 June 2025, 09:00 in London), so "next Tuesday" always means 10 June:
a model can learn the mapping from phrase to date instead of needing arithmetic.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from openk2.agent.apps.world import NOW

LANGUAGES = ("en", "de", "zh")
TODAY = NOW.date()  # Monday; the user is in London, where it is 09:00

WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "zh": ["周一", "周二", "周三", "周四", "周五", "周六", "周日"],
}
ZH_WEEKDAYS_LONG = ["星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日"]
MONTHS = {"en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                 "November", "December"],
          "de": ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
                 "November", "Dezember"]}


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose from {', '.join(LANGUAGES)}")
    return language


def this_or_next_week(day: date) -> str:
    weeks = (day - (TODAY - timedelta(days=TODAY.weekday()))).days // 7
    return {0: "this", 1: "next"}.get(weeks, "later")


def day_phrase(day: date, language: str, rng: random.Random) -> str:
    """How a user names a day: 'tomorrow', 'on Thursday', 'next Tuesday', 'on 12 June' (and in de / zh)."""
    wd, week = day.weekday(), this_or_next_week(day)
    options: list[str] = []
    if language == "en":
        month = MONTHS["en"][day.month - 1]
        options += [f"on {day.day} {month}", f"on {month} {day.day}"]
        if day == TODAY + timedelta(days=1):
            options += ["tomorrow"] * 2
        if week == "this" and day > TODAY:
            options += [f"on {WEEKDAYS['en'][wd]}", f"this {WEEKDAYS['en'][wd]}"]
        if week == "next":
            options += [f"next {WEEKDAYS['en'][wd]}", f"on {WEEKDAYS['en'][wd]} next week"]
    elif language == "de":
        options += [f"am {day.day}. {MONTHS['de'][day.month - 1]}", f"am {day.day}.{day.month}."]
        if day == TODAY + timedelta(days=1):
            options += ["morgen"] * 2
        if week == "this" and day > TODAY:
            options += [f"am {WEEKDAYS['de'][wd]}", f"diesen {WEEKDAYS['de'][wd]}"]
        if week == "next":
            options += [f"nächsten {WEEKDAYS['de'][wd]}", f"am {WEEKDAYS['de'][wd]} nächster Woche"]
    else:
        options += [f"{day.month}月{day.day}日", f"{day.month}月{day.day}号"]
        if day == TODAY + timedelta(days=1):
            options += ["明天"] * 2
        if week == "this" and day > TODAY:
            options += [f"这{WEEKDAYS['zh'][wd]}", f"本{ZH_WEEKDAYS_LONG[wd]}"]
        if week == "next":
            options += [f"下{WEEKDAYS['zh'][wd]}", f"下{ZH_WEEKDAYS_LONG[wd]}"]
    return rng.choice(options)


def week_phrase(week: str, language: str, rng: random.Random) -> str:
    """'this week' or 'next week'."""
    return rng.choice({("this", "en"): ["this week"], ("next", "en"): ["next week"],
                       ("this", "de"): ["diese Woche", "in dieser Woche"], ("next", "de"): ["nächste Woche", "in der nächsten Woche"],
                       ("this", "zh"): ["这周", "本周"], ("next", "zh"): ["下周", "下个星期"]}[(week, language)])


def clock_phrase(hour: int, minute: int, language: str, rng: random.Random) -> str:
    """A time of day on its own: '15:00', '3pm', '15 Uhr', '下午3点'."""
    hhmm = f"{hour:02d}:{minute:02d}"
    if language == "en":
        twelve, suffix = hour % 12 or 12, "am" if hour < 12 else "pm"
        return rng.choice([hhmm, f"{twelve}{suffix}" if minute == 0 else f"{twelve}:{minute:02d}{suffix}"])
    if language == "de":
        return rng.choice([hhmm, f"{hour} Uhr" if minute == 0 else f"{hour}:{minute:02d} Uhr"])
    period = "上午" if hour < 12 else "中午" if hour < 13 else "下午" if hour < 18 else "晚上"
    twelve = hour if hour <= 12 else hour - 12
    return rng.choice([hhmm, f"{period}{twelve}点" + ("" if minute == 0 else "半" if minute == 30 else f"{minute}分")])


def time_phrase(hour: int, minute: int, language: str, rng: random.Random) -> str:
    """How a user says when: 'at 15:00', 'at 3pm', 'um 15 Uhr', '下午3点'."""
    clock = clock_phrase(hour, minute, language, rng)
    return {"en": f"at {clock}", "de": f"um {clock}", "zh": clock}[language]


def show_day(day: date, language: str) -> str:
    """A day in an answer: 'Thursday 5 June', 'Donnerstag, 5. Juni', '6月5日（周四）'."""
    wd = day.weekday()
    if language == "en":
        return f"{WEEKDAYS['en'][wd]} {day.day} {MONTHS['en'][day.month - 1]}"
    if language == "de":
        return f"{WEEKDAYS['de'][wd]}, {day.day}. {MONTHS['de'][day.month - 1]}"
    return f"{day.month}月{day.day}日（{WEEKDAYS['zh'][wd]}）"


def show_money(amount: float, language: str) -> str:
    value = f"{amount:.0f}" if float(amount).is_integer() else f"{amount:.2f}"
    return {"en": f"£{value}", "de": f"{value} £", "zh": f"{value}英镑"}[language]


# --- facts a checker accepts, in any language ------------------------------------------------------

def time_facts(moment: datetime) -> list[str]:
    """The ways an answer may state a local time of day (the checker accepts any)."""
    hour, minute = moment.hour, moment.minute
    twelve = hour % 12 or 12
    forms = [f"{hour:02d}:{minute:02d}", f"{hour}:{minute:02d}", f"{hour}.{minute:02d}"]
    if minute == 0:
        forms += [f"{twelve}pm" if hour >= 12 else f"{twelve}am", f"{twelve} pm" if hour >= 12 else f"{twelve} am",
                  f"{hour} Uhr", f"{twelve}点"]
    return forms


def day_facts(day: date) -> list[str]:
    return [f"{day.day} {MONTHS['en'][day.month - 1]}", f"{MONTHS['en'][day.month - 1]} {day.day}",
            f"{day.day}. {MONTHS['de'][day.month - 1]}", f"{day.day}.{day.month}.", f"{day.day:02d}.{day.month:02d}.",
            f"{day.month}月{day.day}日", f"{day.month}月{day.day}号", day.isoformat()]


def money_facts(amount: float) -> list[str]:
    value = f"{amount:.0f}" if float(amount).is_integer() else f"{amount:.2f}"
    return [value, f"{amount:.2f}"]


# Words a reply uses to say something cannot or will not be done (any language): a decline's rubric.
DECLINE = ["can't", "cannot", "can not", "unable", "not able", "couldn't", "could not", "no free", "not possible",
           "unfortunately", "sorry", "won't", "will not", "leider", "nicht möglich", "kann nicht", "konnte nicht", "keine",
           "kein ", "nicht", "无法", "不能", "没有", "抱歉", "不会"]
