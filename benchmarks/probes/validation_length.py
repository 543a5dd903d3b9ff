"""Probe. Question: How much longer does validate() take with cases up to the maximum length than with the old 64-token cap? (issue 10)
Answer and where it is written: about 3.7x on a loaded 2-core machine (benchmarks/README.md, "Probes";
not written down when first run, commit cd7c9f9).

validate() time on the embedded model's qa ONNX export: the old validation cases (capped at 64
tokens) against today's (up to the model's maximum length, padded and alone), one process, the two
interleaved five times. Run: PYTHONPATH=. python benchmarks/probes/validation_length.py"""
import tempfile
from pathlib import Path
import prelnedge.verify.validate as V
from prelnedge.checkpoint.load import load_checkpoint
from prelnedge.export import ExportConfig, export
from prelnedge.models import build_forward
from prelnedge.runtime.sessions import open_session
from prelnedge.tasks import get_task
from prelnedge.timing import interleave

new_batches = V.validation_batches
def old_batches(config, task, seed=0, max_tokens=None):
    return new_batches(config, task, seed, max_tokens=min(max_tokens or config.max_tokens, 64))[:4]

task = get_task("qa")
ck = load_checkpoint(None, task)
ref = build_forward("torch", ck)
with tempfile.TemporaryDirectory() as tmp:
    out = export(ExportConfig(task="qa", target="onnx", out=Path(tmp) / "qa")).folder
    session = open_session(out / "model.onnx")

    def run_with(batches):
        def run():
            V.validation_batches = batches
            V.validate(session.run, lambda i, m: ref(i, m, False), ck.config, task)
        return run

    timings = interleave({"old": run_with(old_batches), "new": run_with(new_batches)}, rounds=5, warmup=0)
for k, t in timings.items():
    print(k, "median ms", round(t.median_ms(), 1))
print("ratio new/old (median of per-round ratios)", round(timings["new"].ratio_to(timings["old"])[0], 2))
