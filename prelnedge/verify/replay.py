"""Golden replay: every example of golden.json through a model, judged by the artifact's rule.

One loop for every Python caller (`prelnedge validate`, the Android bundle's model.ort check). For
each example and each stored output, in order:
1. the model gives the output, with the stored shape, and every number of it is finite;
2. outputs stored whole are held to the rule (prelnedge.verify.rules.GoldenRule);
3. outputs too large to store whole (argmax over the last axis + a slice of it) are held to the
   rule on the slice and, for a float model, to the argmax too (a quantized model may flip a
   near-tie, which its SQNR floor already bounds).
Outputs at padded positions are stored as 0 (they carry no answer, and an unpadded-only model
cannot produce them): the model's are zeroed the same way before the comparison.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from prelnedge.errors import ValidationError
from prelnedge.verify.rules import GoldenRule

Forward = Callable[[np.ndarray, np.ndarray], dict[str, np.ndarray]]
SLICE = "slice_last_axis_64"  # prelnedge.verify.golden stores large outputs' first 64 entries of the last axis


def replay_golden(golden: dict, task, run: Forward, rule: GoldenRule,
                  label: str = "golden example", cached_step: Callable | None = None) -> dict[str, float]:
    """Raise ValidationError naming the example and output on a miss. Returns the worst value of the
    rule's statistic per output (`start_logits.peak_rel`, `logits.sqnr_db`, ...), and for a causal LM
    `generation.greedy_agreement` (see replay_generation)."""
    from prelnedge.verify.golden import zero_padded_positions

    worst: dict[str, float] = {}
    for i, example in enumerate(golden["examples"]):
        where = f"{label} {i}"
        mask = np.array(example["attention_mask"])
        got = zero_padded_positions(task, run(np.array(example["input_ids"]), mask), mask)
        actual, expected = {}, {}
        for name, stored in example["expected"].items():
            if name not in got:
                raise ValidationError(f"{where}: the model gives no {name} (it gives {sorted(got)})")
            value = np.asarray(got[name])
            if list(value.shape) != stored["shape"]:
                raise ValidationError(f"{where}: {name} has shape {list(value.shape)}, golden {stored['shape']}")
            if not np.isfinite(value).all():  # the whole output, not only the part golden.json stores
                raise ValidationError(f"{where}: {name} holds NaN or inf")
            if "values" in stored:
                actual[name], expected[name] = value, np.array(stored["values"], np.float32)
                continue
            actual[name], expected[name] = value[..., :64], np.array(stored[SLICE], np.float32)
            if not rule.quantized and not np.array_equal(value.argmax(-1), np.array(stored["argmax"])):
                raise ValidationError(f"{where}: {name}'s argmax differs from golden")
        for name, stats in rule.check(actual, expected, where).items():
            key = f"{name}.{rule.statistic}"
            value = getattr(stats, rule.statistic)
            worst[key] = rule.worse(worst[key], value) if key in worst else value
    if "generation" in golden:
        worst["generation.greedy_agreement"] = replay_generation(golden["generation"], run, rule, cached_step)
    return worst


def replay_generation(generation: dict, run: Forward, rule: GoldenRule, cached_step: Callable | None = None) -> float:
    """The golden greedy continuation, decoded by the model itself (with its key/value cache when
    `cached_step` is given, else recomputing). A float model must give the same tokens and stop; a
    quantized one may flip a near-tie: the share of tokens before the first difference must reach the
    mode's agreement floor. Returns that share."""
    from prelnedge.runtime.generate import CachedDecoder, RecomputeDecoder, generate

    decoder = CachedDecoder(cached_step) if cached_step is not None else RecomputeDecoder(run)
    got = generate(decoder, generation["prompt_ids"], generation["max_new_tokens"], generation["eos_id"],
                   generation["max_tokens"])
    want = generation["new_ids"]
    same = next((i for i, (a, b) in enumerate(zip(got.new_ids, want)) if a != b), min(len(got.new_ids), len(want)))
    agreement = same / len(want)
    if not rule.quantized and (got.new_ids != want or got.stop != generation["stop"]):
        raise ValidationError(f"golden generation: the model continues {generation['prompt']!r} with ids "
                              f"{got.new_ids} (stop: {got.stop}), golden {want} (stop: {generation['stop']})")
    if rule.quantized and agreement < rule.tolerance.min_agreement:
        raise ValidationError(f"golden generation: greedy agreement {agreement:.2f} (tokens before the first "
                              f"difference) is under the {rule.tolerance.name} floor {rule.tolerance.min_agreement:g}")
    return agreement
