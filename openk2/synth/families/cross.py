"""Cross-app families: plans that read one app and act in another (meet and invite, a hotel for a trip, dinner and
an e-mail, a day's overview), and held-out ones built from the same skills."""

from __future__ import annotations

from datetime import timedelta

from openk2.agent.apps.world import NOW, to_db

from ..family import Act, Context, Say, Skip, family
from ..language import show_day, show_money, time_facts, week_phrase
from .common import (NEXT_WEEK, THIS_WEEK, WORKDAYS, at, colleague, event_change, events_on, free_slots, hhmm,
                     local_iso, parse_local, span, user_email, when)

MEETING = {"en": "Meeting with {p}", "de": "Meeting mit {p}", "zh": "与{p}开会"}


def invitation(ctx: Context, title: str, first: str, start, end) -> tuple[str, str]:
    """(subject, body) of the expert's invitation e-mail, in the user's language."""
    me = ctx.cast.user.first_name
    return ctx.say({
        "en": (f"Invitation: {title}", f"Hi {first},\n\nI've booked '{title}' for {span(ctx, start, end)} (London time). "
                                        f"It's in both our calendars.\n\nBest,\n{me}"),
        "de": (f"Einladung: {title}", f"Hallo {first},\n\nich habe '{title}' für {span(ctx, start, end)} (Londoner Zeit) "
                                       f"eingetragen. Der Termin steht in unseren beiden Kalendern.\n\nViele Grüße\n{me}"),
        "zh": (f"邀请：{title}", f"{first}你好，\n\n我已经预约了'{title}'，时间是{span(ctx, start, end)}（伦敦时间），"
                                f"已加到我们俩的日历里。\n\n{me}"),
    })


@family("x_meet_invite", ("calendar", "email"), ("cross_app", "sequential"))
def x_meet_invite(ctx: Context):
    first, _, email = colleague(ctx)
    week = ctx.rng.choice(["this", "next"])
    days = THIS_WEEK if week == "this" else NEXT_WEEK
    window = (f"{days[0].isoformat()}T00:00", f"{(days[-1] + timedelta(days=1)).isoformat()}T00:00")
    slots = ctx.world.apps["calendar"].find_free_slots([email], start=window[0], end=window[1], duration_minutes=60, limit=1)
    if not slots:
        raise Skip("no shared free hour that week")
    start, end = parse_local(slots[0]["start"]), parse_local(slots[0]["end"])
    w = week_phrase(week, ctx.language, ctx.rng)
    ctx.request = ctx.pick({
        "en": ["Find a free hour with {p} {w}, book it and e-mail {p} the invitation.",
               "Book the first hour {p} and I are both free {w}, and send {p} an invite by e-mail.",
               "Can you find an hour {w} when {p} and I are free, put it in the calendar and e-mail {p} about it?",
               "Set up an hour with {p} {w} (the earliest free slot) and let {p} know by e-mail.",
               "Schedule a one-hour meeting with {p} {w} at the first time that works and e-mail the invitation.",
               "Get an hour with {p} into our calendars {w} — earliest free slot — and send {p} an e-mail invitation."],
        "de": ["Finde eine freie Stunde mit {p} {w}, buch sie und schick {p} die Einladung per E-Mail.",
               "Buch die erste Stunde {w}, in der {p} und ich frei sind, und schick {p} eine Einladung per Mail.",
               "Kannst du {w} eine Stunde finden, in der {p} und ich frei sind, sie eintragen und {p} per E-Mail Bescheid geben?",
               "Setz {w} eine Stunde mit {p} an (den frühesten freien Termin) und informier {p} per E-Mail.",
               "Plane {w} ein einstündiges Meeting mit {p} zum ersten passenden Zeitpunkt und schick die Einladung per E-Mail.",
               "Trag {w} eine Stunde mit {p} in unsere Kalender ein – frühester freier Termin – und schick {p} eine Einladung."],
        "zh": ["{w}找一个我和{p}都有空的一小时，订下来，再发邮件邀请{p}。", "{w}订我和{p}最早都有空的一小时，并给{p}发邮件邀请。",
               "能不能{w}找一小时我和{p}都有空，放进日历，再发邮件告诉{p}？", "{w}和{p}安排一小时（最早的空档），并发邮件通知{p}。",
               "{w}在第一个合适的时间和{p}约一个一小时的会，然后发邮件邀请。", "{w}把和{p}的一小时会放进我们的日历——最早的空档——再给{p}发邮件邀请。"],
    }).format(p=first, w=w)
    title = MEETING[ctx.language].format(p=first)
    event_change(ctx, start, 60, [email])
    ctx.change("email", "insert", folder="sent", to=[email], cc=[], in_reply_to=None, contains_body=[time_facts(start)])
    ctx.mention(time_facts(start))

    def expert():
        [found] = yield Act([("find_free_slots", {"attendees": [first], "start": window[0], "end": window[1], "duration_minutes": 60})])
        s, e = parse_local(found[0]["start"]), parse_local(found[0]["end"])
        yield Act([("create_event", {"title": title, "start": local_iso(s), "end": local_iso(e), "attendees": [first]})])
        subject, body = invitation(ctx, title, first, s, e)
        yield Act([("send_email", {"to": [first], "subject": subject, "body": body})])
        yield Say(ctx.say({"en": f"Booked an hour with {first} on {span(ctx, s, e)} and e-mailed {first} the invitation.",
                           "de": f"Ich habe eine Stunde mit {first} am {span(ctx, s, e)} eingetragen und {first} die Einladung gemailt.",
                           "zh": f"已和{first}约好{span(ctx, s, e)}的一小时，并给{first}发了邀请邮件。"}))
    return expert


