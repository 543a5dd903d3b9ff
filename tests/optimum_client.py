"""Runs INSIDE the optimum venv (optimum-onnx 0.1.0, transformers 4.57), never under pytest.

Loads each exported ONNX folder, unedited, with the optimum ORTModelFor* class a user would pick for
the task, runs the given batches and saves what it returns.

usage: python optimum_client.py JOB.json
JOB.json: [{"task": ..., "folder": OUT, "inputs": IN.npz, "outputs": OUT.npz}, ...]
IN.npz holds input_ids_K / attention_mask_K for batches K = 0, 1, ...; OUT.npz gets NAME_K for every
output field the model returns, and `class` (the optimum class used).
"""

import json
import sys

import numpy as np
import optimum.onnxruntime
import torch

# The class a user picks for each encoder task (causal-lm needs ORTModelForCausalLM's past key values,
# which an encoder export has no reason to carry).
ORT_CLASSES = {
    "base": "ORTModelForFeatureExtraction",
    "masked-lm": "ORTModelForMaskedLM",
    "sequence-classification": "ORTModelForSequenceClassification",
    "token-classification": "ORTModelForTokenClassification",
    "qa": "ORTModelForQuestionAnswering",
    "multiple-choice": "ORTModelForMultipleChoice",
}

for job in json.loads(open(sys.argv[1]).read()):
    name = ORT_CLASSES[job["task"]]
    model = getattr(optimum.onnxruntime, name).from_pretrained(job["folder"])  # config.json + model.onnx
    inputs = np.load(job["inputs"])
    saved = {"class": np.array(name)}
    k = 0
    while f"input_ids_{k}" in inputs:
        with torch.no_grad():
            out = model(input_ids=torch.from_numpy(inputs[f"input_ids_{k}"]),
                        attention_mask=torch.from_numpy(inputs[f"attention_mask_{k}"]))
        for field, value in out.items():
            saved[f"{field}_{k}"] = np.asarray(value)
        k += 1
    np.savez(job["outputs"], **saved)
