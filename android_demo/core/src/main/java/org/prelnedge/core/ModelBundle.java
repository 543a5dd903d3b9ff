package org.prelnedge.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * An Android bundle as `prelnedge bundle OUT --platform android` writes it: the model (model.tflite
 * for LiteRT, or model.ort for ONNX Runtime), tokenizer.json (and/or vocab.json + merges.txt),
 * labels.txt (classification tasks), golden.json, config.json and manifest.json. This class reads
 * everything but the model; manifest.json's "bundle" section says which runtime runs it.
 */
public final class ModelBundle {
    public static final String MODEL_FILE = "model.tflite";
    public static final String LITERT = "litert";
    public static final String ONNXRUNTIME = "onnxruntime";

    public final Map<String, Object> config;
    /** The bundle's manifest.json (empty when absent): the export it came from, quantization, hashes. */
    public final Map<String, Object> manifest;
    public final Golden golden;
    public final String task;
    public final List<String> labels;
    public final int maxTokens;
    public final RobertaTokenizer tokenizer;
    public final Pipeline pipeline;
    /** LITERT (model.tflite, int32 inputs) or ONNXRUNTIME (model.ort, int64 inputs). */
    public final String runtime;
    /** The model's file name in the bundle. */
    public final String modelFile;
    /** The outputs the model gives, in the manifest's order (else the task's, from prelnedge/tasks.py). */
    public final List<String> outputNames;
    /**
     * A quantized model's floor: each output's SQNR (dB) against golden.json's float outputs must reach
     * it (manifest bundle.rule.min_sqnr_db, from prelnedge's tolerance table). NaN when the manifest has none.
     */
    public final double minSqnrDb;

    private ModelBundle(Map<String, Object> config, Map<String, Object> manifest, Golden golden, List<String> labels,
                        int maxTokens, RobertaTokenizer tokenizer) {
        this.config = config;
        this.manifest = manifest;
        this.golden = golden;
        this.task = golden.task;
        this.labels = labels;
        this.maxTokens = maxTokens;
        this.tokenizer = tokenizer;
        this.pipeline = new Pipeline(golden.task, tokenizer, labels, golden.topK);
        Map<String, Object> facts = manifest.get("bundle") instanceof Map
                ? Json.object(manifest.get("bundle"), "manifest.json bundle") : new LinkedHashMap<String, Object>();
        // Bundles written before ONNX Runtime support carry no runtime: they are LiteRT bundles.
        this.runtime = facts.get("runtime") == null ? LITERT : Json.string(facts.get("runtime"), "bundle.runtime");
        this.modelFile = facts.get("model_file") == null ? MODEL_FILE : Json.string(facts.get("model_file"), "bundle.model_file");
        this.outputNames = facts.get("outputs") == null ? Pipeline.outputNames(task) : strings(facts.get("outputs"));
        Object rule = facts.get("rule");
        Object floor = rule instanceof Map ? ((Map<?, ?>) rule).get("min_sqnr_db") : null;
        this.minSqnrDb = floor == null ? Double.NaN : Json.number(floor, "bundle.rule.min_sqnr_db");
        checkRuntime(facts.get("input_dtype"));
    }

    /** The runtime, its file type and its input type must agree (int32 for LiteRT, int64 for ONNX Runtime). */
    private void checkRuntime(Object inputDtype) {
        String suffix = runtime.equals(LITERT) ? ".tflite" : runtime.equals(ONNXRUNTIME) ? ".ort" : null;
        if (suffix == null) {
            throw new IllegalArgumentException("manifest.json names runtime " + runtime + "; the app runs "
                    + LITERT + " or " + ONNXRUNTIME);
        }
        if (!modelFile.endsWith(suffix)) {
            throw new IllegalArgumentException("runtime " + runtime + " needs a " + suffix + " model, the manifest names " + modelFile);
        }
        String dtype = runtime.equals(LITERT) ? "int32" : "int64";
        if (inputDtype != null && !dtype.equals(inputDtype)) {
            throw new IllegalArgumentException("runtime " + runtime + " takes " + dtype + " inputs, the manifest says " + inputDtype);
        }
        if (!outputNames.containsAll(Pipeline.outputNames(task))) {
            throw new IllegalArgumentException("the model's outputs " + outputNames + " lack what task " + task
                    + " needs: " + Pipeline.outputNames(task));
        }
    }

    private static List<String> strings(Object value) {
        List<String> out = new ArrayList<>();
        for (Object item : Json.array(value, "bundle.outputs")) {
            out.add(Json.string(item, "bundle.outputs item"));
        }
        return Collections.unmodifiableList(out);
    }

