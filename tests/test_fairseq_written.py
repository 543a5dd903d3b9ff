"""Checkpoints written by fairseq 0.12.2 itself load, and our reference reproduces fairseq's own outputs.

fairseq runs in its own venv (.venvs/fairseq, see client_venvs.py: Python 3.8, torch 1.13.1, fairseq
0.12.2), in a subprocess (tests/fairseq_writer.py): it builds a tiny RoBERTa with --encoder-normalize-before through
its own option parser, task and Trainer, saves it, loads it back and saves it again (which fills the
BetterTransformer fast-path copies), changes the weights and saves once more (the copies then stale, as
after fine-tuning with --restore-file), and dumps its features, per-layer states, LM and classification
logits for a padded batch. Here prelnedge loads the files and must give fairseq's numbers.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

import prelnedge
from client_venvs import ROOT, client_python
from prelnedge.checkpoint.load import HeadInitializedWarning, load_checkpoint
from prelnedge.errors import CheckpointError
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.tolerances import tolerance

TOL = tolerance("fp32-reference").peak_rel


@pytest.fixture(scope="module")
def fairseq_dir(tmp_path_factory):
    python = client_python("fairseq")
    out = tmp_path_factory.mktemp("fairseq")
    run = subprocess.run([str(python), str(ROOT / "tests/fairseq_writer.py"), str(out / "w")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"fairseq writer failed:\n{run.stderr[-3000:]}"
    return out / "w"


def load(file, task):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HeadInitializedWarning)  # no pooler in fairseq: base gets one
        return prelnedge.load_reference(file, task=task, output_hidden_states=True)


def fast_path_copies(file) -> tuple[bool, bool]:
    """(filled, stale) for layer 1's in_proj_weight copy in `file`."""
    weights = torch.load(file, map_location="cpu", weights_only=False)["model"]
    layer = "encoder.sentence_encoder.layers.1."
    real = torch.cat([weights[f"{layer}self_attn.{p}_proj.weight"] for p in "qkv"])
    copy = weights[layer + "in_proj_weight"]
    return bool(copy.any()), bool(copy.any()) and not torch.equal(copy, real)


@pytest.mark.parametrize("name,copies", [("fresh.pt", (False, False)), ("reloaded.pt", (True, False)),
                                         ("finetuned.pt", (True, True))])
def test_fairseq_written_checkpoint_matches_fairseq(fairseq_dir, name, copies):
    file = fairseq_dir / name
    assert fast_path_copies(file) == copies  # the case this file stands for: zeros, true copies, stale copies
    outputs = "finetuned-" if name == "finetuned.pt" else ""  # fairseq's own outputs for this file's weights
    loaded = load_checkpoint(file, "masked-lm")
    assert loaded.source_format == "fairseq"
    assert (loaded.config.num_hidden_layers, loaded.config.hidden_size, loaded.config.num_attention_heads,
            loaded.config.vocab_size) == (2, 32, 4, 55)

    ids = np.load(fairseq_dir / "ids.npy")
    mask = (ids != 1).astype(np.int64)
    real = mask.astype(bool)  # fairseq zeroes pad positions' embeddings; only real tokens are compared
    lm, base = load(file, "masked-lm")(ids, mask), load(file, "base")(ids, mask)
    states = np.load(fairseq_dir / f"{outputs}inner_states.npy")
    got = {"lm_logits": lm["logits"][real], "features": base["last_hidden_state"][real],
           **{f"hidden_states.{i}": base[f"hidden_states.{i}"][real] for i in range(len(states))},
           "cls_logits": load(file, "sequence-classification")(ids, mask)["logits"]}
    want = {"lm_logits": np.load(fairseq_dir / f"{outputs}lm_logits.npy")[real],
            "features": np.load(fairseq_dir / f"{outputs}features.npy")[real],
            **{f"hidden_states.{i}": state[real] for i, state in enumerate(states)},
            "cls_logits": np.load(fairseq_dir / f"{outputs}cls_logits.npy")}
    compare_outputs(got, want, TOL, label=f"{name} vs fairseq")


def test_stale_fast_path_copies_are_set_aside_and_said(fairseq_dir):
    """fairseq rebuilds the copies from the real weights on every load: prelnedge sets them aside
    too (the match above) and `info` says so, counting the stale ones."""
    notes = " ".join(load_checkpoint(fairseq_dir / "finetuned.pt", "masked-lm").unused)
    assert "set aside 16 fairseq fast-path copies" in notes and "16 were stale" in notes, notes
    assert "stale" not in " ".join(load_checkpoint(fairseq_dir / "reloaded.pt", "masked-lm").unused)
    run = subprocess.run([sys.executable, "-m", "prelnedge.cli", "info", "--model", str(fairseq_dir / "finetuned.pt")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "note: set aside 16 fairseq fast-path copies" in run.stdout


def test_omegaconf_pickle_is_refused_in_one_line(fairseq_dir):
    with pytest.raises(CheckpointError, match=r"load omegaconf\.dictconfig\.DictConfig") as err:
        load_checkpoint(fairseq_dir / "resaved_by_hand.pt", "masked-lm")
    assert "\n" not in str(err.value)


def test_cli_info_reads_a_fairseq_written_checkpoint(fairseq_dir):
    run = subprocess.run([sys.executable, "-m", "prelnedge.cli", "info", "--model", str(fairseq_dir / "fresh.pt")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "fairseq" in run.stdout
