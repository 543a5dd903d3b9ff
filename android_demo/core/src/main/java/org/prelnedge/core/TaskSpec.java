package org.prelnedge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * What the bundle's task is, as manifest.json "spec" states it (written by
 * prelnedge/bundle/runtime_spec.py): the head kind the pipeline dispatches on, the request fields a
 * caller gives with their roles, the decode settings, the model's tensors with their axes, and the rule
 * the golden self-check applies. The core keeps no task list, field name or decode number of its own;
 * the browser page reads the same spec.
 */
public final class TaskSpec {
    /** Head kinds (prelnedge/tasks.py HEAD_KINDS): what the head computes and how outputs decode. */
    public static final String FEATURES = "features";
    public static final String LM = "lm";
    public static final String SEQUENCE = "sequence";
    public static final String TOKEN = "token";
    public static final String CHOICE = "choice";
    public static final String SPAN = "span";
    static final List<String> HEAD_KINDS = Collections.unmodifiableList(java.util.Arrays.asList(
            FEATURES, LM, SEQUENCE, TOKEN, CHOICE, SPAN));

    /** Request field roles (prelnedge/tasks.py ROLES): the text an encoding starts with, the text
     * paired with it, and texts each paired with the first in a row of its own. */
    public static final String FIRST = "first";
    public static final String SECOND = "second";
    public static final String ROWS = "rows";
    static final List<String> ROLES = Collections.unmodifiableList(java.util.Arrays.asList(FIRST, SECOND, ROWS));

    /** A request field: its name (golden.json's example key), its role, whether it holds a list of
     * strings, and whether its text must hold {@code <mask>}. */
    public static final class Field {
        public final String name;
        public final String role;
        public final boolean list;
        public final boolean needsMask;

        Field(String name, String role, boolean list, boolean needsMask) {
            this.name = name;
            this.role = role;
            this.list = list;
            this.needsMask = needsMask;
        }
    }

    /** The post-processing's settings (spec.decode); a setting the head kind does not read is -1. */
    public static final class Decode {
        /** Candidates kept by fill-mask and next-token prediction. */
        public final int topK;
        /** The longest answer span in tokens. */
        public final int maxAnswerTokens;
        /** New tokens per press of Generate (causal lm). */
        public final int generateTokens;

        Decode(int topK, int maxAnswerTokens, int generateTokens) {
            this.topK = topK;
            this.maxAnswerTokens = maxAnswerTokens;
            this.generateTokens = generateTokens;
        }
    }

    /** A model input or output: its name, symbolic axes (B, C, L, H, V, N) and dtype. */
    public static final class TensorSpec {
        public final String name;
        public final List<String> axes;
        public final String dtype;

        TensorSpec(String name, List<String> axes, String dtype) {
            this.name = name;
            this.axes = axes;
            this.dtype = dtype;
        }
    }

    /**
     * The golden self-check's pass rule. Float models: every output within peakRel of its largest
     * |golden| value and the decoded answers exact (numbers within scoreTol). Quantized models: every
     * output's SQNR against golden's float outputs at or above minSqnrDb; answers counted, not required.
     */
    public static final class Rule {
        /** NaN when the rule gives none. */
        public final double peakRel;
        /** NaN when the rule gives none. */
        public final double minSqnrDb;
        /** The tolerance-table row the bound comes from (prelnedge/verify/tolerances.py). */
        public final String tolerance;
        /** true: decoded answers must equal golden's; false: agreement is counted and reported. */
        public final boolean decodedExact;
        /** Numbers in decoded answers (scores, probabilities) compared exactly may differ by this much. */
        public final double scoreTol;

        Rule(double peakRel, double minSqnrDb, String tolerance, boolean decodedExact, double scoreTol) {
            this.peakRel = peakRel;
            this.minSqnrDb = minSqnrDb;
            this.tolerance = tolerance;
            this.decodedExact = decodedExact;
            this.scoreTol = scoreTol;
        }

        /** A rule that bounds nothing would pass any model. */
        public boolean checksOutputs() {
            return !Double.isNaN(peakRel) || !Double.isNaN(minSqnrDb);
        }
    }

    public final String task;
    public final String headKind;
    public final boolean causal;
    public final List<Field> request;
    public final Decode decode;
    public final boolean labelled;
    public final List<TensorSpec> inputs;
    public final List<TensorSpec> outputs;
    public final Rule rule;

    private TaskSpec(String task, String headKind, boolean causal, List<Field> request, Decode decode, boolean labelled,
                     List<TensorSpec> inputs, List<TensorSpec> outputs, Rule rule) {
        this.task = task;
        this.headKind = headKind;
        this.causal = causal;
        this.request = request;
        this.decode = decode;
        this.labelled = labelled;
        this.inputs = inputs;
        this.outputs = outputs;
        this.rule = rule;
    }

