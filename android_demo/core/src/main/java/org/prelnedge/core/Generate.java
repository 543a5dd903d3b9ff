package org.prelnedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Greedy generation with a causal LM: the loop prelnedge.runtime.generate runs in Python and
 * runtimes/web/src/js/generate.js in the browser. Stops at {@code </s>}, after maxNewTokens, or when the
 * sequence fills the model's token limit; {@link Result#stop} says which ("eos", "max-new-tokens", "limit").
 *
 * <p>A {@link Decoder} is a model that keeps its own key/value cache (the app's OrtModel for a causal-lm
 * export: each call feeds the new tokens only); {@link #recomputing} turns any {@link Pipeline.Model}
 * into one that runs the whole sequence for every token (no cache: LiteRT, or recorded outputs on the JVM).
 */
public final class Generate {
    /** One decoding call; the decoder keeps whatever it needs between the calls of one generation. */
    public interface Decoder {
        /** Forget the previous generation (a new prompt follows). */
        void reset() throws Exception;

        /**
         * newIds: the tokens not seen yet (the prompt, then one token per call); total: the sequence's
         * length with them. Returns the logits over the vocabulary after the last of them.
         */
        double[] step(int[] newIds, int total) throws Exception;
    }

    /** Called with each token as it comes, for streaming. */
    public interface TokenListener {
        void onToken(int id);
    }

    public static final class Result {
        public final List<Integer> newIds;
        public final String stop;

        Result(List<Integer> newIds, String stop) {
            this.newIds = Collections.unmodifiableList(newIds);
            this.stop = stop;
        }
    }

    /** golden.json's "generation" (prelnedge.verify.golden.greedy_generation); null when absent. */
    public static final class Expected {
        public final String prompt;
        public final int[] promptIds;
        public final List<Integer> newIds;
        public final String stop;
        public final int maxNewTokens;
        public final int eosId;
        public final int maxTokens;

        private Expected(Map<String, Object> g) {
            prompt = Json.string(g.get("prompt"), "generation prompt");
            promptIds = ints(Json.array(g.get("prompt_ids"), "generation prompt_ids"));
            List<Integer> ids = new ArrayList<>();
            for (int id : ints(Json.array(g.get("new_ids"), "generation new_ids"))) {
                ids.add(id);
            }
            newIds = Collections.unmodifiableList(ids);
            stop = Json.string(g.get("stop"), "generation stop");
            maxNewTokens = Json.integer(g.get("max_new_tokens"), "generation max_new_tokens");
            eosId = Json.integer(g.get("eos_id"), "generation eos_id");
            maxTokens = Json.integer(g.get("max_tokens"), "generation max_tokens");
        }

        static Expected parse(Object generation) {
            return generation == null ? null : new Expected(Json.object(generation, "golden.json generation"));
        }

        /** Tokens equal to golden's before the first difference. */
        public int samePrefix(Result got) {
            int same = 0;
            while (same < Math.min(newIds.size(), got.newIds.size()) && newIds.get(same).equals(got.newIds.get(same))) {
                same++;
            }
            return same;
        }

        public boolean exact(Result got) {
            return got.newIds.equals(newIds) && got.stop.equals(stop);
        }

        public Result replay(Decoder decoder) throws Exception {
            return greedy(decoder, promptIds, maxNewTokens, eosId, maxTokens, null);
        }
    }

    private Generate() {
    }

    public static Result greedy(Decoder decoder, int[] promptIds, int maxNewTokens, int eosId, int maxTokens,
                                TokenListener listener) throws Exception {
        if (maxNewTokens < 1) {
            throw new IllegalArgumentException("max new tokens must be at least 1; got " + maxNewTokens);
        }
        if (promptIds.length == 0 || promptIds.length >= maxTokens) {
            throw new IllegalArgumentException("the prompt is " + promptIds.length + " tokens and the model's limit is "
                    + maxTokens + ": no room for a new token");
        }
        decoder.reset();
        List<Integer> newIds = new ArrayList<>();
        int[] feed = promptIds;
        int total = promptIds.length;
        String stop = null;
        while (stop == null) {
            int token = argmax(decoder.step(feed, total));
            newIds.add(token);
            total++;
            if (listener != null) {
                listener.onToken(token);
            }
            stop = token == eosId ? "eos" : newIds.size() >= maxNewTokens ? "max-new-tokens" : total >= maxTokens ? "limit" : null;
            feed = new int[] {token};
        }
        return new Result(newIds, stop);
    }

    /** Full recomputation through a model of the plain contract: logits (1, L, V) for the whole sequence. */
    public static Decoder recomputing(final Pipeline.Model model) {
        return new Decoder() {
            private int[] seen = new int[0];

            @Override
            public void reset() {
                seen = new int[0];
            }

            @Override
            public double[] step(int[] newIds, int total) throws Exception {
                int[] ids = Arrays.copyOf(seen, seen.length + newIds.length);
                System.arraycopy(newIds, 0, ids, seen.length, newIds.length);
                seen = ids;
                int[] mask = new int[ids.length];
                Arrays.fill(mask, 1);
                Tensor logits = model.run(new Pipeline.Inputs(new int[] {1, ids.length}, ids, mask)).get("logits");
                int vocab = logits.shape[2];
                return Arrays.copyOfRange(logits.values, (ids.length - 1) * vocab, ids.length * vocab);
            }
        };
    }

    static int argmax(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    private static int[] ints(List<Object> values) {
        int[] out = new int[values.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = Json.integer(values.get(i), "token id");
        }
        return out;
    }
}
