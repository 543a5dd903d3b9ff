package org.prelnedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Text in, model inputs; model outputs, answers out: the Java twin of prelnedge/runtime/postprocess.py.
 *
 * <p>What to do is decided by the bundle's {@link TaskSpec}: its head kind (span, choice, lm with
 * or without a causal mask, sequence, token, features), never by the task's name. A request is a map
 * with the spec's request fields (golden.json's example keys); the pipeline names no field but reads
 * each value by its role (first, second, rows), and takes its decode numbers (top-k, the answer length
 * limit) from the spec. Results are plain maps and lists with the same keys and values as the Python
 * functions return, so they compare with golden "decoded".
 */
public final class Pipeline {
    /** Anything that maps input ids and mask to named outputs: LiteRT on Android, replayed goldens on the JVM. */
    public interface Model {
        Map<String, Tensor> run(Inputs inputs) throws Exception;
    }

    /** Model inputs: row-major int32 ids and mask with shape (B, L), or (B, C, L) for multiple-choice. */
    public static final class Inputs {
        public final int[] shape;
        public final int[] inputIds;
        public final int[] attentionMask;

        public Inputs(int[] shape, int[] inputIds, int[] attentionMask) {
            this.shape = shape;
            this.inputIds = inputIds;
            this.attentionMask = attentionMask;
        }
    }

    /** A request after tokenisation. */
    public static final class Prepared {
        public final Map<String, Object> request;
        public final List<Encoding> encodings; // one per row (per choice for multiple-choice)
        public final Inputs inputs;

        Prepared(Map<String, Object> request, List<Encoding> encodings, Inputs inputs) {
            this.request = request;
            this.encodings = encodings;
            this.inputs = inputs;
        }
    }

    public final TaskSpec spec;
    /** The task's name, for messages (spec.task). */
    public final String task;
    private final RobertaTokenizer tok;
    private final List<String> labels;

    public Pipeline(TaskSpec spec, RobertaTokenizer tok, List<String> labels) {
        if (spec.labelled && (labels == null || labels.isEmpty())) {
            throw new IllegalArgumentException(spec.task + " needs labels (labels.txt or config.json id2label)");
        }
        this.spec = spec;
        this.task = spec.task;
        this.tok = tok;
        this.labels = labels;
    }

    public RobertaTokenizer tokenizer() {
        return tok;
    }

    /** Tokenises a request the way postprocess.py does for the task. */
    public Prepared prepare(Map<String, Object> request) {
        List<Encoding> encodings = new ArrayList<>();
        String kind = spec.headKind;
        TaskSpec.Field rows = spec.field(TaskSpec.ROWS);
        if (kind.equals(TaskSpec.SPAN)) {
            String question = first(request);
            String context = second(request);
            if (question.trim().isEmpty() || context.trim().isEmpty()) {
                throw new IllegalArgumentException(task + " needs a non-empty " + spec.field(TaskSpec.FIRST).name
                        + " and " + spec.field(TaskSpec.SECOND).name);
            }
            Object stride = request.get("stride");
            encodings.addAll(tok.encodeWindows(question, context, stride == null ? -1 : Json.integer(stride, "stride")));
        } else if (rows != null) {
            String prompt = first(request);
            List<Object> choices = Json.array(request.get(rows.name), rows.name);
            if (choices.size() < 2) {
                throw new IllegalArgumentException(task + " needs at least two " + rows.name);
            }
            for (Object choice : choices) {
                encodings.add(tok.encode(prompt, Json.string(choice, rows.name + " item")));
            }
        } else if (kind.equals(TaskSpec.LM) && spec.causal) {
            // <s> + the text's tokens, no </s>: the model predicts what follows the last token.
            Encoding body = tok.encode(first(request), null, tok.maxLength - 1, false);
            int n = body.length() + 1;
            int[] ids = new int[n];
            int[][] offsets = new int[n][];
            int[] seq = new int[n];
            ids[0] = tok.bosId;
            offsets[0] = new int[] {0, 0};
            seq[0] = -1;
            for (int i = 1; i < n; i++) {
                ids[i] = body.ids[i - 1];
                offsets[i] = body.offsets[i - 1];
                seq[i] = body.sequenceIds[i - 1];
            }
            encodings.add(new Encoding(ids, offsets, seq));
        } else {
            String text = first(request);
            if (spec.field(TaskSpec.FIRST).needsMask && (tok.maskId < 0 || !text.contains("<mask>"))) {
                throw new IllegalArgumentException(task + " needs a text containing <mask>");
            }
            encodings.add(tok.encode(text));
        }
        return new Prepared(request, encodings, batch(encodings, spec.choiceInputs()));
    }