    /** manifest.json's "spec" object. */
    public static TaskSpec parse(Object value) {
        if (value == null) {
            throw new IllegalArgumentException("manifest.json has no spec (the task and the self-check's rule); "
                    + "bundle the export again with a current prelnedge");
        }
        Map<String, Object> spec = Json.object(value, "manifest.json spec");
        String task = Json.string(spec.get("task"), "spec.task");
        String kind = Json.string(spec.get("head_kind"), "spec.head_kind");
        if (!HEAD_KINDS.contains(kind)) {
            throw new IllegalArgumentException("task " + task + " has head kind " + kind + "; this app knows " + HEAD_KINDS);
        }
        List<Field> request = new ArrayList<>();
        for (Object item : Json.array(spec.get("request"), "spec.request")) {
            Map<String, Object> field = Json.object(item, "spec.request item");
            String name = Json.string(field.get("name"), "spec.request name");
            String role = field.get("role") == null ? null : Json.string(field.get("role"), "spec.request role");
            if (!ROLES.contains(role)) {
                throw new IllegalArgumentException("request field " + name + " has role " + role + "; this app knows "
                        + ROLES + " (bundle the export again with a current prelnedge)");
            }
            request.add(new Field(name, role, "strings".equals(field.get("type")), Boolean.TRUE.equals(field.get("needs_mask"))));
        }
        return new TaskSpec(task, kind, Boolean.TRUE.equals(spec.get("causal")), Collections.unmodifiableList(request),
                decode(spec.get("decode")), Boolean.TRUE.equals(spec.get("labelled")), tensors(spec.get("inputs"), "spec.inputs"),
                tensors(spec.get("outputs"), "spec.outputs"), rule(spec.get("rule")));
    }

    private static List<TensorSpec> tensors(Object value, String what) {
        List<TensorSpec> out = new ArrayList<>();
        for (Object item : Json.array(value, what)) {
            Map<String, Object> t = Json.object(item, what + " item");
            List<String> axes = new ArrayList<>();
            for (Object axis : Json.array(t.get("axes"), what + " axes")) {
                axes.add(Json.string(axis, what + " axis"));
            }
            out.add(new TensorSpec(Json.string(t.get("name"), what + " name"), Collections.unmodifiableList(axes),
                    t.get("dtype") == null ? null : Json.string(t.get("dtype"), what + " dtype")));
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(what + " is empty");
        }
        return Collections.unmodifiableList(out);
    }

    private static Rule rule(Object value) {
        Map<String, Object> rule = value == null ? Collections.<String, Object>emptyMap() : Json.object(value, "spec.rule");
        if (rule.get("score_tol") == null) {
            throw new IllegalArgumentException("manifest.json spec.rule has no score_tol; bundle the export again");
        }
        return new Rule(number(rule.get("peak_rel"), "spec.rule.peak_rel"),
                number(rule.get("min_sqnr_db"), "spec.rule.min_sqnr_db"),
                rule.get("tolerance") == null ? null : Json.string(rule.get("tolerance"), "spec.rule.tolerance"),
                "exact".equals(rule.get("decoded")), Json.number(rule.get("score_tol"), "spec.rule.score_tol"));
    }

    private static Decode decode(Object value) {
        if (value == null) {
            throw new IllegalArgumentException("manifest.json spec has no decode settings; bundle the export again");
        }
        Map<String, Object> decode = Json.object(value, "spec.decode");
        return new Decode(setting(decode, "top_k"), setting(decode, "max_answer_tokens"), setting(decode, "generate_tokens"));
    }

    private static int setting(Map<String, Object> decode, String key) {
        return decode.get(key) == null ? -1 : Json.integer(decode.get(key), "spec.decode." + key);
    }

    private static double number(Object value, String what) {
        return value == null ? Double.NaN : Json.number(value, what);
    }

    /** The model's output names, in the export's order. */
    public List<String> outputNames() {
        List<String> names = new ArrayList<>();
        for (TensorSpec t : outputs) {
            names.add(t.name);
        }
        return names;
    }

    public TensorSpec output(String name) {
        for (TensorSpec t : outputs) {
            if (t.name.equals(name)) {
                return t;
            }
        }
        throw new IllegalArgumentException("task " + task + " has no output " + name + "; it has " + outputNames());
    }

    /** Whether the inputs are (B, C, L): one item's choices side by side. */
    public boolean choiceInputs() {
        return inputs.get(0).axes.contains("C");
    }

    /** The request field names, in order (golden.json's example keys for them). */
    public List<String> requestNames() {
        List<String> names = new ArrayList<>();
        for (Field f : request) {
            names.add(f.name);
        }
        return names;
    }

    /** The request field with this role, or null when the request has none. */
    public Field field(String role) {
        for (Field f : request) {
            if (f.role.equals(role)) {
                return f;
            }
        }
        return null;
    }

    /** The decode setting, refused when the spec does not give it (a head kind that does not read it). */
    static int required(int setting, String what, String task) {
        if (setting < 0) {
            throw new IllegalArgumentException("manifest.json spec.decode has no " + what + " for task " + task);
        }
        return setting;
    }
}
