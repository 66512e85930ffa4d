"""Entity pools for synthetic worlds, disjoint between the train and held-out splits.

A task's world is drawn from its split's pools: the user and colleagues (names, companies), the office, hotels,
restaurants and meeting topics. No name in the held-out pools appears in the training pools, so an evaluation
measures whether a model reads the world rather than remembering it. The geography (cities, airports, routes,
time zones) and the seven parts people play in a world are shared: see `openk2.agent.apps.world.Cast`.
The default world (Sam Taylor at Northwind Labs) is drawn from the training pools.
"""

from __future__ import annotations

import random

from openk2.agent.apps.world import DEFAULT_CAST, Cast, Person

SPLITS = ("train", "heldout")

FIRST_NAMES = {
    "train": ["Sam", "Anna", "Ben", "Chen", "Dana", "Eli", "Priya", "Jonas", "Lea", "Tom", "Maria", "Lukas", "Sofia",
              "Omar", "Nina", "Felix", "Mei", "Raj", "Clara", "David", "Emma", "Hugo", "Ines", "Jan", "Kira", "Leon",
              "Marta", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tara", "Yuki", "Zoe", "Amir", "Bea", "Carl", "Diego",
              "Elena", "Finn", "Grace", "Hannah", "Ivan", "Julia", "Karl", "Lina", "Max", "Nora", "Oscar", "Pia",
              "Rui", "Sara", "Tim", "Vera", "Wei", "Xin", "Yara", "Li", "Ming"],
    "heldout": ["Aiko", "Bruno", "Celine", "Dmitri", "Esther", "Farid", "Greta", "Hamid", "Ilse", "Joao", "Katja",
                "Lorenzo", "Mira", "Nikolai", "Ophelia", "Pedro", "Quentin", "Rahel", "Stefan", "Thea", "Ulrich",
                "Vikram", "Wanda", "Xavier", "Yusuf", "Zofia"],
}
LAST_NAMES = {
    "train": ["Taylor", "Schmidt", "Okafor", "Wei", "Cruz", "Novak", "Patel", "Weber", "Fischer", "Meyer", "Wagner",
              "Becker", "Hoffmann", "Brown", "Wilson", "Evans", "Walker", "Wright", "Green", "Hall", "Wang", "Zhang",
              "Liu", "Yang", "Huang", "Zhao", "Kim", "Park", "Rossi", "Russo", "Garcia", "Lopez", "Martin", "Bernard",
              "Dubois", "Silva", "Costa", "Nowak", "Kowalski", "Jensen", "Larsen", "Berg", "Khan", "Ali", "Singh",
              "Tanaka", "Sato", "Ito", "Murphy", "Kelly"],
    "heldout": ["Albrecht", "Bianchi", "Castellano", "Dimitrov", "Eriksson", "Fontaine", "Gallagher", "Horvath",
                "Ivanova", "Jovanovic", "Kaczmarek", "Lindqvist", "Moreau", "Nakamura", "Oyelaran", "Petrov",
                "Quinlan", "Rasmussen", "Szabo", "Takahashi", "Urquhart", "Varga", "Whitfield", "Xu", "Yilmaz", "Zeller"],
}
# (organisation, mail domain, office address); the user's company and the outside contact's.
COMPANIES = {
    "train": [("Northwind Labs", "northwind.example", "5 Pancras Square, King's Cross, London N1C 4AG"),
              ("Acme Corp", "acme.example", "20 Fenchurch Street, London EC3M 3BY"),
              ("Bluefin Analytics", "bluefin.example", "1 Canada Square, Canary Wharf, London E14 5AB"),
              ("Copperleaf Studio", "copperleaf.example", "14 Old Street, Shoreditch, London EC1V 9BH"),
              ("Evergreen Health", "evergreen.example", "30 Euston Road, London NW1 2RA"),
              ("Foxglove Systems", "foxglove.example", "8 Southampton Row, Holborn, London WC1B 4AE"),
              ("Granite Bank", "granite.example", "25 Moorgate, London EC2R 6AY"),
              ("Harbour Logistics", "harbour.example", "3 More London Place, London SE1 2RE")],
    "heldout": [("Ironbark Robotics", "ironbark.example", "77 Borough High Street, London SE1 1NP"),
                ("Juniper Media", "juniper.example", "12 Great Portland Street, London W1W 8QJ"),
                ("Kestrel Energy", "kestrel.example", "40 Victoria Street, London SW1H 0EU"),
                ("Lumen Pharma", "lumen.example", "9 Pancras Road, London NW1 2QB")],
}
ROLES = ["engineering manager", "designer", "sales lead APAC", "research scientist", "engineer", "procurement",
         "product lead", "data analyst", "marketing lead", "finance manager", "recruiter", "legal counsel"]
