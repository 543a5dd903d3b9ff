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
 * everything but the model; manifest.json's "bundle" section says which runtime runs it, and its
 * "spec" ({@link TaskSpec}) what the task is, its tensors and the self-check's rule.
 */
public final class ModelBundle {
    public static final String MODEL_FILE = "model.tflite";
    public static final String LITERT = "litert";
    public static final String ONNXRUNTIME = "onnxruntime";

    public final Map<String, Object> config;
    /** The bundle's manifest.json: the export it came from, quantization, hashes, the task spec. */
    public final Map<String, Object> manifest;
    public final TaskSpec spec;
    public final Golden golden;
    /** The task's name (spec.task), for people. */
    public final String task;
    public final List<String> labels;
    public final int maxTokens;
    public final RobertaTokenizer tokenizer;
    public final Pipeline pipeline;
    /** LITERT (model.tflite, int32 inputs) or ONNXRUNTIME (model.ort, int64 inputs). */
    public final String runtime;
    /** The model's file name in the bundle. */
    public final String modelFile;
    /** The outputs the model gives, in the export's order (spec.outputs). */
    public final List<String> outputNames;
    /**
     * A quantized model's floor: each output's SQNR (dB) against golden.json's float outputs must reach
     * it (manifest spec.rule.min_sqnr_db, from prelnedge's tolerance table). NaN when the rule has none.
     */
    public final double minSqnrDb;

    private ModelBundle(Map<String, Object> config, Map<String, Object> manifest, TaskSpec spec, Golden golden,
                        List<String> labels, int maxTokens, RobertaTokenizer tokenizer) {
        this.config = config;
        this.manifest = manifest;
        this.spec = spec;
        this.golden = golden;
        this.task = spec.task;
        if (!golden.task.equals(spec.task)) {
            throw new IllegalArgumentException("golden.json is for task " + golden.task + ", manifest.json for " + spec.task);
        }
        this.labels = labels;
        this.maxTokens = maxTokens;
        this.tokenizer = tokenizer;
        this.pipeline = new Pipeline(spec, tokenizer, labels);
        Map<String, Object> facts = manifest.get("bundle") instanceof Map
                ? Json.object(manifest.get("bundle"), "manifest.json bundle") : new LinkedHashMap<String, Object>();
        // Bundles written before ONNX Runtime support carry no runtime: they are LiteRT bundles.
        this.runtime = facts.get("runtime") == null ? LITERT : Json.string(facts.get("runtime"), "bundle.runtime");
        this.modelFile = facts.get("model_file") == null ? MODEL_FILE : Json.string(facts.get("model_file"), "bundle.model_file");
        this.outputNames = spec.outputNames();
        this.minSqnrDb = spec.rule.minSqnrDb;
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
    }

    public static ModelBundle load(AssetSource files) throws IOException {
        Map<String, Object> config = Json.object(Json.parse(required(files, "config.json")), "config.json");
        Map<String, Object> manifest = Json.object(Json.parse(required(files, "manifest.json")), "manifest.json");
        TaskSpec spec = TaskSpec.parse(manifest.get("spec"));
        Golden golden = Golden.parse(required(files, "golden.json"), spec.requestNames());
        int maxTokens = golden.maxTokens > 0 ? golden.maxTokens : maxTokensFromConfig(config);
        RobertaTokenizer tokenizer = RobertaTokenizer.load(files, maxTokens);
        return new ModelBundle(config, manifest, spec, golden, labels(files, golden, config), maxTokens, tokenizer);
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

    /** Whether an output has a sequence axis (L) right after the batch (and choice) axes (spec.outputs' axes). */
    public boolean hasLengthAxis(String name) {
        return spec.output(name).axes.contains("L");
    }

    /**
     * The shape of an output for inputs of the given shape ((B, L), or (B, C, L) when the inputs have
     * a choice axis), from the output's axes in the spec and config.json's sizes: the app sizes
     * LiteRT's output arrays with it before running.
     */
    public int[] outputShape(String name, int[] inputShape) {
        List<String> axes = spec.output(name).axes;
        int[] shape = new int[axes.size()];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = axisSize(axes.get(i), inputShape);
        }
        return shape;
    }

    /** B batch, C choices, L tokens (from the inputs); H hidden, V vocabulary (config.json); N labels. */
    private int axisSize(String axis, int[] inputShape) {
        switch (axis) {
            case "B":
                return inputShape[0];
            case "C":
                return inputShape[1];
            case "L":
                return inputShape[inputShape.length - 1];
            case "H":
                return configInt("hidden_size");
            case "V":
                return configInt("vocab_size");
            case "N":
                return labels.size();
            default:
                throw new IllegalArgumentException("output axis " + axis + " of task " + task + " has no known size");
        }
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