    /** The request's first text (the text, question or prompt: the spec's field of role first). */
    private String first(Map<String, Object> request) {
        return text(request, spec.field(TaskSpec.FIRST).name);
    }

    /** The text paired with the first (a context). */
    private String second(Map<String, Object> request) {
        TaskSpec.Field field = spec.field(TaskSpec.SECOND);
        if (field == null) {
            throw new IllegalArgumentException("task " + task + " has no request field of role second");
        }
        return text(request, field.name);
    }

    private static String text(Map<String, Object> request, String key) {
        Object value = request.get(key);
        if (!(value instanceof String)) {
            throw new IllegalArgumentException("the request needs \"" + key + "\"");
        }
        return (String) value;
    }

    /** Right-pads rows to the longest with <pad> and mask 0; multiple-choice adds the batch axis. */
    private Inputs batch(List<Encoding> encodings, boolean choices) {
        int length = 0;
        for (Encoding e : encodings) {
            length = Math.max(length, e.length());
        }
        int rows = encodings.size();
        int[] ids = new int[rows * length];
        int[] mask = new int[rows * length];
        Arrays.fill(ids, tok.padId);
        for (int r = 0; r < rows; r++) {
            Encoding e = encodings.get(r);
            for (int i = 0; i < e.length(); i++) {
                ids[r * length + i] = e.ids[i];
                mask[r * length + i] = 1;
            }
        }
        int[] shape = choices ? new int[] {1, rows, length} : new int[] {rows, length};
        return new Inputs(shape, ids, mask);
    }

    /** Tokenise, run, decode. */
    public Object run(Map<String, Object> request, Model model) throws Exception {
        Prepared prepared = prepare(request);
        return decode(prepared, model.run(prepared.inputs));
    }

