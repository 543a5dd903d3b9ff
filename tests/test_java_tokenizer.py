"""The Android app's Java tokenizer (android_demo/core) against prelnedge.runtime.tokenizer.PreLNTokenizer.

Ids, offsets (code points) and sequence ids must be identical on the golden texts and on a few
thousand seeded random strings and pairs built to hit the awkward cases: accents (composed and
combining), CJK, emoji and ZWJ sequences, zero-width characters, every kind of whitespace, control
characters, special tokens in odd places, contractions, truncation and QA windows. Each batch runs
in one JVM process. Three tokenizers: the embedded model's tokenizer.json, the same vocabulary read
from vocab.json + merges.txt, and a byte-level BPE trained here with different settings (prefix
space, extra added tokens with rstrip / single_word / normalized).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from prelnedge.verify.golden import CHOICES, MASKED, QA, TEXTS
from prelnedge.runtime.tokenizer import PreLNTokenizer
from test_android_bundle import compiled_java

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "prelnedge" / "default_model"

FRAGMENTS = [
    "the", "lamp", "Bees", "visit", "flowers", "1931", "42", "3.14", "x", "A", "I", "naïve",
    "it's", "they'LL", "we're", "I'd", "'s", "''", "--", "...", "!?", "(", ")", ",", ".", "@", "#", "$", "%",
    "é", "e\u0301", "a\u0308\u0301", "Zürich", "café", "Ångström", "ǅ", "ß", "İ", "ﬁ",
    "日本語", "中文", "漢字", "ひらがな", "カタカナ", "한국어", "ไทย", "हिन्दी", "العربية", "עברית", "Ελληνικά", "Русский",
    "🙂", "👍🏽", "👨\u200d👩\u200d👧", "🇩🇪", "❤️", "🏳️\u200d🌈", "𝔘𝔫𝔦", "𠀋",
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u2060", "\u00ad", "\u0301", "\u0300\u0301",
    " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2028", "\u2009", "\x0b", "\x0c",
    "\x85", "\x1c", "\x00", "\x7f", "\x01",
    "<mask>", " <mask>", "<mask><mask>", "<mask>.", "<s>", "</s>", "<pad>", "<unk>", "<mask", "mask>", "< mask>",
    "²", "Ⅻ", "½", "٣", "①",
]
WHITESPACE = [" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u3000", ""]
# Long-established blocks only: letters whose category is the same in Java's and Rust's Unicode tables.
RANGES = [(0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x45F), (0x4E00, 0x4FFF), (0x3041, 0x3096),
          (0xAC00, 0xACFF), (0x1F600, 0x1F64F), (0x2000, 0x206F)]


def random_text(rng: random.Random, max_parts: int = 12) -> str:
    parts = []
    for _ in range(rng.randint(0, max_parts)):
        roll = rng.random()
        if roll < 0.6:
            parts.append(rng.choice(FRAGMENTS))
        elif roll < 0.85:
            low, high = rng.choice(RANGES)
            parts.append("".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 4))))
        else:
            parts.append(rng.choice(WHITESPACE))
        parts.append(rng.choice(WHITESPACE))
    return "".join(parts)


def python_encoding(tok: PreLNTokenizer, text: str, pair: str | None, special: bool = True) -> dict:
    try:
        enc = tok.encode(text, pair, add_special_tokens=special)
    except Exception as exc:  # the same inputs must fail in Java
        return {"error": str(exc)}
    return {"ids": list(enc.ids), "offsets": [list(o) for o in enc.offsets], "seq": list(enc.sequence_ids)}


def java_batch(folder: Path, max_length: int, items: list[dict], decode: list[list[int]] = (),
               source: str = "auto") -> dict:
    request = {"dir": str(folder), "source": source, "max_length": max_length, "items": items, "decode": list(decode)}
    done = subprocess.run(["java", "-cp", str(compiled_java()), "org.prelnedge.core.TokenizeBatch"],
                          input=json.dumps(request).encode("utf-8"), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return json.loads(done.stdout.decode("utf-8"))


def assert_same(items: list[dict], expected: list[dict], got: list[dict]) -> None:
    assert len(got) == len(expected)
    mismatches = []
    for item, want, have in zip(items, expected, got):
        if "error" in want or "error" in have:
            if ("error" in want) != ("error" in have):
                mismatches.append((item, want, have))
        elif want != have:
            mismatches.append((item, want, have))
    assert not mismatches, f"{len(mismatches)} of {len(items)} differ; first: {mismatches[0]!r}"


def compare(folder: Path, tok: PreLNTokenizer, items: list[dict], source: str = "auto") -> None:
    expected = [python_encoding(tok, it["text"], it.get("pair"), it.get("special", True)) for it in items]
    got = java_batch(folder, tok.max_length, items, source=source)["encodings"]
    assert_same(items, expected, got)


def random_items(seed: int, n: int) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.55:
            items.append({"text": random_text(rng)})
        elif roll < 0.9:
            items.append({"text": random_text(rng, 6), "pair": random_text(rng)})
        else:
            items.append({"text": random_text(rng), "special": False})
    return items


def golden_items() -> list[dict]:
    items = [{"text": t} for t in TEXTS + MASKED]
    items += [{"text": q, "pair": c} for q, c in QA]
    items += [{"text": p, "pair": c} for p, cs in CHOICES for c in cs]
    return items


@pytest.fixture(scope="module")
def default_tok() -> PreLNTokenizer:
    return PreLNTokenizer.from_dir(DEFAULT_MODEL, 128)


@pytest.fixture(scope="module")
def gpt2_files_only(tmp_path_factory) -> Path:
    """The embedded model's vocab.json + merges.txt (+ tokenizer_config.json) without tokenizer.json."""
    folder = tmp_path_factory.mktemp("gpt2-files")
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(DEFAULT_MODEL / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A byte-level BPE trained on multilingual text, with add_prefix_space and odd added tokens."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    rng = random.Random(7)
    corpus = [random_text(rng, 20) for _ in range(400)] + TEXTS + MASKED + [c for _, c in QA]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=900, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True), AddedToken("[X]", rstrip=True, single_word=True)])
    tok.add_tokens([AddedToken("zz", normalized=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=True, add_prefix_space=True)
    folder = tmp_path_factory.mktemp("trained-bpe")
    tok.save(str(folder / "tokenizer.json"))
    return folder


def test_golden_texts(default_tok):
    compare(DEFAULT_MODEL, default_tok, golden_items())


def test_random_strings_tokenizer_json(default_tok):
    compare(DEFAULT_MODEL, default_tok, random_items(seed=1, n=2500))


def test_random_strings_vocab_and_merges(gpt2_files_only):
    tok = PreLNTokenizer.from_dir(gpt2_files_only, 128)
    compare(gpt2_files_only, tok, random_items(seed=2, n=1000), source="vocab")


def test_vocab_and_merges_with_prefix_space_in_tokenizer_config(tmp_path):
    """tokenizer_config.json's add_prefix_space reaches the Java tokenizer built from the GPT-2 files."""
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(DEFAULT_MODEL / name, tmp_path / name)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"add_prefix_space": True}))
    tok = PreLNTokenizer.from_dir(tmp_path, 128)
    assert tok.encode("Leeds").ids[1] == tok.encode("in Leeds").ids[2]  # the first word as inside a text
    compare(tmp_path, tok, random_items(seed=6, n=400), source="vocab")


