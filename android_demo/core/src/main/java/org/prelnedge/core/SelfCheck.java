package org.prelnedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The golden self-check: every golden example is tokenised (ids, mask and offsets must equal the
 * Python tokenizer's), run (by the real model on a device; on the JVM the stored outputs are
 * replayed) and post-processed (the answer must equal Python's "decoded"). How strictly comes from
 * the bundle: manifest.json spec.rule ({@link TaskSpec.Rule}), the rule the web page applies too.
 */
public final class SelfCheck {
    /**
     * The app's rule for a bundle, as the web page applies it: the bundle's spec.rule. Float models:
     * every output within its peak_rel of the output's peak and Python's answers (numbers within
     * score_tol). Quantized models (manifest quantization set): every output's SQNR against
     * golden.json's float outputs at or above min_sqnr_db; answers counted (Report.agreed), not
     * required, since the quantize stage allows some to flip. A rule that bounds no output, or a
     * quantized bundle without an SQNR floor, fails: nothing would be checked.
     */
    public static Report forBundle(ModelBundle bundle, Pipeline.Model model) {
        TaskSpec.Rule rule = bundle.spec.rule;
        if (model != null && (!rule.checksOutputs() || (bundle.quantized() && Double.isNaN(rule.minSqnrDb)))) {
            Report report = new Report();
            report.fail("manifest.json gives no " + (bundle.quantized() ? "SQNR floor (spec.rule.min_sqnr_db) for this quantized model"
                    : "bound (spec.rule.peak_rel or min_sqnr_db)") + "; bundle it again with a current prelnedge");
            return report;
        }
        double peakRel = Double.isNaN(rule.peakRel) ? Double.POSITIVE_INFINITY : rule.peakRel;
        double minSqnrDb = Double.isNaN(rule.minSqnrDb) ? Double.NEGATIVE_INFINITY : rule.minSqnrDb;
        return run(bundle.golden, bundle.pipeline, model, peakRel, minSqnrDb, rule.decodedExact, rule.scoreTol);
    }

    /**
     * Golden's own stored outputs replayed through the Java post-processing (no model): the tokens
     * and the decoded answers must equal Python's, numbers within the rule's score_tol.
     */
    public static Report replay(Golden golden, Pipeline pipeline) {
        return run(golden, pipeline, null, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, true,
                pipeline.spec.rule.scoreTol);
    }

    /** One output of one example: its largest error, where, and its own largest |golden| value. */
    static final class OutputError {
        final int example;
        final String name;
        final double maxAbs;
        final int at;
        final double peak;

        OutputError(int example, String name, double maxAbs, int at, double peak) {
            this.example = example;
            this.name = name;
            this.maxAbs = maxAbs;
            this.at = at;
            this.peak = peak;
        }
    }

    public static final class Report {
        public boolean passed = true;
        public String failure;
        public int examples;
        public int tokenized;
        public int ran;
        public int decoded;
        /** Decoded answers equal to golden's (strings and labels; numbers not compared) when not required. */
        public int agreed;
        public int generationSame; // causal LM: golden continuation tokens reproduced before the first difference
        public int generationTotal;
        public final List<String> notes = new ArrayList<>();
        /** Worst peak-relative output error seen when a real model ran (each output's peak over the golden set). */
        public double worstOutputError;
        /** Each example's max |error| per output, judged once every example has run. */
        final List<OutputError> errors = new ArrayList<>();
        /** The first decoded answer that differed, reported after the outputs are judged. */
        String decodedMiss;
        /** Lowest output SQNR (dB) against golden seen when a real model ran. */
        public double worstSqnrDb = Double.POSITIVE_INFINITY;

        void fail(String message) {
            if (passed) {
                passed = false;
                failure = message;
            }
        }

        public String summary() {
            return "examples=" + examples + " tokenized=" + tokenized + (ran > 0 ? " ran=" + ran : "") + " decoded=" + decoded
                    + (agreed < decoded ? " agreement=" + agreed + "/" + decoded : "")
                    + (generationTotal > 0 ? " generation=" + generationSame + "/" + generationTotal : "");
        }
    }

    private SelfCheck() {
    }

    /**
     * model null: the expected outputs are replayed, checking tokenisation and post-processing only.
     * Otherwise the model runs on the tokenised inputs and its outputs must be within peakRel of the
     * expected ones, relative to each output's largest magnitude, with an SQNR of at least minSqnrDb.
     * decodedExact false counts equal answers instead of requiring them (a quantized model's need
     * not match the float one's).
     */
    static Report run(Golden golden, Pipeline pipeline, Pipeline.Model model, double peakRel, double minSqnrDb,
                      boolean decodedExact, double scoreTol) {
        Report report = new Report();
        if (!golden.task.equals(pipeline.task)) {
            report.fail("golden.json is for task " + golden.task + ", the pipeline for " + pipeline.task);
            return report;
        }
        for (Golden.Example example : golden.examples) {
            report.examples++;
            try {
                String problem = checkExample(example, pipeline, model, minSqnrDb, decodedExact, scoreTol, report);
                if (problem != null) {
                    report.fail("example " + example.index + ": " + problem);
                    return report;
                }
            } catch (Exception ex) {
                report.fail("example " + example.index + ": " + ex);
                return report;
            }
        }
        String problem = judgeOverSet(report, peakRel);
        if (problem != null) {
            report.fail(problem);
        } else if (report.decodedMiss != null) {
            report.fail(report.decodedMiss);
        } else if (golden.generation != null && model != null) {
            checkGeneration(golden.generation, model, decodedExact, report);
        }
        return report;
    }

    /**
     * The golden greedy continuation, decoded by the model itself: with its key/value cache when it is a
     * {@link Generate.Decoder}, else recomputing. A float model must give golden's tokens and stop; a
     * quantized one (decodedExact false) may flip a near-tie: its agreement is reported.
     */
    static void checkGeneration(Generate.Expected expected, Pipeline.Model model, boolean decodedExact, Report report) {
        try {
            Generate.Decoder decoder = model instanceof Generate.Decoder ? (Generate.Decoder) model : Generate.recomputing(model);
            Generate.Result got = expected.replay(decoder);
            report.generationSame = expected.samePrefix(got);
            report.generationTotal = expected.newIds.size();
            if (decodedExact && !expected.exact(got)) {
                report.fail("golden generation: ids " + got.newIds + " (stop " + got.stop + "), golden " + expected.newIds
                        + " (stop " + expected.stop + ")");
            }
        } catch (Exception ex) {
            report.fail("golden generation: " + ex);
        }
    }

    /**
     * Each example's max |error| per output against that output's largest |golden| value over every
     * golden example, as prelnedge.verify.compare.judge_over_set judges a set: one small tensor (two
     * near-zero logits) does not show the output's scale. The first miss, or null.
     */
    static String judgeOverSet(Report report, double peakRel) {
        Map<String, Double> peaks = new LinkedHashMap<>();
        for (OutputError e : report.errors) {
            peaks.put(e.name, Math.max(peaks.containsKey(e.name) ? peaks.get(e.name) : 0.0, e.peak));
        }
        for (OutputError e : report.errors) {
            double peak = peaks.get(e.name);
            double relative = peak > 0 ? e.maxAbs / peak : (e.maxAbs == 0 ? 0 : Double.POSITIVE_INFINITY);
            report.worstOutputError = Math.max(report.worstOutputError, relative);
            if (!(relative <= peakRel)) {
                return String.format(java.util.Locale.ROOT, "example %d: %s differs from golden: max error %.3g at flat "
                        + "index %d (peak %.3g over the golden set, relative %.3g > %.3g)", e.example, e.name, e.maxAbs,
                        e.at, peak, relative, peakRel);
            }
        }
        return null;
    }

    private static String checkExample(Golden.Example example, Pipeline pipeline, Pipeline.Model model,
                                       double minSqnrDb, boolean decodedExact, double scoreTol,
                                       Report report)
            throws Exception {
        Pipeline.Inputs inputs;
        Pipeline.Prepared prepared = null;
        if (example.request.isEmpty()) {
            report.notes.add("example " + example.index + " has ids only (no text): tokenisation not checked");
            inputs = new Pipeline.Inputs(example.shape, example.inputIds, example.attentionMask);
        } else {
            prepared = pipeline.prepare(example.request);
            inputs = prepared.inputs;
            String problem = sameInts("input_ids", example.shape, example.inputIds, inputs.shape, inputs.inputIds);
            if (problem == null) {
                problem = sameInts("attention_mask", example.shape, example.attentionMask, inputs.shape, inputs.attentionMask);
            }
            if (problem == null && example.offsets != null) {
                problem = sameOffsets(example.offsets, prepared.encodings.get(0).offsets);
            }
            if (problem != null) {
                return problem;
            }
            report.tokenized++;
        }

        Map<String, Tensor> outputs = new LinkedHashMap<>();
        boolean complete = true;
        if (model == null) {
            for (Map.Entry<String, Golden.Expected> entry : example.expected.entrySet()) {
                if (entry.getValue().values == null) {
                    complete = false;
                } else {
                    outputs.put(entry.getKey(), entry.getValue().values);
                }
            }
        } else {
            outputs = model.run(inputs);
            report.ran++;
            for (Map.Entry<String, Golden.Expected> entry : example.expected.entrySet()) {
                Tensor actual = outputs.get(entry.getKey());
                if (actual == null) {
                    return "the model gave no " + entry.getKey() + " (it gave " + outputs.keySet() + ")";
                }
                if (example.zeroedAtPadding.contains(entry.getKey())) {
                    actual = zeroPadded(actual, example.attentionMask);
                }
                String problem = compareOutput(example.index, entry.getKey(), entry.getValue(), actual, minSqnrDb, report);
                if (problem != null) {
                    return problem;
                }
            }
        }

        if (!example.hasDecoded || prepared == null) {
            return null;
        }
        if (!complete) {
            report.notes.add("example " + example.index + ": outputs stored as argmax + slice only; decoded answer not checked");
            return null;
        }
        Object decoded = pipeline.decode(prepared, outputs);
        report.decoded++;
        String problem = diff(example.decoded, decoded, decodedExact ? scoreTol : Double.POSITIVE_INFINITY, "decoded");
        if (problem == null) {
            report.agreed++;
        } else if (decodedExact && report.decodedMiss == null) {
            report.decodedMiss = "example " + example.index + ": " + problem + " (java: " + Json.write(decoded) + ")";
        }
        return null;
    }

    /** golden.json stores per-token outputs (B, L, ...) as 0 where the attention mask (B, L) is 0: zero ours alike. */
    static Tensor zeroPadded(Tensor actual, int[] attentionMask) {
        double[] values = actual.values.clone();
        int inner = values.length / attentionMask.length;
        for (int p = 0; p < attentionMask.length; p++) {
            if (attentionMask[p] == 0) {
                Arrays.fill(values, p * inner, (p + 1) * inner, 0.0);
            }
        }
        return new Tensor(actual.shape, values);
    }

    static String sameInts(String name, int[] goldenShape, int[] golden, int[] shape, int[] actual) {
        if (!Arrays.equals(goldenShape, shape)) {
            return name + " shape " + Arrays.toString(shape) + " differs from golden " + Arrays.toString(goldenShape);
        }
        for (int i = 0; i < golden.length; i++) {
            if (golden[i] != actual[i]) {
                return name + " differ at flat index " + i + ": golden " + golden[i] + ", java " + actual[i]
                        + " (golden row " + Arrays.toString(golden) + ", java " + Arrays.toString(actual) + ")";
            }
        }
        return null;
    }

    static String sameOffsets(int[][] golden, int[][] actual) {
        if (golden.length != actual.length) {
            return "offsets: golden has " + golden.length + " tokens, java " + actual.length;
        }
        for (int i = 0; i < golden.length; i++) {
            if (!Arrays.equals(golden[i], actual[i])) {
                return "offsets differ at token " + i + ": golden " + Arrays.toString(golden[i]) + ", java " + Arrays.toString(actual[i]);
            }
        }
        return null;
    }

    /**
     * Shape, then values: the largest error is recorded for judging over the set (judgeOverSet), and
     * the SQNR against golden must reach minSqnrDb.
     */
    static String compareOutput(int example, String name, Golden.Expected expected, Tensor actual, double minSqnrDb,
                                Report report) {
        if (!Arrays.equals(expected.shape, actual.shape)) {
            return name + " shape " + actual.shapeString() + " differs from golden " + Arrays.toString(expected.shape);
        }
        if (expected.values == null) {
            // Only the argmax over the last axis was stored: compare that.
            List<Integer> argmax = new ArrayList<>();
            int n = actual.shape[actual.shape.length - 1];
            for (int offset = 0; offset < actual.values.length; offset += n) {
                argmax.add(Postprocess.argmax(Arrays.copyOfRange(actual.values, offset, offset + n)));
            }
            List<Object> stored = new ArrayList<>();
            flatten(expected.argmax, stored);
            for (int i = 0; i < argmax.size(); i++) {
                if (((Number) stored.get(i)).intValue() != argmax.get(i)) {
                    return name + " argmax differs at row " + i + ": golden " + stored.get(i) + ", model " + argmax.get(i);
                }
            }
            return null;
        }
        double peak = 0;
        double worst = 0;
        int worstAt = 0;
        double signal = 0;
        double noise = 0;
        for (int i = 0; i < actual.values.length; i++) {
            double want = expected.values.values[i];
            peak = Math.max(peak, Math.abs(want));
            double error = Math.abs(actual.values[i] - want);
            if (error > worst || Double.isNaN(error)) {
                worst = error;
                worstAt = i;
            }
            signal += want * want;
            noise += error * error;
        }
        report.errors.add(new OutputError(example, name, worst, worstAt, peak));
        double sqnr = sqnrDb(signal, noise);
        report.worstSqnrDb = Math.min(report.worstSqnrDb, sqnr);
        if (!(sqnr >= minSqnrDb)) {
            return String.format("%s SQNR %.1f dB against golden is below the floor %.1f dB", name, sqnr, minSqnrDb);
        }
        return null;
    }

    /** 10 log10(signal / noise) in dB, as prelnedge's Python statistics: +inf for an exact match. */
    static double sqnrDb(double signal, double noise) {
        if (noise == 0) {
            return Double.POSITIVE_INFINITY;
        }
        if (Double.isNaN(noise)) {
            return Double.NaN;
        }
        return 10 * Math.log10(Math.max(signal, 1e-30) / noise);
    }

    private static void flatten(Object value, List<Object> out) {
        if (value instanceof List) {
            for (Object item : (List<?>) value) {
                flatten(item, out);
            }
        } else {
            out.add(value);
        }
    }

    /**
     * null when actual reproduces expected: same strings, numbers within tolerance, lists of the same
     * length, and every key of an expected map present in the actual one (which may hold more).
     */
    public static String diff(Object expected, Object actual, double tolerance, String path) {
        if (expected instanceof Map) {
            if (!(actual instanceof Map)) {
                return path + ": expected an object, java gave " + Json.write(actual);
            }
            for (Map.Entry<?, ?> entry : ((Map<?, ?>) expected).entrySet()) {
                Map<?, ?> other = (Map<?, ?>) actual;
                if (!other.containsKey(entry.getKey())) {
                    return path + "." + entry.getKey() + ": missing in java's answer";
                }
                String problem = diff(entry.getValue(), other.get(entry.getKey()), tolerance, path + "." + entry.getKey());
                if (problem != null) {
                    return problem;
                }
            }
            return null;
        }
        if (expected instanceof List) {
            if (!(actual instanceof List)) {
                return path + ": expected a list, java gave " + Json.write(actual);
            }
            List<?> a = (List<?>) expected;
            List<?> b = (List<?>) actual;
            if (a.size() != b.size()) {
                return path + ": golden has " + a.size() + " items, java " + b.size();
            }
            for (int i = 0; i < a.size(); i++) {
                String problem = diff(a.get(i), b.get(i), tolerance, path + "[" + i + "]");
                if (problem != null) {
                    return problem;
                }
            }
            return null;
        }
        if (expected instanceof Number) {
            if (!(actual instanceof Number)) {
                return path + ": golden " + expected + ", java " + Json.write(actual);
            }
            double e = ((Number) expected).doubleValue();
            double a = ((Number) actual).doubleValue();
            if (!(Math.abs(e - a) <= tolerance)) {
                return path + ": golden " + expected + ", java " + actual;
            }
            return null;
        }
        if (expected == null ? actual != null : !expected.equals(actual)) {
            return path + ": golden " + Json.write(expected) + ", java " + Json.write(actual);
        }
        return null;
    }
}