    /** Outputs to the answer postprocess.py would give. */
    public Object decode(Prepared p, Map<String, Tensor> outputs) {
        Encoding enc = p.encodings.get(0);
        String kind = spec.headKind;
        if (kind.equals(TaskSpec.SPAN)) {
            // The best whole-word span over every context window (one window when the context fits).
            int maxAnswerTokens = TaskSpec.required(spec.decode.maxAnswerTokens, "max_answer_tokens", task);
            Tensor startLogits = output(outputs, "start_logits");
            Tensor endLogits = output(outputs, "end_logits");
            Postprocess.Span best = null;
            int bestRow = -1;
            for (int row = 0; row < p.encodings.size(); row++) {
                Encoding window = p.encodings.get(row);
                boolean[] inContext = new boolean[window.length()];
                for (int i = 0; i < inContext.length; i++) {
                    inContext[i] = window.sequenceIds[i] == 1;
                }
                boolean[][] edges = Postprocess.wordEdges(second(p.request), window.offsets, inContext);
                Postprocess.Span span = Postprocess.bestSpan(startLogits.lastAxis(row), endLogits.lastAxis(row),
                        inContext, maxAnswerTokens, edges);
                if (best == null || span.score > best.score) {
                    best = span;
                    bestRow = row;
                }
            }
            Encoding window = p.encodings.get(bestRow);
            int charStart = window.offsets[best.start][0];
            int charEnd = window.offsets[best.end][1];
            Map<String, Object> answer = new LinkedHashMap<>();
            answer.put("answer", Encoding.slice(second(p.request), charStart, Math.max(charStart, charEnd)));
            answer.put("score", best.score);
            answer.put("start", (long) charStart);
            answer.put("end", (long) charEnd);
            answer.put("start_token", (long) best.start);
            answer.put("end_token", (long) best.end);
            answer.put("window", (long) bestRow);
            answer.put("windows", (long) p.encodings.size());
            return answer;
        }
        if (kind.equals(TaskSpec.SEQUENCE)) {
            double[] probs = Postprocess.softmax(output(outputs, "logits").lastAxis(0));
            int best = Postprocess.argmax(probs);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("text", first(p.request));
            result.put("label", labels.get(best));
            result.put("score", probs[best]);
            return result;
        }
        if (kind.equals(TaskSpec.TOKEN)) {
            Tensor logits = output(outputs, "logits");
            String text = first(p.request);
            List<Object> tags = new ArrayList<>();
            for (int i = 0; i < enc.length(); i++) {
                if (enc.sequenceIds[i] < 0) {
                    continue;
                }
                double[] probs = Postprocess.softmax(logits.lastAxis(0, i));
                int best = Postprocess.argmax(probs);
                int a = enc.offsets[i][0];
                int b = enc.offsets[i][1];
                Map<String, Object> tag = new LinkedHashMap<>();
                tag.put("token", Encoding.slice(text, a, Math.max(a, b)));
                tag.put("start", (long) a);
                tag.put("end", (long) b);
                tag.put("label", labels.get(best));
                tag.put("score", probs[best]);
                tags.add(tag);
            }
            return tags;
        }
        if (kind.equals(TaskSpec.LM) && !spec.causal) {
            Tensor logits = output(outputs, "logits");
            List<Object> results = new ArrayList<>();
            for (int position = 0; position < enc.length(); position++) {
                if (enc.ids[position] != tok.maskId) {
                    continue;
                }
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("position", (long) position);
                result.put("candidates", candidates(Postprocess.softmax(logits.lastAxis(0, position))));
                results.add(result);
            }
            return results;
        }
        if (kind.equals(TaskSpec.LM)) { // causal: the distribution after the last token
            Tensor logits = output(outputs, "logits");
            return candidates(Postprocess.softmax(logits.lastAxis(0, logits.shape[1] - 1)));
        }
        if (kind.equals(TaskSpec.CHOICE)) {
            double[] probs = Postprocess.softmax(output(outputs, "logits").lastAxis(0));
            int best = Postprocess.argmax(probs);
            List<Object> scores = new ArrayList<>();
            for (double v : probs) {
                scores.add(v);
            }
            Map<String, Object> result = new LinkedHashMap<>();
            TaskSpec.Field rows = spec.field(TaskSpec.ROWS);
            result.put("choice", Json.array(p.request.get(rows.name), rows.name).get(best));
            result.put("index", (long) best);
            result.put("scores", scores);
            return result;
        }
        // features: a summary of the pooled features, as postprocess.features prints.
        double[] pooled = output(outputs, "pooler_output").lastAxis(0);
        double norm = 0;
        for (double v : pooled) {
            norm += v * v;
        }
        List<Object> head = new ArrayList<>();
        for (int i = 0; i < Math.min(4, pooled.length); i++) {
            head.add(Math.round(pooled[i] * 1e6) / 1e6);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("text", first(p.request));
        result.put("tokens", (long) enc.length());
        result.put("pooler_output_head", head);
        result.put("pooler_output_norm", Math.sqrt(norm));
        return result;
    }

    private List<Object> candidates(double[] probs) {
        List<Object> out = new ArrayList<>();
        for (int id : Postprocess.topK(probs, TaskSpec.required(spec.decode.topK, "top_k", task))) {
            Map<String, Object> candidate = new LinkedHashMap<>();
            candidate.put("token", tok.readableToken(id));
            candidate.put("id", (long) id);
            candidate.put("score", probs[id]);
            out.add(candidate);
        }
        return out;
    }

    private static Tensor output(Map<String, Tensor> outputs, String name) {
        Tensor t = outputs.get(name);
        if (t == null) {
            throw new IllegalArgumentException("the model gave no output named " + name + "; it gave " + outputs.keySet());
        }
        return t;
    }
}
