package org.prelnedge.core;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The BPE model: a vocabulary and ranked merges, applied to one pre-token (a byte-level string).
 */
public final class Bpe {
    /** One piece of a word: its id and the [start, end) characters of the word it covers. */
    static final class Piece {
        final int id;
        final int start;
        final int end;

        Piece(int id, int start, int end) {
            this.id = id;
            this.start = start;
            this.end = end;
        }
    }

    private final Map<String, Integer> vocab;
    private final Map<String, Integer> ranks = new HashMap<>();
    private final Integer unkId;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final Map<String, List<Piece>> cache = new LinkedHashMap<String, List<Piece>>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, List<Piece>> eldest) {
            return size() > 10000;
        }
    };

    /** merges: pairs in rank order (first = merged first). */
    Bpe(Map<String, Integer> vocab, List<String[]> merges, String unkToken, boolean fuseUnk, boolean ignoreMerges) {
        this.vocab = vocab;
        for (int rank = 0; rank < merges.size(); rank++) {
            String[] pair = merges.get(rank);
            if (!vocab.containsKey(pair[0] + pair[1])) {
                throw new IllegalArgumentException("merge '" + pair[0] + " " + pair[1] + "' makes a token missing from the vocabulary");
            }
            ranks.put(key(pair[0], pair[1]), rank); // a repeated merge keeps its last rank, as in tokenizers
        }
        this.unkId = unkToken == null ? null : vocab.get(unkToken);
        if (unkToken != null && unkId == null) {
            throw new IllegalArgumentException("unk_token " + unkToken + " is not in the vocabulary");
        }
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
    }

    /** Unambiguous key for a pair (tokens may contain any character). */
    private static String key(String a, String b) {
        return a.length() + ":" + a + b;
    }

    Map<String, Integer> vocab() {
        return vocab;
    }

    /** Splits a byte-level word into vocabulary pieces, merging the lowest-ranked pair first. */
    List<Piece> tokenize(String word) {
        List<Piece> cached = cache.get(word);
        if (cached != null) {
            return cached;
        }
        List<Piece> pieces = merge(word);
        cache.put(word, pieces);
        return pieces;
    }

    private List<Piece> merge(String word) {
        List<Piece> out = new ArrayList<>();
        if (ignoreMerges && vocab.containsKey(word)) {
            out.add(new Piece(vocab.get(word), 0, word.length()));
            return out;
        }
        // Symbols: [start, end) in word; characters missing from the vocabulary become <unk>
        // (consecutive ones fused when fuse_unk) or, without an unk token, are dropped.
        List<int[]> symbols = new ArrayList<>();
        List<Boolean> unknown = new ArrayList<>();
        for (int i = 0; i < word.length(); ) {
            int next = word.offsetByCodePoints(i, 1);
            boolean known = vocab.containsKey(word.substring(i, next));
            if (known) {
                symbols.add(new int[] {i, next});
                unknown.add(false);
            } else if (unkId != null) {
                int last = symbols.size() - 1;
                if (fuseUnk && last >= 0 && unknown.get(last)) {
                    symbols.get(last)[1] = next;
                } else {
                    symbols.add(new int[] {i, next});
                    unknown.add(true);
                }
            }
            i = next;
        }
        // Repeatedly merge the adjacent pair with the lowest rank, leftmost first: the same order as
        // the tokenizers library's priority queue ordered by (rank, position).
        while (symbols.size() > 1) {
            int best = -1;
            int bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < symbols.size(); i++) {
                if (unknown.get(i) || unknown.get(i + 1)) {
                    continue;
                }
                int[] a = symbols.get(i);
                int[] b = symbols.get(i + 1);
                Integer rank = ranks.get(key(word.substring(a[0], a[1]), word.substring(b[0], b[1])));
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    best = i;
                }
            }
            if (best < 0) {
                break;
            }
            symbols.get(best)[1] = symbols.get(best + 1)[1];
            symbols.remove(best + 1);
            unknown.remove(best + 1);
        }
        for (int i = 0; i < symbols.size(); i++) {
            int[] s = symbols.get(i);
            int id = unknown.get(i) ? unkId : vocab.get(word.substring(s[0], s[1]));
            out.add(new Piece(id, s[0], s[1]));
        }
        return out;
    }
}
