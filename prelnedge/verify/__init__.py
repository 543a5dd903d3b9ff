"""Every pass/fail rule: comparison statistics, tolerances with their reasons, float validation,
quantized fidelity floors and golden replay. Export, quantize, validate, report and bundle ask
this package; device runtimes read the same rules from the bundle."""