def test_truncation_with_a_short_limit():
    tok = PreLNTokenizer.from_dir(DEFAULT_MODEL, 24)
    compare(DEFAULT_MODEL, tok, random_items(seed=3, n=600) + [{"text": "word " * 40, "pair": "x"}])


def test_trained_tokenizer_with_prefix_space_and_added_tokens(trained):
    tok = PreLNTokenizer.from_dir(trained, 64)
    rng = random.Random(4)
    extra = ["[X]", " [X] ", "a[X]b", "[X]x", "zz", "azzb", " zz ", "<mask>zz[X]"]
    items = random_items(seed=5, n=800)
    items += [{"text": random_text(rng, 4) + rng.choice(extra) + random_text(rng, 4)} for _ in range(300)]
    compare(trained, tok, items)


def test_qa_windows(default_tok):
    tok = PreLNTokenizer.from_dir(DEFAULT_MODEL, 40)
    rng = random.Random(6)
    items = [{"question": random_text(rng, 3) + "?", "context": random_text(rng, 40),
              "stride": rng.choice([None, 0, 3, 7])} for _ in range(150)]
    expected = []
    for it in items:
        try:
            windows = tok.encode_windows(it["question"], it["context"], it["stride"])
            expected.append({"windows": [{"ids": list(w.ids), "offsets": [list(o) for o in w.offsets],
                                          "seq": list(w.sequence_ids)} for w in windows]})
        except Exception as exc:
            expected.append({"error": str(exc)})
    got = java_batch(DEFAULT_MODEL, 40, items)["encodings"]
    assert_same(items, expected, got)
    assert sum(len(e.get("windows", [])) > 1 for e in expected) > 50, "the windows case is exercised"


def test_decode_single_ids_and_runs(default_tok):
    rng = random.Random(8)
    runs = [[i] for i in range(default_tok.vocab_size)]
    runs += [[rng.randrange(default_tok.vocab_size) for _ in range(rng.randint(2, 8))] for _ in range(300)]
    result = java_batch(DEFAULT_MODEL, 128, [], decode=runs)
    expected = [default_tok.decode(ids) for ids in runs]
    differ = [(ids, e, g) for ids, e, g in zip(runs, expected, result["decoded"]) if e != g]
    assert not differ, f"{len(differ)} decodes differ; first: {differ[0]!r}"
    # fill-mask's candidate text: byte pieces as <0xHH>, as in Python
    expected = [default_tok.readable_token(ids[0]) for ids in runs]
    differ = [(ids, e, g) for ids, e, g in zip(runs, expected, result["readable"]) if e != g]
    assert not differ, f"{len(differ)} readable tokens differ; first: {differ[0]!r}"
