"""The encyclopedic passages (issue 28) are consistent like train.data's: every number and date is
inside a tagged entity, entities are whole words, every question has one answer, and the shapes the
issue names are there (fronted clauses, appositives, a pronoun pointing back, thousands separators,
an object after the verb, two events in one sentence), with real names in many languages."""

from __future__ import annotations

import random
import re

import pytest

from prelnedge.train import data, encyclopedic

PASSAGES = 400


@pytest.fixture(scope="module")
def passages() -> list[data.Passage]:
    rng = random.Random(11)
    return [encyclopedic.passage(rng) for _ in range(PASSAGES)]


def test_every_number_is_inside_an_entity_and_entities_are_whole_words(passages):
    for p in passages:
        inside = [False] * len(p.text)
        for a, b, kind in p.entities:
            assert kind in data.ENTITY_TYPES
            assert not any(inside[a:b]), (p.text[a:b], p.text)  # no overlap
            inside[a:b] = [True] * (b - a)
            assert (a == 0 or not p.text[a - 1].isalnum()) and (b == len(p.text) or not p.text[b].isalnum()), \
                (p.text[a:b], p.text)
        for m in re.finditer(r"\d[\d,]*", p.text):
            assert inside[m.start()], (m.group(), p.text)


def test_every_question_has_one_answer(passages):
    for p in passages:
        answers: dict[str, set[str]] = {}
        for question, a, b in p.questions:
            answers.setdefault(question, set()).add(p.text[a:b])
            assert p.text[a:b].strip() == p.text[a:b] and p.text[a:b], (question, p.text)
        assert all(len(v) == 1 for v in answers.values()), (answers, p.text)


def test_the_shapes_of_the_issue_are_generated(passages):
    text = " ".join(p.text for p in passages)
    for pattern in [r"\b\d{1,3},\d{3}\b", r"^(Despite|After years|Hidden|Ridiculed)[^.]*, the \w+ was",
                    r"\. It was \w+ by", r", (guided|led|helped|joined|encouraged) by [A-Z]",
                    r" began in [A-Z][^.]* and finished [^.]* in [A-Z]", r"the monks brewed \w+",
                    r"(Last spring|That summer) the \w+ took place in", r"When the \w+ (resigned|died|retired) in"]:
        assert re.search(pattern, text, re.M if pattern.startswith("^") else 0) or \
            any(re.search(pattern, s) for p in passages for s in p.text.split(". ")), pattern


def test_names_are_real_and_from_many_languages(passages):
    people = {p.text[a:b] for p in passages for a, b, kind in p.entities if kind == "PER"}
    accented = [name for name in people if any(ord(ch) > 127 for ch in name)]
    assert len(people) > 300 and len(accented) > 40, (len(people), len(accented))
    assert sum(" " in name for name in people) > 0.8 * len(people)  # first name and surname, mostly


def test_generation_is_deterministic_per_seed():
    one = [encyclopedic.passage(random.Random(5)).text for _ in range(3)]
    two = [encyclopedic.passage(random.Random(5)).text for _ in range(3)]
    assert one == two
