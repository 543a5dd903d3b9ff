"""The tokenizer against transformers' RobertaTokenizer (built from vocab.json + merges.txt alone),
round trips on random unicode, offsets, pair template and truncation."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from prelnedge.checkpoint.load import default_model_dir
from prelnedge.errors import UserError
from prelnedge.runtime.tokenizer import PreLNTokenizer

# The default tokenizer's add_prefix_space: it puts a space before a text's first word, which
# decoding then gives back.
PREFIX_SPACE = json.loads((default_model_dir() / "tokenizer_config.json").read_text()).get("add_prefix_space", False)
TEXTS = ["Who built the lighthouse?", "  leading and trailing spaces  ", "Zürich café 🙂 日本語",
         "tabs\tand\nnewlines", "3.14159 and 2^10 = 1024", "x", "The lamp was electrified in 1931."]


@pytest.fixture(scope="module")
def tok():
    return PreLNTokenizer.from_dir(default_model_dir(), max_length=128)


@pytest.fixture(scope="module")
def hf_tok(tmp_path_factory):
    from transformers import RobertaTokenizer

    folder = tmp_path_factory.mktemp("vocab-merges")
    # tokenizer_config.json too: its add_prefix_space decides how a text's first word is split
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(default_model_dir() / name, folder / name)
    return RobertaTokenizer.from_pretrained(str(folder))


def decoded(text: str) -> str:
    """What decoding a text's ids gives: the text, after the space add_prefix_space put before it."""
    return " " + text if PREFIX_SPACE and text and not text.startswith(" ") else text


def random_strings(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    pools = [" abcdefghijklmnopqrstuvwxyz", "ÀéïøßŁ", "日本語中文한국어", "🙂🚀🌍👍🏽", " \t\n", "0123456789.,;!?'\"-"]
    out = []
    for _ in range(count):
        pieces = [rng.choice(list(pools[rng.integers(len(pools))])) for _ in range(rng.integers(1, 30))]
        out.append("".join(pieces))
    return out


@pytest.mark.parametrize("text", TEXTS)
def test_single_matches_transformers(tok, hf_tok, text):
    assert list(tok.encode(text).ids) == hf_tok(text)["input_ids"]


def test_pairs_match_transformers_and_use_roberta_template(tok, hf_tok):
    for question, context in zip(TEXTS, reversed(TEXTS)):
        enc = tok.encode(question, context)
        assert list(enc.ids) == hf_tok(question, context)["input_ids"]
        first_end = enc.sequence_ids.index(1) - 2  # ... A </s></s> B </s>
        assert enc.ids[0] == tok.bos_id and enc.ids[-1] == tok.eos_id
        assert enc.ids[first_end:first_end + 2] == (tok.eos_id, tok.eos_id)


def test_random_strings_round_trip_and_match(tok, hf_tok):
    for text in random_strings(500, seed=1):
        enc = tok.encode(text)
        assert tok.decode(enc.ids) == decoded(text)
        assert list(enc.ids) == hf_tok(text)["input_ids"]


def test_offsets_point_at_the_token_text(tok):
    text = "The river Ashby rises in the northern hills."
    enc = tok.encode(text)
    pieces = [text[a:b] for (a, b), sid in zip(enc.offsets, enc.sequence_ids) if sid is not None]
    assert pieces[:3] == ["The", "river", "Ashby"[: len(pieces[2])]]
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    for (a, b), token_id, sid in zip(enc.offsets, enc.ids, enc.sequence_ids):
        if sid is not None:
            assert tok.decode([token_id]).strip() == text[a:b]


def test_mask_token_absorbs_the_space_before_it(tok):
    enc = tok.encode("The lamp <mask> bright")
    assert tok.mask_id == tok.vocab_size - 1
    assert tok.mask_id in enc.ids
    assert tok.id_to_token(enc.ids[enc.ids.index(tok.mask_id) - 1]) != "Ġ"


def test_truncation(tok):
    long_text = "apples and potatoes " * 100
    assert len(tok.encode(long_text).ids) == 128
    enc = tok.encode("Who built it?", long_text)
    assert len(enc.ids) == 128 and enc.ids[-1] == tok.eos_id
    assert tok.decode([i for i, s in zip(enc.ids, enc.sequence_ids) if s == 0]) == decoded("Who built it?")
    with pytest.raises(UserError, match="within 16 tokens"):
        tok.encode(long_text, "short", max_length=16)


def test_batch_pads_right_with_pad_id(tok):
    ids, mask = tok.encode_batch(["x", "a longer sentence here"])
    short = len(tok.encode("x").ids)  # <s> x </s>, and a lone space token before x with add_prefix_space
    assert ids.dtype == np.int64 and ids.shape == mask.shape
    assert mask[0].sum() == short and (ids[0, short:] == tok.pad_id).all() and mask[1].all()


def test_vocab_merges_and_tokenizer_json_agree(tok, tmp_path):
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(default_model_dir() / name, tmp_path / name)
    other = PreLNTokenizer.from_dir(tmp_path, 128)
    for text in TEXTS + random_strings(100, seed=2) + ["fill <mask> here"]:
        assert other.encode(text) == tok.encode(text)


@pytest.mark.parametrize("prefix_space", [False, True])
def test_vocab_merges_follow_tokenizer_config_prefix_space(tmp_path, prefix_space):
    """Without tokenizer.json, tokenizer_config.json's add_prefix_space decides whether a text's first
    word is split as inside a text (" Leeds"), as transformers' RobertaTokenizer reads these files."""
    from transformers import RobertaTokenizer

    for name in ("vocab.json", "merges.txt"):
        shutil.copy(default_model_dir() / name, tmp_path / name)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"add_prefix_space": prefix_space}))
    ours, hf = PreLNTokenizer.from_dir(tmp_path, 128), RobertaTokenizer.from_pretrained(str(tmp_path))
    for first, second in zip(TEXTS + random_strings(60, seed=3), reversed(TEXTS + random_strings(60, seed=4))):
        assert list(ours.encode(first, second).ids) == hf(first, second)["input_ids"]
    alone = ours.encode("Leeds", add_special_tokens=False).ids
    inside = ours.encode("in Leeds", add_special_tokens=False).ids[1:]
    assert (list(alone) == list(inside)) is prefix_space


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no tokenizer"):
        PreLNTokenizer.from_dir(tmp_path, 128)


def test_readable_tokens_show_byte_pieces_as_hex(tok):
    """fill-mask candidates: a token holding part of a UTF-8 character reads <0xHH>, never U+FFFD; whole
    tokens read as the tokenizer decodes them (control characters as <0xHH> too); specials read as nothing."""
    texts = [tok.readable_token(i) for i in range(tok.vocab_size)]
    assert not any("\ufffd" in text for text in texts)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for text in texts for c in text)  # no raw control characters
    for i, text in enumerate(texts):
        if "<0x" not in text:
            assert text == tok.decode([i])
    e_acute = tok.encode("é", add_special_tokens=False).ids  # two bytes, C3 A9
    # with add_prefix_space a space comes first, alone or in the same token
    pieces = "".join(tok.readable_token(i) for i in e_acute).removeprefix(" " if PREFIX_SPACE else "")
    assert pieces in ("é", "<0xC3><0xA9>")
    assert tok.readable_token(tok.mask_id) == "" and tok.readable_token(tok.bos_id) == ""
