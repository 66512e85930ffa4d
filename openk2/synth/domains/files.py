"""Files: a small virtual file system in the user's home folder: list, read, write and move."""

from __future__ import annotations

import posixpath
import random
import string

from openk2.agent.apps.store import Store

from ..synthetic import Call, Domain, Scenario, ToolDef, register
from .common import BOOLEAN, INTEGER, STRING, array, enum, obj, param, say

HOME = "/home/me"
NOW = "2025-06-02T09:00"
FOLDERS = ["", "/documents", "/documents/reports", "/documents/travel", "/notes", "/downloads", "/projects",
           "/projects/website", "/photos"]
REGIONS = ["north", "south", "east", "west"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS syn_files_entries (path TEXT PRIMARY KEY, kind TEXT NOT NULL, content TEXT NOT NULL,
    size INTEGER NOT NULL, modified TEXT NOT NULL);
"""


def entry(path: str, content: str | None, modified: str) -> tuple:
    if content is None:
        return (path, "directory", "", 0, modified)
    return (path, "file", content, len(content.encode()), modified)


def seed(store: Store, rng: random.Random) -> None:
    rows = [entry(HOME + f, None, "2025-01-06T10:00") for f in FOLDERS]
    word = rng.choice(["maple", "harbor", "comet", "violet", "falcon", "pepper", "willow", "cobalt"])
    rows.append(entry(f"{HOME}/notes/wifi.txt", f"Network: Home-{rng.randint(100, 999)}\n"
                                                 f"Password: {word}-{rng.choice(['river', 'stone', 'cloud', 'tiger'])}-{rng.randint(10, 99)}\n",
                      "2025-03-14T20:11"))
    ref = "".join(rng.choice(string.ascii_uppercase) for _ in range(6))
    rows.append(entry(f"{HOME}/documents/travel/flight_confirmation.txt",
                      f"Booking reference: {ref}\nFlight: {rng.choice(['LH', 'BA', 'AF'])}{rng.randint(100, 999)}\n"
                      f"Date: 2025-06-{rng.randint(10, 28)}\nSeat: {rng.randint(3, 40)}{rng.choice('ACDF')}\n", "2025-05-20T08:42"))
    for month, day in (("03", "2025-04-02T09:15"), ("04", "2025-05-02T09:05"), ("05", "2025-06-01T17:30")):
        amounts = [rng.randint(800, 9000) for _ in REGIONS]
        lines = "".join(f"{r},{a}\n" for r, a in zip(REGIONS, amounts))
        rows.append(entry(f"{HOME}/documents/reports/sales_2025_{month}.csv", f"region,amount\n{lines}total,{sum(amounts)}\n", day))
    budget = {"rent": rng.choice([950, 1100, 1250, 1400]), "food": rng.randint(300, 600), "transport": rng.randint(60, 180),
              "savings": rng.choice([200, 250, 300, 400])}
    rows.append(entry(f"{HOME}/documents/budget_2025.csv", "category,monthly\n" + "".join(f"{k},{v}\n" for k, v in budget.items()),
                      "2025-01-03T19:00"))
    rows.append(entry(f"{HOME}/documents/cv.pdf", "[PDF document, 2 pages]", "2025-02-11T12:00"))
    rows.append(entry(f"{HOME}/projects/website/README.md",
                      f"# Website\n\nDeploy with `make deploy`.\nServer: web-{rng.randint(10, 99)}.example.net\n", "2025-05-28T16:20"))
    rows.append(entry(f"{HOME}/projects/website/index.html", "<h1>Hello</h1>\n", "2025-05-28T16:21"))
    rows.append(entry(f"{HOME}/notes/ideas.md", "- garden bench\n- learn Portuguese\n- bike tour\n", "2025-04-30T21:00"))
    rows.append(entry(f"{HOME}/downloads/invoice_{rng.randint(1000, 9999)}.pdf", "[PDF document, 1 page]", "2025-05-29T11:03"))
    rows.append(entry(f"{HOME}/downloads/photo_{rng.randint(100, 999)}.jpg", "[JPEG image, 2.1 MB]", "2025-05-31T15:48"))
    store.executemany("INSERT INTO syn_files_entries VALUES (?, ?, ?, ?, ?)", rows)


def normalize(path: str) -> str:
    path = path.strip()
    if path.startswith("~"):
        path = HOME + path[1:]
    elif not path.startswith("/"):
        path = f"{HOME}/{path}"
    return posixpath.normpath(path)


def get(store: Store, path: str) -> dict | None:
    return store.row("SELECT * FROM syn_files_entries WHERE path = ?", [path])


def children(store: Store, folder: str) -> list[dict]:
    return [r for r in store.rows("SELECT * FROM syn_files_entries WHERE path LIKE ? ORDER BY path", [folder.rstrip("/") + "/%"])
            if posixpath.dirname(r["path"]) == folder]


def missing(store: Store, path: str) -> ValueError:
    folder = posixpath.dirname(path)
    if get(store, folder) is None:
        return ValueError(f"no such file or folder: {path} (folder {folder} does not exist either; start from {HOME})")
    names = ", ".join(posixpath.basename(r["path"]) for r in children(store, folder)) or "nothing"
    return ValueError(f"no such file: {path}; {folder} contains: {names}")


def list_dir(store: Store, args: dict) -> dict:
    path = normalize(args["path"])
    row = get(store, path)
    if row is None:
        raise missing(store, path)
    if row["kind"] != "directory":
        raise ValueError(f"{path} is a file, not a folder; read it instead")
    return {"path": path, "entries": [{"name": posixpath.basename(r["path"]), "type": r["kind"], "size": r["size"],
                                       "modified": r["modified"]} for r in children(store, path)]}


def read(store: Store, args: dict) -> dict:
    path = normalize(args["path"])
    row = get(store, path)
    if row is None:
        raise missing(store, path)
    if row["kind"] == "directory":
        raise ValueError(f"{path} is a folder; list it to see its files")
    return {"path": path, "size": row["size"], "modified": row["modified"], "content": row["content"]}


def write(store: Store, args: dict) -> dict:
    path = normalize(args["path"])
    with store.transaction():
        folder = get(store, posixpath.dirname(path))
        if folder is None or folder["kind"] != "directory":
            raise ValueError(f"folder {posixpath.dirname(path)} does not exist; write into an existing folder")
        row = get(store, path)
        if row is not None and row["kind"] == "directory":
            raise ValueError(f"{path} is a folder")
        if row is not None and not args.get("overwrite"):
            raise ValueError(f"{path} already exists; set the overwrite flag to replace it")
        store.execute("INSERT OR REPLACE INTO syn_files_entries VALUES (?, ?, ?, ?, ?)", entry(path, args["content"], NOW))
    return {"path": path, "size": len(args["content"].encode()), "created": row is None}


def move(store: Store, args: dict) -> dict:
    source, destination = normalize(args["source"]), normalize(args["destination"])
    with store.transaction():
        row = get(store, source)
        if row is None:
            raise missing(store, source)
        if row["kind"] == "directory":
            raise ValueError(f"{source} is a folder; only files can be moved")
        target = get(store, destination)
        if target is not None and target["kind"] == "directory":
            destination = posixpath.join(destination, posixpath.basename(source))
            target = get(store, destination)
        if target is not None:
            raise ValueError(f"{destination} already exists; choose another name")
        folder = get(store, posixpath.dirname(destination))
        if folder is None or folder["kind"] != "directory":
            raise ValueError(f"folder {posixpath.dirname(destination)} does not exist")
        store.execute("UPDATE syn_files_entries SET path = ? WHERE path = ?", [destination, source])
    return {"source": source, "destination": destination}


PATH_NAMES = ("path", "file_path", "filename", "filepath")
TOOLS = (
    ToolDef("list", ("list_directory", "list_files", "ls", "dir_listing", "browse_folder"),
            ("List the files and folders in a folder.", "Show what a directory contains, with sizes and dates."),
            (param("path", ("path", "folder", "directory", "dir"), STRING, "Folder path; ~ is the home folder.",
                   "The directory to list, e.g. ~/documents."),),
            obj({"path": STRING, "entries": array(obj({"name": STRING, "type": enum(["file", "directory"]), "size": INTEGER,
                                                        "modified": STRING}))}), list_dir),
    ToolDef("read", ("read_file", "open_file", "cat_file", "get_file_contents", "view_file"),
            ("Read a text file.", "Return the contents of a file.", "Open a file and show what it says."),
            (param("path", PATH_NAMES, STRING, "Path of the file; ~ is the home folder.", "Which file to read."),),
            obj({"path": STRING, "size": INTEGER, "modified": STRING, "content": STRING}), read),
    ToolDef("write", ("write_file", "save_file", "create_file", "put_file"),
            ("Write text to a file (creates it).", "Save content to a file path."),
            (param("path", PATH_NAMES, STRING, "Where to save, e.g. ~/notes/todo.txt.", "The file's path."),
             param("content", ("content", "text", "body", "data"), STRING, "The text to write.", "File contents."),
             param("overwrite", ("overwrite", "replace", "force"), BOOLEAN, "Replace an existing file (default false).",
                   "Whether to overwrite.", required=False)),
            obj({"path": STRING, "size": INTEGER, "created": BOOLEAN}), write, writes=True),
    ToolDef("move", ("move_file", "rename_file", "mv", "relocate_file"),
            ("Move or rename a file.", "Move a file to another folder or name."),
            (param("source", ("source", "src", "from_path", "old_path"), STRING, "The file to move.", "Current path."),
             param("destination", ("destination", "dst", "to_path", "new_path"), STRING, "New path or target folder.",
                   "Where it should go.")),
            obj({"source": STRING, "destination": STRING}), move, writes=True),
)


def content_of(store: Store, path: str) -> str:
    return get(store, path)["content"]


def field(content: str, name: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in content.splitlines() if line.startswith(name))


def wifi_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    password = field(content_of(store, f"{HOME}/notes/wifi.txt"), "Password")
    request = ctx.pick({
        "en": ["What's our Wi-Fi password? It's in ~/notes/wifi.txt.", "Read ~/notes/wifi.txt and tell me the Wi-Fi password.",
               "A guest needs the Wi-Fi password; it's saved in notes/wifi.txt."],
        "de": ["Wie ist unser WLAN-Passwort? Es steht in ~/notes/wifi.txt.", "Lies ~/notes/wifi.txt und sag mir das WLAN-Passwort.",
               "Ein Gast braucht das WLAN-Passwort; es ist in notes/wifi.txt gespeichert."],
        "zh": ["我们的Wi-Fi密码是什么？在~/notes/wifi.txt里。", "读一下~/notes/wifi.txt，告诉我Wi-Fi密码。",
               "有客人要Wi-Fi密码，存在notes/wifi.txt里。"],
    })
    path = ctx.rng.choice(["~/notes/wifi.txt", f"{HOME}/notes/wifi.txt"])

    def answer(results):
        content = results[0][0]["content"]
        network, pw = field(content, "Network"), field(content, "Password")
        return say(language, f"The Wi-Fi network is {network} and the password is {pw}.",
                   f"Das WLAN heißt {network}, das Passwort ist {pw}.", f"Wi-Fi网络是{network}，密码是{pw}。")

    return Scenario(request, [[Call("read", {"path": path})]], answer, facts=[[password]])


def newest_report_scenario(ctx, store: Store) -> Scenario:
    """Chain: list the reports folder, then read the newest file in it."""
    language = ctx.language
    folder = f"{HOME}/documents/reports"
    newest = max(children(store, folder), key=lambda r: r["modified"])
    name, total = posixpath.basename(newest["path"]), field(newest["content"].replace(",", ":"), "total")
    request = ctx.pick({
        "en": ["Open the newest report in ~/documents/reports and tell me its total.",
               "What's the total in the most recent file in my reports folder (~/documents/reports)?",
               "Check ~/documents/reports: which report is the latest, and what total does it show?"],
        "de": ["Öffne den neuesten Bericht in ~/documents/reports und sag mir die Summe.",
               "Welche Gesamtsumme steht in der neuesten Datei in meinem Berichtsordner (~/documents/reports)?",
               "Schau in ~/documents/reports: welcher Bericht ist der neueste und welche Summe steht drin?"],
        "zh": ["打开~/documents/reports里最新的报告，告诉我总数。", "我的报告文件夹（~/documents/reports）里最新那个文件的总计是多少？",
               "看一下~/documents/reports：最新的报告是哪个，总计是多少？"],
    })

    def answer(results):
        r = results[1][0]
        t = field(r["content"].replace(",", ":"), "total")
        n = posixpath.basename(r["path"])
        return say(language, f"The newest report is {n} (modified {r['modified']}); its total is {t}.",
                   f"Der neueste Bericht ist {n} (geändert {r['modified']}); die Summe beträgt {t}.",
                   f"最新的报告是{n}（修改于{r['modified']}），总计为{t}。")

    return Scenario(request, [[Call("list", {"path": "~/documents/reports"})], [Call("read", {"path": newest["path"]})]],
                    answer, facts=[[name], [total]])


ITEMS = {"en": ["passport", "phone charger", "travel adapter", "sunscreen", "swimsuit", "headphones", "rain jacket"],
         "de": ["Reisepass", "Ladekabel", "Reiseadapter", "Sonnencreme", "Badehose", "Kopfhörer", "Regenjacke"],
         "zh": ["护照", "手机充电器", "转换插头", "防晒霜", "泳衣", "耳机", "雨衣"]}


def write_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    picks = ctx.rng.sample(range(len(ITEMS["en"])), 3)
    items = [ITEMS[language][i] for i in picks]
    name = ctx.rng.choice(["packing_list.txt", "packing.txt", "trip_checklist.txt"])
    folder = ctx.rng.choice(["documents/travel", "notes"])
    listed = say(language, ", ".join(items), ", ".join(items), "、".join(items))
    request = ctx.pick({
        "en": [f"Create a file ~/{folder}/{name} listing: {listed}.", f"Save a packing list to ~/{folder}/{name} with {listed}.",
               f"Please write {listed} into a new file ~/{folder}/{name}, one per line."],
        "de": [f"Leg eine Datei ~/{folder}/{name} an mit: {listed}.", f"Speichere eine Packliste unter ~/{folder}/{name} mit {listed}.",
               f"Schreib bitte {listed} in eine neue Datei ~/{folder}/{name}, eins pro Zeile."],
        "zh": [f"新建文件~/{folder}/{name}，内容：{listed}。", f"把打包清单存到~/{folder}/{name}，包括{listed}。",
               f"请把{listed}写进新文件~/{folder}/{name}，每行一个。"],
    })
    path = f"{HOME}/{folder}/{name}"
    content = "".join(f"{item}\n" for item in items)

    def answer(results):
        return say(language, f"Saved {path} with {len(items)} items: {listed}.",
                   f"Gespeichert: {path} mit {len(items)} Einträgen ({listed}).", f"已保存{path}，共{len(items)}项：{listed}。")

    return Scenario(request, [[Call("write", {"path": path, "content": content})]], answer, facts=[[path]],
                    changes=[{"kind": "syn_files_entries", "op": "insert", "fields": {"path": path, "kind": "file"},
                              "contains": {"content": [[item] for item in items]}}])


def move_scenario(ctx, store: Store) -> Scenario:
    language = ctx.language
    invoice = next(r for r in children(store, f"{HOME}/downloads") if "invoice" in r["path"])
    name = posixpath.basename(invoice["path"])
    target = ctx.rng.choice(["documents", "documents/reports"])
    request = ctx.pick({
        "en": [f"Move {name} from my downloads into ~/{target}.", f"Please file ~/downloads/{name} under ~/{target}.",
               f"Can you put the invoice {name} (in downloads) into my {target} folder?"],
        "de": [f"Verschieb {name} aus meinen Downloads nach ~/{target}.", f"Leg bitte ~/downloads/{name} unter ~/{target} ab.",
               f"Kannst du die Rechnung {name} (in downloads) in meinen Ordner {target} verschieben?"],
        "zh": [f"把{name}从下载文件夹移到~/{target}。", f"请把~/downloads/{name}归档到~/{target}。",
               f"能把下载里的发票{name}放进我的{target}文件夹吗？"],
    })
    destination = f"{HOME}/{target}/{name}"

    def answer(results):
        r = results[0][0]
        return say(language, f"Moved it: {r['destination']}.", f"Verschoben nach {r['destination']}.", f"已移动到{r['destination']}。")

    return Scenario(request, [[Call("move", {"source": invoice["path"], "destination": f"{HOME}/{target}"})]], answer,
                    facts=[[destination]],
                    changes=[{"kind": "syn_files_entries", "op": "delete", "id": invoice["path"]},
                             {"kind": "syn_files_entries", "op": "insert",
                              "fields": {"path": destination, "kind": "file", "content": invoice["content"]}}])


def wrong_path_scenario(ctx, store: Store) -> Scenario:
    """The first read guesses the file name; the error lists the folder, and the expert reads the right file."""
    language = ctx.language
    path = f"{HOME}/documents/budget_2025.csv"
    category = ctx.rng.choice(["rent", "food", "transport", "savings"])
    value = next(line.split(",")[1] for line in content_of(store, path).splitlines() if line.startswith(category + ","))
    words = {"rent": ("rent", "Miete", "房租"), "food": ("food", "Essen", "伙食"), "transport": ("transport", "Fahrtkosten", "交通"),
             "savings": ("savings", "Sparen", "储蓄")}[category]
    w = dict(zip(("en", "de", "zh"), words))[language]
    request = ctx.pick({
        "en": [f"How much do I budget for {w} each month? It's in my budget file in ~/documents.",
               f"Check the budget file in my documents folder: what's the monthly amount for {w}?",
               f"What did I plan to spend on {w} per month? See the budget in ~/documents."],
        "de": [f"Wie viel plane ich monatlich für {w} ein? Das steht in meiner Budgetdatei in ~/documents.",
               f"Schau in die Budgetdatei in meinem Dokumente-Ordner: wie hoch ist der Monatsbetrag für {w}?",
               f"Wie viel wollte ich pro Monat für {w} ausgeben? Siehe Budget in ~/documents."],
        "zh": [f"我每个月{w}预算多少？在~/documents里的预算文件里。", f"看一下我documents文件夹里的预算文件：{w}每月多少？",
               f"我计划每月在{w}上花多少？预算在~/documents里。"],
    })

    def answer(results):
        content = results[-1][0]["content"]
        v = next(line.split(",")[1] for line in content.splitlines() if line.startswith(category + ","))
        return say(language, f"Your budget (budget_2025.csv) plans {v} per month for {w}.",
                   f"Laut deinem Budget (budget_2025.csv) sind {v} pro Monat für {w} eingeplant.",
                   f"你的预算（budget_2025.csv）里{w}每月{v}。")

    return Scenario(request, [[Call("read", {"path": "~/documents/budget.csv"})], [Call("read", {"path": path})]], answer,
                    facts=[[value], ["budget_2025"]])


register(Domain("files", "both", SCHEMA, {"syn_files_entries": "path"}, seed, TOOLS,
                (("single", wifi_scenario), ("chain", newest_report_scenario), ("write", write_scenario),
                 ("write", move_scenario), ("error", wrong_path_scenario))))
