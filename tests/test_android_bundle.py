"""Android bundles: `prelnedge bundle OUT --platform android`, checked on the JVM by
android_demo/selftest.sh (Java tokenizer + post-processing against the golden vectors).

The app itself cannot be built here (no Android SDK) and LiteRT's and ONNX Runtime's Java APIs need
Android, so the Java self-test checks the model file's format identifier; the outputs a Python run
of the bundle's own model gives (prelnedge.bundle.record) go through the app's golden check.
ONNX exports become model.ort, verified in Python before the bundle is written.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

from prelnedge.cli import main as cli_main
from prelnedge.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
ANDROID_DEMO = ROOT / "android_demo"
SELFTEST = ANDROID_DEMO / "selftest.sh"


@functools.lru_cache(maxsize=None)
def compiled_java() -> Path:
    """android_demo/core, main and test sources, compiled once per session for Java 8 as the app is."""
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("javac/java (JDK 17) not on PATH: the Android core is tested on a desktop JVM")
    out = Path(tempfile.mkdtemp(prefix="prelnedge-java-"))
    atexit.register(shutil.rmtree, out, True)
    sources = sorted(str(p) for p in (ANDROID_DEMO / "core" / "src").rglob("*.java"))
    done = subprocess.run(["javac", "--release", "8", "-encoding", "UTF-8", "-d", str(out), *sources],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def selftest(assets: Path, precompiled: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if precompiled:
        env["PRELNEDGE_JAVA_CLASSES"] = str(compiled_java())
    else:
        compiled_java()  # skips without a JDK
        env.pop("PRELNEDGE_JAVA_CLASSES", None)
    return subprocess.run(["bash", str(SELFTEST), str(assets)], capture_output=True, text=True, env=env, timeout=120)


def export(tmp_path_factory, task: str, target: str = "tflite", quantize: str | None = None) -> Path:
    from prelnedge.checkpoint.load import HeadInitializedWarning
    from prelnedge.pipeline import ExportConfig, export as run_export

    with warnings.catch_warnings():
        # The embedded model has no token-classification or multiple-choice head; a random one is
        # as good as any for checking the app's tokenizer and post-processing.
        warnings.simplefilter("ignore", HeadInitializedWarning)
        out = tmp_path_factory.mktemp(f"export-{task}-{target}") / "out"
        return run_export(ExportConfig(task=task, target=target, out=out, quantize=quantize)).folder


def bundle(export_dir: Path, out: Path) -> Path:
    assert cli_main(["bundle", str(export_dir), "--platform", "android", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def qa_export(tmp_path_factory) -> Path:
    return export(tmp_path_factory, "qa")


@pytest.fixture(scope="session")
def tagging_export(tmp_path_factory) -> Path:
    return export(tmp_path_factory, "token-classification")


@pytest.fixture(scope="session")
def qa_onnx_export(default_onnx_export) -> Path:
    return default_onnx_export("qa")  # shared with the web and transformers.js tests (conftest.py)


@pytest.fixture(scope="session")
def qa_ort_bundle(qa_onnx_export, tmp_path_factory) -> Path:
    return bundle(qa_onnx_export, tmp_path_factory.mktemp("bundles") / "qa-ort")


@pytest.fixture(scope="session")
def qa_bundle(qa_export, tmp_path_factory) -> Path:
    return bundle(qa_export, tmp_path_factory.mktemp("bundles") / "qa")


@pytest.fixture(scope="session")
def tagging_bundle(tagging_export, tmp_path_factory) -> Path:
    return bundle(tagging_export, tmp_path_factory.mktemp("bundles") / "tagging")


def copy_of(bundle_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(bundle_dir, tmp_path / "copy"))


def edit_golden(folder: Path, change) -> None:
    golden = json.loads((folder / "golden.json").read_text(encoding="utf-8"))
    change(golden)
    (folder / "golden.json").write_text(json.dumps(golden, ensure_ascii=False), encoding="utf-8")


def test_qa_bundle_layout(qa_bundle, qa_export):
    names = sorted(p.name for p in qa_bundle.iterdir())
    assert names == ["config.json", "golden.json", "manifest.json", "merges.txt", "model.tflite",
                     "tokenizer.json", "tokenizer_config.json", "vocab.json"]  # no labels.txt: qa's outputs are not labels
    assert (qa_bundle / "model.tflite").read_bytes() == (qa_export / "model.tflite").read_bytes()
    manifest = json.loads((qa_bundle / "manifest.json").read_text())
    facts = manifest["bundle"]
    assert facts["task"] == "qa" and facts["signature"] == "serving_default" and facts["labels"] is None
    spec = manifest["spec"]  # what the app dispatches on (bundle/runtime_spec.py)
    assert (spec["task"], spec["head_kind"], spec["causal"], spec["labelled"]) == ("qa", "span", False, False)
    assert [f["name"] for f in spec["request"]] == ["question", "context"]
    assert [(t["name"], t["axes"], t["dtype"]) for t in spec["outputs"]] == \
        [("start_logits", ["B", "L"], "float32"), ("end_logits", ["B", "L"], "float32")]
    assert [t["dtype"] for t in spec["inputs"]] == ["int32", "int32"]  # the TFLite export's narrowed ids
    assert spec["rule"] == {"peak_rel": 1e-4, "tolerance": "fp32-export", "decoded": "exact", "score_tol": 1e-4}
    assert facts["files"]["model.tflite"] == (qa_bundle / "model.tflite").stat().st_size
    assert facts["total_bytes"] == sum(facts["files"].values())


def test_labels_txt_in_id_order(tagging_bundle):
    config = json.loads((tagging_bundle / "config.json").read_text())
    labels = (tagging_bundle / "labels.txt").read_text(encoding="utf-8").splitlines()
    assert labels == [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    assert json.loads((tagging_bundle / "manifest.json").read_text())["bundle"]["labels"] == labels


def test_selftest_passes_qa(qa_bundle):
    done = selftest(qa_bundle, precompiled=False)  # the script compiles the core itself
    assert done.returncode == 0, done.stdout + done.stderr
    line = done.stdout.strip()
    assert line.startswith("SELFTEST PASS examples=4 tokenized=3 decoded=3 task=qa"), line
    assert "vocab.json+merges.txt" in line  # both tokenizer sources reproduce the golden ids


def test_selftest_passes_token_classification(tagging_bundle):
    done = selftest(tagging_bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("SELFTEST PASS examples=5 tokenized=4 decoded=4 task=token-classification")


@pytest.mark.parametrize("change,needle", [
    (lambda g: g["examples"][0]["input_ids"][0].__setitem__(3, g["examples"][0]["input_ids"][0][3] + 1),
     "example 0: input_ids differ at flat index 3"),
    (lambda g: g["examples"][1]["offsets"][2].__setitem__(1, 99), "example 1: offsets differ at token 2"),
    (lambda g: g["examples"][1]["decoded"].__setitem__("answer", "not the answer"), "decoded.answer"),
    (lambda g: g["examples"][0]["decoded"].__setitem__("score", g["examples"][0]["decoded"]["score"] + 1e-3),
     "decoded.score"),
], ids=["changed-id", "changed-offset", "changed-answer", "changed-score"])
def test_corrupted_golden_fails(qa_bundle, tmp_path, change, needle):
    folder = copy_of(qa_bundle, tmp_path)
    edit_golden(folder, change)
    done = selftest(folder)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("SELFTEST FAIL "), done.stdout
    assert needle in done.stdout


def test_changed_label_fails(tagging_bundle, tmp_path):
    folder = copy_of(tagging_bundle, tmp_path)
    labels = (folder / "labels.txt").read_text(encoding="utf-8").splitlines()
    (folder / "labels.txt").write_text("\n".join(reversed(labels)) + "\n", encoding="utf-8")
    done = selftest(folder)
    assert done.returncode == 1 and "labels.txt" in done.stdout, done.stdout


@pytest.mark.parametrize("damage,needle", [
    (lambda f: (f / "model.tflite").write_bytes(b"not a flatbuffer"), "not a TFLite flatbuffer"),
    (lambda f: (f / "model.tflite").unlink(), "has no model.tflite"),
    (lambda f: (f / "golden.json").unlink(), "has no golden.json"),
    (lambda f: [(f / n).unlink() for n in ("tokenizer.json", "vocab.json")], "no tokenizer"),
], ids=["bad-model", "no-model", "no-golden", "no-tokenizer"])
def test_damaged_bundle_fails(qa_bundle, tmp_path, damage, needle):
    folder = copy_of(qa_bundle, tmp_path)
    damage(folder)
    done = selftest(folder)
    assert done.returncode == 1 and done.stdout.startswith("SELFTEST FAIL") and needle in done.stdout, done.stdout


def test_unknown_target_is_refused(qa_export, tmp_path):
    fake = Path(shutil.copytree(qa_export, tmp_path / "other-export"))
    manifest = json.loads((fake / "manifest.json").read_text())
    manifest["target"] = "coreml"
    (fake / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "-m", "prelnedge.cli", "bundle", str(fake), "--platform", "android",
                           "--out", str(tmp_path / "bundle")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"prelnedge: error: {fake} is a coreml export; android bundles take: tflite, onnx"]
    assert not (tmp_path / "bundle").exists()


def record(bundle_dir: Path, out: Path) -> Path:
    from prelnedge.artifact import write_json
    from prelnedge.bundle.record import record_outputs

    write_json(out, record_outputs(bundle_dir))
    return out


def test_ort_bundle_layout(qa_ort_bundle, qa_onnx_export):
    names = sorted(p.name for p in qa_ort_bundle.iterdir())
    assert names == ["config.json", "golden.json", "manifest.json", "merges.txt", "model.ort",
                     "tokenizer.json", "tokenizer_config.json", "vocab.json"]
    assert (qa_ort_bundle / "model.ort").read_bytes()[4:8] == b"ORTM"  # ONNX Runtime's flatbuffer identifier
    manifest = json.loads((qa_ort_bundle / "manifest.json").read_text())
    facts = manifest["bundle"]
    assert (facts["model_file"], facts["runtime"], facts["input_dtype"], facts["signature"]) == \
        ("model.ort", "onnxruntime", "int64", None)
    assert {t["name"]: t["axes"] for t in manifest["spec"]["outputs"]} == {"start_logits": ["B", "L"], "end_logits": ["B", "L"]}
    verification = facts["verification"]
    assert verification["golden_examples"] == 4  # 2 questions, one at the maximum length, a padded batch
    assert 0 <= verification["golden"]["start_logits.peak_rel"] <= 1e-5
    assert verification["vs_onnx_peak_rel"] <= verification["vs_onnx_tolerance"] == 1e-5


def test_ort_model_runs_like_the_onnx_export(qa_ort_bundle, qa_onnx_export):
    """Independently of the bundle's own check: model.ort in onnxruntime equals model.onnx on a padded batch."""
    import numpy as np
    import onnxruntime as ort

    from prelnedge.verify.compare import compare_outputs
    from prelnedge.verify.tolerances import FP32_EXPORT

    ids = np.array([[0, 31, 45, 99, 2, 1, 1], [0, 7, 8, 9, 10, 11, 2]], np.int64)
    feeds = {"input_ids": ids, "attention_mask": (ids != 1).astype(np.int64)}
    outputs = {}
    for name, file in (("model.ort", qa_ort_bundle / "model.ort"), ("model.onnx", qa_onnx_export / "model.onnx")):
        session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
        outputs[name] = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    compare_outputs(outputs["model.ort"], outputs["model.onnx"], FP32_EXPORT.peak_rel, label="model.ort vs model.onnx")


