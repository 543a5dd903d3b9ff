// Task pre- and post-processing, mirroring prelnedge/runtime/postprocess.py step for step, so that the
// browser decodes a model's outputs exactly as the Python runtime does (golden.json "decoded").
//
// `model.run(inputIds, attentionMask, shape)` resolves to {name: {data: Float32Array, dims}}.
// Character positions in results (start, end) are UTF-16 code units of the input strings, as JS
// strings index them; Python reports code points (see tokenizer.js, toCodePointOffsets).

// The decode settings (answer length limit, top-k) come from the bundle's spec (manifest.json
// spec.decode, prelnedge/bundle/runtime_spec.py); this file keeps no number of its own.

export class TaskError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TaskError';
  }
}

export function softmax(values) {
  let max = -Infinity;
  for (const v of values) if (v > max) max = v;
  const exps = Array.from(values, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i; // first of equals, as numpy
  return best;
}

// Indices of the k largest values, largest first (ties: lower index first).
function topK(values, k) {
  return Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b).slice(0, k);
}

// Row `row` of a [rows, width] (or deeper) tensor as a subarray.
function row(tensor, index, width) {
  return tensor.data.subarray(index * width, (index + 1) * width);
}

function label(labels, index) {
  return labels[index] ?? `LABEL_${index}`;
}

// A letter, mark or digit (Unicode L*, M*, N*): prelnedge.runtime.postprocess.is_word_char.
const WORD_CHAR_AT_START = /^[\p{L}\p{M}\p{N}]/u;
const WORD_CHAR_AT_END = /[\p{L}\p{M}\p{N}]$/u;

// Is UTF-16 position i of `text` between two word characters (code points, surrogate pairs whole)?
function insideWord(text, i) {
  return i > 0 && i < text.length && WORD_CHAR_AT_END.test(text.slice(Math.max(0, i - 2), i))
    && WORD_CHAR_AT_START.test(text.slice(i, i + 2));
}

/**
 * Which tokens may start and end an answer (postprocess.py word_edges): a span never starts or
 * ends between two word characters of `text`. `offsets` index `text`; `allowed` lists token indices.
 */
export function wordEdges(text, offsets, allowed) {
  const canStart = new Array(offsets.length).fill(false);
  const canEnd = new Array(offsets.length).fill(false);
  for (const k of allowed) {
    const [a, b] = offsets[k];
    canStart[k] = b > a && !insideWord(text, a);
    canEnd[k] = b > a && !insideWord(text, b);
  }
  return { canStart, canEnd };
}

/**
 * The (start, end) token pair with the highest start + end logit, end >= start, at most
 * `maxAnswerTokens` long, both among `allowed` token indices, the start among `edges.canStart` and
 * the end among `edges.canEnd` when given (when no pair meets those, the best pair without them).
 * Sums are rounded to float32 as numpy adds the float32 logits, and the first maximum in
 * (start, end) order wins, as np.argmax. Returns [start, end, score], score = p(start) * p(end)
 * under softmaxes over the allowed tokens.
 */
export function bestSpan(startLogits, endLogits, allowed, maxAnswerTokens, edges = null) {
  if (allowed.length === 0) throw new TaskError('the context is empty after truncation; give a shorter question');
  let bi = -1, bj = -1, best = -Infinity;
  const search = (whole) => {
    for (let i = 0; i < allowed.length; i++) {
      if (whole && !edges.canStart[allowed[i]]) continue;
      for (let j = i; j < allowed.length && allowed[j] - allowed[i] < maxAnswerTokens; j++) {
        if (whole && !edges.canEnd[allowed[j]]) continue;
        const v = Math.fround(startLogits[allowed[i]] + endLogits[allowed[j]]);
        if (bi < 0 || v > best) { best = v; bi = i; bj = j; }
      }
    }
  };
  if (edges) search(true);
  if (bi < 0) search(false); // only a word longer than the limit has no whole pair
  const pStart = softmax(allowed.map((k) => startLogits[k]))[bi];
  const pEnd = softmax(allowed.map((k) => endLogits[k]))[bj];
  return [allowed[bi], allowed[bj], pStart * pEnd];
}

async function runEncodings(model, tok, encodings, shape = null) {
  const batch = tok.batch(encodings);
  return model.run(batch.inputIds, batch.attentionMask, shape ?? batch.shape);
}

/** The best whole-word answer span, at most `maxAnswerTokens` long, over every window of the context. */
export async function answerQuestion(model, tok, question, context, maxAnswerTokens, stride = null) {
  if (!question.trim() || !context.trim()) throw new TaskError('qa needs a non-empty question and context');
  const windows = tok.encodeWindows(question, context, stride);
  const out = await runEncodings(model, tok, windows);
  const width = out.start_logits.dims[1];
  let best = null;
  windows.forEach((enc, r) => {
    const length = enc.ids.length;
    const allowed = [];
    enc.sequenceIds.forEach((sid, k) => { if (sid === 1) allowed.push(k); });
    const start = row(out.start_logits, r, width).subarray(0, length);
    const end = row(out.end_logits, r, width).subarray(0, length);
    const edges = wordEdges(context, enc.offsets, allowed);
    const [s, e, score] = bestSpan(start, end, allowed, maxAnswerTokens, edges);
    if (best === null || score > best.score) best = { s, e, score, r };
  });
  const enc = windows[best.r];
  const a = enc.offsets[best.s][0], b = enc.offsets[best.e][1];
  return { answer: context.slice(a, b), score: best.score, start: a, end: b, start_token: best.s,
    end_token: best.e, window: best.r, windows: windows.length };
}

