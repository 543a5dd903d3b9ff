package org.prelnedge.core;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Unit tests of the core in plain Java (no JUnit, so they run wherever javac does):
 * {@code java org.prelnedge.core.CoreTest} runs every static method whose name starts with
 * "test", prints each failure and a last line {@code UNITTEST PASS n} or {@code UNITTEST FAIL k of n}.
 */
public final class CoreTest {
    public static void main(String[] args) throws Exception {
        int run = 0;
        List<String> failures = new ArrayList<>();
        for (Method m : CoreTest.class.getDeclaredMethods()) {
            if (!m.getName().startsWith("test") || !Modifier.isStatic(m.getModifiers())) {
                continue;
            }
            run++;
            try {
                m.invoke(null);
            } catch (InvocationTargetException ex) {
                failures.add(m.getName() + ": " + ex.getCause());
            }
        }
        for (String failure : failures) {
            System.out.println("FAILED " + failure);
        }
        System.out.println(failures.isEmpty() ? "UNITTEST PASS " + run : "UNITTEST FAIL " + failures.size() + " of " + run);
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    // ---- tiny assertion helpers ----

    static void check(boolean condition, String message) {
        if (!condition) {
            throw new AssertionError(message);
        }
    }

    static void equal(Object expected, Object actual) {
        boolean same = expected instanceof int[] && actual instanceof int[]
                ? Arrays.equals((int[]) expected, (int[]) actual)
                : expected == null ? actual == null : expected.equals(actual);
        if (!same) {
            throw new AssertionError("expected " + show(expected) + ", got " + show(actual));
        }
    }

    static String show(Object value) {
        return value instanceof int[] ? Arrays.toString((int[]) value) : String.valueOf(value);
    }

    static void raises(Runnable body, String fragment) {
        try {
            body.run();
        } catch (IllegalArgumentException ex) {
            check(ex.getMessage().contains(fragment), "message '" + ex.getMessage() + "' lacks '" + fragment + "'");
            return;
        }
        throw new AssertionError("expected an IllegalArgumentException mentioning '" + fragment + "'");
    }

    // ---- JSON ----

    static void testJsonValues() {
        Map<String, Object> doc = Json.object(Json.parse(
                " {\"a\": [1, -2.5, 3e2, true, false, null], \"s\": \"q\\\"\\\\\\n\\u00e9\\ud83d\\ude42\", \"e\": {}} "), "doc");
        List<Object> a = Json.array(doc.get("a"), "a");
        equal(1L, a.get(0));
        equal(-2.5, a.get(1));
        equal(300.0, a.get(2));
        equal(Boolean.TRUE, a.get(3));
        equal(null, a.get(5));
        equal("q\"\\\né\uD83D\uDE42", doc.get("s"));
        equal(0, Json.object(doc.get("e"), "e").size());
        equal(doc, Json.parse(Json.write(doc)));
    }

    static void testJsonErrors() {
        raises(() -> Json.parse("{\"a\": 1,}"), "offset");
        raises(() -> Json.parse("[1 2]"), "expected ','");
        raises(() -> Json.parse("\"open"), "unterminated");
        raises(() -> Json.parse("{} x"), "after the JSON value");
        raises(() -> Json.integer(1.5, "n"), "integer");
    }

    static void testJsonEscapesLoneSurrogates() {
        equal("\"\\ud800x\"", Json.write("\uD800x"));
        equal("\"\uD83D\uDE42\"", Json.write("\uD83D\uDE42"));
    }

    // ---- byte level ----

    static void testByteLevelMapping() {
        equal(256, ByteLevel.CHAR_TO_BYTE.size());
        equal('Ġ', ByteLevel.BYTE_TO_CHAR[' ']);
        equal('Ċ', ByteLevel.BYTE_TO_CHAR['\n']);
        equal('a', ByteLevel.BYTE_TO_CHAR['a']);
        String text = "Zürich 🙂 日本\t";
        equal(text, ByteLevel.decode(Arrays.asList(ByteLevel.encode(text))));
        // The first byte of a four-byte character alone is invalid UTF-8.
        equal("\uFFFD", ByteLevel.decode(Arrays.asList(ByteLevel.encode("🙂").substring(0, 1))));
    }

    static void testWhiteSpaceIsUnicodeWhiteSpace() {
        check(ByteLevel.isWhiteSpace(0xA0) && ByteLevel.isWhiteSpace(0x3000) && ByteLevel.isWhiteSpace(0x85), "NBSP, ideographic, NEL");
        check(!ByteLevel.isWhiteSpace(0x200B) && !ByteLevel.isWhiteSpace(0x1C), "zero-width space and U+001C are not White_Space");
    }

    static void testPreTokenizerPattern() {
        List<String> parts = new ArrayList<>();
        java.util.regex.Matcher m = ByteLevel.SPLIT.matcher("it's  a\u00a0b 12!?");
        while (m.find()) {
            parts.add(m.group());
        }
        equal(Arrays.asList("it", "'s", " ", " a", "\u00a0", "b", " 12", "!?"), parts);
    }

    // ---- BPE ----

    static Map<String, Integer> vocab(String... tokens) {
        Map<String, Integer> v = new LinkedHashMap<>();
        for (String t : tokens) {
            v.put(t, v.size());
        }
        return v;
    }

    static int[] ids(List<Bpe.Piece> pieces) {
        int[] out = new int[pieces.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = pieces.get(i).id;
        }
        return out;
    }

    static void testBpeMergesByRank() {
        Map<String, Integer> v = vocab("a", "b", "c", "ab", "bc", "abc");
        Bpe first = new Bpe(v, Arrays.asList(new String[] {"a", "b"}, new String[] {"ab", "c"}), null, false, false);
        equal(new int[] {v.get("abc")}, ids(first.tokenize("abc")));
        Bpe other = new Bpe(v, Arrays.asList(new String[] {"b", "c"}, new String[] {"a", "b"}), null, false, false);
        equal(new int[] {v.get("a"), v.get("bc")}, ids(other.tokenize("abc")));
        // Overlapping pairs of one rank: the leftmost merges first.
        Map<String, Integer> aa = vocab("a", "aa");
        equal(new int[] {1, 0}, ids(new Bpe(aa, Arrays.asList(new String[][] {{"a", "a"}}), null, false, false).tokenize("aaa")));
    }

    static void testBpeUnknownCharacters() {
        Map<String, Integer> v = vocab("a", "<unk>");
        List<String[]> none = new ArrayList<>();
        equal(new int[] {0, 0}, ids(new Bpe(v, none, null, false, false).tokenize("axa")));
        equal(new int[] {0, 1, 0}, ids(new Bpe(v, none, "<unk>", true, false).tokenize("axya")));
        equal(new int[] {0, 1, 1, 0}, ids(new Bpe(v, none, "<unk>", false, false).tokenize("axya")));
        raises(() -> new Bpe(v, Arrays.asList(new String[][] {{"a", "a"}}), null, false, false), "missing from the vocabulary");
    }

    // ---- tokenizer ----

    /** specials 0..3, the 256 byte characters, a few merges, <mask> last. */
    static String tinyVocab() {
        StringBuilder vocab = new StringBuilder("{\"<s>\":0,\"<pad>\":1,\"</s>\":2,\"<unk>\":3");
        int id = 4;
        for (int b = 0; b < 256; b++) {
            vocab.append(',').append(Json.write(String.valueOf(ByteLevel.BYTE_TO_CHAR[b]))).append(':').append(id++);
        }
        String[] merged = {"hi", "Ġw", "Ġwo"};
        for (String token : merged) {
            vocab.append(',').append(Json.write(token)).append(':').append(id++);
        }
        return vocab.append(",\"<mask>\":").append(id).append('}').toString();
    }

    static final String TINY_MERGES = "#version: 0.2\nh i\nĠ w\nĠw o\n";

    static RobertaTokenizer tiny(int maxLength) {
        return RobertaTokenizer.fromVocabAndMerges(tinyVocab(), TINY_MERGES, maxLength);
    }

    static final String TEXT = "[{\"name\": \"text\", \"type\": \"string\", \"role\": \"first\"}]";
    static final String MASKED_TEXT = "[{\"name\": \"text\", \"type\": \"string\", \"role\": \"first\", \"needs_mask\": true}]";
    static final String QA_REQUEST = "[{\"name\": \"question\", \"type\": \"string\", \"role\": \"first\"}, {\"name\": \"context\","
            + " \"type\": \"string\", \"role\": \"second\"}]";
    static final String FLOAT_RULE = "{\"peak_rel\": 1e-4, \"tolerance\": \"fp32-export\", \"decoded\": \"exact\","
            + " \"score_tol\": 1e-4}";

    /** manifest.json "spec" for a registered task, as prelnedge/bundle/runtime_spec.py writes it (float rule). */
    static String spec(String task) {
        switch (task) {
            case "qa":
                return spec(task, "span", false, QA_REQUEST, "B L", "start_logits:B L", "end_logits:B L");
            case "multiple-choice":
                return spec(task, "choice", false, "[{\"name\": \"prompt\", \"type\": \"string\", \"role\": \"first\"}, {\"name\": \"choices\","
                        + " \"type\": \"strings\", \"role\": \"rows\"}]", "B C L", "logits:B C");
            case "masked-lm":
                return spec(task, "lm", false, MASKED_TEXT, "B L", "logits:B L V");
            case "causal-lm":
                return spec(task, "lm", true, TEXT, "B L", "logits:B L V");
            case "sequence-classification":
                return spec(task, "sequence", false, TEXT, "B L", "logits:B N");
            case "token-classification":
                return spec(task, "token", false, TEXT, "B L", "logits:B L N");
            default:
                return spec(task, "features", false, TEXT, "B L", "last_hidden_state:B L H", "pooler_output:B H");
        }
    }

    /** outputs: "name:AXIS AXIS ..." each. */
    static String spec(String task, String kind, boolean causal, String request, String inputAxes, String... outputs) {
        StringBuilder outs = new StringBuilder();
        for (String out : outputs) {
            String[] parts = out.split(":");
            outs.append(outs.length() == 0 ? "" : ", ").append(tensor(parts[0], parts[1], "float32"));
        }
        boolean labelled = kind.equals("sequence") || kind.equals("token");
        // decode: the settings runtime_spec.decode_settings writes for the head kind
        String decode = kind.equals("lm") ? (causal ? "{\"top_k\": 5, \"generate_tokens\": 40}" : "{\"top_k\": 5}")
                : kind.equals("span") ? "{\"max_answer_tokens\": 30}" : "{}";
        return "{\"task\": \"" + task + "\", \"head_kind\": \"" + kind + "\", \"causal\": " + causal
                + ", \"request\": " + request + ", \"decode\": " + decode + ", \"labelled\": " + labelled
                + ", \"inputs\": [" + tensor("input_ids", inputAxes, "int64") + ", " + tensor("attention_mask", inputAxes, "int64")
                + "], \"outputs\": [" + outs + "], \"rule\": " + FLOAT_RULE + "}";
    }

    static String tensor(String name, String axes, String dtype) {
        return "{\"name\": \"" + name + "\", \"axes\": [\"" + axes.replace(" ", "\", \"") + "\"], \"dtype\": \"" + dtype + "\"}";
    }

    /** A bundle of the tiny tokenizer for a task, from memory (no model, no golden examples). */
    static ModelBundle tinyBundle(String task) throws java.io.IOException {
        final Map<String, String> files = new LinkedHashMap<>();
        files.put("config.json", "{\"max_position_embeddings\": 66, \"hidden_size\": 4, \"vocab_size\": 264,"
                + " \"id2label\": {\"0\": \"no\", \"1\": \"yes\"}}");
        files.put("golden.json", "{\"task\": \"" + task + "\", \"examples\": []}");
        files.put("vocab.json", tinyVocab());
        files.put("merges.txt", TINY_MERGES);
        files.put("manifest.json", "{\"spec\": " + spec(task) + "}");
        return ModelBundle.load(files::get);
    }

    static void testEncodeSingleAndPair() {
        RobertaTokenizer tok = tiny(64);
        Encoding e = tok.encode("hi wo");
        equal(new int[] {tok.bosId, tok.tokenToId("hi"), tok.tokenToId("Ġwo"), tok.eosId}, e.ids);
        equal(new int[] {0, 2}, e.offsets[1]);
        equal(new int[] {3, 5}, e.offsets[2]); // the leading space is trimmed away
        Encoding p = tok.encode("hi", "wo");
        equal(new int[] {-1, 0, -1, -1, 1, 1, -1}, p.sequenceIds);
        equal(new int[] {0, 1}, p.offsets[4]);
    }

    static void testMaskTakesTheSpaceBeforeIt() {
        RobertaTokenizer tok = tiny(64);
        Encoding e = tok.encode("hi <mask>!");
        equal(new int[] {tok.bosId, tok.tokenToId("hi"), tok.maskId, tok.tokenToId("!"), tok.eosId}, e.ids);
        equal(new int[] {3, 9}, e.offsets[2]);
        equal(new int[] {tok.bosId, tok.tokenToId("<s>"), tok.eosId}, tok.encode("<s>").ids);
    }

    static void testOffsetsCountCodePoints() {
        RobertaTokenizer tok = tiny(64);
        Encoding e = tok.encode("🙂hi");
        // Four byte tokens for the emoji, each covering the whole character, then "hi" at code point 1.
        equal(7, e.length());
        equal(new int[] {0, 1}, e.offsets[1]);
        equal(new int[] {0, 1}, e.offsets[4]);
        equal(new int[] {1, 3}, e.offsets[5]);
        equal("hi", Encoding.slice("🙂hi", 1, 3));
    }

    static void testTruncation() {
        RobertaTokenizer tok = tiny(6);
        equal(6, tok.encode("abcdefgh").length());
        Encoding pair = tok.encode("a", "bcdefgh");
        equal(6, pair.length());
        equal(new int[] {-1, 0, -1, -1, 1, -1}, pair.sequenceIds);
        raises(() -> tok.encode("abcdefgh", "x"), "too long");
    }

    static void testWindowsOverlapByStride() {
        RobertaTokenizer tok = tiny(10); // room for 10 - 1 (question) - 4 = 5 context tokens
        List<Encoding> windows = tok.encodeWindows("q", "abcdefgjklm", 2);
        equal(3, windows.size()); // context tokens [0, 5), [3, 8), [6, 11): step 5 - 2
        // <s> q </s></s> context </s>: the context starts at index 4.
        equal(new int[] {3, 4}, windows.get(1).offsets[4]);
        equal(new int[] {10, 11}, windows.get(2).offsets[8]);
        equal(1, tok.encodeWindows("q", "abc", 2).size());
        raises(() -> tok.encodeWindows("q", "abc", 5), "stride");
        raises(() -> tok.encodeWindows("qqqqqq", "abc", 0), "question alone");
    }

    static void testDecodeSkipsSpecials() {
        RobertaTokenizer tok = tiny(64);
        equal("hi wo", tok.decode(tok.encode("hi wo").ids, true));
        equal("<s>hi</s>", tok.decode(tok.encode("hi").ids, false));
    }

    // ---- post-processing ----

    static void testSoftmaxAndTopK() {
        double[] p = Postprocess.softmax(new double[] {1000, 1000, 999});
        check(Math.abs(p[0] + p[1] + p[2] - 1) < 1e-12 && p[0] == p[1], "softmax is stable and normalised");
        equal(new int[] {1, 0, 2}, Postprocess.topK(new double[] {2, 3, 2}, 3));
        equal(0, Postprocess.argmax(new double[] {5, 5}));
    }

    static void testBestSpanRules() {
        boolean[] allowed = {false, true, true, true, false};
        double[] start = {9, 0, 1, 5, 9};
        double[] end = {9, 7, 0, 1, 9};
        Postprocess.Span span = Postprocess.bestSpan(start, end, allowed, 30);
        // (3, 1) would score 12 but ends before it starts; (1, 1) scores 7, (3, 3) scores 6.
        equal(1, span.start);
        equal(1, span.end);
        span = Postprocess.bestSpan(new double[] {0, 5, 0, 0, 0}, new double[] {0, 0, 0, 5, 0}, allowed, 2);
        check(span.end - span.start < 2, "max answer length");
        raises(() -> Postprocess.bestSpan(start, end, new boolean[5], 30), "context is empty");
    }

    static void testBestSpanKeepsToWholeWords() {
        // "Hanna Kowalski" as tokens Han|na| Kowalski: a span may start at 1 or 3 and end at 2 or 3.
        String text = "Hanna Kowalski";
        int[][] offsets = {{0, 0}, {0, 3}, {3, 5}, {6, 14}, {0, 0}};
        boolean[] allowed = {false, true, true, true, false};
        boolean[][] edges = Postprocess.wordEdges(text, offsets, allowed);
        equal(Arrays.asList(false, true, false, true, false), asList(edges[0]));
        equal(Arrays.asList(false, false, true, true, false), asList(edges[1]));
        double[] start = {0, 1, 9, 0, 0};
        double[] end = {0, 9, 0, 1, 0};
        Postprocess.Span span = Postprocess.bestSpan(start, end, allowed, 30, edges);
        equal(1, span.start);  // not "na" alone (9 + 0) nor "Han" (1 + 9): "Hanna" (1 + 0) loses to "Hanna Kowalski"
        equal(3, span.end);
        span = Postprocess.bestSpan(start, end, allowed, 1, edges);  // one token at most: only "Kowalski" is whole
        equal(3, span.start);
        equal(3, span.end);
        boolean[][] none = {new boolean[5], new boolean[5]};  // no whole pair at all: the best pair regardless
        span = Postprocess.bestSpan(start, end, allowed, 30, none);
        equal(1, span.start);  // "Han": 1 + 9, first of the two pairs scoring 10
        equal(1, span.end);
    }

    private static List<Boolean> asList(boolean[] flags) {
        List<Boolean> out = new ArrayList<>();
        for (boolean flag : flags) {
            out.add(flag);
        }
        return out;
    }

    static void testQaDecodeMapsTokensToText() {
        RobertaTokenizer tok = tiny(64);
        Pipeline qa = new Pipeline(TaskSpec.parse(Json.parse(spec("qa"))), tok, null);
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("question", "hi");
        request.put("context", "🙂 wo hi");
        Pipeline.Prepared p = qa.prepare(request);
        int n = p.inputs.shape[1];
        double[] start = new double[n];
        double[] end = new double[n];
        int wo = -1;
        for (int i = 0; i < n; i++) {
            if (p.encodings.get(0).ids[i] == tok.tokenToId("Ġwo")) {
                wo = i;
            }
        }
        start[wo] = 10;
        end[wo] = 10;
        Map<String, Tensor> outputs = new LinkedHashMap<>();
        outputs.put("start_logits", new Tensor(new int[] {1, n}, start));
        outputs.put("end_logits", new Tensor(new int[] {1, n}, end));
        Map<?, ?> answer = (Map<?, ?>) qa.decode(p, outputs);
        equal("wo", answer.get("answer"));
        equal(2L, answer.get("start"));
        equal(1L, answer.get("windows"));
    }

    static void testNestedArraysRoundTrip() {
        int[][][] ids = (int[][][]) Nested.ints(new int[] {1, 2, 3, 4, 5, 6}, new int[] {1, 2, 3});
        equal(new int[] {4, 5, 6}, ids[0][1]);
        float[][] out = (float[][]) Nested.floats(new int[] {2, 2});
        out[1][0] = 7f;
        Tensor t = Nested.toTensor(out, new int[] {2, 2});
        check(t.values[2] == 7.0 && t.lastAxis(1)[0] == 7.0, "row-major order");
        raises(() -> Nested.ints(new int[] {1, 2, 3}, new int[] {2, 2}), "do not fill");
    }

    /** A stand-in model that refuses padding: start = id + 0.5, end = -id, logits = sum of ids. */
    static final Pipeline.Model UNPADDED = in -> {
        for (int m : in.attentionMask) {
            check(m == 1, "row-by-row inputs carry no padding");
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        int n = in.inputIds.length;
        double[] start = new double[n];
        double[] end = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            start[i] = in.inputIds[i] + 0.5;
            end[i] = -in.inputIds[i];
            sum += in.inputIds[i];
        }
        out.put("start_logits", new Tensor(new int[] {1, n}, start));
        out.put("end_logits", new Tensor(new int[] {1, n}, end));
        out.put("logits", new Tensor(new int[] {1, 1}, new double[] {sum}));
        return out;
    };

    static void testRowByRowUnpadsAndRepads() throws Exception {
        ModelBundle qa = tinyBundle("qa");
        Pipeline.Inputs batch = new Pipeline.Inputs(new int[] {2, 4}, new int[] {7, 8, 1, 1, 5, 6, 7, 9},
                new int[] {1, 1, 0, 0, 1, 1, 1, 1});
        Map<String, Tensor> out = new RowByRow(UNPADDED, qa).run(batch);
        check(Arrays.equals(new double[] {7.5, 8.5, 0, 0, 5.5, 6.5, 7.5, 9.5}, out.get("start_logits").values),
                Arrays.toString(out.get("start_logits").values));
        equal(-9.0, out.get("end_logits").lastAxis(1)[3]);
        ModelBundle mc = tinyBundle("multiple-choice");
        Pipeline.Inputs choices = new Pipeline.Inputs(new int[] {1, 2, 3}, new int[] {1, 2, 1, 3, 4, 5},
                new int[] {1, 1, 0, 1, 1, 1});
        Tensor logits = new RowByRow(UNPADDED, mc).run(choices).get("logits");
        equal("[1, 2]", logits.shapeString());
        check(logits.values[0] == 3 && logits.values[1] == 12, Arrays.toString(logits.values));
    }

    static void testOutputShapesFollowConfig() throws Exception {
        equal(new int[] {2, 7, 264}, tinyBundle("masked-lm").outputShape("logits", new int[] {2, 7}));
        equal(new int[] {1, 7, 2}, tinyBundle("token-classification").outputShape("logits", new int[] {1, 7}));
        equal(new int[] {1, 2}, tinyBundle("sequence-classification").outputShape("logits", new int[] {1, 7}));
        equal(new int[] {1, 4}, tinyBundle("base").outputShape("pooler_output", new int[] {1, 7}));
        equal(64, tinyBundle("qa").maxTokens); // max_position_embeddings - 2
    }

    /** manifest: the JSON object's members after "spec" (may be empty). */
    static ModelBundle bundleWithManifest(String task, String manifest) throws java.io.IOException {
        final Map<String, String> files = new LinkedHashMap<>();
        files.put("config.json", "{\"max_position_embeddings\": 66, \"hidden_size\": 4, \"vocab_size\": 264}");
        files.put("golden.json", "{\"task\": \"" + task + "\", \"examples\": []}");
        files.put("vocab.json", tinyVocab());
        files.put("merges.txt", TINY_MERGES);
        files.put("manifest.json", "{\"spec\": " + spec(task) + (manifest.isEmpty() ? "" : ", ") + manifest + "}");
        return ModelBundle.load(files::get);
    }

    static void testBundleRuntimeFromManifest() throws Exception {
        ModelBundle old = tinyBundle("qa"); // no bundle.runtime: a LiteRT bundle, as before ONNX Runtime support
        equal(ModelBundle.LITERT, old.runtime);
        equal("model.tflite", old.modelFile);
        ModelBundle ort = bundleWithManifest("qa", "\"bundle\": {\"runtime\": \"onnxruntime\", \"model_file\": \"model.ort\","
                + " \"input_dtype\": \"int64\"}");
        equal(ModelBundle.ONNXRUNTIME, ort.runtime);
        equal("model.ort", ort.modelFile);
        equal(Arrays.asList("start_logits", "end_logits"), ort.outputNames); // the spec's order
        check(Arrays.equals(new long[] {7, 1, 2147483647L}, Nested.longs(new int[] {7, 1, Integer.MAX_VALUE})), "int64 widening");
    }

    static void testBundleRuntimeMismatchesFail() {
        raises(() -> bundleOrThrow("\"bundle\": {\"runtime\": \"onnxruntime\", \"model_file\": \"model.tflite\"}"),
                "needs a .ort model");
        raises(() -> bundleOrThrow("\"bundle\": {\"runtime\": \"litert\", \"model_file\": \"model.tflite\", \"input_dtype\": \"int64\"}"),
                "takes int32 inputs");
        raises(() -> bundleOrThrow("\"bundle\": {\"runtime\": \"coreml\", \"model_file\": \"m.mlmodel\"}"), "runs litert or onnxruntime");
    }

    static void testBundleWithoutASpecOrWithAnUnknownHeadFails() {
        final Map<String, String> files = new LinkedHashMap<>();
        files.put("config.json", "{\"max_position_embeddings\": 66}");
        files.put("golden.json", "{\"task\": \"qa\", \"examples\": []}");
        files.put("vocab.json", tinyVocab());
        files.put("merges.txt", TINY_MERGES);
        files.put("manifest.json", "{\"format\": \"prelnedge-bundle/1\"}");
        raises(() -> load(files), "bundle the export again");
        files.put("manifest.json", "{\"spec\": " + spec("qa").replace("\"span\"", "\"tree\"") + "}");
        raises(() -> load(files), "head kind tree");
        files.put("manifest.json", "{\"spec\": " + spec("sequence-classification") + "}");
        raises(() -> load(files), "golden.json is for task qa");
    }

    private static void load(Map<String, String> files) {
        try {
            ModelBundle.load(files::get);
        } catch (java.io.IOException e) {
            throw new RuntimeException(e);
        }
    }

    /** The pipeline follows the spec's head kind, whatever the task is called. */
    static void testPipelineDispatchesOnHeadKindNotName() throws Exception {
        TaskSpec renamed = TaskSpec.parse(Json.parse(spec("my-extractive-reader", "span", false, QA_REQUEST,
                "B L", "start_logits:B L", "end_logits:B L")));
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("question", "hi");
        request.put("context", "wo hi");
        Pipeline.Prepared p = new Pipeline(renamed, tiny(64), null).prepare(request);
        equal(2, p.encodings.get(0).sequenceIds[p.encodings.get(0).length() - 2] + 1); // a question/context pair
        TaskSpec choices = TaskSpec.parse(Json.parse(spec("multiple-choice")));
        check(choices.choiceInputs() && choices.request.get(1).list, "choices: (B, C, L) inputs, a list field");
        raises(() -> new Pipeline(TaskSpec.parse(Json.parse(spec("sequence-classification"))), tiny(64), null),
                "needs labels");
    }

    private static void bundleOrThrow(String manifest) {
        try {
            bundleWithManifest("qa", manifest);
        } catch (java.io.IOException e) {
            throw new RuntimeException(e);
        }
    }

    // ---- generation ----

    /** A plain-contract model whose logits at each position favour (that position's id + 1) mod 10. */
    static Pipeline.Model counting(final List<Integer> lengthsSeen) {
        return inputs -> {
            lengthsSeen.add(inputs.inputIds.length);
            int length = inputs.shape[1];
            double[] logits = new double[length * 10];
            for (int p = 0; p < length; p++) {
                logits[p * 10 + (inputs.inputIds[p] + 1) % 10] = 1.0;
            }
            Map<String, Tensor> out = new java.util.LinkedHashMap<>();
            out.put("logits", new Tensor(new int[] {1, length, 10}, logits));
            return out;
        };
    }

    static void testGreedyGenerationStopsForEachReason() throws Exception {
        List<Integer> seen = new ArrayList<>();
        Generate.Decoder recompute = Generate.recomputing(counting(seen));
        List<Integer> streamed = new ArrayList<>();
        Generate.Result r = Generate.greedy(recompute, new int[] {0, 5}, 3, 9, 20, streamed::add);
        equal(Arrays.asList(6, 7, 8), r.newIds);
        equal("max-new-tokens", r.stop);
        equal(r.newIds, streamed);
        equal(Arrays.asList(2, 3, 4), seen); // recomputation: the whole sequence every call
        equal("limit", Generate.greedy(recompute, new int[] {0, 5}, 10, 9, 4, null).stop);
        r = Generate.greedy(recompute, new int[] {0, 6}, 10, 8, 20, null);
        equal(Arrays.asList(7, 8), r.newIds);
        equal("eos", r.stop);
        raises(() -> {
            try {
                Generate.greedy(recompute, new int[] {0, 1, 2, 3}, 5, 9, 4, null);
            } catch (IllegalArgumentException ex) {
                throw ex;
            } catch (Exception ex) {
                throw new AssertionError(ex);
            }
        }, "no room for a new token");
    }

    static void testCachedDecoderIsFedNewTokensOnly() throws Exception {
        final List<String> calls = new ArrayList<>();
        Generate.Decoder cached = new Generate.Decoder() {
            @Override
            public void reset() {
                calls.add("reset");
            }

            @Override
            public double[] step(int[] newIds, int total) {
                calls.add(Arrays.toString(newIds) + "/" + total);
                double[] logits = new double[10];
                logits[(newIds[newIds.length - 1] + 1) % 10] = 1.0;
                return logits;
            }
        };
        Generate.Result r = Generate.greedy(cached, new int[] {0, 3, 4}, 2, 9, 20, null);
        equal(Arrays.asList(5, 6), r.newIds);
        equal(Arrays.asList("reset", "[0, 3, 4]/3", "[5]/4"), calls);
    }

    static void testRecordedOutputsMatchedByInputs() throws Exception {
        Recorded recorded = new Recorded("{\"runtime\": \"test\", \"examples\": [{\"input_ids\": [[0, 5, 2]],"
                + " \"outputs\": {\"logits\": {\"shape\": [1, 2], \"values\": [0.25, -1.5]}}}]}");
        Map<String, Tensor> out = recorded.run(new Pipeline.Inputs(new int[] {1, 3}, new int[] {0, 5, 2}, new int[] {1, 1, 1}));
        equal("[1, 2]", out.get("logits").shapeString());
        check(out.get("logits").values[1] == -1.5, Arrays.toString(out.get("logits").values));
        raises(() -> recorded.run(new Pipeline.Inputs(new int[] {1, 3}, new int[] {0, 6, 2}, new int[] {1, 1, 1})),
                "no outputs were recorded");
    }

    static void testDiffTolerance() {
        Map<String, Object> golden = new LinkedHashMap<>();
        golden.put("label", "x");
        golden.put("score", 0.5);
        Map<String, Object> java = new LinkedHashMap<>(golden);
        java.put("score", 0.50005);
        java.put("text", "extra keys are allowed");
        equal(null, SelfCheck.diff(golden, java, 1e-4, "d"));
        java.put("score", 0.6);
        check(SelfCheck.diff(golden, java, 1e-4, "d").contains("d.score"), "names the differing field");
        java.remove("label");
        check(SelfCheck.diff(golden, java, 1e-4, "d").contains("missing"), "missing key");
    }
}