# The seven parts (see Cast): user, manager, designer, APAC colleague, New York colleague, engineer, outside contact.
PARTS = [("Europe/London", "product lead"), ("Europe/Berlin", "engineering manager"), ("Europe/London", "designer"),
         ("Asia/Singapore", "sales lead APAC"), ("America/New_York", "research scientist"), ("Europe/Berlin", "engineer"),
         ("Europe/London", "procurement")]

# city -> (name, neighbourhood, stars, typical nightly price in GBP)
HOTELS = {
    "train": {
        "London": [("Pancras Grand Hotel", "King's Cross", 4, 230), ("Soho Square Inn", "Soho", 3, 180),
                   ("Thames View Hotel", "South Bank", 5, 390), ("Regent Park Lodge", "Marylebone", 3, 160),
                   ("Bloomsbury House", "Bloomsbury", 4, 210), ("Tower Bridge Suites", "Southwark", 4, 260)],
        "Berlin": [("Hotel Mitte", "Mitte", 4, 150), ("Spree Loft", "Friedrichshain", 3, 110),
                   ("Tiergarten Palace", "Tiergarten", 5, 280), ("Alexanderplatz Inn", "Mitte", 3, 120),
                   ("Kreuzberg Hof", "Kreuzberg", 4, 140)],
        "Paris": [("Hotel du Marais", "Le Marais", 4, 220), ("Gare du Nord Hotel", "10e", 3, 140),
                  ("Rive Gauche Palace", "Saint-Germain", 5, 420), ("Montmartre Maison", "Montmartre", 3, 150),
                  ("Opera Boutique", "9e", 4, 240)],
        "New York": [("Midtown Tower", "Midtown", 4, 310), ("Brooklyn Bridge Inn", "Brooklyn", 3, 210),
                     ("Central Park Grand", "Upper East Side", 5, 520), ("Chelsea Lofts", "Chelsea", 4, 290),
                     ("SoHo Loft Hotel", "SoHo", 4, 330)],
    },
    "heldout": {
        "London": [("Camden Lock Hotel", "Camden", 3, 170), ("Mayfair Crescent", "Mayfair", 5, 450),
                   ("Islington Yard", "Islington", 4, 200)],
        "Berlin": [("Prenzlauer Suites", "Prenzlauer Berg", 4, 160), ("Charlottenburg Residenz", "Charlottenburg", 5, 260),
                   ("Neukoelln Rooms", "Neukölln", 3, 95)],
        "Paris": [("Bastille Nuit", "Bastille", 3, 160), ("Louvre Etoile", "1er", 5, 480), ("Canal Hotel Paris", "10e", 4, 210)],
        "New York": [("Harlem Heights Inn", "Harlem", 3, 190), ("Tribeca Terrace", "Tribeca", 5, 560),
                     ("Williamsburg Works", "Brooklyn", 4, 280)],
    },
}
# city -> (name, neighbourhood, cuisine, price per person in GBP)
RESTAURANTS = {
    "train": {
        "London": [("Granary Kitchen", "King's Cross", "British", 45), ("Coal Drops Bistro", "King's Cross", "French", 55),
                   ("Pancras Pasta", "King's Cross", "Italian", 35), ("Canal Sushi", "King's Cross", "Japanese", 60),
                   ("Soho Tandoor", "Soho", "Indian", 40), ("Little Lisbon", "Soho", "Portuguese", 45),
                   ("Shoreditch Smokehouse", "Shoreditch", "Barbecue", 38), ("Garden Court", "Covent Garden", "Modern European", 70),
                   ("Dragon Lantern", "Soho", "Chinese", 42), ("Trattoria Lucca", "Covent Garden", "Italian", 48),
                   ("Kyoto Counter", "Soho", "Japanese", 65), ("Bombay Yard", "King's Cross", "Indian", 36),
                   ("Le Comptoir", "Covent Garden", "French", 58), ("Taverna Kos", "King's Cross", "Greek", 39)],
        "Berlin": [("Spree Haus", "Mitte", "German", 40), ("Kreuzberg Kitchen", "Kreuzberg", "Middle Eastern", 30),
                   ("Mitte Ramen", "Mitte", "Japanese", 28), ("Trattoria Berlino", "Mitte", "Italian", 34)],
        "Paris": [("Le Petit Marais", "Le Marais", "French", 60), ("Canal Saint-Martin Bistro", "10e", "French", 45),
                  ("Pizzeria Montmartre", "Montmartre", "Italian", 32), ("Saigon Paris", "10e", "Vietnamese", 29)],
        "New York": [("Hudson Yards Grill", "Midtown", "Steakhouse", 90), ("Brooklyn Noodle Bar", "Brooklyn", "Asian", 35),
                     ("Little Italy Kitchen", "Midtown", "Italian", 50), ("Harlem Soul Food", "Harlem", "American", 40)],
    },
    "heldout": {
        "London": [("Borough Oyster House", "King's Cross", "Seafood", 62), ("Camden Falafel Co", "Soho", "Middle Eastern", 28),
                   ("Mayfair Brasserie", "Covent Garden", "French", 75), ("Nepal Kitchen", "King's Cross", "Nepalese", 33),
                   ("Osteria Verde", "Soho", "Italian", 46), ("Seoul Garden", "King's Cross", "Korean", 41),
                   ("Mexico Lindo", "Covent Garden", "Mexican", 37), ("Hanoi House", "Soho", "Vietnamese", 31)],
        "Berlin": [("Prenzlauer Pho", "Mitte", "Vietnamese", 26), ("Brauhaus Nord", "Mitte", "German", 38)],
        "Paris": [("Chez Amélie", "Le Marais", "French", 55), ("Tokyo Rive Droite", "10e", "Japanese", 48)],
        "New York": [("Tribeca Taqueria", "Midtown", "Mexican", 33), ("Queens Kebab", "Brooklyn", "Turkish", 30)],
    },
}
MEETING_TITLES = {
    "train": ["Roadmap review", "Design critique", "Hiring sync", "Customer call", "Budget planning",
              "Architecture deep-dive", "Quarterly OKRs", "Interview", "Vendor demo", "Focus time", "Sprint planning",
              "Launch prep", "Pricing review", "Security review", "Team lunch", "Board prep", "Onboarding session",
              "Partner sync", "Retro", "Demo day rehearsal"],
    "heldout": ["Data governance forum", "Brand workshop", "Capacity planning", "Incident postmortem",
                "Localisation review", "Accessibility audit", "Procurement check-in", "Analytics office hours"],
}


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose train or heldout")
    return split


