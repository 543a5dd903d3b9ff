"""Validation of a cached decoder (a causal-lm export fed its own key/value cache), step by step.

Per case: a right-padded batch of prompts (several lengths, up to the model's limit) runs with an empty
past, then STEPS single-token steps, each row continuing with the token the float reference picks
greedily (teacher forcing: both sides then see the same sequence, so one miss does not hide the next
steps). Every step's logits are compared with
- the float reference recomputing the whole padded sequence (positions and masks done the independent,
  uncached way), and
- the artifact itself recomputing the whole sequence with an empty past (the cache changes nothing
  but the amount of work),
and the artifact's own greedy token is compared with the reference's (greedy agreement).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from prelnedge.errors import ValidationError
from prelnedge.verify.compare import judge_over_set, measure_outputs
from prelnedge.config import PreLNConfig
from prelnedge.runtime.generate import Decoder
from prelnedge.verify.tolerances import Tolerance

Forward = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]
STEPS = 4  # generated tokens per case


def decoder_cases(config: PreLNConfig, max_tokens: int | None = None, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """Right-padded prompt batches: one token, mixed short lengths, and prompts that end STEPS tokens
    before the limit, so the last step uses the last position."""
    longest = (max_tokens or config.max_tokens) - STEPS
    cases = [[1], [min(6, longest), 2, min(9, longest)], [longest, max(1, longest // 2)]]
    rng = np.random.default_rng(seed)
    batches = []
    for lengths in cases:
        ids = np.full((len(lengths), max(lengths)), config.pad_token_id, dtype=np.int64)
        for row, n in enumerate(lengths):
            body = rng.integers(4, config.vocab_size - 1, size=n)  # skip specials and <mask>
            body[0] = config.bos_token_id
            ids[row, :n] = body
        batches.append((ids, (ids != config.pad_token_id).astype(np.int64)))
    return batches


def run_steps(decoder: Decoder, reference: Forward, ids: np.ndarray, mask: np.ndarray, pad_id: int,
              steps: int = STEPS) -> list[dict[str, np.ndarray]]:
    """Per call (the prompt, then each step): the decoder's logits, the reference's logits for the
    same positions from full recomputation, and the sequence so far (ids, mask)."""
    records = []
    past, new_ids = None, ids
    for k in range(steps + 1):
        logits, past = decoder.step(new_ids, mask, past)
        want = reference(ids, mask)["logits"][:, -new_ids.shape[1]:]
        records.append({"logits": logits, "reference": want, "ids": ids, "mask": mask})
        following = _last_real(want, mask, k == 0).astype(np.float64)
        # the reference's greedy pick, never <pad>: a pad id fed as a real token gets the pad position in
        # full recomputation (positions come from the ids) but counts as seen in the cache (the mask)
        following[:, pad_id] = -np.inf
        new_ids = np.argmax(following, axis=-1)[:, None].astype(np.int64)
        ids = np.concatenate([ids, new_ids], axis=1)
        mask = np.concatenate([mask, np.ones_like(new_ids)], axis=1)
    return records


def _last_real(logits: np.ndarray, mask: np.ndarray, is_prompt: bool) -> np.ndarray:
    """(B, L, V) -> (B, V): the distribution over the next token of each row."""
    rows = np.arange(len(logits))
    return logits[rows, mask.sum(axis=1) - 1] if is_prompt else logits[rows, -1]


def validate_decoder(decoder: Decoder, reference: Forward, artifact_forward: Forward, config: PreLNConfig,
                     tol: Tolerance, max_tokens: int | None = None) -> dict:
    """Raise ValidationError on a miss; the summary validation.json records under "cached_decoder"."""
    vs_reference, vs_recompute, agree, total = [], [], 0, 0
    for ids, mask in decoder_cases(config, max_tokens):
        for k, record in enumerate(run_steps(decoder, reference, ids, mask, config.pad_token_id)):
            label = f"cached decoder step {k} (prompt lengths {mask[:, :ids.shape[1]].sum(axis=1).tolist()})"
            got = {"logits": record["logits"]}
            vs_reference.append((label + " vs float reference",
                                 measure_outputs(got, {"logits": record["reference"]}, label)))
            n = record["logits"].shape[1]
            recomputed = artifact_forward(record["ids"], record["mask"])["logits"][:, -n:]
            vs_recompute.append((label + " vs its own full recomputation",
                                 measure_outputs(got, {"logits": recomputed}, label)))
            mine = _last_real(record["logits"], record["mask"], k == 0).argmax(-1)
            theirs = _last_real(record["reference"], record["mask"], k == 0).argmax(-1)
            agree, total = agree + int((mine == theirs).sum()), total + len(mine)
    summary = {"steps": STEPS, "cases": len(vs_reference), "greedy_agreement": agree / total}
    for key, cases in (("vs_reference", vs_reference), ("vs_recompute", vs_recompute)):
        summary[key] = _judge(cases, tol)
    if tol.quantized and summary["greedy_agreement"] < tol.min_agreement:
        raise ValidationError(f"cached decoder: greedy-token agreement {summary['greedy_agreement']:.3f} with the float "
                              f"reference is under the floor {tol.min_agreement:g} ({tol.name})")
    return summary


def _judge(cases, tol: Tolerance) -> dict:
    """fp32: peak_rel over the set (as the export's validation); quantized: every step's SQNR floor."""
    if not tol.quantized:
        judged = judge_over_set(cases, tol.peak_rel)
        return {"peak_rel": max(s["logits"].peak_rel for s in judged),
                "max_abs": max(s["logits"].max_abs for s in judged)}
    worst = min(stats["logits"].sqnr_db for _, stats in cases)
    if worst < tol.min_sqnr_db:
        label = min(cases, key=lambda c: c[1]["logits"].sqnr_db)[0]
        raise ValidationError(f"{label}: logits SQNR {worst:.1f} dB is under the floor {tol.min_sqnr_db:g} dB "
                              f"({tol.name})")
    return {"min_sqnr_db": worst, "min_cosine": min(stats["logits"].cosine for _, stats in cases)}


def validate_session_cache(session, reference: Forward, config: PreLNConfig, tol: Tolerance,
                           max_tokens: int | None = None) -> dict | None:
    """validate_decoder for a runtime session that has a key/value cache (runtime.sessions.OnnxSession of
    a causal-lm export); None for a session without one."""
    from prelnedge.runtime.generate import CachedDecoder

    if not getattr(session, "cache_inputs", ()):
        return None
    return validate_decoder(CachedDecoder(session.run_cached), reference, session.run, config, tol, max_tokens)
