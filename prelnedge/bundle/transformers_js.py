"""What transformers.js (@huggingface/transformers 4.3.1) needs to load a web bundle unedited.

transformers.js picks its model class by config.json's `model_type` and has none for
`roberta-prelayernorm`. It does not need one: the exported ONNX graph is the whole network (pre-LN
blocks, position ids from input_ids), and the library only feeds the graph the inputs it declares
(input_ids, attention_mask) and reads its outputs by name. RoBERTa's classes have the same inputs,
outputs and tokenizer, so the bundle's config.json says `roberta` and keeps the true model type under
"prelnedge". transformers.js has no RoBERTa multiple-choice or causal-LM class: those bundles keep
their config as exported and run on prelnedge's own page only.

It chooses the model file by dtype (`onnx/model{suffix}.onnx`) and reads the default dtype from
config.json's "transformers.js_config"; without one it would ask for fp32 in Node and q8 in the
browser, whichever file the bundle holds.
"""

from __future__ import annotations

from prelnedge.errors import UserError

# transformers.js's file suffix per dtype (its DEFAULT_DTYPE_SUFFIX_MAPPING), for the dtypes our
# ONNX modes produce (prelnedge.quantize.MODES' transformers_js_dtype)
SUFFIX = {"fp32": "", "fp16": "_fp16", "int8": "_int8", "q8": "_quantized", "q4": "_q4"}
# The RoBERTa classes transformers.js 4.3.1 registers for model_type "roberta"
ROBERTA_CLASSES = frozenset({"RobertaModel", "RobertaForMaskedLM", "RobertaForSequenceClassification",
                             "RobertaForTokenClassification", "RobertaForQuestionAnswering"})
MODEL_TYPE = "roberta"


def model_file(dtype: str) -> str:
    return f"onnx/model{SUFFIX[dtype]}.onnx"


def dtype_of(manifest: dict) -> str:
    """The transformers.js dtype of an ONNX export: fp32, or its quantization mode's."""
    quant = manifest.get("quantization")
    if not quant:
        return "fp32"
    from prelnedge.quantize import get_mode

    dtype = get_mode(manifest["target"], quant["mode"]).transformers_js_dtype
    if dtype not in SUFFIX:
        raise UserError(f"quantization mode {quant['mode']} has no transformers.js file name; "
                        f"web bundles take the ONNX modes with one")
    return dtype


def architecture(task: str) -> str | None:
    """The transformers.js class that runs this task's graph, or None when it has none."""
    from prelnedge.tasks import get_task

    name = get_task(task).hf_class.replace("RobertaPreLayerNorm", "Roberta", 1)
    return name if name in ROBERTA_CLASSES else None


def web_config(config: dict, task: str, dtype: str) -> dict:
    """config.json for the bundle: the export's, with what transformers.js keys on (the true model
    type and architectures kept under "prelnedge")."""
    name = architecture(task)
    if name is None:
        return config
    return {**config, "model_type": MODEL_TYPE, "architectures": [name],
            "transformers.js_config": {"dtype": dtype},
            "prelnedge": {"model_type": config.get("model_type"), "architectures": config.get("architectures"),
                          "note": f"model_type and architectures name the {MODEL_TYPE} classes of transformers.js, "
                                  "which run this self-contained ONNX graph; the network is the model_type here"}}
