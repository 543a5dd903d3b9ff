"""What every web page bundle shares, ONNX Runtime Web's (web.py) and LiteRT.js's (web_litert.py): the
export's files the page reads, its model file, and the tokenizer and golden checks made at bundle time.
Its own module so that neither writer imports the other's helpers (web.py hands .tflite exports to
web_litert.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from prelnedge.errors import UserError

# Read by the page (config.json for labels when golden.json has none) and by transformers.js
# (config.json, tokenizer.json, tokenizer_config.json).
EXPORT_FILES = ("tokenizer.json", "tokenizer_config.json", "golden.json")


def exported_model(export_dir: Path, manifest: dict) -> Path:
    """The export's model file, which every page ships."""
    model_file = export_dir / manifest["model_file"]
    if not model_file.is_file():
        raise UserError(f"{model_file} is missing; export again")
    return model_file


def finish_page(export_dir: Path, dest: Path, names: tuple[str, ...]) -> dict[str, int]:
    """The last steps every page bundle shares: copy the export's `names` the page reads, make sure
    the tokenizer and golden vectors are usable, and list what the bundle holds ({path: bytes})."""
    for name in names:
        if (export_dir / name).is_file():
            shutil.copy(export_dir / name, dest / name)
    ensure_tokenizer_json(export_dir, dest)
    check_golden(dest / "golden.json", export_dir)
    return {p.relative_to(dest).as_posix(): p.stat().st_size for p in sorted(dest.rglob("*")) if p.is_file()}


def ensure_tokenizer_json(export_dir: Path, dest: Path) -> None:
    """The page reads tokenizer.json; build it from vocab.json + merges.txt when only those exist,
    and refuse a tokenizer the JavaScript one does not implement (one line, at bundle time)."""
    from prelnedge.runtime.tokenizer import PreLNTokenizer

    if not (dest / "tokenizer.json").is_file():
        if not ((export_dir / "vocab.json").is_file() and (export_dir / "merges.txt").is_file()):
            raise UserError(f"{export_dir} has no tokenizer (tokenizer.json or vocab.json + merges.txt); "
                            "the web page needs one")
        tok = PreLNTokenizer.from_dir(export_dir, max_length=1)
        (dest / "tokenizer.json").write_text(tok._tok.to_str(), encoding="utf-8")
    spec = json.loads((dest / "tokenizer.json").read_text(encoding="utf-8"))
    model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
    post = spec.get("post_processor") or {}
    problems = []
    if model.get("type") != "BPE":
        problems.append(f"model {model.get('type')} (needs BPE)")
    if spec.get("normalizer") is not None:
        problems.append(f"normalizer {spec['normalizer'].get('type')} (needs none)")
    if pre.get("type") != "ByteLevel" or pre.get("use_regex") is False:
        problems.append("pre-tokenizer (needs ByteLevel with its default split)")
    if post and post.get("type") not in ("RobertaProcessing", "ByteLevel"):
        problems.append(f"post-processor {post.get('type')} (needs RobertaProcessing)")
    if problems:
        raise UserError(f"the web runtime's tokenizer is RoBERTa's byte-level BPE; {export_dir}/tokenizer.json has "
                        + "; ".join(problems))


def check_golden(golden: Path, export_dir: Path) -> None:
    if not golden.is_file():
        raise UserError(f"{export_dir} has no golden.json; export again (the page's self-test needs it)")
