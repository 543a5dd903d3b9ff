"""The browser runtime's JavaScript tokenizer (runtimes/web/src/tokenizer.js) against the Python one
(HF `tokenizers`): same ids, offsets and sequence ids on the golden texts and thousands of seeded
random strings and pairs, for the embedded tokenizer and for a second one trained here with other
added-token options (rstrip, single_word, untrimmed offsets).

Offsets: Python reports code points, JavaScript UTF-16 code units; the Python side is converted
(`utf16_offsets`) before comparing, so the JS numbers are checked exactly as the page uses them.
"""

from __future__ import annotations

import random

import pytest

from prelnedge.verify import golden
from prelnedge.checkpoint.load import default_model_dir
from prelnedge.errors import UserError
from prelnedge.runtime.tokenizer import PreLNTokenizer
from web_support import run_js_tokenizer, utf16_units

# Pools of characters the random strings draw from: every class the pre-tokenizer regex and the
# byte-level map treat differently.
POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789½²٣४Ⅻ",  # ASCII and other Nd/No/Nl numbers
    ".,;:!?'\"-()[]{}<>/\\@#$%^&*_+=~`|",
    " ", "  ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u0085", "\u2028", "\u2009",
    "éüßÀøŁçñåÆ",  # precomposed accents
    "e\u0301", "a\u0308", "\u0301", "\u20dd",  # combining marks, also at odd places
    "日本語中文漢字한국어カタカナ",
    "🙂🚀🌍💡", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷",  # astral, modifiers, ZWJ and flag sequences
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad",  # zero-width, BOM, soft hyphen
    "ΑβγδЖжпривет", "مرحبا", "नमस्ते",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S",
    "<mask>", " <mask>", "<mask> ", "<mas", "mask>", "<s>", "</s>", "<pad>", "<unk>",
]


def random_text(rng: random.Random, extra: list[str] = (), long: bool = False) -> str:
    pools = POOLS + list(extra)
    n = rng.randint(60, 400) if long else rng.randint(0, 24)
    out = []
    for _ in range(n):
        pool = rng.choice(pools)
        out.append(rng.choice(pool) if len(pool) > 3 and rng.random() < 0.7 else pool)
        if rng.random() < 0.3:
            out.append(" ")
    return "".join(out)


def requests(rng: random.Random, count: int, extra: list[str] = ()) -> list[dict]:
    items = []
    for i in range(count):
        kind = i % 10
        if kind < 5:
            items.append({"op": "encode", "text": random_text(rng, extra, long=rng.random() < 0.1)})
        elif kind < 8:
            items.append({"op": "encode", "text": random_text(rng, extra),
                          "pair": random_text(rng, extra, long=rng.random() < 0.2)})
        elif kind == 8:
            items.append({"op": "windows", "question": random_text(rng, extra) or "q",
                          "context": random_text(rng, extra, long=True), "stride": rng.choice([None, 0, 5])})
        else:
            items.append({"op": "causal", "text": random_text(rng, extra, long=rng.random() < 0.2)})
    return items


def python_result(tok: PreLNTokenizer, item: dict):
    """What the Python tokenizer gives for one request, in the JS CLI's shape (UTF-16 offsets)."""
    def plain(enc, first: str, second: str | None = None):
        units = {0: utf16_units(first), 1: utf16_units(second) if second is not None else None}
        offsets = [[units[sid][a], units[sid][b]] if sid is not None else [a, b]
                   for (a, b), sid in zip(enc.offsets, enc.sequence_ids)]
        return {"ids": list(enc.ids), "offsets": offsets, "sequence_ids": list(enc.sequence_ids)}

    try:
        if item["op"] == "encode":
            return plain(tok.encode(item["text"], item.get("pair")), item["text"], item.get("pair"))
        if item["op"] == "windows":
            return [plain(e, item["question"], item["context"])
                    for e in tok.encode_windows(item["question"], item["context"], item["stride"])]
        if item["op"] == "causal":
            return plain(tok.encode_causal(item["text"]), item["text"])
        if item["op"] == "readable":
            return {"text": tok.readable_token(item["id"])}
        return {"text": tok.decode(item["ids"], skip_special_tokens=item.get("skip_special_tokens", True))}
    except UserError as exc:
        return {"error": str(exc)}