def test_ort_selftest_with_recorded_outputs(qa_ort_bundle, tmp_path):
    plain = selftest(qa_ort_bundle)
    assert plain.returncode == 0 and "runtime=onnxruntime" in plain.stdout and "model.ort" in plain.stdout, plain.stdout
    recorded = record(qa_ort_bundle, tmp_path / "recorded.json")
    env = {**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}
    done = subprocess.run(["bash", str(SELFTEST), str(qa_ort_bundle), str(recorded)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("SELFTEST PASS examples=4 tokenized=3 ran=4 decoded=3 task=qa runtime=onnxruntime")
    assert "outputs recorded by onnxruntime (Python)" in done.stdout


@pytest.mark.parametrize("damage,needle", [
    (lambda r: r["examples"][1]["outputs"]["end_logits"]["values"].__setitem__(4, 50.0), "end_logits differs from golden"),
    (lambda r: r["examples"][0]["input_ids"][0].__setitem__(1, 5), "no outputs were recorded for input_ids"),
    (lambda r: r["examples"][0]["outputs"].pop("start_logits"), "the model gave no start_logits"),
], ids=["changed-output", "other-inputs", "missing-output"])
def test_recorded_outputs_are_judged(qa_ort_bundle, tmp_path, damage, needle):
    recorded = json.loads(record(qa_ort_bundle, tmp_path / "recorded.json").read_text())
    damage(recorded)
    (tmp_path / "recorded.json").write_text(json.dumps(recorded))
    env = {**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}
    done = subprocess.run(["bash", str(SELFTEST), str(qa_ort_bundle), str(tmp_path / "recorded.json")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and done.stdout.startswith("SELFTEST FAIL with outputs recorded by onnxruntime")
    assert needle in done.stdout, done.stdout


def test_ort_selftest_rejects_a_tflite_file_named_by_an_ort_manifest(qa_ort_bundle, qa_export, tmp_path):
    folder = copy_of(qa_ort_bundle, tmp_path)
    shutil.copy(qa_export / "model.tflite", folder / "model.ort")
    done = selftest(folder)
    assert done.returncode == 1 and "model.ort is not an ONNX Runtime (ORT format) flatbuffer" in done.stdout, done.stdout


def test_ort_verification_catches_a_model_that_differs(qa_onnx_export, tmp_path):
    """An export whose model.onnx no longer computes what golden.json holds (one weight changed, the
    hashes updated as if it had been exported so) gets no bundle: model.ort is checked before writing."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from prelnedge.hashing import sha256_file

    fake = Path(shutil.copytree(qa_onnx_export, tmp_path / "export"))
    model = onnx.load(str(fake / "model.onnx"))
    weight = max(model.graph.initializer, key=lambda t: np.prod(t.dims) if len(t.dims) == 2 else 0)
    array = numpy_helper.to_array(weight).copy()
    array[:, 0] += 1.0  # one feature of every row: a LayerNorm cannot normalise it away
    weight.CopyFrom(numpy_helper.from_array(array, weight.name))
    onnx.save(model, str(fake / "model.onnx"))
    manifest = json.loads((fake / "manifest.json").read_text())
    manifest["files"]["model.onnx"] = sha256_file(fake / "model.onnx")
    (fake / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "-m", "prelnedge.cli", "bundle", str(fake), "--platform", "android",
                           "--out", str(tmp_path / "bundle")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "model.ort on golden example 0" in done.stderr and "differs beyond peak_rel" in done.stderr, done.stderr
    assert not (tmp_path / "bundle").exists() and not list(tmp_path.glob(".bundle.partial-*"))


def test_writer_refuses_missing_tokenizer(qa_export, tmp_path):
    from prelnedge.bundle.android import write_android_bundle

    fake = Path(shutil.copytree(qa_export, tmp_path / "export"))
    for name in ("tokenizer.json", "vocab.json"):
        (fake / name).unlink()
    manifest = json.loads((fake / "manifest.json").read_text())
    (tmp_path / "dest").mkdir()
    with pytest.raises(UserError, match="has no tokenizer"):
        write_android_bundle(fake, manifest, tmp_path / "dest")


def test_java_unit_tests():
    done = subprocess.run(["bash", str(ANDROID_DEMO / "unittest.sh")], capture_output=True, text=True,
                          env={**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().splitlines()[-1].startswith("UNITTEST PASS"), \
        done.stdout + done.stderr


def test_app_runners_compile_against_stand_ins(tmp_path):
    """The app's model runners (ONNX Runtime, LiteRT, the choice between them) compile with javac
    against signature-only stand-ins of the Android, LiteRT and ONNX Runtime classes they call
    (android_demo/stubs): no Android SDK or Maven here, so this is the check those files get."""
    compiled_java()  # skips without a JDK
    app = ANDROID_DEMO / "app" / "src" / "main" / "java" / "org" / "prelnedge" / "demo"
    sources = [*(ANDROID_DEMO / "stubs" / "src").rglob("*.java"), *(ANDROID_DEMO / "core" / "src" / "main").rglob("*.java"),
               *(app / name for name in ("OrtModel.java", "DeviceModel.java", "LiteRtModel.java"))]
    done = subprocess.run(["javac", "--release", "17", "-encoding", "UTF-8", "-d", str(tmp_path),
                           *map(str, sources)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "org" / "prelnedge" / "demo" / "OrtModel.class").is_file()


def test_core_is_plain_java():
    """The core compiles with plain javac because it never touches Android (or org.json, Android-only)."""
    offenders = [str(p.relative_to(ANDROID_DEMO)) for p in (ANDROID_DEMO / "core" / "src").rglob("*.java")
                 if "import android." in p.read_text() or "import org.json" in p.read_text()]
    assert offenders == []


def test_assets_folder_is_ignored_by_git():
    done = subprocess.run(["git", "check-ignore", "-q", "android_demo/app/src/main/assets/model.tflite"], cwd=ROOT)
    assert done.returncode == 0, "bundles written into the app's assets must not be committed"


@pytest.mark.heavy
@pytest.mark.parametrize("mode", ["int8-dynamic", "fp16", "int8-static"])
def test_quantized_ort_bundle(tmp_path_factory, tmp_path, mode):
    """Every ONNX quantization mode becomes a verified model.ort (judged by the mode's SQNR floor)
    whose recorded outputs pass the app's check (quantized: error shown, not judged)."""
    out = bundle(export(tmp_path_factory, "sequence-classification", "onnx", mode),
                 tmp_path_factory.mktemp("bundles") / f"seq-{mode}")
    facts = json.loads((out / "manifest.json").read_text())["bundle"]
    assert facts["runtime"] == "onnxruntime" and "logits.sqnr_db" in facts["verification"]["golden"]
    env = {**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}
    done = subprocess.run(["bash", str(SELFTEST), str(out), str(record(out, tmp_path / "recorded.json"))],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "ran=5" in done.stdout, done.stdout + done.stderr  # 3 texts, max length, padded


@pytest.mark.heavy
def test_int4_export_is_refused_for_android(tmp_path_factory, tmp_path):
    """int4's 4-bit embedding tables cannot be stored in the ORT format (onnxruntime 1.32 converts the
    file, then refuses to load it): one clear line before any conversion."""
    onnx_int4 = export(tmp_path_factory, "sequence-classification", "onnx", "int4")
    done = subprocess.run([sys.executable, "-m", "prelnedge.cli", "bundle", str(onnx_int4), "--platform", "android",
                           "--out", str(tmp_path / "bundle")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "ORT format cannot store them" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "bundle").exists()


@pytest.mark.heavy
@pytest.mark.parametrize("task", ["base", "masked-lm", "causal-lm", "sequence-classification", "multiple-choice",
                                  "token-classification"])
def test_ort_selftest_passes_every_task(tmp_path_factory, tmp_path, task):
    out = bundle(export(tmp_path_factory, task, "onnx"), tmp_path_factory.mktemp("bundles") / f"{task}-ort")
    env = {**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}
    done = subprocess.run(["bash", str(SELFTEST), str(out), str(record(out, tmp_path / "recorded.json"))],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("SELFTEST PASS"), done.stdout + done.stderr


@pytest.mark.heavy
@pytest.mark.parametrize("task", ["base", "masked-lm", "causal-lm", "sequence-classification", "multiple-choice"])
def test_selftest_passes_every_task(tmp_path_factory, task):
    done = selftest(bundle(export(tmp_path_factory, task), tmp_path_factory.mktemp("bundles") / task))
    assert done.returncode == 0 and done.stdout.startswith("SELFTEST PASS"), done.stdout + done.stderr


# ---- quantized bundles: the app judges them by the SQNR floor the bundle carries, as the web page does ----

@pytest.fixture(scope="session")
def qa_int8_ort_bundle(tmp_path_factory) -> Path:
    return bundle(export(tmp_path_factory, "qa", "onnx", "int8-dynamic"),
                  tmp_path_factory.mktemp("bundles") / "qa-int8-ort")


def selftest_recorded(bundle_dir: Path, recorded: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "recorded.json").write_text(json.dumps(recorded))
    env = {**os.environ, "PRELNEDGE_JAVA_CLASSES": str(compiled_java())}
    return subprocess.run(["bash", str(SELFTEST), str(bundle_dir), str(tmp_path / "recorded.json")],
                          capture_output=True, text=True, env=env, timeout=120)


def test_quantized_bundle_carries_its_floor_and_passes_it(qa_int8_ort_bundle, tmp_path):
    from prelnedge.quantize import get_mode

    entry = get_mode("onnx", "int8-dynamic").tolerance
    rule = json.loads((qa_int8_ort_bundle / "manifest.json").read_text())["spec"]["rule"]
    assert rule == {"min_sqnr_db": entry.min_sqnr_db, "tolerance": entry.name, "decoded": "reported",
                    "score_tol": 1e-4}
    recorded = json.loads(record(qa_int8_ort_bundle, tmp_path / "first.json").read_text())
    done = selftest_recorded(qa_int8_ort_bundle, recorded, tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("SELFTEST PASS"), done.stdout + done.stderr
    assert f"(floor {entry.min_sqnr_db:.1f} dB)" in done.stdout, done.stdout


def test_quantized_bundle_fails_on_a_changed_answer(qa_int8_ort_bundle, tmp_path):
    """The best and the worst start position of the first example trade places: the answer changes,
    and the app must say so (it used to run quantized bundles with an infinite tolerance)."""
    recorded = json.loads(record(qa_int8_ort_bundle, tmp_path / "first.json").read_text())
    values = recorded["examples"][0]["outputs"]["start_logits"]["values"]
    best, worst = int(np.argmax(values)), int(np.argmin(values))
    values[best], values[worst] = values[worst], values[best]
    done = selftest_recorded(qa_int8_ort_bundle, recorded, tmp_path)
    assert done.returncode == 1 and done.stdout.startswith("SELFTEST FAIL"), done.stdout + done.stderr
    assert "start_logits SQNR" in done.stdout and "below the floor" in done.stdout, done.stdout


def test_quantized_bundle_without_a_floor_fails(qa_int8_ort_bundle, tmp_path):
    """Nothing would be checked without the floor, so the self-check must not pass."""
    folder = copy_of(qa_int8_ort_bundle, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["spec"]["rule"]["min_sqnr_db"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    recorded = json.loads(record(qa_int8_ort_bundle, tmp_path / "first.json").read_text())
    done = selftest_recorded(folder, recorded, tmp_path)
    assert done.returncode == 1 and "gives no SQNR floor" in done.stdout, done.stdout + done.stderr


def test_rule_comes_from_the_bundle(qa_ort_bundle, tmp_path):
    """The app keeps no tolerance of its own: the same recorded float outputs that pass under the
    bundle's rule fail once spec.rule.peak_rel is tightened below what a real run can reach."""
    folder = copy_of(qa_ort_bundle, tmp_path)
    recorded = json.loads(record(qa_ort_bundle, tmp_path / "first.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["spec"]["rule"]["peak_rel"] = 1e-12
    (folder / "manifest.json").write_text(json.dumps(manifest))
    done = selftest_recorded(folder, recorded, tmp_path)
    assert done.returncode == 1 and "differs from golden" in done.stdout and "> 1.00e-12" in done.stdout, \
        done.stdout + done.stderr
