"""Generated multiple-choice items: a prompt and 2-4 continuations, one of them right.

Two kinds: everyday associations ("Bees carry" -> "pollen from flower to flower"; distractors are
other prompts' continuations) and reading ones, where the prompt holds a generated passage and a
question, and the choices are entities of the same kind (the right one and distractors)."""

from __future__ import annotations

import random
import re

from prelnedge.train import words as W
from prelnedge.train.data import INVENTED, Passage, passage


def item(rng: random.Random) -> tuple[str, list[str], int]:
    """(prompt, choices, index of the right choice)."""
    n = rng.choice([2, 2, 3, 4])
    if rng.random() < 0.4:
        return association_item(rng, n)
    for _ in range(20):
        p = passage(rng, short=True)  # a short passage: the prompt must leave room for each choice
        if p.questions:
            break
    return reading_item(rng, p, n)


def association_item(rng: random.Random, n: int) -> tuple[str, list[str], int]:
    """An everyday prompt with its continuation and n - 1 other prompts' continuations. None of those
    is right too: none shares a content word with the answer ("Bakers make" -> "bread in the oven", so
    not "bread and cheese"), none is listed as also true ("Owls hunt" -> "mice in the barn"), and head
    nouns are unique (as bare nouns, two choices must differ)."""
    prompt, right = rng.choice(W.ASSOCIATIONS)
    heads, pool = {_head_noun(right)}, []
    for _, c in W.ASSOCIATIONS:
        if _head_noun(c) not in heads and not _content(c) & _content(right) and (prompt, c) not in W.ALSO_TRUE:
            heads.add(_head_noun(c))
            pool.append(c)
    wrong = rng.sample(pool, n - 1)
    if rng.random() < 0.4:  # bare nouns, as people type them: "Bees carry" -> pollen / granite
        right, wrong = _head_noun(right), [_head_noun(c) for c in wrong]
    choices = [right, *wrong]
    rng.shuffle(choices)
    return prompt, choices, choices.index(right)


def reading_item(rng: random.Random, p: Passage, n: int) -> tuple[str, list[str], int]:
    """A question on passage `p` with n choices: its answer, and distractors of the answer's kind (the
    passage's other entities of that kind first, then made-up ones; never a year among places), none
    of them the answer again."""
    question, start, end = rng.choice(p.questions)
    right = p.text[start:end]
    kind = next((t for a, b, t in p.entities if (a, b) == (start, end)), None)
    pool = list(dict.fromkeys(p.text[a:b] for a, b, t in p.entities if t == kind and p.text[a:b] != right))
    tries = 0
    while len(pool) < n - 1:
        # A one-digit answer has only 8 neighbours of its form, and a passage's years may hold them all:
        # then any number will do. (Late, so data from seeds that never got there stay as they were.)
        tries += 1
        extra = _made_up(rng, kind, right, wide=tries > 1000)
        if extra != right and extra not in pool and extra not in p.text:
            pool.append(extra)
    choices = [right, *rng.sample(pool, n - 1)]
    rng.shuffle(choices)
    return f"{p.text} {question}", choices, choices.index(right)


def _made_up(rng: random.Random, kind: str | None, right: str, wide: bool = False) -> str:
    """An entity of the right answer's kind and form ("May 1510" -> "May 1873", "£45.20" -> "£712.93");
    `wide`: numbers of any length (2-900)."""
    # Invented names as often as passages use them, so "the name no list holds" is no hint
    invented = rng.random() < INVENTED
    if kind == "LOC":
        return W.invented_place(rng) if invented else rng.choice(W.PLACES)
    if kind == "PER":
        first = W.invented_first_name(rng) if invented else rng.choice(W.FIRST_NAMES)
        if " " not in right:
            return first
        return f"{first} {W.invented_surname(rng) if invented else rng.choice(W.SURNAMES)}"
    if not any(ch.isdigit() for ch in right):  # "twenty bells"
        return rng.choice(W.NUMBER_WORDS)
    def number(m: re.Match) -> str:
        digits = len(m.group())
        if kind == "DATE":  # a year as the generator writes them, or a day of the month
            return str(rng.randint(1500, 2024) if digits == 4 else rng.randint(1, 28))
        return str(rng.randint(2, 900) if wide else rng.randint(10 ** (digits - 1), 10 ** digits - 1))
    return re.sub(r"\d+", number, right)


_SKIP = {"in", "on", "at", "the", "a", "an", "their", "when", "from", "for", "to", "people", "it", "is", "and",
         "of", "every", "across", "along", "under", "between"}


def _content(continuation: str) -> set[str]:
    return {w for w in continuation.split() if w not in _SKIP}


def _head_noun(continuation: str) -> str:
    """The first content word of a continuation ("pollen from flower to flower" -> "pollen")."""
    return next((w for w in continuation.split() if w not in _SKIP), continuation.split()[0])