export async function classify(model, tok, text, labels) {
  const out = await runEncodings(model, tok, [tok.encode(text)]);
  const probs = softmax(row(out.logits, 0, out.logits.dims[1]));
  const k = argmax(probs);
  return { label: label(labels, k), score: probs[k] };
}

export async function tagTokens(model, tok, text, labels) {
  const enc = tok.encode(text);
  const out = await runEncodings(model, tok, [enc]);
  const n = out.logits.dims[2];
  const tags = [];
  enc.sequenceIds.forEach((sid, t) => {
    if (sid === null) return;
    const probs = softmax(row(out.logits, t, n));
    const k = argmax(probs);
    const [a, b] = enc.offsets[t];
    tags.push({ token: text.slice(a, b), start: a, end: b, label: label(labels, k), score: probs[k] });
  });
  return tags;
}

function candidates(tok, logits, k) {
  const probs = softmax(logits);
  return topK(probs, k).map((t) => ({ token: tok.readableToken(t), id: t, score: probs[t] }));
}

export async function fillMask(model, tok, text, k) {
  if (tok.maskId == null || !text.includes('<mask>')) throw new TaskError('masked-lm needs a text containing <mask>');
  const enc = tok.encode(text);
  const out = await runEncodings(model, tok, [enc]);
  const vocab = out.logits.dims[2];
  const results = [];
  enc.ids.forEach((id, position) => {
    if (id === tok.maskId) results.push({ position, candidates: candidates(tok, row(out.logits, position, vocab), k) });
  });
  return results;
}

/** Causal LM: `<s> text` without `</s>`, and the distribution after its last token. */
export async function nextTokens(model, tok, text, k) {
  const enc = tok.encodeCausal(text);
  const out = await runEncodings(model, tok, [enc]);
  const vocab = out.logits.dims[2];
  return candidates(tok, row(out.logits, enc.ids.length - 1, vocab), k);
}

export async function choose(model, tok, prompt, choices) {
  if (choices.length < 2) throw new TaskError('multiple-choice needs at least two options');
  const encodings = choices.map((c) => tok.encode(prompt, c));
  const length = Math.max(...encodings.map((e) => e.ids.length));
  const out = await runEncodings(model, tok, encodings, [1, choices.length, length]);
  const probs = softmax(row(out.logits, 0, choices.length));
  const best = argmax(probs);
  return { choice: choices[best], index: best, scores: probs };
}

export async function features(model, tok, text) {
  const enc = tok.encode(text);
  const out = await runEncodings(model, tok, [enc]);
  const pooled = Array.from(row(out.pooler_output, 0, out.pooler_output.dims[1]));
  return { text, tokens: enc.ids.length, pooler_output_head: pooled.slice(0, 4).map((v) => Math.round(v * 1e6) / 1e6),
    pooler_output_norm: Math.hypot(...pooled) };
}

/**
 * A request's values by role (manifest.json spec.request gives each field's name and role): `first`
 * the text an encoding starts with, `second` the text paired with it, `rows` texts each paired with
 * the first in a row of its own. Field names are the spec's, never this page's.
 */
export function byRole(spec, request) {
  return Object.fromEntries(spec.request.map((field) => [field.role, request[field.name]]));
}

/** The request's encodings as prelnedge's Request.encodings makes them: one per row, else one. */
export function encodeRequest(spec, tok, request) {
  const { first, second, rows } = byRole(spec, request);
  if (rows !== undefined) return rows.map((row) => tok.encode(first, row));
  return [spec.causal ? tok.encodeCausal(first) : tok.encode(first, second ?? null)];
}

/**
 * One request for the bundle's task, dispatched on the head kind the bundle's spec names
 * (manifest.json "spec", written by prelnedge/bundle/runtime_spec.py). `request` holds the spec's
 * request fields by name; their roles say which is which, and spec.decode gives the numbers
 * (top_k, max_answer_tokens). Returns what prelnedge's `predict` prints for one input.
 */
export async function runTask(spec, model, tok, labels, request) {
  const { first, second, rows } = byRole(spec, request);
  const decode = spec.decode ?? {};
  switch (spec.head_kind) {
    case 'span': return answerQuestion(model, tok, first, second, decode.max_answer_tokens);
    case 'sequence': return classify(model, tok, first, labels);
    case 'token': return tagTokens(model, tok, first, labels);
    case 'lm': return spec.causal ? nextTokens(model, tok, first, decode.top_k) : fillMask(model, tok, first, decode.top_k);
    case 'choice': return choose(model, tok, first, rows);
    case 'features': return features(model, tok, first);
    default: throw new TaskError(`task ${spec.task} has head kind ${spec.head_kind}, which this page does not know`);
  }
}