def person(first: str, last: str, domain: str, timezone: str, organisation: str, role: str) -> Person:
    return Person(f"{first.lower()}.{last.lower()}@{domain}", f"{first} {last}", timezone, organisation, role)


def draw_cast(rng: random.Random, split: str) -> Cast:
    """A world's people and venues from the split's pools: seven people in the seven parts, three hotels per city,
    up to eight London restaurants and two elsewhere, ten meeting topics."""
    check_split(split)
    firsts = rng.sample(FIRST_NAMES[split], 7)
    lasts = rng.sample(LAST_NAMES[split], 7)
    home, outside = rng.sample(COMPANIES[split], 2)
    people = [person(f, l, (outside if part == 6 else home)[1], tz, (outside if part == 6 else home)[0], role)
              for part, (f, l, (tz, role)) in enumerate(zip(firsts, lasts, PARTS))]
    hotels = tuple((city, *h) for city, pool in HOTELS[split].items() for h in rng.sample(pool, 3))
    restaurants = tuple((city, *r) for city, pool in RESTAURANTS[split].items() for r in rng.sample(pool, 8 if city == "London" else 2))
    titles = tuple(rng.sample(MEETING_TITLES[split], min(10, len(MEETING_TITLES[split]))))
    return Cast(people=tuple(people), office=f"{home[0]}, {home[2]}", hotels=hotels, restaurants=restaurants,
                meeting_titles=titles)


def namesake(rng: random.Random, split: str, cast: Cast, part: int) -> Person:
    """Someone else in the address book who shares `cast.people[part]`'s first name (for ambiguity tasks)."""
    original = cast.people[part]
    taken = {p.name.split()[-1] for p in cast.people}
    last = rng.choice([n for n in LAST_NAMES[split] if n not in taken])
    org, domain, _ = rng.choice(COMPANIES[split])
    return person(original.first_name, last, domain, rng.choice(["Europe/London", "Europe/Paris", "Europe/Madrid"]),
                  org, rng.choice(ROLES))


def cast_to_dict(cast: Cast) -> dict:
    return {"people": [vars(p) for p in cast.people], "office": cast.office, "hotels": [list(h) for h in cast.hotels],
            "restaurants": [list(r) for r in cast.restaurants], "meeting_titles": list(cast.meeting_titles)}


def cast_from_dict(data: dict) -> Cast:
    return Cast(people=tuple(Person(**p) for p in data["people"]), office=data["office"],
                hotels=tuple(tuple(h) for h in data["hotels"]), restaurants=tuple(tuple(r) for r in data["restaurants"]),
                meeting_titles=tuple(data["meeting_titles"]))


def pool_entities(split: str) -> set[str]:
    """Every name in a split's pools (for the no-overlap check)."""
    names = set(FIRST_NAMES[split]) | set(LAST_NAMES[split]) | set(MEETING_TITLES[split])
    names |= {c[0] for c in COMPANIES[split]}
    names |= {h[0] for pool in HOTELS[split].values() for h in pool}
    names |= {r[0] for pool in RESTAURANTS[split].values() for r in pool}
    return names


assert not pool_entities("train") & pool_entities("heldout"), "the train and held-out pools must be disjoint"
assert {p.name for p in DEFAULT_CAST.people} <= {f"{f} {l}" for f in FIRST_NAMES["train"] for l in LAST_NAMES["train"]}
