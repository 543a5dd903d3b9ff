"""Every pass/fail rule. Export, quantize, validate, report and bundle call these functions and
keep no rule, tolerance or threshold of their own; device runtimes read theirs from the bundle.

The public API (each module imports only numpy and the registries, so stages import what they use):
  compare      error_stats, measure_outputs (names, shapes, dtypes, finiteness, statistics) and
               compare_outputs: THE peak-relative check
  tolerances   Tolerance and the one table of entries with their reasons (FP32_REFERENCE,
               FP32_EXPORT with its device bound, and the quantized floors each mode in
               prelnedge.quantize.MODES carries); tolerance(name) for the float ones
  validate     validation_batches, validate: a float artifact against its float reference
  fidelity     measure: a quantized artifact's error statistics and task agreement; task_metric
  floors       validate_quantized_artifact: a quantized artifact measured and judged against its
               mode's SQNR and agreement floors (judge_fidelity), for quantize and validate alike
  rules        artifact_tolerance, golden_rule (GoldenRule: how outputs are held to golden.json)
               and device_rule (what a bundle tells a device runtime to apply)
  replay       replay_golden: golden.json through a model under its rule, one loop for every caller
  golden       golden.json's examples and the float outputs stored in it
  gate         the report's regression gate against a baseline report
  validate_folder  `prelnedge validate`: hashes, golden replay and full re-validation of a folder
"""
