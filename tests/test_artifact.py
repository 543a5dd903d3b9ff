"""Typed artifacts (prelnedge.artifact): manifest.json written and read in one place, in the format
earlier versions wrote, and a broken manifest refused in one line. No model runs here: the
folders hold small stand-in files, since only the manifest and the hashes are under test."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from prelnedge.artifact import (BundleArtifact, IoSpec, ModelArtifact, ReportArtifact, Source, TensorSpec,
                                read_bundle_manifest, read_json)
from prelnedge.errors import UserError
from prelnedge.hashing import sha256_file
from prelnedge.output_folder import check_replaceable

# A float export's and a quantized export's manifest.json as prelnedge wrote them before the typed
# artifacts (fields, nesting and order; hashes and versions shortened): reading and writing back
# must give the same JSON, because bundles, the runtimes and older folders depend on it.
FLOAT = {
    "format": "prelnedge-artifact/1", "task": "sequence-classification", "target": "onnx", "framework": "torch",
    "model_file": "model.onnx",
    "io": {"inputs": [{"name": "input_ids", "dtype": "int64", "axes": ["B", "L"]},
                      {"name": "attention_mask", "dtype": "int64", "axes": ["B", "L"]}],
           "outputs": [{"name": "logits", "dtype": "float32", "axes": ["B", "N"]}],
           "dynamic_axes": ["B", "L"], "max_tokens": 128, "static_shape": None},
    "export": {"opset": 18, "dynamo": True},
    "source": {"path": "/models/default", "format": "hf", "sha256": "ab" * 32, "embedded_default": True,
               "initialized_heads": []},
    "validation": {"passed": True, "tolerance": {"name": "fp32-export", "peak_rel": 1e-05},
                   "worst": {"logits": {"max_abs": 9.5e-07, "sqnr_db": 126.3}}},
    "tool_versions": {"prelnedge": "0.1.0", "numpy": "2.3.0"},
    "files": {"config.json": "cd" * 32, "model.onnx": "ef" * 32},
}
QUANTIZED = {
    **copy.deepcopy(FLOAT),
    "validation": {"passed": True, "tolerance": {"name": "fp16", "min_sqnr_db": 40.0, "min_agreement": 0.99},
                   "worst": {"logits": {"sqnr_db": 76.9}}, "agreement": {"argmax_agreement": 1.0}},
    "quantization": {"mode": "fp16", "summary": "float16 weights", "settings": {"keep_io_types": True},
                     "calibration": None, "unpadded_only": False, "size_bytes": 2, "float_size_bytes": 4,
                     "size_ratio": 0.5},
    "parent": {"path": "/exports/float", "manifest_sha256": "01" * 32},
}


def folder_with(tmp_path: Path, manifest: dict | str) -> Path:
    folder = tmp_path / "artifact"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest) if not isinstance(manifest, str) else manifest)
    return folder


@pytest.mark.parametrize("manifest", [FLOAT, QUANTIZED], ids=["float", "quantized"])
def test_a_manifest_reads_and_writes_back_unchanged(tmp_path, manifest):
    artifact = ModelArtifact.read(folder_with(tmp_path, manifest))
    assert artifact.to_json() == manifest
    assert list(artifact.to_json()) == list(manifest)  # same field order: diffs between folders stay readable
    assert artifact.quantized == ("quantization" in manifest) and artifact.io.static_length is None


def test_write_hashes_the_folder_and_reads_back_equal(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "model.onnx").write_bytes(b"model")
    (work / "config.json").write_text("{}")
    static = {"batch": 1, "length": 16, "input_shape": [1, 16]}
    made = ModelArtifact(
        folder=work, task="qa", target="tflite", framework="tf", model_file="model.onnx",
        io=IoSpec(inputs=(TensorSpec("input_ids", "int32", ("B", "L")),),
                  outputs=(TensorSpec("start_logits", "float32", ("B", "L")),),
                  dynamic_axes=(), max_tokens=16, static_shape=static),
        source=Source(path="/m", sha256="00" * 32, embedded_default=False, format="hf"))
    written = made.write(work)
    assert written.files == {"config.json": sha256_file(work / "config.json"),
                             "model.onnx": sha256_file(work / "model.onnx")}
    assert "numpy" in written.tool_versions and written.io.static_length == 16
    assert read_json(work / "manifest.json") == written.to_json()
    assert ModelArtifact.read(work, check_files=True) == written
    (work / "model.onnx").write_bytes(b"changed")
    assert written.changed_files() == ["model.onnx"]
    with pytest.raises(UserError, match=r"model\.onnx is missing or changed since export"):
        ModelArtifact.read(work, check_files=True)


def _without(key):
    broken = copy.deepcopy(FLOAT)
    del broken[key]
    return broken


def _without_parent():
    broken = copy.deepcopy(QUANTIZED)
    del broken["parent"]
    return broken


BROKEN = [
    # (id, manifest.json contents, fragment of the one error line)
    ("no-manifest", None, "is not an export folder (no manifest.json)"),
    ("not-json", "{", "is not valid JSON"),
    ("not-an-object", "[]", "must hold a JSON object"),
    ("fields-missing", {"format": "prelnedge-artifact/1", "target": "onnx"},
     "lacks task, framework, model_file, io, source, files; it was not written by prelnedge export"),
    ("source-fields-missing", {**FLOAT, "source": {"path": "/m"}}, "lacks source.sha256, source.embedded_default"),
    ("no-files", _without("files"), "lacks files"),
    ("bundle-given", {**FLOAT, "format": "prelnedge-bundle/1"}, "is a prelnedge-bundle/1 manifest, not an export's"),
    # a tune report of an unmet budget, or a quantization report: its kind named, not fields it never had
    ("report-given", {"format": "prelnedge-report/1", "task": "qa", "files": {}},
     "is a prelnedge-report/1 manifest, not an export's"),
    ("io-outputs-not-a-list", {**FLOAT, "io": {**FLOAT["io"], "outputs": 3}}, "has a malformed field (TypeError"),
    ("input-without-dtype", {**FLOAT, "io": {**FLOAT["io"], "inputs": [{"name": "input_ids", "axes": ["B"]}]}},
     "has a malformed field (KeyError: 'dtype')"),
    ("model-file-outside", {**FLOAT, "model_file": "../model.onnx"}, "model_file '../model.onnx' must name a file inside"),
    ("quantized-without-parent", _without_parent(), "a quantized artifact names its parent export"),
]


@pytest.mark.parametrize("manifest, fragment", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_a_broken_manifest_is_refused_in_one_line(tmp_path, manifest, fragment):
    folder = folder_with(tmp_path, manifest) if manifest is not None else tmp_path
    with pytest.raises(UserError) as caught:
        ModelArtifact.read(folder)
    assert fragment in str(caught.value) and "\n" not in str(caught.value)


def test_bundle_and_report_manifests(tmp_path):
    source = ModelArtifact.read(folder_with(tmp_path, QUANTIZED))
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"m")
    spec = {"task": "sequence-classification", "head_kind": "sequence"}
    bundle = BundleArtifact(out, "web", source, spec, {"model_file": "onnx/model.onnx"}).write(out)
    data = read_bundle_manifest(out)
    assert data == bundle.to_json() and data["format"] == "prelnedge-bundle/3" and data["spec"] == spec
    assert data["quantization"] == QUANTIZED["quantization"] and data["io"] == QUANTIZED["io"]
    assert data["export"] == {"path": str(source.folder.resolve()),
                              "manifest_sha256": sha256_file(source.folder / "manifest.json"),
                              "validation": QUANTIZED["validation"]}
    assert data["files"] == {"model.onnx": sha256_file(out / "model.onnx")}
    with pytest.raises(UserError, match="is not a bundle's manifest"):
        read_bundle_manifest(source.folder)

    report = tmp_path / "report"
    report.mkdir()
    (report / "report.json").write_text("{}")
    ReportArtifact(report, "qa").write(report)
    assert read_json(report / "manifest.json")["format"] == "prelnedge-report/1"
    for folder in (source.folder, out, report):  # --force knows every kind as ours (it raises otherwise)
        check_replaceable(folder)


def test_a_parent_is_found_only_while_unchanged(tmp_path):
    from prelnedge.artifact import Parent

    parent = ModelArtifact.read(folder_with(tmp_path, FLOAT))
    link = Parent.of(parent)
    assert link.path == str(parent.folder.resolve()) and link.artifact() == parent
    (parent.folder / "manifest.json").write_text(json.dumps({**FLOAT, "task": "qa"}))  # re-exported since
    assert link.artifact() is None
    assert Parent(str(tmp_path / "gone"), link.manifest_sha256).artifact() is None