def assert_same(tok: PreLNTokenizer, items: list[dict], js: list) -> None:
    assert len(js) == len(items)
    mismatches = []
    for item, got in zip(items, js):
        want = python_result(tok, item)
        if isinstance(want, dict) and "error" in want:
            same = isinstance(got, dict) and "error" in got  # both refuse (messages differ by design)
        else:
            same = got == want
        if not same:
            mismatches.append(f"{item!r}\n  python: {want}\n  js:     {got}")
    assert not mismatches, f"{len(mismatches)} of {len(items)} differ; first:\n" + "\n".join(mismatches[:3])


@pytest.fixture(scope="module")
def default_tok() -> PreLNTokenizer:
    return PreLNTokenizer.from_dir(default_model_dir(), max_length=128)


def test_golden_texts(default_tok, tmp_path):
    items = [{"op": "encode", "text": t} for t in golden.TEXTS + golden.MASKED]
    items += [{"op": "encode", "text": q, "pair": c} for q, c in golden.QA]
    items += [{"op": "windows", "question": q, "context": c, "stride": None} for q, c in golden.QA]
    items += [{"op": "encode", "text": p, "pair": c} for p, cs in golden.CHOICES for c in cs]
    items += [{"op": "causal", "text": t} for t in golden.TEXTS]
    assert_same(default_tok, items, run_js_tokenizer(default_model_dir() / "tokenizer.json", 128, items, tmp_path))


def test_random_strings_default_tokenizer(default_tok, tmp_path):
    rng = random.Random(20240611)
    items = requests(rng, 3000)
    # decoding single ids (fill-mask candidates) and random id runs, incl. bytes that are not UTF-8 alone
    items += [{"op": "decode", "ids": [i]} for i in range(default_tok.vocab_size)]
    items += [{"op": "readable", "id": i} for i in range(default_tok.vocab_size)]  # fill-mask's token text
    items += [{"op": "decode", "ids": [rng.randrange(default_tok.vocab_size) for _ in range(rng.randint(1, 12))],
               "skip_special_tokens": rng.random() < 0.5} for _ in range(300)]
    assert_same(default_tok, items, run_js_tokenizer(default_model_dir() / "tokenizer.json", 128, items, tmp_path))


@pytest.fixture(scope="module", params=["untrimmed", "prefix-space"])
def trained_tokenizer(tmp_path_factory, request):
    """A second byte-level BPE with another vocabulary and other added-token options:
    <mask> strips both sides, a non-special single-word token; offsets left untrimmed, or trimmed
    with add_prefix_space (a space before every text and every piece between added tokens, and one
    leading space kept in a sequence's first span)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    prefix = request.param == "prefix-space"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix)
    tok.decoder = decoders.ByteLevel()
    rng = random.Random(7)
    corpus = [random_text(rng) for _ in range(2000)] + golden.TEXTS + [c for _, c in golden.QA]
    trainer = trainers.BpeTrainer(vocab_size=900, min_frequency=2, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True)])
    tok.add_tokens([AddedToken("[[note]]", single_word=True, normalized=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                                      trim_offsets=prefix, add_prefix_space=prefix)
    path = tmp_path_factory.mktemp("trained-tokenizer") / "tokenizer.json"
    tok.save(str(path))
    return path, PreLNTokenizer(Tokenizer.from_file(str(path)), max_length=64)


def test_random_strings_trained_tokenizer(trained_tokenizer, tmp_path):
    path, tok = trained_tokenizer
    assert tok.vocab_size != PreLNTokenizer.from_dir(default_model_dir(), 128).vocab_size
    rng = random.Random(99)
    items = requests(rng, 2000, extra=["[[note]]", " [[note]] ", "x[[note]]", "[[note]]9", "[[note"])
    items += [{"op": "decode", "ids": [rng.randrange(tok.vocab_size) for _ in range(rng.randint(1, 8))],
               "skip_special_tokens": rng.random() < 0.5} for _ in range(300)]
    assert_same(tok, items, run_js_tokenizer(path, 64, items, tmp_path))
