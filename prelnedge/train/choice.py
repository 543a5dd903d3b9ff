"""Generated multiple-choice items: a prompt and 2-4 continuations, one of them right.

Two kinds: everyday associations ("Bees carry" -> "pollen from flower to flower"; distractors are
other prompts' continuations) and reading ones, where the prompt holds a generated passage and a
question, and the choices are entities of the same kind (the right one and distractors)."""

from __future__ import annotations

import random

from prelnedge.train import words as W
from prelnedge.train.data import passage


def item(rng: random.Random) -> tuple[str, list[str], int]:
    """(prompt, choices, index of the right choice)."""
    n = rng.choice([2, 2, 3, 4])
    if rng.random() < 0.4:
        prompt, right = rng.choice(W.ASSOCIATIONS)
        wrong = rng.sample([c for p, c in W.ASSOCIATIONS if c != right], n - 1)
        if rng.random() < 0.4:  # bare nouns, as people type them: "Bees carry" -> pollen / granite
            right, wrong = _head_noun(right), [_head_noun(c) for c in wrong]
    else:
        for _ in range(20):
            p = passage(rng, short=True)  # a short passage: the prompt must leave room for each choice
            if p.questions:
                break
        question, start, end = rng.choice(p.questions)
        right = p.text[start:end]
        kind = next((t for a, b, t in p.entities if (a, b) == (start, end)), None)
        same = [p.text[a:b] for a, b, t in p.entities if t == kind and p.text[a:b] != right]
        pool = list(dict.fromkeys(same)) or [str(rng.randint(1500, 2024))]
        while len(pool) < n - 1:
            pool.append(rng.choice(W.PLACES) if kind == "LOC" else rng.choice(W.FIRST_NAMES) if kind == "PER"
                        else str(rng.randint(1500, 2024)))
        wrong = rng.sample(pool, n - 1)
        prompt = f"{p.text} {question}"
    choices = [right, *wrong]
    rng.shuffle(choices)
    return prompt, choices, choices.index(right)


def _head_noun(continuation: str) -> str:
    """The first content word of a continuation ("pollen from flower to flower" -> "pollen")."""
    skip = {"in", "on", "at", "the", "a", "an", "their", "when", "from", "for", "to", "people", "it", "is"}
    return next((w for w in continuation.split() if w not in skip), continuation.split()[0])
