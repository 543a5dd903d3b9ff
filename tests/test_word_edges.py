"""Whole-word answers: postprocess.word_edges / best_span's constraint, and the same decisions in
the browser (postprocess.js wordEdges) and Android (Postprocess.java wordEdges) decoders, on the
embedded tokenizer's tokens of hand-picked and seeded random contexts (accents, combining marks,
CJK, emoji, thousands separators, apostrophes, hyphens)."""

from __future__ import annotations

import json
import random
import subprocess

import numpy as np
import pytest

from prelnedge.checkpoint.load import default_model_dir
from prelnedge.runtime.postprocess import best_span, word_edges
from prelnedge.runtime.tokenizer import PreLNTokenizer
from test_android_bundle import compiled_java
from test_java_tokenizer import random_text
from web_support import run_js_tokenizer

CONTEXTS = ["The observatory was founded by Hanna Kowalski in 1893.", "Some 12,500 people came (Kraków).",
            "Nguyễn Văn Thành and Ludmila Dvořáková met Seamus O'Rourke in Ny-Ålesund.",
            "Cafe\u0301 au lait, 東京タワー, 👍🏽 ok!", "The monks brewed beer."]


@pytest.fixture(scope="module")
def tok() -> PreLNTokenizer:
    return PreLNTokenizer.from_dir(default_model_dir(), 128)


def edges(tok: PreLNTokenizer, context: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    enc = tok.encode("q", context)
    allowed = np.array([sid == 1 for sid in enc.sequence_ids])
    can_start, can_end = word_edges(context, enc.offsets, allowed)
    pieces = [context[a:b] if sid == 1 else None for (a, b), sid in zip(enc.offsets, enc.sequence_ids)]
    return pieces, can_start, can_end


def test_names_split_into_sub_words_start_and_end_with_the_word(tok):
    pieces, can_start, can_end = edges(tok, CONTEXTS[0])
    name = [pieces.index("Han"), pieces.index("na")]  # "Hanna" is two tokens
    assert name[1] == name[0] + 1, pieces
    assert can_start[name[0]] and not any(can_start[k] for k in name[1:])
    assert can_end[name[-1]] and not any(can_end[k] for k in name[:-1])
    assert not can_start[0] and not can_end[0]  # <s> is outside the context


def test_punctuation_and_separators_bound_words(tok):
    pieces, can_start, can_end = edges(tok, CONTEXTS[1])
    by_text = {p: k for k, p in enumerate(pieces)}
    assert can_start[by_text["12"]] and can_end[by_text["12"]]  # "12" ends at the comma: a model may still say it
    assert can_start[by_text["50"]] and not can_end[by_text["50"]] and can_end[by_text["0"]]  # "50|0"
    assert not can_start[by_text[""]] and not can_end[by_text[""]]  # an empty piece (the space before "(")
    k_start = pieces.index("K")
    assert can_start[k_start] and not can_start[k_start + 1] and not can_end[k_start + 1]  # "(K|rak|ó|ó|w)"
    assert pieces[k_start + 2] == pieces[k_start + 3] == "ó"  # one character, two byte tokens
    assert not can_start[k_start + 3]
    assert can_end[k_start + 4] and pieces[k_start + 4] == "w"
    assert can_end[by_text["."]] and can_start[by_text["("]]


def test_best_span_keeps_to_whole_words_and_falls_back_without_any():
    allowed = np.array([False, True, True, True, False])
    start = np.array([0, 1, 9, 0, 0], np.float32)
    end = np.array([0, 0, 9, 1, 0], np.float32)
    assert best_span(start, end, allowed)[:2] == (2, 2)
    can_start = np.array([False, True, False, False, False])
    can_end = np.array([False, False, False, True, False])
    assert best_span(start, end, allowed, can_start=can_start, can_end=can_end)[:2] == (1, 3)
    # no start may reach an end within the limit: the unconstrained best, not an error
    assert best_span(start, end, allowed, 2, can_start=can_start, can_end=can_end)[:2] == (2, 2)


def _contexts() -> list[str]:
    rng = random.Random(28)
    return CONTEXTS + [random_text(rng) or "x" for _ in range(400)]


def _python(tok, contexts):
    return [[flags.tolist() for flags in edges(tok, c)[1:]] for c in contexts]


def test_java_decoder_draws_the_same_word_edges(tok):
    contexts = _contexts()
    request = {"dir": str(default_model_dir()), "source": "auto", "max_length": tok.max_length, "items": [],
               "word_edges": contexts}
    done = subprocess.run(["java", "-cp", str(compiled_java()), "org.prelnedge.core.TokenizeBatch"],
                          input=json.dumps(request).encode("utf-8"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    got = json.loads(done.stdout.decode("utf-8"))["word_edges"]
    want = _python(tok, contexts)
    diff = [(c, w, g) for c, w, g in zip(contexts, want, got) if w != g]
    assert not diff, f"{len(diff)} of {len(contexts)} differ; first: {diff[0]!r}"


def test_web_decoder_draws_the_same_word_edges(tok, tmp_path):
    contexts = _contexts()
    got = run_js_tokenizer(default_model_dir() / "tokenizer.json", tok.max_length,
                           [{"op": "word_edges", "context": c} for c in contexts], tmp_path)
    want = [{"can_start": s, "can_end": e} for s, e in _python(tok, contexts)]
    diff = [(c, w, g) for c, w, g in zip(contexts, want, got) if w != g]
    assert not diff, f"{len(diff)} of {len(contexts)} differ; first: {diff[0]!r}"
