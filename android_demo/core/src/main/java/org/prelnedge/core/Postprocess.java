package org.prelnedge.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;

/** Numeric helpers that mirror prelnedge/runtime/postprocess.py (softmax, argmax, QA's best span, top-k). */
public final class Postprocess {
    private Postprocess() {
    }

    /** The answer span of QA: token indices (inclusive) and the pair's probability. */
    public static final class Span {
        public final int start;
        public final int end;
        public final double score;

        Span(int start, int end, double score) {
            this.start = start;
            this.end = end;
            this.score = score;
        }
    }

    public static double[] softmax(double[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : x) {
            max = Math.max(max, v);
        }
        double[] out = new double[x.length];
        double sum = 0;
        for (int i = 0; i < x.length; i++) {
            out[i] = Math.exp(x[i] - max);
            sum += out[i];
        }
        for (int i = 0; i < x.length; i++) {
            out[i] /= sum;
        }
        return out;
    }

    /** First index of the maximum, as numpy's argmax. */
    public static int argmax(double[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    /** A letter, mark or digit (Unicode L*, M*, N*): postprocess.py's is_word_char. */
    static boolean isWordChar(int codePoint) {
        switch (Character.getType(codePoint)) {
            case Character.UPPERCASE_LETTER: case Character.LOWERCASE_LETTER: case Character.TITLECASE_LETTER:
            case Character.MODIFIER_LETTER: case Character.OTHER_LETTER:
            case Character.NON_SPACING_MARK: case Character.ENCLOSING_MARK: case Character.COMBINING_SPACING_MARK:
            case Character.DECIMAL_DIGIT_NUMBER: case Character.LETTER_NUMBER: case Character.OTHER_NUMBER:
                return true;
            default:
                return false;
        }
    }

    /** Is code-point position i of {@code codePoints} between two word characters? */
    private static boolean insideWord(int[] codePoints, int i) {
        return i > 0 && i < codePoints.length && isWordChar(codePoints[i - 1]) && isWordChar(codePoints[i]);
    }

    /**
     * Which tokens may start ([0]) and end ([1]) an answer (postprocess.py word_edges): a span never
     * starts or ends between two word characters of {@code text}. Offsets count code points of text.
     */
    public static boolean[][] wordEdges(String text, int[][] offsets, boolean[] allowed) {
        int[] codePoints = text.codePoints().toArray();
        boolean[][] edges = new boolean[2][offsets.length];
        for (int k = 0; k < offsets.length; k++) {
            if (allowed[k]) {
                int a = offsets[k][0];
                int b = offsets[k][1];
                edges[0][k] = b > a && !insideWord(codePoints, a);
                edges[1][k] = b > a && !insideWord(codePoints, b);
            }
        }
        return edges;
    }

    public static Span bestSpan(double[] startLogits, double[] endLogits, boolean[] allowed, int maxAnswerTokens) {
        return bestSpan(startLogits, endLogits, allowed, maxAnswerTokens, null);
    }

    /**
     * The (start, end) token pair with the highest start + end logit, end >= start, both allowed
     * (the context's tokens) and end - start < maxAnswerTokens, the start among edges[0] and the end
     * among edges[1] when edges is given (see wordEdges; when no pair meets those, the best pair
     * without them); the score is the product of the start and end probabilities under softmaxes
     * over the allowed tokens only. Ties go to the first pair in (start, end) order, as numpy's
     * argmax over the pair matrix does.
     */
    public static Span bestSpan(double[] startLogits, double[] endLogits, boolean[] allowed, int maxAnswerTokens,
                                boolean[][] edges) {
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < allowed.length; i++) {
            if (allowed[i]) {
                idx.add(i);
            }
        }
        if (idx.isEmpty()) {
            throw new IllegalArgumentException("the context is empty after truncation; give a shorter question");
        }
        int n = idx.size();
        double[] s = new double[n];
        double[] e = new double[n];
        for (int k = 0; k < n; k++) {
            s[k] = startLogits[idx.get(k)];
            e[k] = endLogits[idx.get(k)];
        }
        int[] best = edges == null ? null : search(s, e, idx, maxAnswerTokens, edges);
        if (best == null) { // only a word longer than the limit has no whole pair
            best = search(s, e, idx, maxAnswerTokens, null);
        }
        double score = softmax(s)[best[0]] * softmax(e)[best[1]];
        return new Span(idx.get(best[0]), idx.get(best[1]), score);
    }

    /** The best (i, j) into idx under the constraints, or null when no pair meets them. */
    private static int[] search(double[] s, double[] e, List<Integer> idx, int maxAnswerTokens, boolean[][] edges) {
        int n = idx.size();
        int[] best = null;
        double bestValue = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            if (edges != null && !edges[0][idx.get(i)]) {
                continue;
            }
            for (int j = i; j < n && idx.get(j) - idx.get(i) < maxAnswerTokens; j++) {
                if (edges != null && !edges[1][idx.get(j)]) {
                    continue;
                }
                double pair = s[i] + e[j];
                if (best == null || pair > bestValue) {
                    bestValue = pair;
                    best = new int[] {i, j};
                }
            }
        }
        return best;
    }

    /** Indices of the k largest values, largest first; equal values keep index order. */
    public static int[] topK(final double[] x, int k) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < x.length; i++) {
            order.add(i);
        }
        Collections.sort(order, new Comparator<Integer>() {
            @Override
            public int compare(Integer a, Integer b) {
                return Double.compare(x[b], x[a]);
            }
        });
        int[] out = new int[Math.min(k, x.length)];
        for (int i = 0; i < out.length; i++) {
            out[i] = order.get(i);
        }
        return out;
    }
}
