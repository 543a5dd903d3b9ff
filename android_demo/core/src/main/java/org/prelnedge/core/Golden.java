package org.prelnedge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * golden.json, written by prelnedge/verify/golden.py at export: example requests, their token ids and
 * offsets, the float reference's outputs ("expected") and its post-processed answer ("decoded").
 */
public final class Golden {
    /** One stored output: the full values, or (for big outputs) the argmax over the last axis and a slice. */
    public static final class Expected {
        public final int[] shape;
        public final Tensor values; // null when only argmax and slice were stored
        public final Object argmax;
        public final Object slice;

        Expected(int[] shape, Tensor values, Object argmax, Object slice) {
            this.shape = shape;
            this.values = values;
            this.argmax = argmax;
            this.slice = slice;
        }
    }

    public static final class Example {
        public final int index;
        public final Map<String, Object> request; // empty for ids-only goldens
        public final int[] shape;
        public final int[] inputIds;
        public final int[] attentionMask;
        public final int[][] offsets; // null when absent (multiple-choice)
        public final Map<String, Expected> expected;
        public final boolean hasDecoded;
        public final Object decoded;
        /** Outputs golden.json stores as 0 at padded positions (per-token outputs of a padded batch). */
        public final List<String> zeroedAtPadding;

        Example(int index, Map<String, Object> request, int[] shape, int[] inputIds, int[] attentionMask, int[][] offsets,
                Map<String, Expected> expected, boolean hasDecoded, Object decoded, List<String> zeroedAtPadding) {
            this.index = index;
            this.request = request;
            this.shape = shape;
            this.inputIds = inputIds;
            this.attentionMask = attentionMask;
            this.offsets = offsets;
            this.expected = expected;
            this.hasDecoded = hasDecoded;
            this.decoded = decoded;
            this.zeroedAtPadding = zeroedAtPadding;
        }
    }

    public final String task;
    public final List<String> labels; // empty when golden.json names none
    public final int maxTokens; // -1 when absent
    public final List<Example> examples;
    /** Causal LM: the float reference's greedy continuation every runtime's loop must reproduce; else null. */
    public final Generate.Expected generation;

    private Golden(String task, List<String> labels, int maxTokens, List<Example> examples,
                   Generate.Expected generation) {
        this.task = task;
        this.labels = labels;
        this.maxTokens = maxTokens;
        this.examples = examples;
        this.generation = generation;
    }

    /** golden.json; requestKeys: the bundle spec's request fields, which each example may carry. */
    public static Golden parse(String text, List<String> requestKeys) {
        Map<String, Object> root = Json.object(Json.parse(text), "golden.json");
        String task = Json.string(root.get("task"), "golden.json task");
        List<String> labels = new ArrayList<>();
        if (root.get("labels") != null) {
            for (Object label : Json.array(root.get("labels"), "golden.json labels")) {
                labels.add(Json.string(label, "label"));
            }
        }
        int maxTokens = root.get("max_tokens") == null ? -1 : Json.integer(root.get("max_tokens"), "max_tokens");
        List<Example> examples = new ArrayList<>();
        List<Object> items = Json.array(root.get("examples"), "golden.json examples");
        for (int i = 0; i < items.size(); i++) {
            examples.add(example(i, Json.object(items.get(i), "example " + i), requestKeys));
        }
        return new Golden(task, Collections.unmodifiableList(labels), maxTokens, Collections.unmodifiableList(examples),
                Generate.Expected.parse(root.get("generation")));
    }

    private static Example example(int index, Map<String, Object> e, List<String> requestKeys) {
        String where = "example " + index;
        Map<String, Object> request = new LinkedHashMap<>();
        for (String key : requestKeys) {
            if (e.containsKey(key)) {
                request.put(key, e.get(key));
            }
        }
        List<Integer> shape = new ArrayList<>();
        List<Integer> ids = new ArrayList<>();
        flattenInts(e.get("input_ids"), 0, shape, ids, where + " input_ids");
        List<Integer> maskShape = new ArrayList<>();
        List<Integer> mask = new ArrayList<>();
        flattenInts(e.get("attention_mask"), 0, maskShape, mask, where + " attention_mask");
        if (!maskShape.equals(shape)) {
            throw new IllegalArgumentException(where + ": attention_mask shape " + maskShape + " differs from input_ids " + shape);
        }
        int[][] offsets = null;
        if (e.get("offsets") != null) {
            List<Object> rows = Json.array(e.get("offsets"), where + " offsets");
            offsets = new int[rows.size()][];
            for (int i = 0; i < rows.size(); i++) {
                List<Object> pair = Json.array(rows.get(i), where + " offset");
                offsets[i] = new int[] {Json.integer(pair.get(0), "offset"), Json.integer(pair.get(1), "offset")};
            }
        }
        Map<String, Expected> expected = new LinkedHashMap<>();
        for (Map.Entry<String, Object> entry : Json.object(e.get("expected"), where + " expected").entrySet()) {
            Map<String, Object> stored = Json.object(entry.getValue(), where + " expected " + entry.getKey());
            List<Object> dims = Json.array(stored.get("shape"), "shape");
            int[] outShape = new int[dims.size()];
            for (int d = 0; d < outShape.length; d++) {
                outShape[d] = Json.integer(dims.get(d), "shape");
            }
            Tensor values = stored.containsKey("values") ? Tensor.fromNested(outShape, stored.get("values")) : null;
            expected.put(entry.getKey(), new Expected(outShape, values, stored.get("argmax"), stored.get("slice_last_axis_64")));
        }
        List<String> zeroed = new ArrayList<>();
        if (e.get("zeroed_at_padding") != null) {
            for (Object name : Json.array(e.get("zeroed_at_padding"), where + " zeroed_at_padding")) {
                zeroed.add((String) name);
            }
        }
        return new Example(index, request, toArray(shape), toArray(ids), toArray(mask), offsets, expected,
                e.containsKey("decoded"), e.get("decoded"), zeroed);
    }

    /** Nested integer lists to a flat array, recording each depth's length in shape. */
    private static void flattenInts(Object value, int depth, List<Integer> shape, List<Integer> out, String what) {
        if (value instanceof List) {
            List<?> list = (List<?>) value;
            if (shape.size() == depth) {
                shape.add(list.size());
            } else if (shape.get(depth) != list.size()) {
                throw new IllegalArgumentException(what + " is ragged");
            }
            for (Object item : list) {
                flattenInts(item, depth + 1, shape, out, what);
            }
        } else {
            out.add(Json.integer(value, what));
        }
    }

    private static int[] toArray(List<Integer> values) {
        int[] out = new int[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = values.get(i);
        }
        return out;
    }
}
