"""Encyclopedic passages in the shapes people write: fronted clauses ("Despite the rain, ..."),
appositives ("Local fishermen, guided by X, found the wreck."), a pronoun pointing back ("It burned
down in 1954"), a time phrase first, numbers with thousands separators ("Some 12,500 people"), an
object after the verb ("the monks brewed beer"), two events in one sentence ("began in Lyon and
finished days later in Nice"), and distractors of the answer's own kind in the same passage (two
people, two places, two dates, two numbers). Names of people and places are real (train.names).

Every entity is tagged (PER, LOC, DATE, QTY) as in train.data, so the tagging head reads these
passages too; every question has exactly one answer in its passage.
"""

from __future__ import annotations

import random

from prelnedge.train import names as N
from prelnedge.train import words as W
from prelnedge.train.data import Passage

# (past participle, simple past, things it is done to)
ACTS = [("founded", "founded", "observatory museum orchestra school library hospital newspaper choir theatre"),
        ("built", "built", "bridge tower church lighthouse mill chapel harbour dam"),
        ("designed", "designed", "bridge tower station museum park fountain theatre palace"),
        ("painted", "painted", "altarpiece portrait mural ceiling fresco"),
        ("written", "wrote", "novel poem play report anthem"),
        ("discovered", "discovered", "comet cave island wreck manuscript spring"),
        ("led", "led", "expedition strike orchestra army choir"),
        ("invented", "invented", "machine engine device loom"),
        ("coached", "coached", "team club"), ("translated", "translated", "poems novel letters"),
        ("directed", "directed", "film play opera"), ("funded", "funded", "hospital school expedition library"),
        ("restored", "restored", "church organ castle fresco"), ("carved", "carved", "statue altar"),
        ("found", "found", "wreck manuscript treasure hoard"), ("composed", "composed", "symphony opera anthem"),
        ("rebuilt", "rebuilt", "church bridge tower palace")]
ROLES = ["engineer", "architect", "merchant", "painter", "teacher", "priest", "banker", "sailor", "historian",
         "doctor", "composer", "poet", "farmer", "officer", "scientist", "lawyer", "journalist", "baker"]
FRONTED = ["Despite the rain", "After years of delay", "Against all advice", "With help from the town",
           "Hidden for centuries", "Largely forgotten today", "Ridiculed at first", "Damaged by floods",
           "Long after the war", "Despite its small budget", "Before the winter came", "At great cost",
           "Shortly before the war", "According to local records", "To everyone's surprise"]
APPOSITIVES = ["still in use today", "now a protected monument", "one of the oldest of its kind",
               "long a source of local pride", "much changed since", "the first of its kind"]
GROUPS = ["fishermen", "students", "villagers", "divers", "soldiers", "monks", "miners", "farmers", "sailors"]
GUIDED = ["guided by", "led by", "helped by", "joined by", "encouraged by"]
OFFICES = ["mayor", "bishop", "director", "governor", "captain", "abbot", "conductor", "headmaster", "chairman"]
LEFT = [("resigned", "resign"), ("died", "die"), ("retired", "retire")]
GATHERINGS = ["parade", "festival", "congress", "fair", "conference", "concert", "ceremony", "tournament",
              "exhibition", "summit", "wedding", "trial"]
WHEN_FIRST = ["Last spring", "That summer", "The following year", "Early that autumn", "Soon afterwards"]
JOURNEYS = [("race", "began", "finished"), ("march", "started", "ended"), ("tour", "opened", "closed"),
            ("voyage", "began", "ended"), ("rally", "started", "finished")]
LATER = ["days later", "a week later", "the next day", "a month later", "weeks later"]
PLACE_VERBS = [("studied", "study"), ("worked", "work"), ("died", "die"), ("taught", "teach"), ("married", "marry")]
SETTLERS = [("Fleeing the raids", "monks"), ("Looking for work", "family"), ("After the flood", "villagers"),
            ("Driven out by the war", "refugees"), ("In search of land", "settlers")]
# (what has workers, what they are called)
EMPLOYERS = [("factory", "workers"), ("mine", "miners"), ("shipyard", "workers"), ("mill", "workers"),
             ("railway", "staff"), ("hospital", "nurses")]
HOLDINGS = [("library", "books"), ("archive", "letters"), ("museum", "objects"), ("collection", "maps"),
            ("herbarium", "specimens")]
LENGTHS = [("bridge", "long", "long"), ("tunnel", "long", "long"), ("canal", "long", "long"),
           ("tower", "tall", "tall"), ("wall", "long", "long"), ("dam", "high", "high")]
