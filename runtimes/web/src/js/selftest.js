// The bundle checks itself against golden.json (written by `prelnedge export` from the float
// reference): for every example, the JS tokenizer must give the golden token ids and offsets, the
// model the golden outputs, and the JS post-processing the golden decoded answer.
//
// What to check and how strictly both come from the bundle: manifest.json "spec" (written by
// prelnedge/bundle/runtime_spec.py) names the head kind, the request fields and the tensors, and
// spec.rule (prelnedge/verify/rules.py device_rule) the pass rule, the same one the Android app applies:
//   {peak_rel, decoded: "exact", score_tol}   float models: every output's max |output - golden|
//                    within peak_rel of that output's largest |golden| over all golden examples (as
//                    prelnedge.verify.compare.judge_over_set judges a set: a small tensor, e.g. two
//                    near-zero logits, does not show the output's scale), and the decoded results
//                    equal golden's (scores within score_tol; candidates closer than that may swap);
//   {min_sqnr_db, decoded: "reported"}        quantized models: golden holds the FLOAT model's
//                    outputs, so each output's SQNR against them must clear the mode's floor.
//                    Decoded agreement (same answer span, label(s), top candidate, chosen option) is
//                    counted and printed, not required.

import { toCodePointOffsets } from './tokenizer.js';
import { byRole, encodeRequest, runTask } from './postprocess.js';
import { replayGeneration } from './generate.js';

class Mismatch extends Error {}

function check(condition, message) {
  if (!condition) throw new Mismatch(message);
}

function flat(nested) {
  return Array.isArray(nested) ? nested.flat(Infinity) : [nested];
}

function close(a, b, tol) {
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

// The example's request: its values of the spec's request fields.
function requestOf(spec, ex) {
  return Object.fromEntries(spec.request.map((field) => [field.name, ex[field.name]]));
}

function checkTokens(spec, tok, ex, k) {
  const encodings = encodeRequest(spec, tok, requestOf(spec, ex)); // as golden.py encodes it
  const batch = tok.batch(encodings);
  const want = flat(ex.input_ids), wantMask = flat(ex.attention_mask);
  const got = Array.from(batch.inputIds, Number), gotMask = Array.from(batch.attentionMask, Number);
  check(got.length === want.length, `example ${k}: ${got.length} token ids, golden has ${want.length}`);
  const at = got.findIndex((id, i) => id !== want[i] || gotMask[i] !== wantMask[i]);
  check(at < 0, `example ${k}: token ids differ at ${at} (js ${got[at]}, golden ${want[at]})`);
  if (ex.offsets) {
    // golden offsets are code points into the text each token came from (sequence id k: the
    // request's k-th field; one text gives every token sequence id 0)
    const enc = encodings[0];
    const texts = spec.request.map((field) => ex[field.name]);
    const cp = enc.offsets.map((o, t) => (enc.sequenceIds[t] === null ? o : toCodePointOffsets(texts[enc.sequenceIds[t]], [o])[0]));
    const bad = cp.findIndex((o, t) => o[0] !== ex.offsets[t][0] || o[1] !== ex.offsets[t][1]);
    check(bad < 0, `example ${k}: offsets differ at token ${bad} (js ${cp[bad]}, golden ${ex.offsets[bad]})`);
  }
  // inputs with a choice axis (B, C, L): the example's rows are one item's choices
  const choices = spec.inputs[0].axes.includes('C');
  return { ...batch, shape: choices ? [1, ...batch.shape] : batch.shape };
}

// golden.json stores per-token outputs as 0 at padded positions (the example's zeroed_at_padding):
// they carry no answer. Zero the model's the same way; dims are (B, L, ...), mask (B, L).
function zeroPadded(data, dims, mask) {
  const positions = dims[0] * dims[1], inner = data.length / positions;
  const out = Float32Array.from(data);
  for (let p = 0; p < positions; p++) if (Number(mask[p]) === 0) out.fill(0, p * inner, (p + 1) * inner);
  return out;
}

// Compare outputs with golden's expected values: {maxAbsErr, minSqnrDb, worst (the output with the
// lowest SQNR), errors: {name: [max |error|, max |golden|]}} (peak-relative judging needs the whole set).
function compareOutputs(out, ex, k) {
  let maxAbsErr = 0, minSqnrDb = Infinity, worst = null;
  const errors = {};
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
    let err = 0, peak = 0;
    for (let i = 0; i < mine.length; i++) {
      const e = Math.abs(mine[i] - theirs[i]);
      err = Number.isNaN(e) ? Infinity : Math.max(err, e);
      peak = Math.max(peak, Math.abs(theirs[i]));
    }
    errors[name] = [err, peak];
    maxAbsErr = Math.max(maxAbsErr, err);
    const sqnr = sqnrDb(mine, theirs);
    if (sqnr < minSqnrDb || worst === null) { minSqnrDb = Math.min(minSqnrDb, sqnr); worst = name; }
  }
  return { maxAbsErr, minSqnrDb, worst, errors };
}

