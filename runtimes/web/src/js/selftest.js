// The bundle checks itself against golden.json (written by `prelnedge export` from the float
// reference): for every example, the JS tokenizer must give the golden token ids and offsets, the
// model the golden outputs, and the JS post-processing the golden decoded answer.
//
// Pass rule (`rule` comes from manifest.json's bundle.selftest, written by prelnedge/bundle/web.py):
//   float model      {max_abs_err: 1e-4}: max |output - golden| within it (fp32 ONNX Runtime Web
//                    against the fp32 reference differ by summation order only, ~1e-6 measured;
//                    golden values are rounded to 1e-6), and the decoded results equal golden's
//                    (scores within 1e-4; candidates closer than that may swap places);
//   quantized model  {min_sqnr_db}: golden holds the FLOAT model's outputs, which int8 weights
//                    move by far more than 1e-4. Each output's SQNR against them must clear the
//                    mode's floor from prelnedge's tolerance table, the same rule as the Python
//                    golden replay. Decoded agreement (same answer span, label(s), top candidate,
//                    chosen option) is measured and reported, not required: the mode's tolerance
//                    accepts answers that flip on some inputs, and a golden set has only 4-5 examples.

import { toCodePointOffsets } from './tokenizer.js';
import { runTask } from './postprocess.js';

export const SCORE_TOL = 1e-4;

class Mismatch extends Error {}

function check(condition, message) {
  if (!condition) throw new Mismatch(message);
}

function flat(nested) {
  return Array.isArray(nested) ? nested.flat(Infinity) : [nested];
}

function close(a, b, tol = SCORE_TOL) {
  return Math.abs(a - b) <= tol;
}

// 10 log10(signal power / error power), as prelnedge.verify.compare.error_stats
function sqnrDb(actual, expected) {
  let signal = 0, noise = 0;
  for (let i = 0; i < expected.length; i++) {
    signal += expected[i] * expected[i];
    noise += (actual[i] - expected[i]) ** 2;
  }
  if (noise === 0) return Infinity;
  return signal > 0 ? 10 * Math.log10(signal / noise) : -Infinity;
}

// The example's token encodings, built by the JS tokenizer as golden.py builds them.
function encodeExample(task, tok, ex) {
  if (task === 'qa') return [tok.encode(ex.question, ex.context)];
  if (task === 'multiple-choice') return ex.choices.map((c) => tok.encode(ex.prompt, c));
  if (task === 'causal-lm') return [tok.encodeCausal(ex.text)];
  return [tok.encode(ex.text)];
}

function requestOf(task, ex) {
  if (task === 'qa') return { question: ex.question, context: ex.context };
  if (task === 'multiple-choice') return { prompt: ex.prompt, choices: ex.choices };
  return { text: ex.text };
}

function checkTokens(task, tok, ex, k) {
  const encodings = encodeExample(task, tok, ex);
  const batch = tok.batch(encodings);
  const want = flat(ex.input_ids), wantMask = flat(ex.attention_mask);
  const got = Array.from(batch.inputIds, Number), gotMask = Array.from(batch.attentionMask, Number);
  check(got.length === want.length, `example ${k}: ${got.length} token ids, golden has ${want.length}`);
  const at = got.findIndex((id, i) => id !== want[i] || gotMask[i] !== wantMask[i]);
  check(at < 0, `example ${k}: token ids differ at ${at} (js ${got[at]}, golden ${want[at]})`);
  if (ex.offsets) {
    // golden offsets are code points into the text each token came from
    const enc = encodings[0];
    const texts = task === 'qa' ? [ex.question, ex.context] : [ex.text, ex.text];
    const cp = enc.offsets.map((o, t) => (enc.sequenceIds[t] === null ? o : toCodePointOffsets(texts[enc.sequenceIds[t]], [o])[0]));
    const bad = cp.findIndex((o, t) => o[0] !== ex.offsets[t][0] || o[1] !== ex.offsets[t][1]);
    check(bad < 0, `example ${k}: offsets differ at token ${bad} (js ${cp[bad]}, golden ${ex.offsets[bad]})`);
  }
  return { ...batch, shape: task === 'multiple-choice' ? [1, ...batch.shape] : batch.shape };
}

// golden.json stores per-token outputs as 0 at padded positions (the example's zeroed_at_padding):
// they carry no answer. Zero the model's the same way; dims are (B, L, ...), mask (B, L).
function zeroPadded(data, dims, mask) {
  const positions = dims[0] * dims[1], inner = data.length / positions;
  const out = Float32Array.from(data);
  for (let p = 0; p < positions; p++) if (Number(mask[p]) === 0) out.fill(0, p * inner, (p + 1) * inner);
  return out;
}

