"""Families without tools: small talk and questions outside the tools' reach, answered directly (no call)."""

from __future__ import annotations

from ..family import Context, Say, family

GREETINGS = {
    "en": ["hi", "Hello!", "Hey there", "Good morning!", "hi, how are you?", "Thanks, that's all for now.",
           "thank you!", "Who are you?", "ok cool", "Hello, anyone there?", "Thanks a lot!", "What's up?"],
    "de": ["hallo", "Hallo!", "Hi du", "Guten Morgen!", "hi, wie geht's?", "Danke, das war's erstmal.",
           "danke!", "Wer bist du?", "ok super", "Hallo, ist da jemand?", "Vielen Dank!", "Na, alles klar?"],
    "zh": ["你好", "嗨！", "在吗", "早上好！", "你好，最近怎么样？", "谢谢，暂时就这些。", "谢谢！", "你是谁？", "好的", "喂，有人吗？", "太感谢了！", "最近好吗？"],
}
REPLIES = {
    "en": ["Hello! I can help with your calendar, e-mail, bookings and the other tools I have. What would you like to do?",
           "You're welcome! Let me know if there's anything else."],
    "de": ["Hallo! Ich kann dir bei Kalender, E-Mail, Buchungen und meinen anderen Werkzeugen helfen. Was möchtest du tun?",
           "Gern geschehen! Sag Bescheid, wenn du noch etwas brauchst."],
    "zh": ["你好！我可以帮你处理日历、邮件、预订以及我能用的其他工具。你想做什么？", "不客气！还有需要随时告诉我。"],
}
THANKS = ("thank", "danke", "dank", "谢谢", "感谢", "that's all", "das war's", "就这些")


@family("chat_smalltalk", (), ("chat",))
def chat_smalltalk(ctx: Context):
    ctx.apps = ctx.rng.choice([["calendar"], ["email"], ["booking"], ["calendar", "email"], ["calendar", "email", "booking"]])
    ctx.request = ctx.pick(GREETINGS)
    ctx.expect["no_tools"] = True
    thanks = any(word in ctx.request.lower() for word in THANKS)

    def expert():
        yield Say(REPLIES[ctx.language][1 if thanks else 0])
    return expert


@family("chat_out_of_scope", (), ("chat",))
def chat_out_of_scope(ctx: Context):
    ctx.apps = ctx.rng.choice([["calendar"], ["email"], ["booking"], ["calendar", "email", "booking"]])
    a, b = ctx.rng.randint(2, 20), ctx.rng.randint(2, 20)
    op = ctx.rng.choice(["+", "×"])
    value = a + b if op == "+" else a * b
    kind = ctx.rng.choice(["sum", "sum", "joke", "capability", "opinion"])
    if kind == "sum":
        ctx.request = ctx.pick({"en": [f"what is {a}{'+' if op == '+' else '*'}{b}?", f"What's {a} {'plus' if op == '+' else 'times'} {b}?",
                                       f"quick maths: {a} {op} {b}", f"Can you compute {a} {op} {b}?"],
                                "de": [f"was ist {a}{'+' if op == '+' else '*'}{b}?", f"Wie viel ist {a} {'plus' if op == '+' else 'mal'} {b}?",
                                       f"Kurz rechnen: {a} {op} {b}", f"Kannst du {a} {op} {b} ausrechnen?"],
                                "zh": [f"{a}{'+' if op == '+' else '*'}{b}等于多少？", f"{a}{'加' if op == '+' else '乘以'}{b}是多少？",
                                       f"算一下：{a} {op} {b}", f"帮我算{a} {op} {b}。"]})
        answer = {"en": f"{a} {op} {b} = {value}.", "de": f"{a} {op} {b} = {value}.", "zh": f"{a} {op} {b} = {value}。"}
        ctx.says([str(value)])
    elif kind == "joke":
        ctx.request = ctx.pick({"en": ["Tell me a joke.", "Say something funny.", "Know any good jokes?"],
                                "de": ["Erzähl mir einen Witz.", "Sag was Lustiges.", "Kennst du einen guten Witz?"],
                                "zh": ["讲个笑话吧。", "说点好笑的。", "你会讲笑话吗？"]})
        answer = {"en": "Why did the calendar feel popular? Because its days were numbered.",
                  "de": "Treffen sich zwei Kalender. Sagt der eine: Meine Tage sind gezählt.",
                  "zh": "为什么日历总是很忙？因为它的日子都排满了。"}
    elif kind == "capability":
        ctx.request = ctx.pick({"en": ["What can you do?", "How can you help me?", "What are you able to do for me?"],
                                "de": ["Was kannst du?", "Wie kannst du mir helfen?", "Was kannst du für mich tun?"],
                                "zh": ["你能做什么？", "你能怎么帮我？", "你可以帮我做哪些事？"]})
        answer = REPLIES["en" if ctx.language == "en" else ctx.language][0]
        answer = {ctx.language: answer}
    else:
        ctx.request = ctx.pick({"en": ["Do you like music?", "What's your favourite colour?", "Are you a robot?"],
                                "de": ["Magst du Musik?", "Was ist deine Lieblingsfarbe?", "Bist du ein Roboter?"],
                                "zh": ["你喜欢音乐吗？", "你最喜欢什么颜色？", "你是机器人吗？"]})
        answer = {"en": "I'm an AI assistant, so I don't have personal tastes, but I'm happy to help with your plans.",
                  "de": "Ich bin ein KI-Assistent und habe keine eigenen Vorlieben, helfe dir aber gern bei deinen Plänen.",
                  "zh": "我是AI助手，没有个人喜好，不过很乐意帮你安排事情。"}
    ctx.expect["no_tools"] = True

    def expert():
        yield Say(answer[ctx.language])
    return expert
