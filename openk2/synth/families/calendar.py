"""Calendar families: reading a day, creating, moving and cancelling events, free slots with colleagues."""

from __future__ import annotations

from datetime import timedelta

from openk2.agent.apps.calendar import working_hours
from openk2.agent.apps.world import zone

from ..cast import namesake
from ..family import Act, Context, Say, Skip, family
from ..language import DECLINE, clock_phrase, show_day, time_facts
from .common import (APPOINTMENTS, HOME, OK, TOPICS, WORKDAYS, at, colleague, duration_phrase, event_change, events_on,
                     free_slots, hhmm, local_iso, own_events, parse_local, span, unique_title, user_email, user_free_time,
                     when)


@family("cal_day_agenda", ("calendar",), ("single",))
def cal_day_agenda(ctx: Context):
    day = ctx.rng.choice(WORKDAYS)
    events = events_on(ctx, day)
    if not 1 <= len(events) <= 5:
        raise Skip("a day with one to five events")
    phrase = when(ctx, at(day, 9))[0]
    ctx.request = ctx.pick({
        "en": ["What's on my calendar {d}?", "What do I have {d}?", "Can you list my meetings {d}?",
               "How does my day look {d}?", "Show me my schedule {d}.", "Am I busy {d}? What's planned?"],
        "de": ["Was steht {d} in meinem Kalender?", "Was habe ich {d}?", "Kannst du meine Termine {d} auflisten?",
               "Wie sieht mein Tag {d} aus?", "Zeig mir meinen Zeitplan {d}.", "Bin ich {d} beschäftigt? Was ist geplant?"],
        "zh": ["{d}我的日历上有什么？", "{d}我有什么安排？", "帮我列一下{d}的会议。", "{d}我的日程怎么样？", "给我看看{d}的日程。",
               "{d}我忙吗？都安排了什么？"],
    }).format(d=phrase)
    ctx.mention(*[[e["title"]] for e in events])

    def expert():
        [found] = yield Act([("list_events", {"start": f"{day.isoformat()}T00:00", "end": f"{(day + timedelta(days=1)).isoformat()}T00:00"})])
        lines = "\n".join(f"- {hhmm(parse_local(e['start']))}–{hhmm(parse_local(e['end']))} {e['title']}" for e in found)
        yield Say(ctx.say({"en": f"On {show_day(day, 'en')} you have:\n{lines}",
                           "de": f"Am {show_day(day, 'de')} hast du:\n{lines}",
                           "zh": f"{show_day(day, 'zh')}的安排：\n{lines}"}))
    return expert


@family("cal_create", ("calendar",), ("single",))
def cal_create(ctx: Context):
    day, minutes = ctx.rng.choice(WORKDAYS), ctx.rng.choice([30, 60, 60, 90])
    start = user_free_time(ctx, day, minutes)
    end = start + timedelta(minutes=minutes)
    title = ctx.rng.choice(APPOINTMENTS[ctx.language])
    d, t = when(ctx, start)
    ctx.request = ctx.pick({
        "en": ["Put '{x}' in my calendar {d} {t} for {m}.", "Add {x} to my calendar {d} {t}, {m}.",
               "Can you block {m} {d} {t} for {x}?", "Create an event called '{x}' {d} {t} lasting {m}.",
               "Schedule '{x}' {d} {t} ({m}).", "I need '{x}' on my calendar {d} {t}, {m} please."],
        "de": ["Trag '{x}' {d} {t} für {m} in meinen Kalender ein.", "Füge {x} {d} {t} in meinen Kalender ein, {m}.",
               "Kannst du {d} {t} {m} für {x} blocken?", "Leg einen Termin '{x}' {d} {t} an, Dauer {m}.",
               "Plane '{x}' {d} {t} ein ({m}).", "Ich brauche '{x}' {d} {t} im Kalender, {m} bitte."],
        "zh": ["帮我在日历上加个'{x}'，{d}{t}，{m}。", "{d}{t}帮我安排'{x}'，{m}。", "能帮我把{d}{t}的{m}留给'{x}'吗？",
               "新建一个日程'{x}'，时间是{d}{t}，{m}。", "把'{x}'排进日历：{d}{t}，{m}。", "{d}{t}我要'{x}'，大概{m}，帮我记上。"],
    }).format(x=title, d=d, t=t, m=duration_phrase(minutes, ctx.language))
    event_change(ctx, start, minutes, [], [title])
    ctx.mention(time_facts(start.astimezone(HOME)))

    def expert():
        yield Act([("create_event", {"title": title, "start": local_iso(start), "end": local_iso(end)})])
        yield Say(ctx.say({"en": f"Done: '{title}' is on your calendar, {span(ctx, start, end)}.",
                           "de": f"Erledigt: '{title}' steht in deinem Kalender, {span(ctx, start, end)}.",
                           "zh": f"已添加'{title}'：{span(ctx, start, end)}。"}))
    return expert