// Each example's max |error| per output against that output's peak over every example; throws at the
// first example and output beyond peakRelTol. Returns the worst peak-relative error.
function judgeOverSet(errorsPerExample, peakRelTol) {
  const peaks = {};
  for (const errors of errorsPerExample) {
    for (const [name, [, peak]] of Object.entries(errors)) peaks[name] = Math.max(peaks[name] ?? 0, peak);
  }
  let worst = 0;
  errorsPerExample.forEach((errors, k) => {
    for (const [name, [err]] of Object.entries(errors)) {
      const rel = peaks[name] > 0 ? err / peaks[name] : (err === 0 ? 0 : Infinity);
      check(!(rel > peakRelTol), `example ${k}: ${name} peak_rel ${rel.toExponential(2)} > ${peakRelTol} ` +
        `(max_abs_err ${err.toExponential(2)}, peak ${peaks[name].toPrecision(3)} over the golden set)`);
      worst = Math.max(worst, rel);
    }
  });
  return worst;
}

function sameCandidates(got, want, exact, tol, what) {
  check(got.length === want.length, `${what}: ${got.length} candidates, golden ${want.length}`);
  if (!exact) {
    check(got[0].id === want[0].id, `${what}: top candidate ${got[0].id}, golden ${want[0].id}`);
    return;
  }
  got.forEach((c, i) => {
    // two candidates closer than the score tolerance may swap places: a tie, not an error
    const tie = close(c.score, want[i].score, tol);
    check(c.id === want[i].id || tie, `${what}: candidate ${i} is ${c.id}, golden ${want[i].id}`);
    check(c.id !== want[i].id || c.token === want[i].token, `${what}: token ${c.id} decodes to ${JSON.stringify(c.token)}, golden ${JSON.stringify(want[i].token)}`);
    check(close(c.score, want[i].score, tol), `${what}: candidate ${i} score ${c.score}, golden ${want[i].score}`);
  });
}

// Compare a JS post-processing result with golden "decoded" (positions converted to code points);
// `tol` is the rule's score_tol when the answers must be exact, null when only the answer counts.
function compareDecoded(spec, ex, got, want, tol, k) {
  const what = `example ${k}`;
  const exact = tol !== null;
  const score = (g, w, name = 'score') => check(!exact || close(g, w, tol), `${what}: ${name} ${g}, golden ${w}`);
  switch (spec.head_kind) {
    case 'span': {
      const [[start, end]] = toCodePointOffsets(byRole(spec, ex).second, [[got.start, got.end]]);
      check(got.answer === want.answer, `${what}: answer ${JSON.stringify(got.answer)}, golden ${JSON.stringify(want.answer)}`);
      check(start === want.start && end === want.end, `${what}: answer at [${start}, ${end}), golden [${want.start}, ${want.end})`);
      for (const key of ['start_token', 'end_token', 'window', 'windows']) {
        check(want[key] === undefined || got[key] === want[key], `${what}: ${key} ${got[key]}, golden ${want[key]}`);
      }
      score(got.score, want.score);
      return;
    }
    case 'sequence':
      check(got.label === want.label, `${what}: label ${got.label}, golden ${want.label}`);
      score(got.score, want.score);
      return;
    case 'token':
      check(got.length === want.length, `${what}: ${got.length} tagged tokens, golden ${want.length}`);
      got.forEach((t, i) => {
        const [[a, b]] = toCodePointOffsets(byRole(spec, ex).first, [[t.start, t.end]]);
        check(t.label === want[i].label, `${what}: token ${i} label ${t.label}, golden ${want[i].label}`);
        check(t.token === want[i].token && a === want[i].start && b === want[i].end,
          `${what}: token ${i} ${JSON.stringify(t.token)} [${a}, ${b}), golden ${JSON.stringify(want[i].token)} [${want[i].start}, ${want[i].end})`);
        score(t.score, want[i].score);
      });
      return;
    case 'lm':
      if (spec.causal) {
        sameCandidates(got, want, exact, tol, what);
        return;
      }
      check(got.length === want.length, `${what}: ${got.length} masks, golden ${want.length}`);
      got.forEach((m, i) => {
        check(m.position === want[i].position, `${what}: mask at ${m.position}, golden ${want[i].position}`);
        sameCandidates(m.candidates, want[i].candidates, exact, tol, `${what} mask ${i}`);
      });
      return;
    case 'choice':
      check(got.index === want.index && got.choice === want.choice, `${what}: chose ${got.index}, golden ${want.index}`);
      got.scores.forEach((s, i) => score(s, want.scores[i], `score ${i}`));
      return;
    default:
      check(false, `${what}: no decoded comparison for head kind ${spec.head_kind} (task ${spec.task})`);
  }
}

