"""Heavy tier (`make test-heavy`): a base-size model (768 hidden, 12 layers, vocab 50265) through
every export path, compared with transformers. Minutes and several GB of memory, so not in CI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hf_factory import hf_outputs, random_batch, save_hf_checkpoint
from prelnedge import config as presets
from prelnedge.export import EXPORTERS, ExportConfig, export
from prelnedge.runtime.sessions import open_session
from prelnedge.tasks import TASKS
from prelnedge.verify.compare import compare_outputs
from prelnedge.verify.tolerances import tolerance

pytestmark = pytest.mark.heavy
BASE = presets.base(labels=("start", "end"))


@pytest.fixture(scope="module")
def base_qa(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base-qa")
    model = save_hf_checkpoint(folder, BASE, TASKS["qa"], seed=5)
    return folder, model


@pytest.mark.parametrize("target,framework", sorted(EXPORTERS), ids=["-".join(p) for p in sorted(EXPORTERS)])
def test_base_size_export_matches_transformers(base_qa, tmp_path, target, framework):
    folder, hf_model = base_qa
    out = export(ExportConfig(task="qa", target=target, framework=framework, model=folder, out=tmp_path / "out")).folder
    session = open_session(out / json.loads((out / "manifest.json").read_text())["model_file"])
    ids, mask = random_batch(BASE, [128, 17], np.random.default_rng(9))
    got, want = session.run(ids, mask), hf_outputs(hf_model, TASKS["qa"], ids, mask)
    compare_outputs(got, {name: want[name] for name in TASKS["qa"].output_names}, tolerance("fp32-export").peak_rel,
                    label=f"base-size {target} from {framework} vs transformers")
