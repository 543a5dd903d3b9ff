"""RoBERTa byte-level BPE through the `tokenizers` library.

Single sequences encode as `<s> A </s>`, pairs as `<s> A </s></s> B </s>` (RoBERTa's template).
Offsets are character offsets into the original strings; QA maps a token span back to the
context with them. Inputs longer than the model's limit are truncated (pairs: the second text).
"""

from __future__ import annotations

import codecs
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prelnedge.errors import UserError

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3; "<mask>" is the last id
MASK_TOKEN = "<mask>"


@dataclass(frozen=True)
class Encoding:
    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]  # (start, end) characters in the text the token came from
    sequence_ids: tuple[int | None, ...]  # 0 first text, 1 second text, None special token
    truncated: bool = False  # the text was longer than the limit and lost its tail


class PreLNTokenizer:
    def __init__(self, tokenizer, max_length: int) -> None:
        self._tok = tokenizer
        self.max_length = max_length
        self.pad_id = self._required_id("<pad>")
        self.bos_id = self._required_id("<s>")
        self.eos_id = self._required_id("</s>")
        self.mask_id = tokenizer.token_to_id(MASK_TOKEN)

    @classmethod
    def from_dir(cls, path: str | Path, max_length: int) -> "PreLNTokenizer":
        """Load `tokenizer.json`, or `vocab.json` + `merges.txt` with RoBERTa's processing."""
        from tokenizers import Tokenizer

        path = Path(path)
        if (path / "tokenizer.json").exists():
            try:
                return cls(Tokenizer.from_file(str(path / "tokenizer.json")), max_length)
            except Exception as exc:  # tokenizers raises a bare Exception for bad JSON
                raise UserError(f"cannot read {path / 'tokenizer.json'}: {exc}") from None
        if (path / "vocab.json").exists() and (path / "merges.txt").exists():
            return cls(_from_vocab_and_merges(path), max_length)
        raise UserError(f"{path} has no tokenizer; expected tokenizer.json or vocab.json + merges.txt")

    def _required_id(self, token: str) -> int:
        token_id = self._tok.token_to_id(token)
        if token_id is None:
            raise UserError(f"tokenizer has no {token} token; a RoBERTa tokenizer needs {SPECIAL_TOKENS}")
        return token_id

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str, pair: str | None = None, max_length: int | None = None,
               add_special_tokens: bool = True) -> Encoding:
        """Encode one text or a pair, truncated to max_length tokens (pairs lose the second text's tail)."""
        limit = max_length or self.max_length
        self._tok.enable_truncation(limit, strategy="only_second" if pair is not None else "longest_first")
        try:
            enc = self._tok.encode(text, pair, add_special_tokens=add_special_tokens)
        except Exception as exc:  # e.g. the question alone is longer than the limit
            raise UserError(f"cannot encode input within {limit} tokens: {exc}") from None
        finally:
            self._tok.no_truncation()
        return Encoding(tuple(enc.ids), tuple(enc.offsets), tuple(enc.sequence_ids), bool(enc.overflowing))

    def encode_windows(self, question: str, context: str, stride: int | None = None) -> list[Encoding]:
        """QA input for a context of any length: `<s> question </s></s> window </s>` for consecutive
        windows of the context, each sharing `stride` tokens with the one before (default: a quarter
        of the limit), so an answer cut by one window's edge is whole in the next."""
        stride = self.max_length // 4 if stride is None else stride
        if stride < 0:
            raise UserError(f"--stride must be 0 or more; got {stride}")
        room = self.max_length - len(self._tok.encode(question, add_special_tokens=False).ids) - 4
        if room <= 0:
            raise UserError(f"the question alone fills the model's {self.max_length} tokens; shorten it")
        if stride >= room:
            raise UserError(f"--stride {stride} must be smaller than the {room} context tokens a window holds")
        self._tok.enable_truncation(self.max_length, strategy="only_second", stride=stride)
        try:
            first = self._tok.encode(question, context)
        except Exception as exc:
            raise UserError(f"cannot encode the question and context: {exc}") from None
        finally:
            self._tok.no_truncation()
        return [Encoding(tuple(e.ids), tuple(e.offsets), tuple(e.sequence_ids)) for e in [first, *first.overflowing]]

    def encode_causal(self, text: str) -> Encoding:
        """Causal LM input: `<s>` + the text's tokens, no `</s>` (the model predicts what follows)."""
        enc = self.encode(text, max_length=self.max_length - 1, add_special_tokens=False)
        return Encoding((self.bos_id, *enc.ids), ((0, 0), *enc.offsets), (None, *enc.sequence_ids), enc.truncated)

    def batch(self, encodings: list[Encoding]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad to the longest: (input_ids, attention_mask), both int64 (B, L)."""
        length = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), length), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return ids, mask

    def encode_batch(self, texts: list[str], pairs: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        pairs = pairs or [None] * len(texts)
        return self.batch([self.encode(t, p) for t, p in zip(texts, pairs)])

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=skip_special_tokens)

    def readable_token(self, token_id: int) -> str:
        """One token as text a person can read: its UTF-8, with each byte that is only part of a
        character (byte-level BPE splits them) shown as <0xHH> instead of a U+FFFD, and so is each
        ASCII control character (a lone ESC or newline would garble the terminal)."""
        token = self._tok.id_to_token(int(token_id))
        if token is None or self._tok.decode([int(token_id)]) == "":  # special or unknown: no text
            return ""
        chars = _byte_level_chars()
        raw = bytes(chars[c] for c in token) if all(c in chars for c in token) else token.encode("utf-8")
        text = raw.decode("utf-8", errors=_HEX_BYTES)
        return "".join(f"<0x{ord(c):02X}>" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)

    def id_to_token(self, token_id: int) -> str | None:
        return self._tok.id_to_token(int(token_id))

    def token_to_id(self, token: str) -> int | None:
        return self._tok.token_to_id(token)


_HEX_BYTES = "prelnedge-hex-bytes"
codecs.register_error(_HEX_BYTES, lambda exc: ("".join(f"<0x{b:02X}>" for b in exc.object[exc.start:exc.end]),
                                               exc.end))


@functools.cache
def _byte_level_chars() -> dict[str, int]:
    """GPT-2's byte-level alphabet, character -> byte: printable Latin-1 bytes stand for themselves,
    the other 68 bytes are moved to U+0100 onwards in byte order."""
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    moved = [b for b in range(256) if b not in printable]
    table = {chr(b): b for b in printable}
    table.update({chr(256 + i): b for i, b in enumerate(moved)})
    return table


def _from_vocab_and_merges(path: Path):
    """Rebuild RoBERTa's pipeline from the GPT-2 style files, as the original tokenizer defines it
    (with tokenizer_config.json's add_prefix_space, as transformers reads it; RoBERTa's default off)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    try:
        bpe = models.BPE.from_file(str(path / "vocab.json"), str(path / "merges.txt"))
    except Exception as exc:
        raise UserError(f"cannot read {path}/vocab.json + merges.txt: {exc}") from None
    prefix_space = False
    if (path / "tokenizer_config.json").is_file():
        try:
            prefix_space = bool(json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
                                .get("add_prefix_space", False))
        except (ValueError, AttributeError) as exc:
            raise UserError(f"cannot read {path / 'tokenizer_config.json'}: {exc}") from None
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix_space)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([*SPECIAL_TOKENS, AddedToken(MASK_TOKEN, lstrip=True)])
    tok.post_processor = roberta_template(tok, prefix_space)
    return tok


def roberta_template(tok, prefix_space: bool):
    """RoBERTa's post-processor for a `tokenizers` Tokenizer holding <s> and </s>: `<s> A </s>` and
    `<s> A </s></s> B </s>`, offsets trimmed of byte-level spaces (add_prefix_space as the pre-tokenizer's)."""
    from tokenizers import processors

    return processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")), ("<s>", tok.token_to_id("<s>")),
                                        trim_offsets=True, add_prefix_space=prefix_space)
