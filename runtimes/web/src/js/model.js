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
  constructor(session) {
    this.session = session;
    this.outputNames = session.outputNames;
  }

  /** Load `modelUrl` with the runtime files from `ortUrl` (a folder URL ending in '/'). */
  static async load(modelUrl, ortUrl) {
    ort.env.wasm.wasmPaths = ortUrl;
    ort.env.wasm.numThreads = wasmThreads();
    ort.env.wasm.proxy = false;
    ort.env.logLevel = 'error';
    const session = await ort.InferenceSession.create(modelUrl, {
      executionProviders: ['wasm'],
      graphOptimizationLevel: 'all',
    });
    return new OnnxModel(session);
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
    const results = await this.session.run(feeds);
    const out = {};
    for (const name of this.outputNames) {
      out[name] = { data: results[name].data, dims: results[name].dims.slice() };
      results[name].dispose?.();
    }
    return out;
  }
}
