package org.prelnedge.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;

/**
 * RoBERTa's byte-level BPE tokenizer, reproducing the Hugging Face {@code tokenizers} pipeline that
 * prelnedge's Python side uses (prelnedge/runtime/tokenizer.py), ids and offsets alike:
 *
 * <ol>
 *   <li>added tokens ({@code <s>}, {@code <mask>}, ...) are cut out of the text first, leftmost and
 *       longest match first, honouring lstrip/rstrip/single_word;
 *   <li>each remaining piece is split by GPT-2's pattern, turned into byte characters and merged by BPE;
 *   <li>offsets lose leading and trailing spaces ("trim_offsets"), the sequence is truncated, and
 *       the RoBERTa template adds {@code <s> A </s>} or {@code <s> A </s></s> B </s>}.
 * </ol>
 *
 * It reads tokenizer.json (normalizer none, ByteLevel pre-tokenizer, BPE model, RobertaProcessing or
 * no post-processor) or, without it, vocab.json + merges.txt with RoBERTa's defaults.
 */
public final class RobertaTokenizer {
    static final class AddedToken {
        final String content;
        final int id;
        final boolean special;
        final boolean lstrip;
        final boolean rstrip;
        final boolean singleWord;
        final boolean normalized;

        AddedToken(String content, int id, boolean special, boolean lstrip, boolean rstrip, boolean singleWord,
                   boolean normalized) {
            this.content = content;
            this.id = id;
            this.special = special;
            this.lstrip = lstrip;
            this.rstrip = rstrip;
            this.singleWord = singleWord;
            this.normalized = normalized;
        }
    }

    /** A token before the template: id, untrimmed UTF-16 offsets into its text, and its string (for trimming). */
    private static final class Tok {
        final int id;
        final int start;
        final int end;
        final String text;

        Tok(int id, int start, int end, String text) {
            this.id = id;
            this.start = start;
            this.end = end;
            this.text = text;
        }
    }

    private final Bpe bpe;
    private final Map<Integer, String> idToToken = new HashMap<>();
    private final Map<String, Integer> tokenToId = new HashMap<>();
    private final List<AddedToken> rawAdded = new ArrayList<>(); // matched in the raw text
    private final List<AddedToken> normalizedAdded = new ArrayList<>(); // matched after normalisation (none here)
    private final Map<Integer, AddedToken> addedById = new HashMap<>();
    private final boolean prefixSpace; // ByteLevel pre-tokenizer add_prefix_space
    private final boolean useRegex;
    private final boolean template; // RobertaProcessing present
    private final int clsId;
    private final int sepId;
    private final boolean trimOffsets;
    private final boolean templatePrefixSpace; // RobertaProcessing add_prefix_space
    public final int maxLength;
    public final int bosId;
    public final int eosId;
    public final int padId;
    /** -1 when the vocabulary has no {@code <mask>}. */
    public final int maskId;

    RobertaTokenizer(Bpe bpe, List<AddedToken> added, boolean prefixSpace, boolean useRegex,
                             Object[] cls, Object[] sep, boolean trimOffsets, boolean templatePrefixSpace,
                             int maxLength) {
        this.bpe = bpe;
        for (Map.Entry<String, Integer> entry : bpe.vocab().entrySet()) {
            idToToken.put(entry.getValue(), entry.getKey());
            tokenToId.put(entry.getKey(), entry.getValue());
        }
        for (AddedToken token : added) {
            idToToken.put(token.id, token.content);
            tokenToId.put(token.content, token.id);
            addedById.put(token.id, token);
            (token.normalized ? normalizedAdded : rawAdded).add(token);
        }
        this.prefixSpace = prefixSpace;
        this.useRegex = useRegex;
        this.template = cls != null;
        this.clsId = cls == null ? -1 : (Integer) cls[1];
        this.sepId = sep == null ? -1 : (Integer) sep[1];
        this.trimOffsets = trimOffsets;
        this.templatePrefixSpace = templatePrefixSpace;
        this.maxLength = maxLength;
        this.bosId = required("<s>");
        this.eosId = required("</s>");
        this.padId = required("<pad>");
        Integer mask = tokenToId.get("<mask>");
        this.maskId = mask == null ? -1 : mask;
    }

    private int required(String token) {
        Integer id = tokenToId.get(token);
        if (id == null) {
            throw new IllegalArgumentException("tokenizer has no " + token + " token; a RoBERTa tokenizer needs <s>, <pad>, </s>, <unk>");
        }
        return id;
    }