@family("x_trip_hotel", ("calendar", "booking"), ("cross_app", "sequential"))
def x_trip_hotel(ctx: Context):
    city = ctx.rng.choice(["Berlin", "Paris", "New York"])
    local = {"Berlin": ("Berlin", "Berlin", "柏林"), "Paris": ("Paris", "Paris", "巴黎"), "New York": ("New York", "New York", "纽约")}[city]
    name = dict(zip(("en", "de", "zh"), local))[ctx.language]
    first_day = ctx.rng.choice(WORKDAYS[1:8])
    nights = ctx.rng.choice([1, 2, 3])
    last_day = first_day + timedelta(days=nights)
    title = {"en": f"Trip to {city}", "de": f"Reise nach {local[1]}", "zh": f"{local[2]}出差"}[ctx.language]
    ctx.add({"op": "event", "title": title, "start": to_db(at(first_day, 7)), "minutes": int((at(last_day, 19) - at(first_day, 7)).total_seconds() // 60),
             "timezone": "Europe/London", "organizer": user_email(ctx), "attendees": [user_email(ctx)], "location": city})
    offers = ctx.world.apps["booking"].search_hotels(city, first_day.isoformat(), last_day.isoformat())
    if not offers:
        raise Skip("no hotel free for the trip")
    cheapest = min(offers, key=lambda o: (o["price_total"], o["id"]))
    if sum(1 for o in offers if o["price_total"] == cheapest["price_total"]) > 1:
        raise Skip("a tie for the cheapest")
    ctx.request = ctx.pick({
        "en": ["Book the cheapest hotel for my {c} trip.", "I'm going to {c} — check my calendar for the dates and book the cheapest hotel.",
               "Can you sort out a hotel for my trip to {c}? Cheapest one, for the nights I'm there.",
               "Find my {c} trip in the calendar and book the cheapest room for those nights.",
               "Please book a hotel for the {c} trip in my calendar, the cheapest available.",
               "Get me the cheapest hotel in {c} for the dates of my trip."],
        "de": ["Buch das günstigste Hotel für meine Reise nach {c}.", "Ich fahre nach {c} – schau im Kalender nach den Daten und buch das günstigste Hotel.",
               "Kannst du ein Hotel für meine Reise nach {c} organisieren? Das günstigste, für die Nächte dort.",
               "Such meine Reise nach {c} im Kalender und buch das günstigste Zimmer für diese Nächte.",
               "Bitte buch ein Hotel für die Reise nach {c} in meinem Kalender, das günstigste verfügbare.",
               "Besorg mir das günstigste Hotel in {c} für die Daten meiner Reise."],
        "zh": ["给我的{c}之行订最便宜的酒店。", "我要去{c}——看一下日历里的日期，订最便宜的酒店。", "能帮我安排去{c}的酒店吗？最便宜的，住我在那儿的那几晚。",
               "在日历里找到我的{c}行程，订那几晚最便宜的房间。", "请按日历里的{c}行程订酒店，选最便宜的。", "按我{c}行程的日期，帮我订{c}最便宜的酒店。"],
    }).format(c=name)
    ctx.change("booking", "insert", kind="hotel", item_id=cheapest["id"], starts=first_day.isoformat(), ends=last_day.isoformat(),
               quantity=1, fare=None, status="confirmed")
    ctx.mention([cheapest["name"]], [str(int(cheapest["price_total"])) if float(cheapest["price_total"]).is_integer() else str(cheapest["price_total"])])

    def expert():
        [events] = yield Act([("search_events", {"query": city})])
        trip = next(e for e in events if e["title"] == title)
        check_in, check_out = parse_local(trip["start"]).date().isoformat(), parse_local(trip["end"]).date().isoformat()
        [hotels] = yield Act([("search_hotels", {"city": city, "check_in": check_in, "check_out": check_out})])
        best = min(hotels, key=lambda o: (o["price_total"], o["id"]))
        [booked] = yield Act([("book_hotel", {"hotel_id": best["id"], "check_in": check_in, "check_out": check_out})])
        money = show_money(booked["price"], ctx.language)
        d1, d2 = show_day(first_day, ctx.language), show_day(last_day, ctx.language)
        yield Say(ctx.say({"en": f"Booked {best['name']} for your {city} trip, {d1} to {d2}: {money} in total (the cheapest available). Booking #{booked['id']}.",
                           "de": f"Gebucht: {best['name']} für deine Reise nach {local[1]}, {d1} bis {d2}, insgesamt {money} (das günstigste verfügbare). Buchung #{booked['id']}.",
                           "zh": f"已为你的{local[2]}之行订了{best['name']}，{d1}至{d2}，共{money}（最便宜的）。预订号#{booked['id']}。"}))
    return expert


@family("x_dinner_invite", ("booking", "email"), ("cross_app", "sequential"))
def x_dinner_invite(ctx: Context):
    first, _, email = colleague(ctx)
    booking = ctx.world.apps["booking"]
    london = [r for r in booking.store.rows("SELECT * FROM restaurants WHERE city = 'London' ORDER BY id")]
    restaurant = ctx.rng.choice(london)
    day = ctx.rng.choice(WORKDAYS)
    free = [s for s in booking.store.rows("SELECT time FROM restaurant_slots WHERE restaurant_id = ? AND day = ? AND seats_left >= 2 "
                                          "AND time >= '18:00' ORDER BY time", [restaurant["id"], day.isoformat()])]
    if not free:
        raise Skip("no table that evening")
    seating = ctx.rng.choice(free)["time"]
    hour, minute = map(int, seating.split(":"))
    d, t = when(ctx, at(day, hour, minute))
    ctx.request = ctx.pick({
        "en": ["Book a table for two at {r} {d} {t} and e-mail {p} the details.", "Reserve {r} for me and {p} {d} {t}, then let {p} know by e-mail.",
               "Can you get us a table for 2 at {r} {d} {t}? E-mail {p} once it's booked.", "Dinner with {p}: book {r} {d} {t} for two and send {p} the details.",
               "Please book {r} {d} {t}, two people, and e-mail {p} where and when.", "Table for two at {r} {d} {t}, please — and tell {p} by e-mail."],
        "de": ["Buch einen Tisch für zwei im {r} {d} {t} und schick {p} die Details per E-Mail.", "Reservier das {r} für {p} und mich {d} {t} und sag {p} per Mail Bescheid.",
               "Kannst du uns {d} {t} einen Zweiertisch im {r} besorgen? Schick {p} eine Mail, sobald er gebucht ist.",
               "Abendessen mit {p}: buch das {r} {d} {t} für zwei und schick {p} die Details.", "Bitte buch das {r} {d} {t}, zwei Personen, und mail {p}, wo und wann.",
               "Einen Tisch für zwei im {r} {d} {t}, bitte – und gib {p} per E-Mail Bescheid."],
        "zh": ["{d}{t}在{r}订两人桌，然后把详情发邮件给{p}。", "{d}{t}帮我和{p}订{r}，再发邮件告诉{p}。", "能帮我们订{d}{t}{r}的两人桌吗？订好后给{p}发个邮件。",
               "和{p}吃晚饭：{d}{t}订{r}两位，把详情发给{p}。", "请订{d}{t}的{r}，两个人，再发邮件告诉{p}时间地点。", "{d}{t}{r}两人桌——订好后发邮件告诉{p}。"],
    }).format(r=restaurant["name"], d=d, t=t, p=first)
    starts = at(day, hour, minute).isoformat(timespec="minutes")
    ctx.change("booking", "insert", kind="restaurant", item_id=restaurant["id"], starts=starts, ends=None, quantity=2, fare=None,
               status="confirmed")
    ctx.change("email", "insert", folder="sent", to=[email], cc=[], in_reply_to=None,
               contains_body=[[restaurant["name"]], time_facts(at(day, hour, minute))])
    ctx.mention([restaurant["name"]], time_facts(at(day, hour, minute)))
    me = ctx.cast.user.first_name

    def expert():
        [found] = yield Act([("search_restaurants", {"city": "London", "date": day.isoformat(), "party_size": 2, "time": seating})])
        hit = next(r for r in found if r["name"] == restaurant["name"])
        [booked] = yield Act([("book_restaurant", {"restaurant_id": hit["id"], "date": day.isoformat(), "time": seating, "party_size": 2})])
        when_text = f"{show_day(day, ctx.language)} {seating}" if ctx.language == "zh" else f"{show_day(day, ctx.language)}, {seating}"
        subject, body = ctx.say({
            "en": (f"Dinner at {hit['name']}", f"Hi {first},\n\nI've booked a table for two at {hit['name']} ({hit['neighbourhood']}) on {when_text}.\n\nSee you there,\n{me}"),
            "de": (f"Abendessen im {hit['name']}", f"Hallo {first},\n\nich habe einen Tisch für zwei im {hit['name']} ({hit['neighbourhood']}) am {when_text} reserviert.\n\nBis dann\n{me}"),
            "zh": (f"{hit['name']}晚餐", f"{first}你好，\n\n我在{hit['name']}（{hit['neighbourhood']}）订了两人桌，时间是{when_text}。\n\n到时见，\n{me}"),
        })
        yield Act([("send_email", {"to": [first], "subject": subject, "body": body})])
        yield Say(ctx.say({"en": f"Booked a table for two at {hit['name']} on {when_text} (booking #{booked['id']}) and e-mailed {first} the details.",
                           "de": f"Tisch für zwei im {hit['name']} am {when_text} reserviert (Buchung #{booked['id']}) und {first} die Details gemailt.",
                           "zh": f"已在{hit['name']}订好{when_text}的两人桌（预订号#{booked['id']}），并把详情发邮件给了{first}。"}))
    return expert


@family("x_day_overview", ("calendar", "email"), ("cross_app", "parallel"))
def x_day_overview(ctx: Context):
    first, _, email = colleague(ctx)
    day = ctx.rng.choice(WORKDAYS)
    events = events_on(ctx, day)
    if not 1 <= len(events) <= 4:
        raise Skip("a day with one to four events")
    subject = ctx.rng.choice(["Quick question", "Slides for Thursday", "Budget numbers", "Travel plans", "Customer feedback",
                              "Offsite agenda", "Hiring update", "Follow-up"])
    ctx.add({"op": "email", "folder": "inbox", "sender": email, "to": [user_email(ctx)], "subject": subject,
             "body": f"Hi {ctx.cast.user.first_name},\n\nsee the subject. Let me know what you think.\n\n{first}",
             "sent": to_db(NOW - timedelta(hours=ctx.rng.randint(1, 48))), "unread": True})
    unread = ctx.world.apps["email"].search_emails(sender=email, unread_only=True)
    d = when(ctx, at(day, 9))[0]
    ctx.request = ctx.pick({
        "en": ["What's on my calendar {d}, and do I have unread mail from {p}?", "Two things: my meetings {d}, and any unread e-mails from {p}.",
               "Can you check my schedule {d} and whether {p} sent me anything I haven't read?", "Give me {d}'s meetings and my unread mail from {p}.",
               "What do I have {d}? Also, anything unread from {p}?", "Check my calendar {d} and look for unread e-mails from {p}."],
        "de": ["Was steht {d} in meinem Kalender, und habe ich ungelesene Mails von {p}?", "Zwei Dinge: meine Termine {d} und ungelesene E-Mails von {p}.",
               "Kannst du meinen Zeitplan {d} prüfen und ob {p} mir etwas geschickt hat, das ich noch nicht gelesen habe?",
               "Gib mir die Termine {d} und meine ungelesenen Mails von {p}.", "Was habe ich {d}? Und gibt es Ungelesenes von {p}?",
               "Prüf meinen Kalender {d} und schau nach ungelesenen E-Mails von {p}."],
        "zh": ["{d}我的日历上有什么？还有{p}有没有发我未读邮件？", "两件事：{d}的会议，以及{p}发来的未读邮件。", "能查一下{d}的日程，再看看{p}有没有发我还没读的邮件吗？",
               "给我{d}的会议和{p}的未读邮件。", "{d}我有什么安排？另外{p}有未读邮件吗？", "查一下{d}的日历，再找找{p}的未读邮件。"],
    }).format(d=d, p=first)
    ctx.mention(*[[e["title"]] for e in events], *[[m["subject"]] for m in unread[:3]])

    def expert():
        found, mail = yield Act([("list_events", {"start": f"{day.isoformat()}T00:00", "end": f"{(day + timedelta(days=1)).isoformat()}T00:00"}),
                                 ("search_emails", {"sender": first, "unread_only": True})])
        lines = "\n".join(f"- {hhmm(parse_local(e['start']))}–{hhmm(parse_local(e['end']))} {e['title']}" for e in found)
        subjects = ", ".join(f"'{m['subject']}'" for m in mail[:3])
        yield Say(ctx.say({"en": f"On {show_day(day, 'en')} you have:\n{lines}\nUnread from {first}: {len(mail)} ({subjects}).",
                           "de": f"Am {show_day(day, 'de')} hast du:\n{lines}\nUngelesen von {first}: {len(mail)} ({subjects}).",
                           "zh": f"{show_day(day, 'zh')}的安排：\n{lines}\n{first}的未读邮件：{len(mail)}封（{subjects}）。"}))
    return expert


@family("x_flight_calendar", ("booking", "calendar"), ("cross_app", "sequential"), heldout_only=True)
def x_flight_calendar(ctx: Context):
    city = ctx.rng.choice(["Berlin", "Paris"])
    name = {"en": city, "de": city, "zh": {"Berlin": "柏林", "Paris": "巴黎"}[city]}[ctx.language]
    day = ctx.rng.choice(WORKDAYS[1:])
    flights = ctx.world.apps["booking"].search_flights("London", city, day.isoformat())
    morning = [f for f in flights if parse_local(f["departs"]).hour < 12]
    if not morning:
        raise Skip("no morning flight with seats")
    flight = morning[0]
    departs, arrives = parse_local(flight["departs"]), parse_local(flight["arrives"])
    if ctx.world.apps["calendar"].busy([user_email(ctx)], departs, arrives):
        raise Skip("the user is busy during the flight")
    d = when(ctx, at(day, 9))[0]
    ctx.request = ctx.pick({
        "en": ["Book the morning flight from London to {c} {d} and put it in my calendar.", "Get me on the morning flight to {c} {d} and add it to my calendar.",
               "I need the morning London–{c} flight {d}; book it and block the time in my calendar."],
        "de": ["Buch den Morgenflug von London nach {c} {d} und trag ihn in meinen Kalender ein.", "Buch mir den Morgenflug nach {c} {d} und setz ihn in meinen Kalender.",
               "Ich brauche den Morgenflug London–{c} {d}; buch ihn und blocke die Zeit im Kalender."],
        "zh": ["订{d}从伦敦飞{c}的早班机，并加到我的日历里。", "帮我订{d}去{c}的早班飞机，再加到日历上。", "{d}我要坐伦敦到{c}的早班机，订好后在日历里把时间占上。"],
    }).format(c=name, d=d)
    ctx.change("booking", "insert", kind="flight", item_id=flight["id"], starts=flight["departs"], ends=flight["arrives"], quantity=1,
               fare="saver", status="confirmed")
    ctx.change("event", "insert", start=to_db(departs), minutes=int((arrives - departs).total_seconds() // 60),
               attendees=[user_email(ctx)], contains_title=[[flight["flight_no"]]])
    ctx.mention([flight["flight_no"]], time_facts(departs))

    def expert():
        [found] = yield Act([("search_flights", {"origin": "London", "destination": city, "date": day.isoformat()})])
        f = next(x for x in found if parse_local(x["departs"]).hour < 12)
        [booked] = yield Act([("book_flight", {"flight_id": f["id"]})])
        s, e = parse_local(f["departs"]), parse_local(f["arrives"])
        title = {"en": f"Flight {f['flight_no']} to {city}", "de": f"Flug {f['flight_no']} nach {city}", "zh": f"航班{f['flight_no']}飞{name}"}[ctx.language]
        yield Act([("create_event", {"title": title, "start": s.isoformat(timespec="minutes"), "end": e.isoformat(timespec="minutes")})])
        yield Say(ctx.say({"en": f"Booked {f['flight_no']} London–{city}, departing {s:%H:%M} on {show_day(day, 'en')} ({show_money(booked['price'], 'en')}), and added it to your calendar.",
                           "de": f"Gebucht: {f['flight_no']} London–{city}, Abflug {s:%H:%M} am {show_day(day, 'de')} ({show_money(booked['price'], 'de')}), und im Kalender eingetragen.",
                           "zh": f"已订{f['flight_no']}伦敦飞{name}，{show_day(day, 'zh')} {s:%H:%M}起飞（{show_money(booked['price'], 'zh')}），并已加到日历。"}))
    return expert


@family("x_reply_with_slots", ("email", "calendar"), ("cross_app", "sequential"), heldout_only=True)
def x_reply_with_slots(ctx: Context):
    first, _, email = colleague(ctx, (1, 2, 5))
    day = ctx.rng.choice(WORKDAYS[1:])
    slots = free_slots(ctx, [email], day, 60, limit=3)
    if len(slots) < 2:
        raise Skip("too few free hours")
    ctx.add({"op": "email", "folder": "inbox", "sender": email, "to": [user_email(ctx)], "subject": "Can we meet?",
             "body": f"Hi {ctx.cast.user.first_name},\n\ncould we find an hour to catch up? Send me some times that work for you.\n\n{first}",
             "sent": to_db(NOW - timedelta(hours=ctx.rng.randint(1, 48))), "unread": True})
    d = when(ctx, at(day, 9))[0]
    ctx.request = ctx.pick({
        "en": ["{p} asked to meet. Reply to {p}'s e-mail with the hours we're both free {d}.", "Answer {p}'s 'Can we meet?' e-mail with our free hours {d}.",
               "Reply to {p} and suggest the free hours we share {d}."],
        "de": ["{p} möchte sich treffen. Antworte auf {p}s E-Mail mit den Stunden {d}, in denen wir beide frei sind.",
               "Beantworte {p}s Mail 'Can we meet?' mit unseren freien Stunden {d}.", "Antworte {p} und schlag die gemeinsamen freien Stunden {d} vor."],
        "zh": ["{p}想见面。回复{p}的邮件，告诉他{d}我们都有空的时间。", "用{d}我们俩都空闲的时间回复{p}那封'Can we meet?'邮件。", "回复{p}，提议{d}我们都有空的几个小时。"],
    }).format(p=first, d=d)
    mail_id = ctx.world.apps["email"].search_emails(sender=email, query="meet")[0]["id"]
    ctx.change("email", "insert", folder="sent", to=[email], cc=[], in_reply_to=mail_id,
               contains_body=[time_facts(parse_local(s["start"])) for s in slots])
    ctx.mention(time_facts(parse_local(slots[0]["start"])))

    def expert():
        [mail] = yield Act([("search_emails", {"sender": first, "query": "meet"})])
        [found] = yield Act([("find_free_slots", {"attendees": [first], "start": f"{day.isoformat()}T00:00",
                                                  "end": f"{(day + timedelta(days=1)).isoformat()}T00:00", "duration_minutes": 60, "limit": 3})])
        times = ", ".join(f"{hhmm(parse_local(s['start']))}–{hhmm(parse_local(s['end']))}" for s in found)
        me = ctx.cast.user.first_name
        body = ctx.say({"en": f"Hi {first},\n\nhappy to. On {show_day(day, 'en')} I'm free {times} (London time). Which suits you?\n\n{me}",
                        "de": f"Hallo {first},\n\ngern. Am {show_day(day, 'de')} habe ich {times} Zeit (Londoner Zeit). Was passt dir?\n\n{me}",
                        "zh": f"{first}你好，\n\n好的。{show_day(day, 'zh')}我在这些时间有空：{times}（伦敦时间）。你哪个方便？\n\n{me}"})
        yield Act([("reply_to_email", {"email_id": mail[0]["id"], "body": body})])
        yield Say(ctx.say({"en": f"Replied to {first} with the free hours on {show_day(day, 'en')}: {times}.",
                           "de": f"{first} geantwortet, mit den freien Stunden am {show_day(day, 'de')}: {times}.",
                           "zh": f"已回复{first}，提供了{show_day(day, 'zh')}的空闲时间：{times}。"}))
    return expert