def first_free_with(ctx: Context, who: str, minutes: int) -> tuple:
    """A workday with a free slot for the user and `who`, and that day's first slot (start, end)."""
    for _ in range(10):
        day = ctx.rng.choice(WORKDAYS)
        slots = free_slots(ctx, [who], day, minutes, limit=1)
        if slots:
            return day, parse_local(slots[0]["start"]), parse_local(slots[0]["end"])
    raise Skip("no shared free time")


def slot_call(who: list[str], day, minutes: int) -> tuple[str, dict]:
    return ("find_free_slots", {"attendees": who, "start": f"{day.isoformat()}T00:00",
                                "end": f"{(day + timedelta(days=1)).isoformat()}T00:00", "duration_minutes": minutes})


@family("cal_meet_first_free", ("calendar",), ("sequential",))
def cal_meet_first_free(ctx: Context):
    first, _, email = colleague(ctx)
    minutes = ctx.rng.choice([30, 60])
    day, start, end = first_free_with(ctx, email, minutes)
    topic = ctx.rng.choice(TOPICS[ctx.language])
    d = when(ctx, start)[0]
    ctx.request = ctx.pick({
        "en": ["Find the first free {m} with {p} {d} and book a meeting called '{x}'.",
               "Book '{x}' with {p} {d}, at the earliest time we're both free ({m}).",
               "Can you set up '{x}' with {p} {d}? {m}, first slot that works for both of us.",
               "Schedule {m} with {p} {d} for '{x}' — the earliest free slot, please.",
               "Get '{x}' into {p}'s and my calendars {d}, {m}, as early as we're both free.",
               "I need {m} with {p} {d} ('{x}'). Take the first time we're both available."],
        "de": ["Finde die erste freie Zeit ({m}) mit {p} {d} und trag ein Meeting '{x}' ein.",
               "Buche '{x}' mit {p} {d}, zum frühesten Zeitpunkt, an dem wir beide frei sind ({m}).",
               "Kannst du '{x}' mit {p} {d} ansetzen? {m}, der erste Termin, der für uns beide passt.",
               "Plane {m} mit {p} {d} für '{x}' ein – bitte den frühesten freien Slot.",
               "Trag '{x}' {d} in {p}s und meinen Kalender ein, {m}, so früh wie wir beide frei sind.",
               "Ich brauche {m} mit {p} {d} ('{x}'). Nimm die erste Zeit, zu der wir beide können."],
        "zh": ["找一下{d}我和{p}第一个空闲的{m}，约一个会叫'{x}'。", "{d}和{p}约'{x}'，选我们俩最早都有空的时间（{m}）。",
               "能帮我{d}和{p}安排'{x}'吗？{m}，选第一个我们都有空的时段。", "{d}给我和{p}排{m}的'{x}'，要最早的空档。",
               "{d}把'{x}'放进我和{p}的日历，{m}，越早越好（我们都得有空）。", "{d}我要和{p}开{m}的会（'{x}'），挑我们最早都有空的时间。"],
    }).format(p=first, d=d, x=topic, m=duration_phrase(minutes, ctx.language))
    event_change(ctx, start, minutes, [email], [topic])
    ctx.mention(time_facts(start.astimezone(HOME)))

    def expert():
        [slots] = yield Act([slot_call([first], day, minutes)])
        s, e = parse_local(slots[0]["start"]), parse_local(slots[0]["end"])
        yield Act([("create_event", {"title": topic, "start": local_iso(s), "end": local_iso(e), "attendees": [first]})])
        yield Say(ctx.say({"en": f"Booked '{topic}' with {first}: {span(ctx, s, e)}, the first time you are both free.",
                           "de": f"Gebucht: '{topic}' mit {first}, {span(ctx, s, e)} – der erste Termin, an dem ihr beide frei seid.",
                           "zh": f"已和{first}约好'{topic}'：{span(ctx, s, e)}，这是你们最早都有空的时间。"}))
    return expert