// Compare outputs with golden's expected values; returns {maxAbsErr, minSqnrDb} over all outputs.
function compareOutputs(out, ex, k) {
  let maxAbsErr = 0, minSqnrDb = Infinity, worst = null;
  for (const [name, want] of Object.entries(ex.expected)) {
    const got = out[name];
    check(got, `example ${k}: the model has no output ${name}`);
    check(got.dims.join() === want.shape.join(), `example ${k}: ${name} has shape [${got.dims}], golden [${want.shape}]`);
    const data = (ex.zeroed_at_padding ?? []).includes(name) ? zeroPadded(got.data, got.dims, flat(ex.attention_mask)) : got.data;
    let mine, theirs;
    if (want.values !== undefined) {
      mine = data;
      theirs = flat(want.values);
    } else {
      // big outputs (masked/causal LM logits): golden keeps the first 64 entries of the last axis
      // (and its argmax, which the decoded candidates already check where it matters)
      const last = got.dims[got.dims.length - 1], rows = got.data.length / last, keep = Math.min(64, last);
      mine = [];
      for (let r = 0; r < rows; r++) mine.push(...data.subarray(r * last, r * last + keep));
      theirs = flat(want.slice_last_axis_64);
    }
    check(mine.length === theirs.length, `example ${k}: ${name} has ${mine.length} values, golden ${theirs.length}`);
    for (let i = 0; i < mine.length; i++) maxAbsErr = Math.max(maxAbsErr, Math.abs(mine[i] - theirs[i]));
    const sqnr = sqnrDb(mine, theirs);
    if (sqnr < minSqnrDb) { minSqnrDb = sqnr; worst = name; }
  }
  return { maxAbsErr, minSqnrDb, worst };
}

function sameCandidates(got, want, exact, what) {
  check(got.length === want.length, `${what}: ${got.length} candidates, golden ${want.length}`);
  if (!exact) {
    check(got[0].id === want[0].id, `${what}: top candidate ${got[0].id}, golden ${want[0].id}`);
    return;
  }
  got.forEach((c, i) => {
    // two candidates closer than the score tolerance may swap places: a tie, not an error
    const tie = close(c.score, want[i].score);
    check(c.id === want[i].id || tie, `${what}: candidate ${i} is ${c.id}, golden ${want[i].id}`);
    check(c.id !== want[i].id || c.token === want[i].token, `${what}: token ${c.id} decodes to ${JSON.stringify(c.token)}, golden ${JSON.stringify(want[i].token)}`);
    check(close(c.score, want[i].score), `${what}: candidate ${i} score ${c.score}, golden ${want[i].score}`);
  });
}

// Compare a JS post-processing result with golden "decoded" (positions converted to code points).
function compareDecoded(task, ex, got, want, exact, k) {
  const what = `example ${k}`;
  const score = (g, w, name = 'score') => check(!exact || close(g, w), `${what}: ${name} ${g}, golden ${w}`);
  switch (task) {
    case 'qa': {
      const [[start, end]] = toCodePointOffsets(ex.context, [[got.start, got.end]]);
      check(got.answer === want.answer, `${what}: answer ${JSON.stringify(got.answer)}, golden ${JSON.stringify(want.answer)}`);
      check(start === want.start && end === want.end, `${what}: answer at [${start}, ${end}), golden [${want.start}, ${want.end})`);
      for (const key of ['start_token', 'end_token', 'window', 'windows']) {
        check(want[key] === undefined || got[key] === want[key], `${what}: ${key} ${got[key]}, golden ${want[key]}`);
      }
      score(got.score, want.score);
      return;
    }
    case 'sequence-classification':
      check(got.label === want.label, `${what}: label ${got.label}, golden ${want.label}`);
      score(got.score, want.score);
      return;
    case 'token-classification':
      check(got.length === want.length, `${what}: ${got.length} tagged tokens, golden ${want.length}`);
      got.forEach((t, i) => {
        const [[a, b]] = toCodePointOffsets(ex.text, [[t.start, t.end]]);
        check(t.label === want[i].label, `${what}: token ${i} label ${t.label}, golden ${want[i].label}`);
        check(t.token === want[i].token && a === want[i].start && b === want[i].end,
          `${what}: token ${i} ${JSON.stringify(t.token)} [${a}, ${b}), golden ${JSON.stringify(want[i].token)} [${want[i].start}, ${want[i].end})`);
        score(t.score, want[i].score);
      });
      return;
    case 'masked-lm':
      check(got.length === want.length, `${what}: ${got.length} masks, golden ${want.length}`);
      got.forEach((m, i) => {
        check(m.position === want[i].position, `${what}: mask at ${m.position}, golden ${want[i].position}`);
        sameCandidates(m.candidates, want[i].candidates, exact, `${what} mask ${i}`);
      });
      return;
    case 'causal-lm':
      sameCandidates(got, want, exact, what);
      return;
    case 'multiple-choice':
      check(got.index === want.index && got.choice === want.choice, `${what}: chose ${got.index}, golden ${want.index}`);
      got.scores.forEach((s, i) => score(s, want.scores[i], `score ${i}`));
      return;
    default:
      check(false, `${what}: no decoded comparison for task ${task}`);
  }
}

