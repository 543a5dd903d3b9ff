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

    /**
     * The (start, end) token pair with the highest start + end logit, end >= start, both allowed
     * (the context's tokens) and end - start < maxAnswerTokens; the score is the product of the
     * start and end probabilities under softmaxes over the allowed tokens only. Ties go to the
     * first pair in (start, end) order, as numpy's argmax over the pair matrix does.
     */
    public static Span bestSpan(double[] startLogits, double[] endLogits, boolean[] allowed, int maxAnswerTokens) {
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
        int bestI = -1;
        int bestJ = -1;
        double best = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n && idx.get(j) - idx.get(i) < maxAnswerTokens; j++) {
                double pair = s[i] + e[j];
                if (bestI < 0 || pair > best) {
                    best = pair;
                    bestI = i;
                    bestJ = j;
                }
            }
        }
        double score = softmax(s)[bestI] * softmax(e)[bestJ];
        return new Span(idx.get(bestI), idx.get(bestJ), score);
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
