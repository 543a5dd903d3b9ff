"""Generated task data: short factual passages about people, places, objects, dates and quantities,
questions about them (with distractor facts), entity tags, sentiment sentences with negation and
contrast, and multiple-choice items. Every generator takes a `random.Random`, so a seed fixes the data.

A passage is built from annotated segments, so one sentence yields its text, the character span
of every entity (for token classification) and the answer span of every fact (for QA).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from prelnedge.train import words as W

ENTITY_TYPES = ("PER", "LOC", "DATE", "QTY")
TAGS = ("O",) + tuple(f"{p}-{t}" for t in ENTITY_TYPES for p in ("B", "I"))
SENTIMENT_LABELS = ("negative", "positive")


@dataclass
class Passage:
    """Text with entity spans [(start, end, type)] and answerable questions [(question, start, end)]."""
    text: str = ""
    entities: list[tuple[int, int, str]] = field(default_factory=list)
    questions: list[tuple[str, int, int]] = field(default_factory=list)

    def add(self, *segments) -> None:
        """Append segments: plain strings, or (text, entity_type_or_None, [questions]) tuples."""
        for seg in segments:
            if isinstance(seg, str):
                self.text += seg
                continue
            text, etype, questions = seg
            start = len(self.text)
            self.text += text
            if etype:
                self.entities.append((start, len(self.text), etype))
            for q in questions:
                self.questions.append((q, start, len(self.text)))


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


class World:
    """Draws entities without repeats inside one passage, so every question has one answer."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def fresh(self, make) -> str:
        for _ in range(50):
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value
        return value

    def person(self) -> str:
        r = self.rng

        def make() -> str:
            first = r.choice(W.FIRST_NAMES) if self._listed() else W.invented_first_name(r)
            if r.random() >= 0.85:
                return first
            return f"{first} {r.choice(W.SURNAMES) if self._listed() else W.invented_surname(r)}"
        return self.fresh(make)

    def place(self) -> str:
        r = self.rng
        return self.fresh(lambda: r.choice(W.PLACES) if self._listed() else W.invented_place(r))

    def _listed(self) -> bool:
        """Whether the next name comes from a word list (1 - INVENTED of the time) or is made up."""
        return self.rng.random() < 1 - INVENTED

    def year(self) -> str:
        return self.fresh(lambda: str(self.rng.randint(1500, 2024)))

    def date(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.7:
            return self.year()
        if kind < 0.85:
            return self.fresh(lambda: f"{r.choice(W.MONTHS)} {r.randint(1500, 2024)}")
        return self.fresh(lambda: f"{r.choice(W.MONTHS)} {r.randint(1, 28)}, {r.randint(1500, 2024)}")

    def number(self, low: int = 2, high: int = 900) -> str:
        r = self.rng
        return self.fresh(lambda: str(r.randint(low, high)) if r.random() < 0.85 else r.choice(W.NUMBER_WORDS))


# Share of people and places named from syllables rather than from the word lists (words.invented_*).
INVENTED = 0.3


def _prep(date: str) -> str:
    return "on" if "," in date else "in"


# ---- one subject (an object with a history) --------------------------------------------------------
def _subject(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    noun = rng.choice([n for n in W.OBJECTS if n not in taken])
    taken.add(noun)
    adj = rng.choice(W.OBJECTS[noun].split())
    phrase = f"the {adj} {noun}" if rng.random() < 0.6 else f"the {noun}"
    if rng.random() < 0.25:  # hand-written text names things with modifiers: "the bridge over the river"
        phrase += " " + rng.choice(LOCATORS)
    return noun, phrase


LOCATORS = ["over the river", "in the old town", "near the harbour", "on the hill", "beside the station",
            "at the end of the street", "in the main square", "by the sea", "across the valley", "in the park"]
TAILS = [" after two years of work", " after the war", " and still stands today", " by the town council",
         " for the first time", " at great cost", " with money from the town", " and has changed little since",
         ", people say", " after a long delay", " and was used for many years",
         # trailing clauses as people write them: the answer is not the end of the sentence
         " and still carries traffic", " and is still in use", " and now carries the coast road",
         " and is open to visitors", " and was never finished", " but nobody used it", " and soon became famous",
         " and still serves the town", ", long after the war", " and is now a museum", " before the winter",
         " and still works today", ", much to the joy of the town", " and carries the old railway",
         " and has stood there ever since", ", when the town was small", " and was busy for a century"]


# What a subject still does or is, after a clause that dates it: "..., which was opened in 1887, PREDICATE."
PREDICATES = ["still carries traffic", "is still in use", "now carries the coast road", "is open to visitors",
              "still serves the town", "is now a museum", "still works today", "has stood there ever since",
              "was busy for a century", "still stands", "is closed in winter", "draws many visitors",
              "needs repairs", "is much loved", "stands near the old road"]
# Agents that are not people (no PER tag, no "Who" question): "The town council opened the bridge in 1887."
COLLECTIVE_AGENTS = ["The town", "The town council", "The council", "Local people", "Workers", "The city",
                     "The owners", "A local family", "The villagers"]


MATERIALS = ["whale oil", "kerosene", "gas", "coal", "steam", "candles", "wood", "hand", "horses", "water",
             "wind", "oil", "a small engine", "diesel"]


def _tail(rng: random.Random) -> tuple:
    """Segments of an optional trailing clause; a number in it ("two years") is tagged like any other."""
    tail = rng.choice(TAILS) if rng.random() < 0.35 else ""
    if " two years" in tail:
        before, _, after = tail.partition("two years")
        return before, ("two years", "QTY", []), after
    return (tail,)


def _when_questions(rng: random.Random, noun: str, verb: str, later: bool = False) -> list[str]:
    """`later`: the verb follows another dated verb in its sentence, so "first V" would mislead."""
    forms = [f"When was the {noun} {verb}?", f"In what year was the {noun} {verb}?",
             f"What year was the {noun} {verb}?", f"When was the {noun} first {verb}?"]
    return [rng.choices(forms, weights=(6, 1, 1, 0 if later else 0.3))[0]]


def _fact_sentences(rng: random.Random, world: World, noun: str, phrase: str, p: Passage) -> None:
    """2-4 sentences of facts about one subject, in varied orders and forms."""
    subj = _cap(phrase)
    kinds = rng.sample(["dates", "agent", "place", "measure", "count", "cost", "event"], k=rng.randint(2, 3))
    used_verbs: set[str] = set()

    def new_verb(pool) -> str:
        choices = [v for v in pool if v not in used_verbs] or list(pool)
        verb = rng.choice(choices)
        used_verbs.add(verb)
        return verb

    for i, kind in enumerate(kinds):
        s = subj if i == 0 or rng.random() < 0.7 else "It"
        if kind == "dates" and rng.random() < 0.12:
            # "first fuelled by whale oil, then by kerosene, and was finally electrified in 1931"
            verbs = [new_verb(W.EVENTS) for _ in range(2)]
            date = world.date()
            first, second = rng.sample(MATERIALS, 2)
            p.add(f"{s} was first {verbs[0]} by {first}, then by {second}, and was finally {verbs[1]} {_prep(date)} ",
                  (date, "DATE", _when_questions(rng, noun, verbs[1], later=True)), ". ")
        elif kind == "dates" and rng.random() < 0.35:
            # "first V1 in D1, then V2 in D2, and was finally V3 in D3": several dates, one per verb
            verbs = [new_verb(W.EVENTS) for _ in range(rng.randint(2, 3))]
            dates = [world.date() for _ in verbs]
            p.add(f"{s} was first {verbs[0]} {_prep(dates[0])} ",
                  (dates[0], "DATE", _when_questions(rng, noun, verbs[0])))
            for j, (verb, date) in enumerate(zip(verbs[1:], dates[1:]), 1):
                p.add(", and was finally " if j == len(verbs) - 1 else ", then ", f"{verb} {_prep(date)} ",
                      (date, "DATE", _when_questions(rng, noun, verb, later=True)))
            p.add(". ")
        elif kind in ("dates", "event") and rng.random() < 0.3:
            # "was built in 1902 and was extended in 1955 after the war": two verbs, two dates, one
            # sentence; the verb in the question, not the position, picks the date
            verbs = [new_verb(W.EVENTS) for _ in range(2)]
            dates = [world.date() for _ in verbs]
            joint = rng.choice([" and was ", " and ", " and then ", ", and was ", " but was "])
            p.add(f"{s} was {verbs[0]} {_prep(dates[0])} ", (dates[0], "DATE", _when_questions(rng, noun, verbs[0])),
                  f"{joint}{verbs[1]} {_prep(dates[1])} ",
                  (dates[1], "DATE", _when_questions(rng, noun, verbs[1], later=True)), *_tail(rng), ". ")
        elif kind in ("dates", "event"):
            verb = new_verb(W.EVENTS)
            date = world.date()
            form = rng.random()
            seg = (date, "DATE", _when_questions(rng, noun, verb))
            if form < 0.45:
                p.add(f"{s} was {verb} {_prep(date)} ", seg, *_tail(rng), ". ")
            elif form < 0.6:
                p.add(f"{_cap(_prep(date))} ", seg, f", {phrase if s != 'It' else 'it'} was {verb}", *_tail(rng), ". ")
            # plain English puts the date in a clause of its own: "The bridge, which was opened in 1887,
            # still carries the main road." / "Opened in 1887, the bridge ..." / "The town opened the bridge in 1887."
            elif form < 0.68:
                p.add(f"{subj}, which was {verb} {_prep(date)} ", seg, f", {rng.choice(PREDICATES)}. ")
            elif form < 0.75:
                p.add(f"{_cap(verb)} {_prep(date)} ", seg, f", {phrase} {rng.choice(PREDICATES)}. ")
            elif form < 0.82:
                p.add(f"{rng.choice(COLLECTIVE_AGENTS)} {verb} {phrase} {_prep(date)} ", seg, ". ")
            else:
                person = world.person()
                p.add(f"{s} was {verb} {_prep(date)} ", seg, " by ",
                      (person, "PER", [f"Who {verb} the {noun}?"] if verb in _AGENT_PAST else []), ". ")
        elif kind == "agent":
            pp, past, role = rng.choice(W.AGENT_VERBS)
            if pp in used_verbs:
                continue
            used_verbs.add(pp)
            person = world.person()
            form = rng.random()
            named = form >= 0.7 or role in W.AGENT_NOUNS  # "Its mayor, X, ..." names the role
            qs = [rng.choice([f"Who {past} the {noun}?", f"Who was the {role} of the {noun}?"])
                  if named else f"Who {past} the {noun}?"]
            if form < 0.4:
                p.add(f"{s} was {pp} by ", (person, "PER", qs), ". ")
            elif form < 0.7:
                p.add((person, "PER", qs), f" {past} {phrase}. ")
            else:  # "28 years" is a quantity like "15 years" in "is 15 years old": tagged the same
                p.add(f"Its {role}, ", (person, "PER", qs), f", {rng.choice(['lived', 'worked'])} there for ",
                      (world.fresh(lambda: f"{rng.randint(2, 40)} years"), "QTY", []), ". ")
        elif kind == "place":
            place = world.place()
            qs = [rng.choice([f"Where is the {noun}?", f"Where is the {noun}?", f"In which town is the {noun}?",
                              f"Where can you find the {noun}?"])]
            form = rng.random()
            if form < 0.4:
                p.add(f"{s} stands in ", (place, "LOC", qs), ". ")
            elif form < 0.7:
                p.add(f"{s} is in ", (place, "LOC", qs), f", {rng.choice(['near', 'beside', 'far from'])} the "
                      f"{rng.choice(['sea', 'river', 'hills', 'market', 'old road'])}. ")
            else:
                p.add(f"{s} can be found in ", (place, "LOC", qs), ". ")
        elif kind == "measure":
            how, units, adj = rng.choice(W.MEASURES)
            # fresh as a whole: "24 years old" must not repeat "lived there for 24 years"
            qty = world.fresh(lambda: f"{world.number()} {rng.choice(units)}")
            qs = [f"{how} the {noun}?"]
            if rng.random() < 0.6:
                p.add(f"{s} is ", (qty, "QTY", qs), f" {adj}. ")
            else:
                p.add(f"{s} {rng.choice(['measures', 'is about', 'is nearly'])} ", (qty, "QTY", qs), f" {adj}. ")
        elif kind == "count":
            what = rng.choice(W.COUNTABLE)
            n = world.number()
            qs = [f"How many {what} does the {noun} have?"]
            p.add(f"{s} has ", (n, "QTY", qs), f" {what}. ")
        elif kind == "cost":
            price = world.fresh(lambda: rng.choice(["£", "$", "€"]) + str(rng.randint(2, 900)) +
                                ("" if rng.random() < 0.6 else f".{rng.randint(10, 99)}"))
            money = price if rng.random() < 0.7 else f"{world.number()} {rng.choice(['pounds', 'dollars', 'euros'])}"
            qs = [f"How much did the {noun} cost?"]
            p.add(f"{s} cost ", (money, "QTY", qs), f" to {rng.choice(['build', 'repair', 'buy'])}. ")


_AGENT_PAST = {pp for pp, _, _ in W.AGENT_VERBS}


JOBS = ["a baker", "a teacher", "an engineer", "a painter", "a sailor", "a doctor", "a farmer", "a writer", "a miner",
        "a nurse", "a carpenter", "a singer"]


def _person_facts(rng: random.Random, world: World, p: Passage) -> None:
    """Where and when someone was born, then (often) where they moved or live now, in the shapes people
    write: "X was born in P in D.", "X was born in D in P.", "Born in P in D, X became a baker.", then
    "She moved to Q in D.", "In D, she moved to Q.", "She lives in Q and works as a baker." ..."""
    person = world.person()
    place, date = world.place(), world.date()
    short = person.split()[0]
    born = f"When was {short} born?" if rng.random() < 0.5 else f"When was {person} born?"
    where = f"Where was {short} born?" if rng.random() < 0.5 else f"Where was {person} born?"
    person_seg = (person, "PER", [f"Who was born in {place}?"])
    place_seg, date_seg = (place, "LOC", [where]), (date, "DATE", [born])
    job = rng.choice(JOBS)
    form = rng.random()
    if form < 0.6:
        p.add(person_seg, " was born in ", place_seg, f" {_prep(date)} ", date_seg, ". ")
    elif form < 0.8:
        p.add(person_seg, f" was born {_prep(date)} ", date_seg, " in ", place_seg, ". ")
    else:
        p.add("Born in ", place_seg, f" {_prep(date)} ", date_seg, ", ", person_seg, f" became {job}. ")
    if rng.random() < 0.25:
        return
    moved, year = world.place(), world.year()
    # a first name on its own is still a person; but not when it is the whole name ("Julia was born ...
    # Julia worked" would give "Who was born in X?" two answers)
    who = W.pronoun(short) if short == person else rng.choice([W.pronoun(short), short])
    who_seg = (who, "PER" if who == short else None, [])
    moved_seg = (moved, "LOC", [f"Where did {short} move to?"])
    year_seg = (year, "DATE", [f"When did {short} move to {moved}?"])
    form = rng.random()
    if form < 0.35:
        p.add(who_seg, f" worked as {job} and moved to ", moved_seg, " in ", year_seg, ". ")
    elif form < 0.6:
        p.add(who_seg, rng.choice([" moved to ", " later moved to "]), moved_seg, " in ", year_seg, ". ")
    elif form < 0.75:
        lower = who if who == short else who.lower()
        p.add("In ", year_seg, ", ", (lower, who_seg[1], []), " moved to ", moved_seg, ". ")
    else:  # present tense: no year, "Where does X live?"
        p.add(who_seg, " lives in ", (moved, "LOC", [f"Where does {short} live?"]), f" and works as {job}. ")


def _river(rng: random.Random, world: World, p: Passage) -> None:
    name = world.place()
    hills = rng.choice(["northern", "southern", "eastern", "western"])
    qty = f"{world.number(10, 900)} {rng.choice(['kilometres', 'miles'])}"
    p.add("The river ", (name, "LOC", []), f" rises in the {hills} hills and flows for ",
          (qty, "QTY", ["How long is the river?", f"How long is the river {name}?"]),
          f" to the {rng.choice(['sea', 'lake', 'coast'])}. ")


FILLERS = [
    "Visitors come from far away to see it.", "It is a popular place in summer.",
    "Many people walk there on Sundays.", "The view from the top is famous.",
    "Local children learn about its history at school.", "A small café stands nearby.",
    "Its story is told in the town museum.", "Nobody remembers the old name any more.",
    "Farmers along the banks grow barley, apples and potatoes.", "In spring the meadows flood.",
    "The weather there is often wet and windy.", "Tickets are sold at the gate.",
]


def passage(rng: random.Random, short: bool = False) -> Passage:
    """One passage: one or two subjects (distractors for each other), sometimes a person or a river;
    `short`: one subject or person only."""
    world, taken = World(rng), set()
    p = Passage()
    parts = ["subject"] + rng.choices(["subject", "person", "river", "filler", ""], weights=(2, 1, 1, 2, 4), k=1)
    if short:
        parts = [rng.choice(["subject", "subject", "person"])]
    rng.shuffle(parts)
    for part in parts:
        if part == "subject":
            noun, phrase = _subject(rng, taken)
            _fact_sentences(rng, world, noun, phrase, p)
        elif part == "person":
            _person_facts(rng, world, p)
        elif part == "river" and "river" not in taken:
            taken.add("river")
            _river(rng, world, p)
        elif part == "filler":
            p.add(rng.choice(FILLERS) + " ")
    p.text = p.text.rstrip()
    return p
