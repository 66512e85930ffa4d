"""What the app families share: the user's days and times, oracle queries, and small phrasing pieces."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from openk2.agent.apps.world import WORK_END, WORK_START, from_db, to_db

from ..family import Context, Skip
from ..language import TODAY, day_phrase, show_day, time_phrase

HOME = ZoneInfo("Europe/London")  # every cast's user lives in London (see cast.PARTS)
THIS_WEEK = [TODAY + timedelta(days=d) for d in range(1, 5)]         # Tuesday to Friday
NEXT_WEEK = [TODAY + timedelta(days=d) for d in range(7, 12)]        # Monday to Friday
WORKDAYS = THIS_WEEK + NEXT_WEEK


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A local time in the user's zone."""
    return datetime.combine(day, time(hour, minute), HOME)


def local_iso(moment: datetime) -> str:
    """How the expert writes a time in a tool call: local, to the minute, no offset (the apps read it in the user's zone)."""
    return moment.astimezone(HOME).strftime("%Y-%m-%dT%H:%M")


def hhmm(moment: datetime) -> str:
    return moment.astimezone(HOME).strftime("%H:%M")


def parse_local(text: str) -> datetime:
    """A time as the apps show it (ISO with offset) -> aware datetime."""
    return datetime.fromisoformat(text)


def user_email(ctx: Context) -> str:
    return ctx.cast.user.email


def busy(ctx: Context, emails: list[str], start: datetime, end: datetime) -> bool:
    return bool(ctx.world.apps["calendar"].busy(emails, start, end))


def free_slots(ctx: Context, who: list[str], day: date, minutes: int, limit: int = 20) -> list[dict]:
    """What find_free_slots returns for one day (the user is always included)."""
    return ctx.world.apps["calendar"].find_free_slots(who, start=f"{day.isoformat()}T00:00", end=f"{(day + timedelta(days=1)).isoformat()}T00:00",
                                                      duration_minutes=minutes, limit=limit)


def user_free_time(ctx: Context, day: date, minutes: int) -> datetime:
    """A start on the half hour when the user is free for `minutes` within working hours, or Skip."""
    options = [at(day, h, m) for h in range(WORK_START, WORK_END) for m in (0, 30)
               if at(day, h, m) + timedelta(minutes=minutes) <= at(day, WORK_END)]
    options = [t for t in options if not busy(ctx, [user_email(ctx)], t, t + timedelta(minutes=minutes))]
    if not options:
        raise Skip("the user has no free time that day")
    return ctx.rng.choice(options)


def events_on(ctx: Context, day: date) -> list[dict]:
    """The user's events that day, as list_events shows them."""
    return ctx.world.apps["calendar"].list_events(start=f"{day.isoformat()}T00:00", end=f"{(day + timedelta(days=1)).isoformat()}T00:00")


def own_events(ctx: Context, days: list[date] | None = None) -> list[dict]:
    """Events the user organised (so they may move or cancel them), excluding daily stand-ups."""
    found = []
    for day in days or WORKDAYS:
        found += [e for e in events_on(ctx, day) if e["organizer"] == user_email(ctx) and e["title"] != "Stand-up"
                  and parse_local(e["start"]).date() == day]
    return found


def unique_title(ctx: Context, events: list[dict]) -> list[dict]:
    """Events whose title no other event of the user's has (so search_events by title finds just one)."""
    rows = ctx.world.store.rows("SELECT e.title, count(*) AS n FROM events e JOIN attendees a ON a.event_id = e.id "
                                "WHERE a.email = ? GROUP BY e.title", [user_email(ctx)])
    once = {r["title"] for r in rows if r["n"] == 1}
    return [e for e in events if e["title"] in once]


def colleague(ctx: Context, parts: tuple[int, ...] = (1, 2, 3, 4, 5)) -> tuple[str, str, str]:
    """(first name, full name, e-mail) of a colleague in one of the cast's parts."""
    person = ctx.cast.people[ctx.rng.choice(parts)]
    return person.first_name, person.name, person.email


