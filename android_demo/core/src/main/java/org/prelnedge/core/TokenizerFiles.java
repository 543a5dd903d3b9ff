package org.prelnedge.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds a RobertaTokenizer from a tokenizer folder: tokenizer.json as the tokenizers library saves
 * it, or GPT-2 style vocab.json + merges.txt assembled the way prelnedge/runtime/tokenizer.py does.
 * Anything RoBERTa's pipeline does not use (normalizers, other models or post-processors) is
 * refused with a message naming it, rather than tokenised differently from Python.
 */
final class TokenizerFiles {
    private TokenizerFiles() {
    }

    static RobertaTokenizer load(AssetSource files, int maxLength) throws IOException {
        String json = files.read("tokenizer.json");
        if (json != null) {
            return fromTokenizerJson(json, maxLength);
        }
        String vocab = files.read("vocab.json");
        String merges = files.read("merges.txt");
        if (vocab == null || merges == null) {
            throw new IllegalArgumentException("no tokenizer: expected tokenizer.json or vocab.json + merges.txt");
        }
        return fromVocabAndMerges(vocab, merges, configPrefixSpace(files), maxLength);
    }

    /** tokenizer_config.json's add_prefix_space (RoBERTa's default, false, without the file or the key). */
    static boolean configPrefixSpace(AssetSource files) throws IOException {
        String config = files.read("tokenizer_config.json");
        if (config == null) {
            return false;
        }
        return Json.bool(Json.object(Json.parse(config), "tokenizer_config.json").get("add_prefix_space"), false);
    }

    static RobertaTokenizer fromTokenizerJson(String text, int maxLength) {
        Map<String, Object> root = Json.object(Json.parse(text), "tokenizer.json");
        if (root.get("normalizer") != null) {
            throw new IllegalArgumentException("tokenizer.json has a normalizer; the Java tokenizer supports none (RoBERTa has none)");
        }
        Map<String, Object> pre = byteLevel(root.get("pre_tokenizer"));
        Map<String, Object> model = Json.object(root.get("model"), "tokenizer.json model");
        if (!"BPE".equals(model.get("type"))) {
            throw new IllegalArgumentException("tokenizer.json model is " + model.get("type") + "; only BPE is supported");
        }
        if (Json.bool(model.get("byte_fallback"), false) || model.get("continuing_subword_prefix") != null
                || model.get("end_of_word_suffix") != null || model.get("dropout") != null) {
            throw new IllegalArgumentException("tokenizer.json BPE uses byte_fallback, subword prefixes/suffixes "
                    + "or dropout, which RoBERTa's does not; not supported");
        }
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (Map.Entry<String, Object> entry : Json.object(model.get("vocab"), "model.vocab").entrySet()) {
            vocab.put(entry.getKey(), Json.integer(entry.getValue(), "vocab id of " + entry.getKey()));
        }
        List<String[]> merges = new ArrayList<>();
        for (Object merge : Json.array(model.get("merges"), "model.merges")) {
            if (merge instanceof String) { // older files: "a b"
                merges.add(splitMerge((String) merge));
            } else {
                List<Object> pair = Json.array(merge, "merge");
                merges.add(new String[] {Json.string(pair.get(0), "merge"), Json.string(pair.get(1), "merge")});
            }
        }
        Object unk = model.get("unk_token");
        Bpe bpe = new Bpe(vocab, merges, unk == null ? null : Json.string(unk, "unk_token"),
                Json.bool(model.get("fuse_unk"), false), Json.bool(model.get("ignore_merges"), false));

        List<RobertaTokenizer.AddedToken> added = new ArrayList<>();
        Object addedList = root.get("added_tokens");
        if (addedList != null) {
            for (Object item : Json.array(addedList, "added_tokens")) {
                Map<String, Object> t = Json.object(item, "added token");
                added.add(new RobertaTokenizer.AddedToken(Json.string(t.get("content"), "added token content"),
                        Json.integer(t.get("id"), "added token id"), Json.bool(t.get("special"), false),
                        Json.bool(t.get("lstrip"), false), Json.bool(t.get("rstrip"), false),
                        Json.bool(t.get("single_word"), false), Json.bool(t.get("normalized"), false)));
            }
        }

        Object post = root.get("post_processor");
        Object[] cls = null;
        Object[] sep = null;
        boolean trim = false;
        boolean postPrefix = false;
        if (post != null) {
            Map<String, Object> p = Json.object(post, "post_processor");
            if (!"RobertaProcessing".equals(p.get("type"))) {
                throw new IllegalArgumentException("tokenizer.json post_processor is " + p.get("type")
                        + "; the Java tokenizer supports RobertaProcessing");
            }
            cls = specialPair(p.get("cls"));
            sep = specialPair(p.get("sep"));
            trim = Json.bool(p.get("trim_offsets"), true);
            postPrefix = Json.bool(p.get("add_prefix_space"), true);
        }
        return new RobertaTokenizer(bpe, added, Json.bool(pre.get("add_prefix_space"), false),
                Json.bool(pre.get("use_regex"), true), cls, sep, trim, postPrefix, maxLength);
    }