    // ---------------------------------------------------------------- loading (TokenizerFiles)

    /** tokenizer.json when the folder has one, otherwise vocab.json + merges.txt. */
    public static RobertaTokenizer load(AssetSource files, int maxLength) throws IOException {
        return TokenizerFiles.load(files, maxLength);
    }

    public static RobertaTokenizer fromTokenizerJson(String text, int maxLength) {
        return TokenizerFiles.fromTokenizerJson(text, maxLength);
    }

    public static RobertaTokenizer fromVocabAndMerges(String vocabJson, String mergesTxt, int maxLength) {
        return TokenizerFiles.fromVocabAndMerges(vocabJson, mergesTxt, false, maxLength);
    }

    /** vocab.json + merges.txt with tokenizer_config.json's add_prefix_space. */
    public static RobertaTokenizer fromVocabAndMerges(String vocabJson, String mergesTxt, boolean prefixSpace, int maxLength) {
        return TokenizerFiles.fromVocabAndMerges(vocabJson, mergesTxt, prefixSpace, maxLength);
    }

    /** tokenizer_config.json's add_prefix_space in `files` (false without it). */
    public static boolean configPrefixSpace(AssetSource files) throws IOException {
        return TokenizerFiles.configPrefixSpace(files);
    }

    // ---------------------------------------------------------------- encoding

    public Encoding encode(String text) {
        return encode(text, null, maxLength, true);
    }

    public Encoding encode(String text, String pair) {
        return encode(text, pair, maxLength, true);
    }

    /**
     * Encodes one text or a pair within maxLength tokens: a single text loses its tail, a pair loses
     * the tail of its second text (an IllegalArgumentException when even that cannot make it fit).
     */
    public Encoding encode(String text, String pair, int maxLength, boolean addSpecialTokens) {
        List<Tok> first = tokenizeSequence(text);
        List<Tok> second = pair == null ? null : tokenizeSequence(pair);
        boolean specials = addSpecialTokens && template;
        int total = first.size() + (second == null ? 0 : second.size()) + (specials ? (pair == null ? 2 : 4) : 0);
        if (total > maxLength) {
            int remove = total - maxLength;
            List<Tok> target = second == null ? first : second;
            if (target.size() <= remove) {
                throw new IllegalArgumentException("cannot encode input within " + maxLength
                        + " tokens: the first text alone is too long");
            }
            target.subList(target.size() - remove, target.size()).clear();
        }
        return assemble(first, text, second, pair, specials);
    }

    /**
     * QA input for a context of any length, as PreLNTokenizer.encode_windows: {@code <s> question
     * </s></s> window </s>} for consecutive windows of the context, each sharing {@code stride}
     * context tokens with the one before (stride below 0: a quarter of maxLength).
     */
    public List<Encoding> encodeWindows(String question, String context, int stride) {
        if (!template) {
            throw new IllegalArgumentException("question answering needs the RoBERTa template (RobertaProcessing)");
        }
        stride = stride < 0 ? maxLength / 4 : stride;
        List<Tok> q = tokenizeSequence(question);
        List<Tok> c = tokenizeSequence(context);
        int room = maxLength - q.size() - 4;
        if (room <= 0) {
            throw new IllegalArgumentException("the question alone fills the model's " + maxLength + " tokens; shorten it");
        }
        if (stride >= room) {
            throw new IllegalArgumentException("stride " + stride + " must be smaller than the " + room + " context tokens a window holds");
        }
        List<Encoding> windows = new ArrayList<>();
        if (c.size() <= room) {
            windows.add(assemble(q, question, c, context, true));
            return windows;
        }
        // The tokenizers library's overflowing windows: starts 0, step room - stride, until one reaches the end.
        for (int start = 0; ; start += room - stride) {
            int stop = Math.min(start + room, c.size());
            windows.add(assemble(q, question, c.subList(start, stop), context, true));
            if (stop == c.size()) {
                return windows;
            }
        }
    }