@family("cal_move", ("calendar",), ("sequential",))
def cal_move(ctx: Context):
    candidates = unique_title(ctx, own_events(ctx))
    if not candidates:
        raise Skip("no event of the user's own with a unique title")
    event = ctx.rng.choice(candidates)
    old = parse_local(event["start"])
    minutes = int((parse_local(event["end"]) - old).total_seconds() // 60)
    guests, calendar = event["attendees"], ctx.world.apps["calendar"]

    def fits(t) -> bool:
        end = t + timedelta(minutes=minutes)
        return (t != old and end <= at(old.date(), 17) and not calendar.busy(guests, t, end, skip_event=event["id"])
                and all(working_hours(zone(calendar.person_zone(g)), t, end) for g in guests))

    options = [t for t in (at(old.date(), h, m) for h in range(9, 17) for m in (0, 30)) if fits(t)]
    if not options:
        raise Skip("nowhere to move it that day")
    new = ctx.rng.choice(options)
    d = when(ctx, old)[0]
    title = event["title"]
    ctx.request = ctx.pick({
        "en": ["Move my '{x}' {d} to {t2}.", "Can you push '{x}' {d} to {t2}?", "Please reschedule '{x}' {d} so it starts at {t2}.",
               "'{x}' {d} needs to start at {t2} instead.", "Shift '{x}' {d} to {t2}, same length.", "Could '{x}' {d} move to {t2}?"],
        "de": ["Verschieb mein '{x}' {d} auf {t2}.", "Kannst du '{x}' {d} auf {t2} legen?", "Bitte plane '{x}' {d} so um, dass es um {t2} beginnt.",
               "'{x}' {d} soll stattdessen um {t2} anfangen.", "Verleg '{x}' {d} auf {t2}, gleiche Dauer.", "Kann '{x}' {d} auf {t2} rutschen?"],
        "zh": ["把我{d}的'{x}'挪到{t2}。", "能把{d}的'{x}'改到{t2}吗？", "请把{d}的'{x}'改成{t2}开始。", "{d}的'{x}'改成{t2}开始吧。",
               "{d}的'{x}'移到{t2}，时长不变。", "{d}的'{x}'能不能改到{t2}？"],
    }).format(x=title, d=d, t2=clock_phrase(new.hour, new.minute, ctx.language, ctx.rng))
    event_change(ctx, new, minutes, guests, op="update", id=event["id"])
    ctx.mention(time_facts(new))

    def expert():
        [found] = yield Act([("search_events", {"query": title})])
        hit = next(e for e in found if e["title"] == title and parse_local(e["start"]).date() == old.date())
        new_end = new + timedelta(minutes=minutes)
        yield Act([("update_event", {"event_id": hit["id"], "start": local_iso(new), "end": local_iso(new_end)})])
        yield Say(ctx.say({"en": f"Moved '{title}' to {span(ctx, new, new_end)}.",
                           "de": f"'{title}' ist verschoben auf {span(ctx, new, new_end)}.",
                           "zh": f"已把'{title}'改到{span(ctx, new, new_end)}。"}))
    return expert


@family("cal_cancel_confirm", ("calendar",), ("clarify",))
def cal_cancel_confirm(ctx: Context):
    candidates = unique_title(ctx, own_events(ctx))
    if not candidates:
        raise Skip("no event of the user's own with a unique title")
    event = ctx.rng.choice(candidates)
    start, title = parse_local(event["start"]), event["title"]
    d = when(ctx, start)[0]
    ctx.request = ctx.pick({
        "en": ["Cancel my '{x}' {d}.", "Please delete '{x}' {d} from my calendar.", "I can't make '{x}' {d}, remove it.",
               "Get rid of the '{x}' meeting {d}.", "Drop '{x}' {d}, please.", "Could you cancel '{x}' {d}?"],
        "de": ["Sag mein '{x}' {d} ab.", "Bitte lösch '{x}' {d} aus meinem Kalender.", "Ich schaffe '{x}' {d} nicht, entfern es.",
               "Streich das Meeting '{x}' {d}.", "Nimm '{x}' {d} bitte raus.", "Kannst du '{x}' {d} absagen?"],
        "zh": ["取消我{d}的'{x}'。", "请把{d}的'{x}'从日历里删掉。", "{d}的'{x}'我去不了，删了吧。", "把{d}的'{x}'会议去掉。",
               "{d}的'{x}'取消掉吧。", "能帮我取消{d}的'{x}'吗？"],
    }).format(x=title, d=d)
    yes = ctx.rng.choice(OK[ctx.language])
    ctx.user_replies = [yes]
    ctx.user_instructions = f"You want '{title}' ({event['start']}) deleted. When asked to confirm, say yes."
    ctx.ask_first()
    ctx.change("event", "delete", id=event["id"])

    def expert():
        [found] = yield Act([("search_events", {"query": title})])
        hit = next(e for e in found if e["title"] == title and parse_local(e["start"]).date() == start.date())
        when_text = span(ctx, parse_local(hit["start"]), parse_local(hit["end"]))
        reply = yield Say(ctx.say({"en": f"I found '{title}' on {when_text}. Deleting it removes it for all attendees. Shall I delete it?",
                                   "de": f"Ich habe '{title}' am {when_text} gefunden. Löschen entfernt es für alle Teilnehmenden. Soll ich es löschen?",
                                   "zh": f"找到了'{title}'（{when_text}）。删除后所有参会人的日历里都会去掉。要删除吗？"}))
        if reply is None:
            return
        yield Act([("delete_event", {"event_id": hit["id"]})])
        yield Say(ctx.say({"en": f"Deleted '{title}' ({when_text}).", "de": f"'{title}' ({when_text}) ist gelöscht.",
                           "zh": f"已删除'{title}'（{when_text}）。"}))
    return expert


@family("cal_conflict_recover", ("calendar",), ("recover",))
def cal_conflict_recover(ctx: Context):
    first, _, email = colleague(ctx, (2, 5))  # London/Berlin colleagues: a full working day overlaps
    for _ in range(10):
        day = ctx.rng.choice(WORKDAYS)
        taken = [e for e in ctx.world.apps["calendar"].busy([user_email(ctx), email], at(day, 9), at(day, 16))
                 if parse_local(ctx.world.apps["calendar"].view(e, HOME)["start"]).minute in (0, 30)]
        slots = free_slots(ctx, [email], day, 60, limit=1)
        if taken and slots:
            break
    else:
        raise Skip("no clash and free slot on the same day")
    clash = ctx.rng.choice(taken)
    wanted = parse_local(ctx.world.apps["calendar"].view(clash, HOME)["start"]).astimezone(HOME)
    later = [s for s in free_slots(ctx, [email], day, 60) if parse_local(s["start"]) > wanted]
    if not later:
        raise Skip("no free hour after the clash")
    start = parse_local(later[0]["start"])
    topic = ctx.rng.choice(TOPICS[ctx.language])
    d, t = when(ctx, wanted)
    ctx.request = ctx.pick({
        "en": ["Book an hour with {p} {d} {t} for '{x}'. If that's taken, use the next free hour after it.",
               "Set up '{x}' with {p} {d} {t}, one hour; if it clashes, take the next free hour that day.",
               "Please schedule '{x}' (1 hour) with {p} {d} {t} or, failing that, the next slot after.",
               "Put '{x}' with {p} in the calendar {d} {t} for an hour. Busy? Then the next free hour.",
               "I'd like an hour with {p} {d} {t} ('{x}'). If someone's busy, move it to the next free hour.",
               "Can you book '{x}' with {p} {d} {t}? One hour — or the next free hour that day if needed."],
        "de": ["Buch eine Stunde mit {p} {d} {t} für '{x}'. Falls das belegt ist, nimm die nächste freie Stunde danach.",
               "Setz '{x}' mit {p} {d} {t} an, eine Stunde; bei einer Überschneidung die nächste freie Stunde an dem Tag.",
               "Bitte plane '{x}' (1 Stunde) mit {p} {d} {t} oder sonst den nächsten freien Termin danach.",
               "Trag '{x}' mit {p} {d} {t} für eine Stunde ein. Belegt? Dann die nächste freie Stunde.",
               "Ich hätte gern eine Stunde mit {p} {d} {t} ('{x}'). Wenn jemand belegt ist, nimm die nächste freie Stunde.",
               "Kannst du '{x}' mit {p} {d} {t} buchen? Eine Stunde – oder die nächste freie Stunde an dem Tag."],
        "zh": ["{d}{t}和{p}约一个小时，主题'{x}'。如果那时有冲突，就用之后第一个空闲的一小时。",
               "{d}{t}和{p}安排'{x}'，一小时；冲突的话就用当天之后的下一个空闲时段。",
               "请{d}{t}和{p}安排'{x}'（1小时），不行的话就往后找下一个空档。",
               "{d}{t}把和{p}的'{x}'放进日历，一小时。有冲突就顺延到下一个空闲的一小时。",
               "我想{d}{t}和{p}开一小时会（'{x}'）。有人没空就挪到之后第一个空闲的小时。",
               "能帮我{d}{t}和{p}订'{x}'吗？一小时——需要的话改到当天下一个空闲的一小时。"],
    }).format(p=first, d=d, t=t, x=topic)
    event_change(ctx, start, 60, [email], [topic])
    ctx.mention(time_facts(start))

    def expert():
        [result] = yield Act([("create_event", {"title": topic, "start": local_iso(wanted), "end": local_iso(wanted + timedelta(hours=1)),
                                                "attendees": [first]})])
        assert isinstance(result, str) and result.startswith("Error"), "the requested time was meant to clash"
        [slots] = yield Act([("find_free_slots", {"attendees": [first], "start": local_iso(wanted),
                                                  "end": f"{(day + timedelta(days=1)).isoformat()}T00:00", "duration_minutes": 60})])
        s, e = parse_local(slots[0]["start"]), parse_local(slots[0]["end"])
        yield Act([("create_event", {"title": topic, "start": local_iso(s), "end": local_iso(e), "attendees": [first]})])
        yield Say(ctx.say({"en": f"{hhmm(wanted)} clashed with another meeting, so I booked '{topic}' with {first} at the next free hour: {span(ctx, s, e)}.",
                           "de": f"Um {hhmm(wanted)} gab es eine Überschneidung, daher habe ich '{topic}' mit {first} auf die nächste freie Stunde gelegt: {span(ctx, s, e)}.",
                           "zh": f"{hhmm(wanted)}有冲突，所以我把和{first}的'{topic}'订在了下一个空闲的一小时：{span(ctx, s, e)}。"}))
    return expert


@family("cal_no_slot", ("calendar",), ("decline",))
def cal_no_slot(ctx: Context):
    (p1, _, e1), = [colleague(ctx, (3,))]  # Singapore: little overlap with London and New York
    p2, _, e2 = colleague(ctx, (4,))
    minutes = ctx.rng.choice([120, 180, 240])
    day = ctx.rng.choice(WORKDAYS)
    if free_slots(ctx, [e1, e2], day, minutes, limit=1):
        raise Skip("there is a slot after all")
    d = when(ctx, at(day, 9))[0]
    ctx.request = ctx.pick({
        "en": ["Find {m} with {a} and {b} {d} and book a planning session.", "Can you get {a}, {b} and me together for {m} {d}?",
               "Book a {m} workshop with {a} and {b} {d}.", "Schedule {m} with {a} and {b} {d}, any time that works.",
               "I need {m} with both {a} and {b} {d}. Please set it up.", "Is there {m} {d} when {a}, {b} and I are all free? Book it."],
        "de": ["Finde {m} mit {a} und {b} {d} und buche eine Planungsrunde.", "Kannst du {a}, {b} und mich {d} für {m} zusammenbringen?",
               "Buch einen Workshop von {m} mit {a} und {b} {d}.", "Plane {m} mit {a} und {b} {d} ein, egal wann.",
               "Ich brauche {d} {m} mit {a} und {b}. Bitte organisier das.", "Gibt es {d} {m}, in denen {a}, {b} und ich frei sind? Buch das."],
        "zh": ["{d}找{m}和{a}、{b}一起，订一个规划会。", "能{d}把{a}、{b}和我凑到一起开{m}的会吗？", "{d}和{a}、{b}订一个{m}的研讨会。",
               "{d}和{a}、{b}安排{m}，什么时间都行。", "{d}我需要和{a}、{b}一起{m}，请安排一下。", "{d}有没有{m}我、{a}和{b}都有空？有的话就订上。"],
    }).format(a=p1, b=p2, d=d, m=duration_phrase(minutes, ctx.language))
    ctx.says(DECLINE)
    ctx.require_call("find_free_slots")

    def expert():
        [slots] = yield Act([slot_call([p1, p2], day, minutes)])
        assert slots == []
        yield Say(ctx.say({"en": f"Unfortunately there is no {duration_phrase(minutes, 'en')} slot on {show_day(day, 'en')} when you, {p1} and {p2} are all free within working hours ({p1} is in Singapore, {p2} in New York), so I booked nothing. A shorter meeting or another day might work.",
                           "de": f"Am {show_day(day, 'de')} gibt es leider keine {duration_phrase(minutes, 'de')}, in denen du, {p1} und {p2} alle in der Arbeitszeit frei seid ({p1} ist in Singapur, {p2} in New York). Ich habe nichts gebucht. Ein kürzeres Meeting oder ein anderer Tag könnte klappen.",
                           "zh": f"{show_day(day, 'zh')}没有你、{p1}和{p2}都在工作时间内空闲的{duration_phrase(minutes, 'zh')}（{p1}在新加坡，{p2}在纽约），所以我没有预订。可以考虑缩短会议或换一天。"}))
    return expert


@family("cal_which_person", ("calendar",), ("clarify",))
def cal_which_person(ctx: Context):
    part = ctx.rng.choice([1, 2, 5])
    original = ctx.cast.people[part]
    other = namesake(ctx.rng, ctx.split, ctx.cast, part)
    ctx.add({"op": "person", **vars(other)})
    meant = ctx.rng.choice([original, other])
    day = ctx.rng.choice(WORKDAYS)
    start = user_free_time(ctx, day, 30)
    if ctx.world.apps["calendar"].busy([meant.email], start, start + timedelta(minutes=30)):
        raise Skip("the person meant is busy then")
    if not working_hours(zone(meant.timezone), start, start + timedelta(minutes=30)):
        raise Skip("outside their working hours")
    d, t = when(ctx, start)
    first = original.first_name
    ctx.request = ctx.pick({
        "en": ["Set up a 30-minute meeting with {p} {d} {t}.", "Book half an hour with {p} {d} {t}.",
               "Put a quick 30-minute call with {p} in my calendar {d} {t}.", "Schedule 30 minutes with {p} {d} {t}.",
               "Can you invite {p} to a 30-minute chat {d} {t}?", "I'd like a 30-minute sync with {p} {d} {t}."],
        "de": ["Setz ein 30-minütiges Meeting mit {p} {d} {t} an.", "Buch eine halbe Stunde mit {p} {d} {t}.",
               "Trag einen kurzen 30-Minuten-Call mit {p} {d} {t} ein.", "Plane 30 Minuten mit {p} {d} {t} ein.",
               "Kannst du {p} {d} {t} zu einem 30-minütigen Gespräch einladen?", "Ich hätte gern einen 30-minütigen Abgleich mit {p} {d} {t}."],
        "zh": ["{d}{t}和{p}约一个30分钟的会。", "{d}{t}和{p}订半小时。", "{d}{t}在日历上加一个和{p}的30分钟电话。",
               "{d}{t}和{p}安排30分钟。", "能邀请{p}{d}{t}聊30分钟吗？", "{d}{t}我想和{p}同步30分钟。"],
    }).format(p=first, d=d, t=t)
    ctx.user_replies = [ctx.say({"en": f"I mean {meant.name}.", "de": f"Ich meine {meant.name}.", "zh": f"我是说{meant.name}。"})]
    ctx.user_instructions = f"By {first} you mean {meant.name} <{meant.email}>; say so when asked which one."
    ctx.ask_first()
    title = {"en": f"Meeting with {first}", "de": f"Meeting mit {first}", "zh": f"与{first}开会"}[ctx.language]
    event_change(ctx, start, 30, [meant.email])
    ctx.mention(time_facts(start))

    def expert():
        end = start + timedelta(minutes=30)
        [result] = yield Act([("create_event", {"title": title, "start": local_iso(start), "end": local_iso(end), "attendees": [first]})])
        assert isinstance(result, str) and "ambiguous" in result
        names = [original.name, other.name]
        ctx.rng.shuffle(names)
        reply = yield Say(ctx.say({"en": f"There are two people called {first} in your contacts: {names[0]} and {names[1]}. Which one do you mean?",
                                   "de": f"In deinen Kontakten gibt es zwei Personen namens {first}: {names[0]} und {names[1]}. Wen meinst du?",
                                   "zh": f"你的联系人里有两个{first}：{names[0]}和{names[1]}。你指的是哪一位？"}))
        if reply is None:
            return
        yield Act([("create_event", {"title": title, "start": local_iso(start), "end": local_iso(end), "attendees": [meant.name]})])
        yield Say(ctx.say({"en": f"Booked 30 minutes with {meant.name}: {span(ctx, start, end)}.",
                           "de": f"Gebucht: 30 Minuten mit {meant.name}, {span(ctx, start, end)}.",
                           "zh": f"已和{meant.name}约好30分钟：{span(ctx, start, end)}。"}))
    return expert


@family("cal_missing_day", ("calendar",), ("clarify",))
def cal_missing_day(ctx: Context):
    first, _, email = colleague(ctx, (1, 2, 5))
    day, start, end = first_free_with(ctx, email, 60)
    topic = ctx.rng.choice(TOPICS[ctx.language])
    ctx.request = ctx.pick({
        "en": ["Book an hour with {p} for '{x}'.", "Set up '{x}' with {p}, one hour.", "I need an hour with {p} to go over '{x}'.",
               "Schedule a one-hour '{x}' with {p}.", "Can you arrange '{x}' with {p}? An hour should do.", "Get me an hour with {p} for '{x}'."],
        "de": ["Buch eine Stunde mit {p} für '{x}'.", "Setz '{x}' mit {p} an, eine Stunde.", "Ich brauche eine Stunde mit {p} für '{x}'.",
               "Plane ein einstündiges '{x}' mit {p} ein.", "Kannst du '{x}' mit {p} organisieren? Eine Stunde reicht.", "Besorg mir eine Stunde mit {p} für '{x}'."],
        "zh": ["和{p}约一个小时，主题'{x}'。", "和{p}安排'{x}'，一小时。", "我需要和{p}花一小时过一下'{x}'。", "和{p}排一个一小时的'{x}'。",
               "能帮我和{p}安排'{x}'吗？一小时就够。", "帮我和{p}约一小时聊'{x}'。"],
    }).format(p=first, x=topic)
    day_words = when(ctx, at(day, 9))[0]
    ctx.user_replies = [ctx.say({"en": f"{day_words[0].upper()}{day_words[1:]}, the earliest time we're both free.",
                                 "de": f"{day_words[0].upper()}{day_words[1:]}, zur frühesten Zeit, an der wir beide frei sind.",
                                 "zh": f"{day_words}，选我们俩最早都有空的时间。"})]
    ctx.user_instructions = f"You want the meeting on {day.isoformat()}, at the earliest time you are both free; say so when asked."
    ctx.ask_first()
    event_change(ctx, start, 60, [email], [topic])
    ctx.mention(time_facts(start))

    def expert():
        reply = yield Say(ctx.say({"en": f"Which day would you like to meet {first}, and at what time?",
                                   "de": f"An welchem Tag möchtest du {first} treffen, und um wie viel Uhr?",
                                   "zh": f"你想哪天和{first}见面？几点合适？"}))
        if reply is None:
            return
        [slots] = yield Act([slot_call([first], day, 60)])
        s, e = parse_local(slots[0]["start"]), parse_local(slots[0]["end"])
        yield Act([("create_event", {"title": topic, "start": local_iso(s), "end": local_iso(e), "attendees": [first]})])
        yield Say(ctx.say({"en": f"Booked '{topic}' with {first}: {span(ctx, s, e)}.",
                           "de": f"Gebucht: '{topic}' mit {first}, {span(ctx, s, e)}.",
                           "zh": f"已和{first}约好'{topic}'：{span(ctx, s, e)}。"}))
    return expert


@family("cal_change_mind", ("calendar",), ("change_mind",))
def cal_change_mind(ctx: Context):
    day = ctx.rng.choice(WORKDAYS)
    first_start = user_free_time(ctx, day, 60)
    second_start = user_free_time(ctx, day, 60)
    if abs((second_start - first_start).total_seconds()) < 3600:
        raise Skip("the two times overlap")
    title = ctx.rng.choice(APPOINTMENTS[ctx.language])
    d, t = when(ctx, first_start)
    ctx.request = ctx.pick({
        "en": ["Add '{x}' to my calendar {d} {t}, one hour.", "Block an hour {d} {t} for {x}.", "Put {x} in my calendar {d} {t} for an hour.",
               "Create '{x}' {d} {t}, 60 minutes.", "Schedule {x} {d} {t}, an hour long.", "I have {x} {d} {t} — an hour. Add it please."],
        "de": ["Trag '{x}' {d} {t} für eine Stunde ein.", "Blocke {d} {t} eine Stunde für {x}.", "Setz {x} {d} {t} für eine Stunde in meinen Kalender.",
               "Leg '{x}' {d} {t} an, 60 Minuten.", "Plane {x} {d} {t} ein, eine Stunde lang.", "Ich habe {d} {t} {x} – eine Stunde. Trag das bitte ein."],
        "zh": ["{d}{t}在日历上加'{x}'，一小时。", "{d}{t}留一小时给{x}。", "{d}{t}把{x}放进日历，一个小时。", "新建'{x}'，{d}{t}，60分钟。",
               "{d}{t}安排{x}，时长一小时。", "{d}{t}我有{x}，一小时，帮我加上。"],
    }).format(x=title, d=d, t=t)
    t2 = when(ctx, second_start)[1]
    ctx.user_replies = [ctx.say({"en": f"Actually, make it {t2} instead.", "de": f"Ach, mach doch lieber {t2} daraus.",
                                 "zh": f"其实改到{t2}吧。"})]
    ctx.user_instructions = f"After it is booked, change your mind: you want it at {hhmm(second_start)} the same day."
    event_change(ctx, second_start, 60, [], [title])
    ctx.mention(time_facts(second_start))

    def expert():
        a_end, b_end = first_start + timedelta(hours=1), second_start + timedelta(hours=1)
        [created] = yield Act([("create_event", {"title": title, "start": local_iso(first_start), "end": local_iso(a_end)})])
        reply = yield Say(ctx.say({"en": f"Added '{title}': {span(ctx, first_start, a_end)}.",
                                   "de": f"Eingetragen: '{title}', {span(ctx, first_start, a_end)}.",
                                   "zh": f"已添加'{title}'：{span(ctx, first_start, a_end)}。"}))
        if reply is None:
            return
        yield Act([("update_event", {"event_id": created["id"], "start": local_iso(second_start), "end": local_iso(b_end)})])
        yield Say(ctx.say({"en": f"Changed: '{title}' is now {span(ctx, second_start, b_end)}.",
                           "de": f"Geändert: '{title}' ist jetzt {span(ctx, second_start, b_end)}.",
                           "zh": f"已改好：'{title}'现在是{span(ctx, second_start, b_end)}。"}))
    return expert


@family("cal_local_time", ("calendar",), ("single",))
def cal_local_time(ctx: Context):
    part = ctx.rng.choice([1, 3, 4])
    person = ctx.cast.people[part]
    city = {"Europe/Berlin": ("Berlin", "Berlin", "柏林"), "Asia/Singapore": ("Singapore", "Singapur", "新加坡"),
            "America/New_York": ("New York", "New York", "纽约")}[person.timezone]
    name = dict(zip(("en", "de", "zh"), city))[ctx.language]
    ctx.request = ctx.pick({
        "en": ["What time is it for {p} in {c} right now?", "{p} is in {c} — what's the time there now?", "Can you tell me the current time in {c}, where {p} is?",
               "Is it working hours for {p} in {c} at the moment?", "How late is it in {c} for {p}?", "What's the local time in {c} now? I want to call {p}."],
        "de": ["Wie spät ist es gerade bei {p} in {c}?", "{p} ist in {c} – wie spät ist es dort jetzt?", "Kannst du mir die aktuelle Uhrzeit in {c} sagen, wo {p} ist?",
               "Ist bei {p} in {c} gerade Arbeitszeit?", "Wie spät ist es für {p} in {c}?", "Wie spät ist es jetzt in {c}? Ich will {p} anrufen."],
        "zh": ["{p}在{c}，那边现在几点？", "{p}在{c}——那里现在几点了？", "能告诉我{c}现在的时间吗？{p}在那儿。", "{p}在{c}，现在是工作时间吗？",
               "{c}现在几点？{p}那边。", "{c}当地现在几点？我想给{p}打电话。"],
    }).format(p=person.first_name, c=name)
    local = ctx.world.apps["calendar"].current_time(person.timezone)["now"]
    moment = parse_local(local)
    ctx.mention(time_facts(moment))

    def expert():
        [now] = yield Act([("current_time", {"timezone": person.timezone})])
        m = parse_local(now["now"])
        yield Say(ctx.say({"en": f"It is {m:%H:%M} on {now['weekday']} in {city[0]} ({person.timezone}) right now.",
                           "de": f"In {city[1]} ({person.timezone}) ist es gerade {m:%H:%M} Uhr.",
                           "zh": f"{city[2]}（{person.timezone}）现在是{m:%H:%M}。"}))
    return expert


@family("cal_next_meeting_with", ("calendar",), ("sequential",), heldout_only=True)
def cal_next_meeting_with(ctx: Context):
    first, _, email = colleague(ctx)
    found = ctx.world.apps["calendar"].search_events(email.split("@")[0].split(".")[0])
    now = ctx.world.apps["calendar"].current_time()["now"]
    upcoming = [e for e in found if e["start"] > now and email in e["attendees"]]
    if not upcoming:
        raise Skip("no upcoming meeting with them")
    nxt = upcoming[0]
    ctx.request = ctx.pick({
        "en": ["When is my next meeting with {p}?", "When do I next see {p}?", "What's the next thing I have with {p}?"],
        "de": ["Wann ist mein nächstes Meeting mit {p}?", "Wann sehe ich {p} das nächste Mal?", "Was ist mein nächster Termin mit {p}?"],
        "zh": ["我和{p}下一次开会是什么时候？", "我下次见{p}是什么时候？", "我和{p}的下一个安排是什么？"],
    }).format(p=first)
    start = parse_local(nxt["start"])
    ctx.mention([nxt["title"]], time_facts(start.astimezone(HOME)))

    def expert():
        [hits] = yield Act([("search_events", {"query": first})])
        e = next(h for h in hits if h["start"] > now and email in h["attendees"])
        s, end = parse_local(e["start"]), parse_local(e["end"])
        yield Say(ctx.say({"en": f"Your next meeting with {first} is '{e['title']}' on {span(ctx, s, end)}.",
                           "de": f"Dein nächstes Meeting mit {first} ist '{e['title']}' am {span(ctx, s, end)}.",
                           "zh": f"你和{first}的下一个会议是'{e['title']}'，时间{span(ctx, s, end)}。"}))
    return expert