/**
 * Run every golden example under the bundle's spec and its rule (spec.rule). Returns {pass, line,
 * maxAbsErr, peakRel, examples, latencyMs}; `line` is `SELFTEST PASS peak_rel=... max_abs_err=...
 * examples=N latency_ms=...` or `SELFTEST FAIL <reason>`.
 */
export async function selfTest({ model, tok, golden, spec, labels, latencyRuns = 10 }) {
  const rule = spec?.rule ?? {};
  const decodedTol = rule.decoded === 'exact' ? rule.score_tol : null;
  const byPeak = rule.peak_rel !== undefined, bySqnr = rule.min_sqnr_db !== undefined;
  let maxAbsErr = 0, peakRel = 0, minSqnrDb = Infinity, agree = 0, decodedCount = 0, firstBatch = null;
  const errorsPerExample = [];
  let decodedMiss = null; // the first decoded mismatch, reported after the outputs are judged
  let generation = null;
  try {
    check(golden.examples && golden.examples.length > 0, 'golden.json has no examples');
    check(byPeak || bySqnr, 'the bundle\'s rule (manifest.json spec.rule) gives neither peak_rel nor min_sqnr_db; bundle it again');
    check(rule.decoded === 'reported' || decodedTol > 0, `the bundle's rule has decoded ${rule.decoded} without a score_tol`);
    check(golden.task === spec.task, `golden.json is for task ${golden.task}, the bundle's spec for ${spec.task}`);
    for (const [k, ex] of golden.examples.entries()) {
      const hasText = spec.request.every((field) => ex[field.name] !== undefined);
      const batch = hasText ? checkTokens(spec, tok, ex, k) : {
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
      errorsPerExample.push(err.errors);
      if (bySqnr) {
        check(err.minSqnrDb >= rule.min_sqnr_db, `example ${k}: ${err.worst} SQNR ${err.minSqnrDb.toFixed(1)} dB < floor ${rule.min_sqnr_db} dB`);
      }
      if (ex.decoded !== undefined && ex.decoded !== null && hasText) {
        const got = await runTask(spec, model, tok, labels, requestOf(spec, ex));
        decodedCount++;
        try {
          compareDecoded(spec, ex, got, ex.decoded, decodedTol, k);
          agree++;
        } catch (e) {
          if (!(e instanceof Mismatch)) throw e;
          decodedMiss ??= e;
        }
      }
    }
    peakRel = judgeOverSet(errorsPerExample, byPeak ? rule.peak_rel : Infinity); // measured either way
    if (decodedTol !== null && decodedMiss) throw decodedMiss; // exact answers required
    if (golden.generation) { // causal LM: the golden greedy continuation, decoded by this page's own loop
      generation = await replayGeneration(model, golden.generation);
      // a float model gives the same tokens; a quantized one may flip a near-tie (reported)
      check(bySqnr || generation.exact, `golden generation: ids ${JSON.stringify(generation.newIds)} (stop ${generation.stop}), ` +
        `golden ${JSON.stringify(golden.generation.new_ids)} (stop ${golden.generation.stop})`);
    }
  } catch (err) {
    const reason = err instanceof Mismatch ? err.message : `${err.name}: ${err.message}`;
    return { pass: false, line: `SELFTEST FAIL ${reason}`, maxAbsErr, peakRel };
  }
  const latencyMs = await measureLatency(model, firstBatch, latencyRuns);
  let line = `SELFTEST PASS peak_rel=${peakRel.toExponential(2)} max_abs_err=${maxAbsErr.toExponential(2)} ` +
    `examples=${golden.examples.length} latency_ms=${latencyMs.toFixed(2)}`;
  if (generation) line += ` generation=${generation.same}/${generation.total}${generation.cached ? ' cached' : ' recomputed'}`;
  if (bySqnr) {
    line += ` min_sqnr_db=${minSqnrDb.toFixed(1)} agreement=${agree}/${decodedCount} (quantized: SQNR floor ${rule.min_sqnr_db} dB)`;
  }
  return { pass: true, line, maxAbsErr, peakRel, minSqnrDb, agreement: [agree, decodedCount], examples: golden.examples.length, latencyMs };
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