    /** Template, trimmed offsets (per part, token index counted within the part) and code point offsets. */
    private Encoding assemble(List<Tok> first, String text, List<Tok> second, String pair, boolean specials) {
        int[] cpFirst = codePointIndex(text);
        int[] cpSecond = pair == null ? null : codePointIndex(pair);
        List<int[]> rows = new ArrayList<>(); // id, start, end, sequence id
        if (specials) {
            rows.add(new int[] {clsId, 0, 0, -1});
        }
        addPart(rows, first, cpFirst, 0);
        if (specials) {
            rows.add(new int[] {sepId, 0, 0, -1});
        }
        if (second != null) {
            if (specials) {
                rows.add(new int[] {sepId, 0, 0, -1});
            }
            addPart(rows, second, cpSecond, 1);
            if (specials) {
                rows.add(new int[] {sepId, 0, 0, -1});
            }
        }
        int n = rows.size();
        int[] ids = new int[n];
        int[][] offsets = new int[n][];
        int[] sequenceIds = new int[n];
        for (int i = 0; i < n; i++) {
            int[] row = rows.get(i);
            ids[i] = row[0];
            offsets[i] = new int[] {row[1], row[2]};
            sequenceIds[i] = row[3];
        }
        return new Encoding(ids, offsets, sequenceIds);
    }

    private void addPart(List<int[]> rows, List<Tok> part, int[] cp, int sequence) {
        for (int i = 0; i < part.size(); i++) {
            Tok t = part.get(i);
            // Trimming counts in code points, as the tokenizers library does after converting offsets.
            int[] span = {cp[t.start], cp[t.end]};
            if (trimOffsets) {
                span = trimmed(t.text, span[0], span[1], i);
            }
            rows.add(new int[] {t.id, span[0], span[1], sequence});
        }
    }

    /** index[u] = number of code points before UTF-16 index u (u = 0..length). */
    private static int[] codePointIndex(String text) {
        int[] index = new int[text.length() + 1];
        int cp = 0;
        for (int u = 0; u < text.length(); u++) {
            boolean secondHalf = u > 0 && Character.isLowSurrogate(text.charAt(u))
                    && Character.isHighSurrogate(text.charAt(u - 1));
            index[u] = secondHalf ? cp - 1 : cp++;
        }
        index[text.length()] = cp;
        return index;
    }

    /** Tokens of one text with untrimmed UTF-16 offsets, before truncation and template. */
    private List<Tok> tokenizeSequence(String text) {
        List<Tok> tokens = new ArrayList<>();
        for (int[] raw : splitAdded(text, 0, text.length(), rawAdded)) {
            if (raw[2] >= 0) {
                tokens.add(new Tok(raw[2], raw[0], raw[1], text.substring(raw[0], raw[1])));
                continue;
            }
            for (int[] piece : splitAdded(text, raw[0], raw[1], normalizedAdded)) {
                if (piece[2] >= 0) {
                    tokens.add(new Tok(piece[2], piece[0], piece[1], text.substring(piece[0], piece[1])));
                } else {
                    byteLevelBpe(text, piece[0], piece[1], tokens);
                }
            }
        }
        return tokens;
    }

    /**
     * Cuts text[from, to) at added tokens: rows {start, end, id or -1} in UTF-16 units. Matches are
     * leftmost-longest and do not overlap; lstrip/rstrip widen a match over neighbouring whitespace.
     */
    private List<int[]> splitAdded(String text, int from, int to, List<AddedToken> candidates) {
        List<int[]> out = new ArrayList<>();
        int done = from;
        int i = from;
        while (i < to && !candidates.isEmpty()) {
            AddedToken match = null;
            for (AddedToken t : candidates) {
                if (i + t.content.length() <= to && text.startsWith(t.content, i) && !t.content.isEmpty()
                        && (match == null || t.content.length() > match.content.length())) {
                    match = t;
                }
            }
            if (match == null) {
                i++;
                continue;
            }
            int start = i;
            int stop = i + match.content.length();
            i = stop;
            if (match.singleWord) {
                boolean spaceBefore = start == from || !isWordChar(text.codePointBefore(start));
                boolean spaceAfter = stop == to || !isWordChar(text.codePointAt(stop));
                if (!spaceBefore || !spaceAfter) {
                    continue;
                }
            }
            if (match.lstrip) {
                int s = start;
                while (s > from && ByteLevel.isWhiteSpace(text.charAt(s - 1))) {
                    s--;
                }
                start = Math.max(s, done); // spaces an earlier match took stay with it
            }
            if (match.rstrip) {
                while (stop < to && ByteLevel.isWhiteSpace(text.charAt(stop))) {
                    stop++;
                }
                i = stop;
            }
            if (done < start) {
                out.add(new int[] {done, start, -1});
            }
            out.add(new int[] {start, stop, match.id});
            done = stop;
        }
        if (done < to || out.isEmpty()) {
            out.add(new int[] {done, to, -1});
        }
        return out;
    }