    public static ModelBundle load(AssetSource files) throws IOException {
        Map<String, Object> config = Json.object(Json.parse(required(files, "config.json")), "config.json");
        Golden golden = Golden.parse(required(files, "golden.json"));
        int maxTokens = golden.maxTokens > 0 ? golden.maxTokens : maxTokensFromConfig(config);
        RobertaTokenizer tokenizer = RobertaTokenizer.load(files, maxTokens);
        String manifest = files.read("manifest.json");
        Map<String, Object> manifestMap = manifest == null ? new LinkedHashMap<String, Object>()
                : Json.object(Json.parse(manifest), "manifest.json");
        return new ModelBundle(config, manifestMap, golden, labels(files, golden, config), maxTokens, tokenizer);
    }

    /** A quantized model is judged by its outputs' SQNR floor (minSqnrDb), not by the float tolerance. */
    public boolean quantized() {
        return manifest.get("quantization") != null;
    }

    /** Some quantized models are only valid on unpadded rows (manifest quantization.unpadded_only). */
    public boolean unpaddedOnly() {
        Object q = manifest.get("quantization");
        return q instanceof Map && Boolean.TRUE.equals(((Map<?, ?>) q).get("unpadded_only"));
    }

    /** Whether an output has a sequence axis (L) right after the batch (and choice) axes. */
    public boolean hasLengthAxis(String name) {
        if (name.equals("logits")) {
            return task.equals("token-classification") || task.equals("masked-lm") || task.equals("causal-lm");
        }
        return name.equals("start_logits") || name.equals("end_logits") || name.equals("last_hidden_state");
    }

    /**
     * The shape of an output for inputs of the given shape ((B, L), or (B, C, L) for
     * multiple-choice), from the task and config.json's sizes: the app sizes LiteRT's output arrays
     * with it before running (prelnedge/tasks.py lists the axes).
     */
    public int[] outputShape(String name, int[] inputShape) {
        int b = inputShape[0];
        int l = inputShape[inputShape.length - 1];
        if (name.equals("start_logits") || name.equals("end_logits")) {
            return new int[] {b, l};
        }
        if (name.equals("last_hidden_state")) {
            return new int[] {b, l, configInt("hidden_size")};
        }
        if (name.equals("pooler_output")) {
            return new int[] {b, configInt("hidden_size")};
        }
        if (!name.equals("logits")) {
            throw new IllegalArgumentException("task " + task + " has no output " + name);
        }
        if (task.equals("multiple-choice")) {
            return new int[] {b, inputShape[1]};
        }
        if (task.equals("masked-lm") || task.equals("causal-lm")) {
            return new int[] {b, l, configInt("vocab_size")};
        }
        int labelCount = labels.size();
        return task.equals("token-classification") ? new int[] {b, l, labelCount} : new int[] {b, labelCount};
    }

    private int configInt(String key) {
        return Json.integer(config.get(key), "config.json " + key);
    }

    static String required(AssetSource files, String name) throws IOException {
        String text = files.read(name);
        if (text == null) {
            throw new IllegalArgumentException("the bundle has no " + name);
        }
        return text;
    }

    /** RoBERTa's positions start after the padding index (2), so a model holds max_position_embeddings - 2 tokens. */
    static int maxTokensFromConfig(Map<String, Object> config) {
        Object positions = config.get("max_position_embeddings");
        return positions == null ? 512 : Json.integer(positions, "max_position_embeddings") - 2;
    }

    /**
     * labels.txt (one per line, in id order), else golden.json's labels, else config.json id2label.
     * When labels.txt and golden.json both name labels they must agree.
     */
    static List<String> labels(AssetSource files, Golden golden, Map<String, Object> config) throws IOException {
        String text = files.read("labels.txt");
        if (text != null) {
            List<String> labels = new ArrayList<>();
            for (String line : text.split("\n", -1)) {
                line = line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
                if (!line.isEmpty()) {
                    labels.add(line);
                }
            }
            if (!golden.labels.isEmpty() && !golden.labels.equals(labels)) {
                throw new IllegalArgumentException("labels.txt " + labels + " differs from golden.json labels " + golden.labels);
            }
            return Collections.unmodifiableList(labels);
        }
        if (!golden.labels.isEmpty()) {
            return golden.labels;
        }
        Object id2label = config.get("id2label");
        List<String> labels = new ArrayList<>();
        if (id2label != null) {
            TreeMap<Integer, String> byId = new TreeMap<>();
            for (Map.Entry<String, Object> entry : Json.object(id2label, "id2label").entrySet()) {
                byId.put(Integer.parseInt(entry.getKey()), Json.string(entry.getValue(), "label"));
            }
            labels.addAll(byId.values());
        }
        return Collections.unmodifiableList(labels);
    }
}
