// Greedy generation with a causal LM: the loop prelnedge.runtime.generate runs in Python. An ONNX export
// decodes with its key/value cache (OnnxModel.step: each call feeds one new token and the cache the last
// call returned); a model without one (LiteRT.js) recomputes the whole sequence for every token.
// Stops at </s>, after maxNewTokens, or when the sequence fills the model's token limit (`stop` says which).

function argmax(values, from, to) {
  let best = from;
  for (let i = from + 1; i < to; i++) if (values[i] > values[best]) best = i;
  return best - from;
}

const ids64 = (ids) => BigInt64Array.from(ids, BigInt);
const ones64 = (n) => new BigInt64Array(n).fill(1n);

/**
 * Continue `promptIds` greedily. `onToken(id)` is called as each token comes (for streaming).
 * Resolves to {newIds, stop: 'eos' | 'max-new-tokens' | 'limit', cached}.
 */
export async function generateIds(model, promptIds, { maxNewTokens, eosId, maxTokens, onToken = null }) {
  if (promptIds.length === 0) throw new Error('the prompt is empty');
  if (promptIds.length >= maxTokens) {
    throw new Error(`the prompt is ${promptIds.length} tokens and the model's limit is ${maxTokens}: no room for a new token`);
  }
  const cached = Boolean(model.cache) && typeof model.step === 'function';
  const ids = promptIds.slice();
  const newIds = [];
  let feed = promptIds.slice(), past = null, stop = '';
  try {
    while (!stop) {
      let logits;
      if (cached) {
        ({ logits, past } = await model.step(ids64(feed), ones64(ids.length), 1, past));
      } else {
        ({ logits } = await model.run(ids64(ids), ones64(ids.length), [1, ids.length]));
      }
      const [, length, vocab] = logits.dims;
      const token = argmax(logits.data, (length - 1) * vocab, length * vocab);
      newIds.push(token);
      ids.push(token);
      onToken?.(token);
      stop = token === eosId ? 'eos' : newIds.length >= maxNewTokens ? 'max-new-tokens' : ids.length >= maxTokens ? 'limit' : '';
      feed = [token];
    }
  } finally {
    for (const tensor of Object.values(past ?? {})) tensor.dispose?.();
  }
  return { newIds, stop, cached };
}

/**
 * Replay golden.json's greedy continuation (prelnedge.verify.golden.greedy_generation). Returns
 * {same, total, stop, cached, exact}: `same` tokens match before the first difference.
 */
export async function replayGeneration(model, generation) {
  const got = await generateIds(model, generation.prompt_ids, {
    maxNewTokens: generation.max_new_tokens, eosId: generation.eos_id, maxTokens: generation.max_tokens,
  });
  const want = generation.new_ids;
  let same = 0;
  while (same < Math.min(want.length, got.newIds.length) && got.newIds[same] === want[same]) same++;
  const exact = same === want.length && got.newIds.length === want.length && got.stop === generation.stop;
  return { same, total: want.length, stop: got.stop, cached: got.cached, exact, newIds: got.newIds };
}
