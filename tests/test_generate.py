"""The causal LM as a cached decoder: the ONNX export fed its own key/value cache gives transformers'
cached logits and greedy tokens (RobertaPreLayerNormForCausalLM with is_decoder, its own DynamicCache:
the independent reference), padded batches give transformers' full recomputation, quantized decoders are
validated step by step, and `prelnedge generate` runs the embedded model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import config_for
from prelnedge.cli import main
from prelnedge.errors import UserError
from prelnedge.runtime.generate import CachedDecoder, RecomputeDecoder, Sampling, generate
from prelnedge.runtime.sessions import OnnxSession, load_exported
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.decoder import run_steps
from prelnedge.verify.tolerances import FP32_EXPORT

TASK = "causal-lm"
CONFIG = config_for(TASK)
STEPS = 6


def hf_cached_greedy(hf, prompts: np.ndarray, steps: int):
    """transformers' own cached decoding of unpadded prompts (B, L): the logits of every call and the
    greedy tokens."""
    calls, tokens = [], []
    with torch.no_grad():
        ids = torch.from_numpy(prompts)
        out = hf(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
        total = ids.shape[1]
        for _ in range(steps):
            calls.append(out.logits.numpy())
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(nxt.numpy()[:, 0])
            total += 1
            out = hf(input_ids=nxt, attention_mask=torch.ones((len(ids), total), dtype=torch.int64),
                     cache=out.cache, use_cache=True)
        calls.append(out.logits.numpy())
    return calls, np.stack(tokens, axis=1)


def prompts(lengths_per_batch: int, length: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, CONFIG.vocab_size, size=(lengths_per_batch, length))
    ids[:, 0] = CONFIG.bos_token_id
    return ids.astype(np.int64)


@pytest.fixture(scope="module")
def decoder_export(exports):
    return exports(TASK, "onnx", "torch")


@pytest.mark.parametrize("length", [1, 7, CONFIG.max_tokens - STEPS])
def test_onnx_decoder_gives_transformers_cached_logits_and_greedy_tokens(decoder_export, hf_checkpoints, length):
    _, hf = hf_checkpoints[TASK]
    ids = prompts(2, length, seed=length)
    want_calls, want_tokens = hf_cached_greedy(hf, ids, STEPS)
    session = OnnxSession(decoder_export / "model.onnx")
    past, new, mask, got_tokens = None, ids, np.ones_like(ids), []
    for k, want in enumerate(want_calls):
        logits, past = session.run_cached(new, mask, past)
        compare_outputs({"logits": logits}, {"logits": want}, FP32_EXPORT.peak_rel, label=f"call {k}, prompt {length}")
        assert past["past_key_values.0.key"].shape == (2, CONFIG.num_attention_heads, mask.shape[1], CONFIG.head_dim)
        new = logits[:, -1].argmax(-1)[:, None].astype(np.int64)
        got_tokens.append(new[:, 0])
        mask = np.ones((2, mask.shape[1] + 1), np.int64)
    np.testing.assert_array_equal(np.stack(got_tokens[:STEPS], axis=1), want_tokens)
    assert len(set(want_tokens.ravel().tolist())) > 1  # a continuation, not one token repeated


def test_padded_batch_steps_give_transformers_full_recomputation(decoder_export, hf_checkpoints):
    """Right-padded prompts of different lengths, continued in one batch: every step's logits equal
    transformers recomputing the whole padded sequence (its own position ids and causal mask)."""
    _, hf = hf_checkpoints[TASK]
    lengths = [3, 11, 1]
    ids = np.full((3, max(lengths)), CONFIG.pad_token_id, np.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = prompts(1, n, seed=row)[0]
    mask = (ids != CONFIG.pad_token_id).astype(np.int64)

    def transformers_full(i, m):
        with torch.no_grad():
            return {"logits": hf(input_ids=torch.from_numpy(i), attention_mask=torch.from_numpy(m)).logits.numpy()}

    session = OnnxSession(decoder_export / "model.onnx")
    records = run_steps(CachedDecoder(session.run_cached), transformers_full, ids, mask, CONFIG.pad_token_id, steps=4)
    for k, record in enumerate(records):
        compare_outputs({"logits": record["logits"]}, {"logits": record["reference"]}, FP32_EXPORT.peak_rel,
                        label=f"step {k}")
    assert records[-1]["ids"].shape == (3, max(lengths) + 4)


def test_plain_call_with_an_empty_past_is_the_causal_lm(decoder_export, hf_checkpoints):
    _, hf = hf_checkpoints[TASK]
    ids = prompts(2, 9, seed=4)
    mask = np.ones_like(ids)
    mask[1, 6:] = 0
    ids[1, 6:] = CONFIG.pad_token_id
    with torch.no_grad():
        want = hf(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    session = OnnxSession(decoder_export / "model.onnx")
    assert session.output_names == ("logits",)
    assert len(session.cache_inputs) == 2 * CONFIG.num_hidden_layers
    compare_outputs(session.run(ids, mask), {"logits": want}, FP32_EXPORT.peak_rel)


def test_export_records_the_cached_validation(decoder_export):
    validation = json.loads((decoder_export / "validation.json").read_text())
    cached = validation["cached_decoder"]
    assert cached["greedy_agreement"] == 1.0 and cached["cases"] >= 9
    assert 0 < cached["vs_reference"]["peak_rel"] <= FP32_EXPORT.peak_rel
    inputs = {i.name: i.shape for i in OnnxSession(decoder_export / "model.onnx")._session.get_inputs()}
    assert inputs["past_key_values.2.value"] == ["batch_size", CONFIG.num_attention_heads, "past_sequence_length",
                                                 CONFIG.head_dim]
    assert inputs["attention_mask"] == ["batch_size", "total_sequence_length"]
    manifest = json.loads((decoder_export / "manifest.json").read_text())
    assert manifest["export"]["cache"]["inputs"][:2] == ["past_key_values.0.key", "past_key_values.0.value"]


def test_generate_loop_gives_transformers_greedy_tokens_cached_and_recomputed(decoder_export, hf_checkpoints):
    _, hf = hf_checkpoints[TASK]
    prompt = prompts(1, 5, seed=9)
    _, want = hf_cached_greedy(hf, prompt, STEPS)
    model = load_exported(decoder_export)
    for decoder in (CachedDecoder(model.session.run_cached), RecomputeDecoder(model)):
        result = generate(decoder, prompt[0].tolist(), STEPS, eos_id=-1, max_tokens=CONFIG.max_tokens)
        assert result.new_ids == want[0].tolist() and result.stop == "max-new-tokens"


def test_generation_stops_at_the_limit_and_refuses_a_full_prompt(decoder_export):
    model = load_exported(decoder_export)
    decoder = CachedDecoder(model.session.run_cached)
    prompt = prompts(1, CONFIG.max_tokens - 3, seed=2)[0].tolist()
    result = generate(decoder, prompt, 50, eos_id=-1, max_tokens=CONFIG.max_tokens)
    assert (len(result.new_ids), result.stop) == (3, "limit")
    with pytest.raises(UserError, match="no room for a new token"):
        generate(decoder, prompts(1, CONFIG.max_tokens, seed=2)[0].tolist(), 5, eos_id=-1, max_tokens=CONFIG.max_tokens)


def test_sampling_is_seeded_and_narrows_to_greedy(decoder_export):
    model = load_exported(decoder_export)
    decoder = CachedDecoder(model.session.run_cached)
    prompt = prompts(1, 4, seed=5)[0].tolist()

    def run(sampling):
        return generate(decoder, prompt, 8, eos_id=-1, max_tokens=CONFIG.max_tokens, sampling=sampling).new_ids

    greedy = run(Sampling())
    assert run(Sampling(sample=True, top_k=1, seed=0)) == greedy
    assert run(Sampling(sample=True, top_p=1e-6, seed=0)) == greedy
    hot = Sampling(sample=True, temperature=5.0, seed=11)
    assert run(hot) == run(hot)
    assert any(run(Sampling(sample=True, temperature=5.0, seed=s)) != greedy for s in range(3))
    with pytest.raises(UserError, match="with --sample only"):
        Sampling(top_k=3)


@pytest.mark.parametrize("mode", ["int8-dynamic", "fp16", "int8-static"])
def test_quantized_decoder_is_validated_step_by_step(decoder_export, hf_checkpoints, tmp_path, mode):
    from prelnedge.quantize import get_mode
    from prelnedge.quantize.stage import quantize_folder

    folder, _ = hf_checkpoints[TASK]
    written = quantize_folder(decoder_export, mode, tmp_path / mode, model=folder)
    cached = json.loads((written.folder / "validation.json").read_text())["cached_decoder"]
    floor = get_mode("onnx", mode).tolerance
    assert cached["vs_reference"]["min_sqnr_db"] >= floor.min_sqnr_db
    assert cached["greedy_agreement"] >= floor.min_agreement
    model = load_exported(written.folder)
    result = generate(CachedDecoder(model.session.run_cached), [0, 17, 33], 4, eos_id=-1, max_tokens=CONFIG.max_tokens)
    assert len(result.new_ids) == 4


def test_generate_cli_streams_and_prints_json_on_the_embedded_model(capsys):
    assert main(["generate", "--prompt", "The weather in", "--max-new-tokens", "6", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (len(answer["new_ids"]), answer["stop"], answer["cached"]) == (6, "max-new-tokens", True)
    assert answer["prompt_ids"][0] == 0 and answer["text"].strip()
    assert main(["generate", "--prompt", "The weather in", "--max-new-tokens", "6"]) == 0
    streamed = capsys.readouterr().out.splitlines()
    assert streamed[0] == "The weather in" + answer["text"]
    assert streamed[1] == "[6 tokens; stopped at --max-new-tokens 6]"


@pytest.mark.parametrize("argv, message", [
    (["--prompt", "x", "--temperature", "0.5"], "with --sample only"),
    (["--prompt", "x", "--sample", "--top-p", "1.5"], "--top-p must lie in (0, 1]"),
    (["--prompt", "x", "--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    (["--prompt", "word " * 400], "longer than the model's limit"),
    (["some-export", "--model", "ckpt", "--prompt", "x"], "not both"),
])
def test_generate_cli_bad_input_is_one_line(capsys, argv, message):
    assert main(["generate", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_golden_generation_is_transformers_greedy_and_replays_with_the_cache(default_onnx_export):
    """The embedded model's golden continuation equals transformers' own cached greedy decoding, and
    the replay (the export decoding with its cache) fails on a changed token."""
    import transformers

    from prelnedge.errors import ValidationError
    from prelnedge.runtime.generate import cached_step_of
    from prelnedge.verify.replay import replay_generation
    from prelnedge.verify.rules import golden_rule

    folder = default_onnx_export(TASK)
    golden = json.loads((folder / "golden.json").read_text())["generation"]
    default = __import__("prelnedge").__file__.replace("__init__.py", "default_model")
    config = transformers.AutoConfig.from_pretrained(default)
    config.is_decoder = True
    hf = transformers.RobertaPreLayerNormForCausalLM.from_pretrained(default, config=config).eval()
    _, tokens = hf_cached_greedy(hf, np.array([golden["prompt_ids"]]), len(golden["new_ids"]))
    assert tokens[0].tolist() == golden["new_ids"] and golden["stop"] == "max-new-tokens"
    assert golden["text"].strip()

    model = load_exported(folder)
    rule = golden_rule(json.loads((folder / "manifest.json").read_text()))
    assert replay_generation(golden, model, rule, cached_step_of(model.session)) == 1.0
    changed = dict(golden, new_ids=[*golden["new_ids"][:-1], golden["new_ids"][-1] + 1])
    with pytest.raises(ValidationError, match="golden generation"):
        replay_generation(changed, model, rule, cached_step_of(model.session))


@pytest.mark.filterwarnings("ignore::prelnedge.checkpoint.load.HeadInitializedWarning")
def test_web_page_generates_with_the_cache_and_replays_the_golden_continuation(default_onnx_export, tmp_path):
    """The causal-lm web bundle in Chromium: the self-test replays golden.json's greedy continuation with
    the page's own cached loop, and Generate streams the Python generator's tokens into the page."""
    from test_web_bundle import cli, run_pages, serve
    from web_support import require_node_modules
    from prelnedge.runtime.generate import DEMO_NEW_TOKENS  # what the page asks for per press (spec.decode)

    require_node_modules("onnxruntime-web", "playwright-core")
    folder = default_onnx_export(TASK)
    cli("bundle", str(folder), "--platform", "web", "--out", str(tmp_path / "site" / TASK))
    prompt = "The lamp was first fuelled by"
    want = json.loads(cli("generate", str(folder), "--prompt", prompt, "--max-new-tokens", str(DEMO_NEW_TOKENS), "--json"))
    with serve(tmp_path / "site") as base:
        result = run_pages(base, {TASK: {"form": {"text": prompt, "button": "generate"}}}, tmp_path)[TASK]
    assert not result["errors"], result["errors"]
    assert result["selftest"].startswith("SELFTEST PASS") and " generation=12/12 cached" in result["selftest"]
    shown = json.loads(result["json"])
    assert (shown["new_ids"], shown["stop"], shown["cached"]) == (want["new_ids"], want["stop"], True)
    assert result["answer"] == prompt + want["text"]


def test_greedy_agreement_follows_the_float_continuation(decoder_export):
    """fidelity.greedy_agreement (the report's column for causal LMs): 1 for the same model, 0 for a model
    that always picks another token, and the continuation never runs past the model's limit."""
    from prelnedge.verify.fidelity import greedy_agreement

    model = load_exported(decoder_export)
    ids = prompts(1, 5, seed=3)
    assert greedy_agreement(model, model, ids, eos_id=-1, max_tokens=CONFIG.max_tokens) == 1.0

    def shifted(i, m):  # the same logits rolled by one token: never the same argmax
        return {"logits": np.roll(model(i, m)["logits"], 1, axis=-1)}

    assert greedy_agreement(shifted, model, ids, eos_id=-1, max_tokens=CONFIG.max_tokens) == 0.0
    lengths = []

    def counting(i, m):
        lengths.append(i.shape[1])
        return model(i, m)

    greedy_agreement(model, counting, prompts(1, CONFIG.max_tokens - 2, seed=1), eos_id=-1, max_tokens=CONFIG.max_tokens)
    assert max(lengths) == CONFIG.max_tokens and len(lengths) == 3
    assert greedy_agreement(model, model, prompts(1, CONFIG.max_tokens, seed=1), -1, CONFIG.max_tokens) == 1.0


def test_attention_fusion_leaves_the_cached_decoder_unfused(decoder_export, tmp_path):
    """The measured-not-adopted attention fusion (quantize/onnx.py fuse_attention_for_ort, no mode uses it)
    finds no attention to fuse in the decoder: its keys and values concatenate the past first."""
    from prelnedge.quantize.onnx import fuse_attention_for_ort

    assert fuse_attention_for_ort(decoder_export / "model.onnx", tmp_path / "fused.onnx") == {}


def test_tflite_export_generates_by_recomputation(exports, hf_checkpoints):
    """A TFLite causal-lm export has no cache contract yet: generate recomputes the sequence per token and
    still gives transformers' greedy tokens."""
    from prelnedge.models.decoding import decoder_for

    _, hf = hf_checkpoints[TASK]
    prompt = prompts(1, 6, seed=12)
    _, want = hf_cached_greedy(hf, prompt, STEPS)
    decoder = decoder_for(load_exported(exports(TASK, "tflite", "tf")))
    assert not decoder.cached
    result = generate(decoder, prompt[0].tolist(), STEPS, eos_id=-1, max_tokens=CONFIG.max_tokens)
    assert result.new_ids == want[0].tolist()