UNITS = ["metres", "kilometres", "feet", "miles"]
CURRENCIES = ["francs", "pounds", "dollars", "crowns", "florins", "marks", "euros"]
PRODUCE = [("monks", "brewed", "brew", "beer wine cheese honey"),
           ("farmers", "grew", "grow", "rice barley olives grapes"),
           ("factory", "made", "make", "bicycles glass paper soap bricks"),
           ("weavers", "wove", "weave", "carpets silk"),
           ("miners", "dug", "dig", "copper coal tin silver salt"), ("villagers", "sold", "sell", "fish wool timber")]
OBJECT_FRONTS = ["In the twelfth century", "For centuries", "Before the railway came", "Until the war",
                 "In those days", "For many years"]


class Draw:
    """Entities without repeats inside one passage, so each question has one answer."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set()

    def fresh(self, make):
        for _ in range(50):
            value = make()
            key = value[0] if isinstance(value, tuple) else value
            if key not in self.used:
                self.used.add(key)
                return value
        return value

    def person(self):
        return self.fresh(lambda: N.person(self.rng, surname=self.rng.random() < 0.93))

    def place(self) -> str:
        return self.fresh(lambda: N.place(self.rng) if self.rng.random() < 0.85 else self.rng.choice(W.PLACES))

    def year(self) -> str:
        return self.fresh(lambda: str(self.rng.randint(1100, 2024)))

    def date(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.75:
            return self.year()
        if kind < 0.88:
            return self.fresh(lambda: f"{r.choice(W.MONTHS)} {r.randint(1500, 2024)}")
        if kind < 0.94:
            return self.fresh(lambda: f"{r.randint(1, 28)} {r.choice(W.MONTHS)} {r.randint(1500, 2024)}")
        return self.fresh(lambda: f"{r.choice(W.MONTHS)} {r.randint(1, 28)}, {r.randint(1500, 2024)}")

    def count(self, low: float = 1.3, high: float = 5.7) -> str:
        """A number from 20 to 500,000, log-uniform; thousands separated by commas most of the time."""
        r = self.rng

        def make() -> str:
            n = int(10 ** r.uniform(low, high))
            if n >= 1000 and r.random() < 0.15:
                n = round(n, -2)
            return f"{n:,}" if n >= 1000 and r.random() < 0.85 else str(n)
        return self.fresh(make)


def _when(date: str) -> str:
    return "on" if "," in date or (date[:1].isdigit() and " " in date) else "in"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _act(rng: random.Random, taken: set[str], skip: str = "") -> tuple[str, str, str]:
    """(past participle, simple past, thing) with a thing no earlier sentence of the passage named."""
    pp, past, noun = rng.choice([(pp, past, t) for pp, past, things in ACTS if pp != skip for t in things.split()
                                 if t not in taken])
    taken.add(noun)
    return pp, past, noun


def _unused(rng: random.Random, options: list, taken: set[str], key=lambda x: x):
    """One of `options` whose key no earlier sentence of the passage used (every question one answer)."""
    choice = rng.choice([o for o in options if key(o) not in taken])
    taken.add(key(choice))
    return choice


def _person_seg(who, questions) -> tuple:
    return (who[0], "PER", questions)


def agent(rng: random.Random, d: Draw, p: Passage, taken: set[str]) -> None:
    """Someone did something to a thing: the answer is a person (often beside a date, a place or a
    second person)."""
    pp, past, noun = _act(rng, taken)
    who = d.person()
    by = [f"Who {past} the {noun}?"] + ([f"Who was the {noun} {pp} by?"] if rng.random() < 0.15 else [])
    role = rng.choice(ROLES) if rng.random() < 0.3 else None
    named = (f"the {role} ",) if role else ()
    date = d.date() if rng.random() < 0.6 else None
    dated = (f" {_when(date)} ", (date, "DATE", [f"When was the {noun} {pp}?"])) if date else ()
    form = rng.random()
    if form < 0.2:
        p.add(f"The {noun} was {pp} by ", *named, _person_seg(who, by), *dated, ". ")
    elif form < 0.35:
        p.add(_person_seg(who, by), f" {past} the {noun}", *dated, ". ")
    elif form < 0.5:
        p.add(f"{rng.choice(FRONTED)}, the {noun} was {pp} by ", *named, _person_seg(who, by), *dated, ". ")
    elif form < 0.6:
        p.add(f"The {noun}, {rng.choice(APPOSITIVES)}, was {pp} by ", *named, _person_seg(who, by), *dated, ". ")
    elif form < 0.7:
        home = d.place()
        job = role or rng.choice(ROLES)
        p.add(_person_seg(who, by), f", a {job} from ", (home, "LOC", [f"Where was {who[0]} from?"]),
              f", {past} the {noun}", *dated, ". ")
    elif form < 0.78 and date:
        p.add(f"{_when(date).capitalize()} ", dated[1], ", ", _person_seg(who, by), f" {past} the {noun}. ")
    elif form < 0.9:  # a pronoun pointing back, two dates
        opened, first = d.date(), rng.choice(["opened", "was completed", "was first mentioned", "was begun"])
        verb = first.split()[-1]
        ask = f"When was the {noun} {verb}?" if first != "opened" else f"When did the {noun} open?"
        p.add(f"The {noun} {first} {_when(opened)} ", (opened, "DATE", [ask]), ". ",
              f"It was {pp} by ", *named, _person_seg(who, by), *dated, ". ")
    else:  # two people, two verbs
        pp2, past2 = rng.choice([(a, b) for a, b, _ in ACTS if a != pp])
        other = d.person()
        later = (f" {_when(date)} ", (date, "DATE", [f"When was the {noun} {pp2}?"])) if date else ()
        p.add(f"The {noun} was {pp} by ", _person_seg(who, by), f" and {pp2} by ",
              _person_seg(other, [f"Who {past2} the {noun}?"]), *later, ". ")


def group_or_office(rng: random.Random, d: Draw, p: Passage, taken: set[str]) -> None:
    """"Local fishermen, guided by X, found the wreck." / "When the mayor resigned in 1987, she was
    succeeded by X.\""""
    if rng.random() < 0.5:
        group = _unused(rng, GROUPS, taken)
        guided = rng.choice(GUIDED)
        pp, past, noun = _act(rng, taken)
        who = d.person()
        lead = rng.choice(["Local ", "A group of ", "Some ", "Young ", ""])
        asked = guided.split()[0]
        p.add(_cap(f"{lead}{group}"), f", {guided} ",
              _person_seg(who, [f"Who {asked} the {group}?"]), f", {past} the {noun}. ")
        return
    office = _unused(rng, OFFICES, taken)
    left, leave = rng.choice(LEFT)
    date, who = d.date(), d.person()
    pronoun = rng.choice(["she", "he"])
    p.add(f"When the {office} {left} {_when(date)} ", (date, "DATE", [f"When did the {office} {leave}?"]),
          f", {pronoun} was succeeded by ", _person_seg(who, [f"Who succeeded the {office}?"]), ". ")


def where(rng: random.Random, d: Draw, p: Passage, taken: set[str]) -> None:
    """The answer is a place, usually beside another place."""
    form = rng.random()
    if form < 0.2:
        event = _unused(rng, GATHERINGS, taken)
        place = d.place()
        ask = [rng.choice([f"Where was the {event} held?", f"Where did the {event} take place?"])]
        if rng.random() < 0.5:
            p.add(f"{rng.choice(FRONTED)}, the {event} was held in ", (place, "LOC", ask), ". ")
        else:
            p.add(f"{rng.choice(WHEN_FIRST)} the {event} took place in ", (place, "LOC", ask),
                  rng.choice(["", " for the first time", " again"]), ". ")
    elif form < 0.4:
        trip, began, ended = _unused(rng, JOURNEYS, taken, key=lambda j: j[0])
        a, b = d.place(), d.place()
        base = {"began": "begin", "started": "start", "opened": "open", "finished": "finish", "ended": "end",
                "closed": "close"}
        p.add(f"The {trip} {began} in ", (a, "LOC", [f"Where did the {trip} {base[began]}?"]),
              f" and {ended} {rng.choice(LATER)} in ", (b, "LOC", [f"Where did the {trip} {base[ended]}?"]), ". ")
    elif form < 0.65:
        who, a, b = d.person(), d.place(), d.place()
        role = _unused(rng, ROLES, taken)
        did, do = rng.choice(PLACE_VERBS)
        ref = rng.choice([who[0], f"the {role}"])
        born = [f"Where was {ref} born?"]
        if rng.random() < 0.5:
            p.add(f"The {role} ", _person_seg(who, [f"Who was born in {a}?"]), " was born in ", (a, "LOC", born),
                  f" and {did} in ", (b, "LOC", [f"Where did {ref} {do}?"]), ". ")
        else:
            date = d.year()
            p.add("Born in ", (a, "LOC", [f"Where was {who[0]} born?"]), f", the {role} ",
                  _person_seg(who, []), " moved to ", (b, "LOC", [f"Where did {who[0]} move to?"]), " in ",
                  (date, "DATE", [f"When did {who[0]} move to {b}?"]), ". ")
    elif form < 0.8:
        a, b = d.place(), d.place()
        vessel = _unused(rng, ["ship", "steamer", "ferry", "schooner"], taken)
        p.add(_cap(f"{rng.choice(['', 'Soon ', 'Days ', 'Weeks '])}after leaving "),
              (a, "LOC", [f"Which port did the {vessel} leave from?"]), f", the {vessel} sank near ",
              (b, "LOC", [f"Where did the {vessel} sink?"]), rng.choice(["", " in a storm", " at night"]), ". ")
    else:
        why, who = _unused(rng, SETTLERS, taken, key=lambda x: x[1])
        place = d.place()
        p.add(f"{why}, the {who} settled in ", (place, "LOC", [f"Where did the {who} settle?"]),
              rng.choice(["", " and built a small priory", " for good", " and never left"]), ". ")


def how_many(rng: random.Random, d: Draw, p: Passage, taken: set[str]) -> None:
    """The answer is a number, often with a thousands separator, beside another number."""
    form = rng.random()
    if form < 0.2:
        event = _unused(rng, GATHERINGS, taken)
        p.add(rng.choice(["Some ", "About ", "Nearly ", "More than ", ""]),
              (d.count(), "QTY", [f"How many people attended the {event}?"]), f" people attended the {event}",
              rng.choice(["", " that summer", " on its first day"]), ". ")
    elif form < 0.35:
        place, staff = _unused(rng, EMPLOYERS, taken, key=lambda x: x[0])
        staffed = (d.count(1.3, 4.5), "QTY", [f"How many {staff} did the {place} employ?"])
        p.add(f"At its peak the {place} employed ", staffed,
              f" {staff}", rng.choice(["", ", most of them from nearby villages", " in three shifts"]), ". ")
    elif form < 0.5:
        place, what = _unused(rng, HOLDINGS, taken, key=lambda x: x[0])
        p.add(f"Today the {place} holds {rng.choice(['', 'about ', 'some ', 'over '])}",
              (d.count(2.5, 6.3), "QTY", [f"How many {what} does the {place} hold?"]), f" {what}. ")
    elif form < 0.65:
        thing, adj, _ = _unused(rng, LENGTHS, taken, key=lambda x: x[0])
        size = d.fresh(lambda: f"{d.count(1.0, 4.2)} {rng.choice(UNITS)}")
        ask = f"How {adj} is the {thing}?"
        p.add(f"The {thing} is ", (size, "QTY", [ask]), f" {adj}. ")
    elif form < 0.8:
        place, year = d.place(), d.year()
        p.add("In ", (year, "DATE", []), ", ", (place, "LOC", []), " had a population of ",
              (d.count(2.0, 6.5), "QTY", [f"What was the population of {place} in {year}?"]),
              rng.choice(["", ", roughly twice its size a century earlier", ", most of them farmers"]), ". ")
    elif form < 0.9 and "fort" not in taken:
        taken.add("fort")
        few, many = d.count(1.5, 3.0), d.count(3.3, 4.8)
        p.add("Only ", (few, "QTY", ["How many soldiers defended the fort?"]),
              " soldiers defended the fort against an army of ",
              (many, "QTY", ["How large was the attacking army?"]), ". ")
    else:
        thing = _unused(rng, ["statue", "organ", "fountain", "bell", "clock", "portrait", "carpet"], taken)
        price = d.fresh(lambda: f"{d.count(2.0, 6.0)} {rng.choice(CURRENCIES)}")
        p.add(f"The {thing} cost ", (price, "QTY", [f"How much did the {thing} cost?"]),
              rng.choice(["", ", paid for by public subscription", " to make"]), ". ")


def produce(rng: random.Random, d: Draw, p: Passage, taken: set[str]) -> None:
    """An object after the verb: "For centuries the monks brewed beer." (no entity: a plain noun)."""
    who, did, do, goods = _unused(rng, PRODUCE, taken, key=lambda x: x[0])
    good = rng.choice(goods.split())
    p.add(f"{rng.choice(OBJECT_FRONTS)} the {who} {did} ", (good, None, [f"What did the {who} {do}?"]),
          rng.choice(["", " and sold it to travellers", " for the market", " on a large scale"]), ". ")


SHAPES = [(agent, 4), (group_or_office, 1.5), (where, 3), (how_many, 3), (produce, 1)]


def passage(rng: random.Random) -> Passage:
    """Two to four sentences of mixed shapes: each one's facts are distractors for the others."""
    d, taken, p = Draw(rng), set(), Passage()
    funcs, weights = zip(*SHAPES)
    for make in rng.choices(funcs, weights=weights, k=rng.choice([2, 2, 3, 3, 4])):
        make(rng, d, p, taken)
    p.text = p.text.rstrip()
    return p