def event_change(ctx: Context, start: datetime, minutes: int, attendees: list[str], title_words: list[str] | None = None,
                 op: str = "insert", id: int | None = None) -> None:
    fields = {"start": to_db(start), "minutes": minutes, "attendees": sorted(set(attendees) | {user_email(ctx)})}
    extra = {"contains_title": [title_words]} if title_words else {}
    ctx.change("event", op, id=id, free=["title", "description", "location"] if op == "update" else None, **fields, **extra)


def duration_phrase(minutes: int, language: str) -> str:
    return {("en", 15): "15 minutes", ("en", 30): "30 minutes", ("en", 45): "45 minutes", ("en", 60): "an hour",
            ("en", 90): "90 minutes", ("en", 120): "two hours", ("en", 180): "three hours", ("en", 240): "four hours",
            ("de", 15): "15 Minuten", ("de", 30): "30 Minuten", ("de", 45): "45 Minuten", ("de", 60): "eine Stunde",
            ("de", 90): "90 Minuten", ("de", 120): "zwei Stunden", ("de", 180): "drei Stunden", ("de", 240): "vier Stunden",
            ("zh", 15): "15分钟", ("zh", 30): "30分钟", ("zh", 45): "45分钟", ("zh", 60): "一个小时", ("zh", 90): "一个半小时",
            ("zh", 120): "两个小时", ("zh", 180): "三个小时", ("zh", 240): "四个小时"}[(language, minutes)]


def when(ctx: Context, moment: datetime) -> tuple[str, str]:
    """(day phrase, time phrase) for a user's request."""
    return day_phrase(moment.date(), ctx.language, ctx.rng), time_phrase(moment.hour, moment.minute, ctx.language, ctx.rng)


def span(ctx: Context, start: datetime, end: datetime) -> str:
    """'Thursday 5 June, 15:00–16:00' in the task's language, for answers."""
    day = show_day(start.astimezone(HOME).date(), ctx.language)
    return f"{day} {hhmm(start)}–{hhmm(end)}" if ctx.language == "zh" else f"{day}, {hhmm(start)}–{hhmm(end)}"


def from_world(text: str) -> datetime:
    return from_db(text)


# Personal appointments a user names in their own language (phrasing vocabulary, not entities).
APPOINTMENTS = {
    "en": ["Dentist", "Gym", "Call with the bank", "Haircut", "Doctor's appointment", "Parents' evening", "Yoga",
           "Car service", "Language class", "Piano lesson", "Tax advisor", "Physio"],
    "de": ["Zahnarzt", "Fitnessstudio", "Anruf bei der Bank", "Friseur", "Arzttermin", "Elternabend", "Yoga",
           "Autowerkstatt", "Sprachkurs", "Klavierstunde", "Steuerberater", "Physiotherapie"],
    "zh": ["看牙医", "健身", "给银行打电话", "理发", "看医生", "家长会", "瑜伽", "汽车保养", "语言课", "钢琴课", "见税务顾问", "理疗"],
}
# Work meetings a user asks for, by topic (the event title the expert writes).
TOPICS = {
    "en": ["Roadmap chat", "Hiring plan", "Budget check-in", "Design review", "Project kickoff", "Quarterly review",
           "Customer feedback", "Release planning", "Team offsite planning", "Pricing discussion"],
    "de": ["Roadmap-Gespräch", "Einstellungsplan", "Budget-Abstimmung", "Design-Review", "Projektstart", "Quartalsrückblick",
           "Kundenfeedback", "Release-Planung", "Offsite-Planung", "Preisgespräch"],
    "zh": ["路线图讨论", "招聘计划", "预算沟通", "设计评审", "项目启动会", "季度回顾", "客户反馈", "发布计划", "团建策划", "定价讨论"],
}
OK = {"en": ["Yes, please.", "Yes, go ahead.", "Sure, do it.", "Yes."],
      "de": ["Ja, bitte.", "Ja, mach das.", "Ja, gerne.", "Ja."],
      "zh": ["好的，请吧。", "可以，去做吧。", "是的。", "好。"]}