    /** The ByteLevel pre-tokenizer, alone or as the only member of a Sequence. */
    private static Map<String, Object> byteLevel(Object value) {
        Map<String, Object> pre = Json.object(value, "tokenizer.json pre_tokenizer");
        if ("Sequence".equals(pre.get("type"))) {
            List<Object> members = Json.array(pre.get("pretokenizers"), "pre_tokenizer.pretokenizers");
            if (members.size() == 1) {
                pre = Json.object(members.get(0), "pre_tokenizer");
            }
        }
        if (!"ByteLevel".equals(pre.get("type"))) {
            throw new IllegalArgumentException("tokenizer.json pre_tokenizer is " + pre.get("type") + "; RoBERTa needs ByteLevel");
        }
        return pre;
    }

    private static Object[] specialPair(Object value) {
        List<Object> pair = Json.array(value, "post_processor special token");
        return new Object[] {Json.string(pair.get(0), "special token"), Json.integer(pair.get(1), "special token id")};
    }

    private static String[] splitMerge(String line) {
        int space = line.indexOf(' ', 1);
        if (space < 0) {
            throw new IllegalArgumentException("merge line '" + line + "' should be two tokens separated by a space");
        }
        return new String[] {line.substring(0, space), line.substring(space + 1)};
    }

    /**
     * The GPT-2 style files, built into RoBERTa's pipeline the way prelnedge/runtime/tokenizer.py does:
     * ByteLevel with prefixSpace (tokenizer_config.json's add_prefix_space, RoBERTa's default false) for
     * the pre-tokenizer and the template, specials {@code <s> <pad> </s> <unk>} and {@code <mask>}
     * (lstrip), RobertaProcessing with trimmed offsets.
     */
    static RobertaTokenizer fromVocabAndMerges(String vocabJson, String mergesTxt, boolean prefixSpace, int maxLength) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (Map.Entry<String, Object> entry : Json.object(Json.parse(vocabJson), "vocab.json").entrySet()) {
            vocab.put(entry.getKey(), Json.integer(entry.getValue(), "vocab id of " + entry.getKey()));
        }
        List<String[]> merges = new ArrayList<>();
        for (String line : mergesTxt.split("\n", -1)) {
            line = line.endsWith("\r") ? line.substring(0, line.length() - 1) : line;
            if (line.isEmpty() || line.startsWith("#version")) {
                continue;
            }
            merges.add(splitMerge(line));
        }
        Bpe bpe = new Bpe(vocab, merges, null, false, false);
        List<RobertaTokenizer.AddedToken> added = new ArrayList<>();
        int next = 0;
        for (Integer id : vocab.values()) {
            next = Math.max(next, id + 1);
        }
        for (String special : new String[] {"<s>", "<pad>", "</s>", "<unk>", "<mask>"}) {
            Integer id = vocab.get(special);
            if (id == null) { // tokenizers appends a missing added token after the vocabulary
                id = next++;
            }
            added.add(new RobertaTokenizer.AddedToken(special, id, true, special.equals("<mask>"), false, false, false));
        }
        Object[] cls = {"<s>", vocab.containsKey("<s>") ? vocab.get("<s>") : added.get(0).id};
        Object[] sep = {"</s>", vocab.containsKey("</s>") ? vocab.get("</s>") : added.get(2).id};
        return new RobertaTokenizer(bpe, added, prefixSpace, true, cls, sep, true, prefixSpace, maxLength);
    }
}
