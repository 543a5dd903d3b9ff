// The exported ONNX model in ONNX Runtime Web: WebAssembly backend, multi-threaded when the page is
// cross-origin isolated (served by the bundle's serve.py), one thread on any other static server
// (see wasm_threads.js).
//
// Only three files of onnxruntime-web are shipped in the bundle (ort/, beside js/): ort.wasm.min.mjs (the
// wasm-only API), ort-wasm-simd-threaded.mjs (the Emscripten glue it imports) and
// ort-wasm-simd-threaded.wasm (the runtime). The threaded build runs single-threaded when
// numThreads is 1.

import * as ort from '../ort/ort.wasm.min.mjs';
import { wasmThreads } from './wasm_threads.js';

export class OnnxModel {
  /**
   * `cache`: the bundle spec's key/value cache contract (causal-lm exports, see
   * prelnedge/bundle/runtime_spec.py), or null. A causal-lm export is a cached decoder: `run` feeds it an
   * empty past and returns the task's outputs; `step` is the decoding call that keeps the cache.
   */
  constructor(session, cache = null) {
    this.session = session;
    this.cache = cache;
    this.outputNames = session.outputNames.filter((name) => !name.startsWith('present.'));
  }

  /** Load `modelUrl` with the runtime files from `ortUrl` (a folder URL ending in '/'). */
  static async load(modelUrl, ortUrl, cache = null) {
    ort.env.wasm.wasmPaths = ortUrl;
    ort.env.wasm.numThreads = wasmThreads();
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    const session = await ort.InferenceSession.create(modelUrl, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
    return new OnnxModel(session, cache);
  }

  /** A past of length 0 for every cache input: [batch, heads, 0, head_dim]. */
  emptyCache(batch) {
    const feeds = {};
    for (const name of this.cache.inputs) {
      feeds[name] = new ort.Tensor('float32', new Float32Array(0), [batch, this.cache.heads, 0, this.cache.head_dim]);
    }
    return feeds;
  }

  /**
   * Run on int64 data: inputIds and attentionMask are BigInt64Arrays of shape `shape`
   * ([B, L], or [B, C, L] for multiple choice). Returns {name: {data: Float32Array, dims}}.
   */
  async run(inputIds, attentionMask, shape) {
    const feeds = {
      input_ids: new ort.Tensor('int64', inputIds, shape),
      attention_mask: new ort.Tensor('int64', attentionMask, shape),
    };
    if (this.cache) Object.assign(feeds, this.emptyCache(shape[0]));
    const results = await this.session.run(feeds, this.outputNames);
    const out = {};
    for (const name of this.outputNames) {
      out[name] = { data: results[name].data, dims: results[name].dims.slice() };
      results[name].dispose?.();
    }
    return out;
  }

  /**
   * One decoder call with the key/value cache: inputIds [B, L] (BigInt64Array), attentionMask covering the
   * P cached and the L new tokens [B, P+L], `past` as the previous call returned it (null: empty).
   * Resolves to {logits: {data, dims}, past}; the caller disposes nothing (old pasts are released here).
   */
  async step(inputIds, attentionMask, batch, past) {
    const length = inputIds.length / batch;
    const feeds = {
      input_ids: new ort.Tensor('int64', inputIds, [batch, length]),
      attention_mask: new ort.Tensor('int64', attentionMask, [batch, attentionMask.length / batch]),
      ...(past ?? this.emptyCache(batch)),
    };
    const results = await this.session.run(feeds);
    const next = {};
    this.cache.outputs.forEach((name, i) => { next[this.cache.inputs[i]] = results[name]; });
    if (past) for (const tensor of Object.values(past)) tensor.dispose?.();
    const logits = { data: results.logits.data, dims: results.logits.dims.slice() };
    results.logits.dispose?.();
    return { logits, past: next };
  }
}
