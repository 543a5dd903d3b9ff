"""Record what a real runtime gives for an Android bundle's golden inputs, for
`android_demo/selftest.sh BUNDLE RECORDED`: the Java golden check then judges a real run's numbers
on the JVM, where LiteRT's and ONNX Runtime's Java APIs cannot load.

    python -m prelnedge.bundle.record BUNDLE RECORDED.json

The bundle's own model file runs here (model.ort in onnxruntime, model.tflite in LiteRT). Models
that only take unpadded rows (manifest quantization.unpadded_only) are recorded one unpadded row at
a time (prelnedge.runtime.rows.rows_of), which is how the app's RowByRow will ask for them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def record_outputs(bundle_dir: Path) -> dict:
    from prelnedge.artifact import read_bundle_manifest, read_json
    from prelnedge.runtime.rows import rows_of
    from prelnedge.runtime.sessions import open_session

    bundle_dir = Path(bundle_dir)
    manifest = read_bundle_manifest(bundle_dir)
    facts = manifest["bundle"]
    session = open_session(bundle_dir / facts["model_file"])
    unpadded_only = bool((manifest.get("quantization") or {}).get("unpadded_only"))
    examples = []
    for example in read_json(bundle_dir / "golden.json")["examples"]:
        ids, mask = np.array(example["input_ids"]), np.array(example["attention_mask"])
        if unpadded_only and ids.ndim == 2:
            inputs = rows_of(ids, mask)
        else:
            inputs = [(ids, mask)]
        for row_ids, row_mask in inputs:
            examples.append(_recorded(session, row_ids, row_mask, manifest))
    generation = read_json(bundle_dir / "golden.json").get("generation")
    if generation:  # the calls a recomputing loop makes for golden's continuation: prompt + each new token but the last
        sequence = list(generation["prompt_ids"])
        for token in [None, *generation["new_ids"][:-1]]:
            sequence += [] if token is None else [token]
            ids = np.array([sequence])
            examples.append(_recorded(session, ids, np.ones_like(ids), manifest))
    return {"runtime": f"{facts.get('runtime', 'litert')} (Python)", "model_file": facts["model_file"],
            "examples": examples}


def _recorded(session, ids: np.ndarray, mask: np.ndarray, manifest: dict) -> dict:
    out = session.run(ids, mask)
    return {"input_ids": ids.tolist(),
            "outputs": {name: {"shape": list(out[name].shape), "values": out[name].astype(np.float64).ravel().tolist()}
                        for name in (t["name"] for t in manifest["spec"]["outputs"])}}


def main(argv: list[str] | None = None) -> int:
    from prelnedge.artifact import write_json

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m prelnedge.bundle.record BUNDLE RECORDED.json", file=sys.stderr)
        return 2
    write_json(Path(args[1]), record_outputs(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