/**
 * Run every golden example under `rule` ({max_abs_err} for float models, {min_sqnr_db} for
 * quantized ones). Returns {pass, line, maxAbsErr, examples, latencyMs}; `line` is
 * `SELFTEST PASS max_abs_err=... examples=N latency_ms=...` or `SELFTEST FAIL <reason>`.
 */
export async function selfTest({ model, tok, golden, rule, labels, latencyRuns = 10 }) {
  const task = golden.task;
  const exact = rule.min_sqnr_db === undefined;
  let maxAbsErr = 0, minSqnrDb = Infinity, agree = 0, decodedCount = 0, firstBatch = null;
  try {
    check(golden.examples && golden.examples.length > 0, 'golden.json has no examples');
    check(exact ? rule.max_abs_err > 0 : true, 'the self-test rule gives neither max_abs_err nor min_sqnr_db');
    for (const [k, ex] of golden.examples.entries()) {
      const hasText = ex.text !== undefined || ex.question !== undefined || ex.prompt !== undefined;
      const batch = hasText ? checkTokens(task, tok, ex, k) : {
        // a checkpoint without a tokenizer: golden has ids only
        inputIds: BigInt64Array.from(flat(ex.input_ids), BigInt),
        attentionMask: BigInt64Array.from(flat(ex.attention_mask), BigInt),
        shape: shapeOf(ex.input_ids),
      };
      firstBatch ??= batch;
      const out = await model.run(batch.inputIds, batch.attentionMask, batch.shape);
      const err = compareOutputs(out, ex, k);
      maxAbsErr = Math.max(maxAbsErr, err.maxAbsErr);
      minSqnrDb = Math.min(minSqnrDb, err.minSqnrDb);
      if (exact) {
        check(err.maxAbsErr <= rule.max_abs_err, `example ${k}: max_abs_err ${err.maxAbsErr.toExponential(2)} > ${rule.max_abs_err}`);
      } else {
        check(err.minSqnrDb >= rule.min_sqnr_db, `example ${k}: ${err.worst} SQNR ${err.minSqnrDb.toFixed(1)} dB < floor ${rule.min_sqnr_db} dB`);
      }
      if (ex.decoded !== undefined && ex.decoded !== null && hasText) {
        const got = await runTask(task, model, tok, labels, requestOf(task, ex), golden.top_k ?? 5);
        decodedCount++;
        if (exact) {
          compareDecoded(task, ex, got, ex.decoded, true, k);
          agree++;
        } else {
          try { compareDecoded(task, ex, got, ex.decoded, false, k); agree++; } catch (e) { if (!(e instanceof Mismatch)) throw e; }
        }
      }
    }
  } catch (err) {
    const reason = err instanceof Mismatch ? err.message : `${err.name}: ${err.message}`;
    return { pass: false, line: `SELFTEST FAIL ${reason}`, maxAbsErr };
  }
  const latencyMs = await measureLatency(model, firstBatch, latencyRuns);
  let line = `SELFTEST PASS max_abs_err=${maxAbsErr.toExponential(2)} examples=${golden.examples.length} ` +
    `latency_ms=${latencyMs.toFixed(2)}`;
  if (!exact) {
    line += ` min_sqnr_db=${minSqnrDb.toFixed(1)} agreement=${agree}/${decodedCount} (quantized: SQNR floor ${rule.min_sqnr_db} dB)`;
  }
  return { pass: true, line, maxAbsErr, minSqnrDb, agreement: [agree, decodedCount], examples: golden.examples.length, latencyMs };
}

function shapeOf(nested) {
  const shape = [];
  for (let x = nested; Array.isArray(x); x = x[0]) shape.push(x.length);
  return shape;
}

/** Mean wall time of one model run on `batch`, after two warm-up runs. */
export async function measureLatency(model, batch, runs) {
  for (let i = 0; i < 2; i++) await model.run(batch.inputIds, batch.attentionMask, batch.shape);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await model.run(batch.inputIds, batch.attentionMask, batch.shape);
  return (performance.now() - t0) / runs;
}
