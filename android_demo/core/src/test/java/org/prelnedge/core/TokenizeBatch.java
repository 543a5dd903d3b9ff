package org.prelnedge.core;

import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Test helper: tokenises a batch of requests in one JVM so tests/test_java_tokenizer.py can compare
 * thousands of strings with the Python tokenizer.
 *
 * <p>stdin: {"dir": folder, "source": "auto" | "vocab", "max_length": n,
 * "items": [{"text": s, "pair": s or null, "special": bool} or {"question": q, "context": c, "stride": n}],
 * "decode": [[ids], ...]}. stdout: {"encodings": [{"ids", "offsets", "seq"} or {"error"}],
 * "windows": per item a list of encodings for window requests, "decoded": [text, ...],
 * "readable": [readableToken(ids[0]) for each decode request]}. Optional "word_edges": [context, ...]
 * gives "word_edges": per context, Postprocess.wordEdges over its tokens when encoded as a QA pair
 * after the question "q" ([canStart, canEnd], one boolean per token).
 */
public final class TokenizeBatch {
    private TokenizeBatch() {
    }

    public static void main(String[] args) throws Exception {
        Map<String, Object> request = Json.object(Json.parse(Json.readUtf8(System.in)), "request");
        File dir = new File(Json.string(request.get("dir"), "dir"));
        int maxLength = Json.integer(request.get("max_length"), "max_length");
        AssetSource files = AssetSource.folder(dir);
        RobertaTokenizer tok = "vocab".equals(request.get("source"))
                ? RobertaTokenizer.fromVocabAndMerges(files.read("vocab.json"), files.read("merges.txt"),
                        RobertaTokenizer.configPrefixSpace(files), maxLength)
                : RobertaTokenizer.load(files, maxLength);

        List<Object> results = new ArrayList<>();
        for (Object item : Json.array(request.get("items"), "items")) {
            Map<String, Object> it = Json.object(item, "item");
            try {
                if (it.containsKey("question")) {
                    List<Object> windows = new ArrayList<>();
                    Object stride = it.get("stride");
                    for (Encoding e : tok.encodeWindows((String) it.get("question"), (String) it.get("context"),
                            stride == null ? -1 : Json.integer(stride, "stride"))) {
                        windows.add(describe(e));
                    }
                    Map<String, Object> out = new LinkedHashMap<>();
                    out.put("windows", windows);
                    results.add(out);
                } else {
                    Object pair = it.get("pair");
                    results.add(describe(tok.encode((String) it.get("text"), pair == null ? null : (String) pair,
                            maxLength, Json.bool(it.get("special"), true))));
                }
            } catch (IllegalArgumentException ex) {
                Map<String, Object> out = new LinkedHashMap<>();
                out.put("error", ex.getMessage());
                results.add(out);
            }
        }
        List<Object> decoded = new ArrayList<>();
        List<Object> readable = new ArrayList<>();
        Object decodeList = request.get("decode");
        if (decodeList != null) {
            for (Object ids : Json.array(decodeList, "decode")) {
                List<Object> list = Json.array(ids, "ids");
                int[] array = new int[list.size()];
                for (int i = 0; i < array.length; i++) {
                    array[i] = Json.integer(list.get(i), "id");
                }
                decoded.add(tok.decode(array, true));
                readable.add(array.length > 0 ? tok.readableToken(array[0]) : "");
            }
        }
        List<Object> edges = new ArrayList<>();
        Object contexts = request.get("word_edges");
        if (contexts != null) {
            for (Object context : Json.array(contexts, "word_edges")) {
                Encoding e = tok.encode("q", (String) context, maxLength, true);
                boolean[] inContext = new boolean[e.length()];
                for (int i = 0; i < inContext.length; i++) {
                    inContext[i] = e.sequenceIds[i] == 1;
                }
                List<Object> pair = new ArrayList<>();
                for (boolean[] flags : Postprocess.wordEdges((String) context, e.offsets, inContext)) {
                    List<Object> list = new ArrayList<>();
                    for (boolean flag : flags) {
                        list.add(flag);
                    }
                    pair.add(list);
                }
                edges.add(pair);
            }
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("word_edges", edges);
        out.put("encodings", results);
        out.put("decoded", decoded);
        out.put("readable", readable);
        PrintStream stdout = new PrintStream(System.out, false, StandardCharsets.UTF_8.name());
        stdout.println(Json.write(out));
        stdout.flush();
    }

    private static Map<String, Object> describe(Encoding e) {
        List<Object> offsets = new ArrayList<>();
        for (int[] o : e.offsets) {
            offsets.add(o);
        }
        List<Object> seq = new ArrayList<>();
        for (int s : e.sequenceIds) {
            seq.add(s < 0 ? null : (Object) (long) s);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("ids", e.ids);
        out.put("offsets", offsets);
        out.put("seq", seq);
        return out;
    }
}