    /** Rust regex {@code \w}: alphabetic, marks, decimal digits, connector punctuation, joiners. */
    private static boolean isWordChar(int cp) {
        int type = Character.getType(cp);
        return Character.isAlphabetic(cp) || Character.isDigit(cp) || type == Character.NON_SPACING_MARK
                || type == Character.ENCLOSING_MARK || type == Character.COMBINING_SPACING_MARK
                || type == Character.CONNECTOR_PUNCTUATION || cp == 0x200C || cp == 0x200D;
    }

    /** Pre-tokenizes text[from, to) and appends its BPE tokens, offsets in UTF-16 units of text. */
    private void byteLevelBpe(String text, int from, int to, List<Tok> out) {
        if (from >= to) {
            return;
        }
        String piece = text.substring(from, to);
        // add_prefix_space puts a space before the piece; it borrows the first character's offsets.
        int shift = prefixSpace && !piece.startsWith(" ") ? 1 : 0;
        String spaced = shift == 1 ? " " + piece : piece;
        List<int[]> words = new ArrayList<>();
        if (useRegex) {
            Matcher m = ByteLevel.SPLIT.matcher(spaced);
            while (m.find()) {
                words.add(new int[] {m.start(), m.end()});
            }
        } else {
            words.add(new int[] {0, spaced.length()});
        }
        int firstEnd = from + Character.charCount(piece.codePointAt(0));
        for (int[] w : words) {
            StringBuilder chars = new StringBuilder();
            List<int[]> origin = new ArrayList<>(); // per byte character: its source character's [start, end)
            for (int u = w[0]; u < w[1]; ) {
                int cp = spaced.codePointAt(u);
                int n = Character.charCount(cp);
                int start = u - shift + from;
                int[] range = (shift == 1 && u == 0) ? new int[] {from, firstEnd} : new int[] {start, start + n};
                String bytes = ByteLevel.encode(spaced.substring(u, u + n));
                for (int k = 0; k < bytes.length(); k++) {
                    chars.append(bytes.charAt(k));
                    origin.add(range);
                }
                u += n;
            }
            String word = chars.toString();
            for (Bpe.Piece p : bpe.tokenize(word)) {
                out.add(new Tok(p.id, origin.get(p.start)[0], origin.get(p.end - 1)[1], word.substring(p.start, p.end)));
            }
        }
    }

    /**
     * tokenizers' trim_offsets: offsets skip the token's leading and trailing spaces ('Ġ' or
     * whitespace); index is the token's position within its part (text, pair or window).
     */
    private int[] trimmed(String text, int start, int end, int index) {
        int leading = 0;
        while (leading < text.length() && isSpaceChar(text.charAt(leading))) {
            leading++;
        }
        int trailing = 0;
        while (trailing < text.length() && isSpaceChar(text.charAt(text.length() - 1 - trailing))) {
            trailing++;
        }
        if (leading > 0) {
            boolean first = index == 0 || start == 0;
            if (!(first && templatePrefixSpace && leading == 1)) { // keep a space the pre-tokenizer added
                start = Math.min(start + leading, end);
            }
        }
        if (trailing > 0 && end >= trailing) {
            end = Math.max(end - trailing, start);
        }
        return new int[] {start, end};
    }

    private static boolean isSpaceChar(char c) {
        return c == ByteLevel.BYTE_TO_CHAR[' '] || ByteLevel.isWhiteSpace(c);
    }

    // ---------------------------------------------------------------- decoding and lookup

    /** One token as readable text: "" for a special token, "<0xHH>" for a byte that is part of a character. */
    public String readableToken(int id) {
        String token = idToToken.get(id);
        if (token == null || decode(new int[] {id}, true).isEmpty()) {
            return "";
        }
        return ByteLevel.readable(java.util.Collections.singletonList(token));
    }

    /** Ids back to text; special tokens are left out when skipSpecial (Python's default). */
    public String decode(int[] ids, boolean skipSpecial) {
        List<String> tokens = new ArrayList<>();
        for (int id : ids) {
            String token = idToToken.get(id);
            AddedToken added = addedById.get(id);
            if (token == null || (skipSpecial && added != null && added.special)) {
                continue;
            }
            tokens.add(token);
        }
        return ByteLevel.decode(tokens);
    }

    public String idToToken(int id) {
        return idToToken.get(id);
    }

    public Integer tokenToId(String token) {
        return tokenToId.get(token);
    }

    public int vocabSize() {
        int max = -1;
        for (int id : idToToken.keySet()) {
            max = Math.max(max, id);
        }
        return max + 1;
    }
}
