"""validate() time on the embedded model's qa ONNX export: the old validation cases (capped at 64
tokens) against today's (up to the model's maximum length, padded and alone), one process, the two
interleaved five times. Run: PYTHONPATH=. python benchmarks/validation_length.py"""
import time, tempfile
from pathlib import Path
import numpy as np
import prelnedge.verify.validate as V
from prelnedge.checkpoint.load import load_checkpoint
from prelnedge.export import ExportConfig, export
from prelnedge.models import build_forward
from prelnedge.runtime.sessions import open_session
from prelnedge.tasks import get_task

new_batches = V.validation_batches
def old_batches(config, task, seed=0, max_tokens=None):
    return new_batches(config, task, seed, max_tokens=min(max_tokens or config.max_tokens, 64))[:4]

task = get_task("qa")
ck = load_checkpoint(None, task)
ref = build_forward("torch", ck)
with tempfile.TemporaryDirectory() as tmp:
    out = export(ExportConfig(task="qa", target="onnx", out=Path(tmp) / "qa")).folder
    session = open_session(out / "model.onnx")
    times = {"old": [], "new": []}
    for _ in range(5):
        for label, fn in (("old", old_batches), ("new", new_batches)):
            V.validation_batches = fn
            t = time.perf_counter()
            V.validate(session.run, lambda i, m: ref(i, m, False), ck.config, task)
            times[label].append(time.perf_counter() - t)
for k, v in times.items():
    print(k, "median ms", round(1000 * float(np.median(v)), 1))
print("ratio new/old", round(float(np.median(times["new"]) / np.median(times["old"])), 2))
