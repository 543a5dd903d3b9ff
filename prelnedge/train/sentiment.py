"""Generated sentiment sentences: polarity from a word list, flipped by negation, decided by the
second clause of a contrast ("..., but ..."), or by the main clause after "although"."""

from __future__ import annotations

import random

from prelnedge.train import words as W


PLURALS = ["staff", "waiters", "rooms", "prices", "songs", "beds", "seats", "guides", "people", "views",
           "shops", "actors", "dishes", "cakes", "roads", "trains"]


def _adj(rng: random.Random, positive: bool) -> str:
    word = rng.choice(W.POSITIVE if positive else W.NEGATIVE)
    intensifier = rng.choice(W.INTENSIFIERS)
    return f"{intensifier} {word}" if intensifier else word


def _clause(rng: random.Random, positive: bool, noun: str | None = None) -> str:
    """A clause whose meaning has the given polarity (sometimes through negation)."""
    noun = noun or rng.choice(W.REVIEW_NOUNS)
    the = rng.choice(["the", "the", "our", "my", "this", "that"])
    form = rng.random()
    if form < 0.1:  # plural subjects: "the staff were rude"
        plural = rng.choice(PLURALS)
        return f"the {plural} {rng.choice(['were', 'are'])} {_adj(rng, positive)}"
    if form < 0.45:
        return f"{the} {noun} was {_adj(rng, positive)}"
    if form < 0.6:  # negation flips the word's polarity
        verb = rng.choice(["was not", "wasn't", "was never", "is not", "isn't"])
        return f"{the} {noun} {verb} {rng.choice(W.NEGATIVE if positive else W.POSITIVE)}"
    if form < 0.75:
        verb = rng.choice(W.POSITIVE_VERBS if positive else W.NEGATIVE_VERBS)
        return f"I {verb} {the} {noun}"
    if form < 0.85:
        verb = rng.choice(["enjoy", "like", "love"]) if not positive else rng.choice(["hate", "mind", "regret"])
        return f"I did not {verb} {the} {noun}" if rng.random() < 0.5 else f"I didn't {verb} {the} {noun}"
    if form < 0.93:
        return f"{the} {noun} {rng.choice(['is', 'was', 'looks', 'seemed', 'felt'])} {_adj(rng, positive)}"
    return rng.choice(["it could not have been better", "everything was just right", "I would go again"]
                      if positive else ["it could have been much better", "nothing went right",
                                        "I would not go again"])


def sentence(rng: random.Random) -> tuple[str, int]:
    """(text, label) with label 1 = positive, 0 = negative."""
    positive = rng.random() < 0.5
    form = rng.random()
    if form < 0.45:
        text = _clause(rng, positive)
    elif form < 0.65:  # contrast: the clause after "but" decides
        text = f"{_clause(rng, not positive)}, but {_clause(rng, positive)}"
    elif form < 0.75:  # "although" clause loses to the main clause
        text = f"{rng.choice(['although', 'though', 'even though'])} {_clause(rng, not positive)}, {_clause(rng, positive)}"
    elif form < 0.9:  # short phrases: "a fine day", "what a lovely view"
        noun = rng.choice(W.REVIEW_NOUNS)
        adj = _adj(rng, positive)
        text = rng.choice([f"a {adj} {noun}", f"what a {adj} {noun}", f"{adj}", f"such a {adj} {noun}"])
    else:  # two agreeing clauses
        text = f"{_clause(rng, positive)} and {_clause(rng, positive)}"
    text = text[:1].upper() + text[1:]
    if rng.random() < 0.8:
        text += rng.choice([".", ".", ".", "!"])
    return text, int(positive)
