// A static-shape TFLite export in LiteRT.js (@litertjs/core, shipped in the bundle's litert/ folder):
// WebAssembly CPU backend (XNNPACK), one thread, so the page needs no cross-origin isolation.
//
// LiteRT.js does not resize inputs: the model takes exactly manifest.io.static_shape.input_shape,
// batch 1 and LENGTH tokens ([1, 1, LENGTH] for multiple-choice, one choice per call). The page's
// tokenizer already cuts and windows texts at LENGTH (golden.json's max_tokens); here each row of a
// batch is right-padded to LENGTH (<pad> id, mask 0) and run alone, and the outputs' sequence axis
// is cut back to the batch's length. prelnedge/runtime/rows.py does the same in Python.
//
// Every LiteRT.js tensor, inputs and outputs alike, lives in WebAssembly memory and is freed with
// .delete() as soon as its values are copied out.

import { loadLiteRt, loadAndCompile, Tensor } from '../litert/index.js';

const PAD_ID = 1; // RoBERTa's <pad>; the zero mask is what hides the position

export class LiteRtModel {
  constructor(compiled, io) {
    this.compiled = compiled;
    this.length = io.static_shape.length;
    this.outputs = io.outputs; // [{name, axes}] in the registry's order
    this.outputNames = io.outputs.map((spec) => spec.name);
  }

  /** Load `modelUrl` with the runtime from `wasmUrl` (the litert/ folder URL, ending in '/'). */
  static async load(modelUrl, wasmUrl, io) {
    if (!io?.static_shape?.length) throw new Error('LiteRT.js needs a static-shape model (manifest io.static_shape)');
    await loadLiteRt(wasmUrl); // picks the relaxed-SIMD build, or the compat build where that is missing
    const compiled = await loadAndCompile(modelUrl, { accelerator: 'wasm' });
    return new LiteRtModel(compiled, io);
  }

  /**
   * Same contract as OnnxModel.run: inputIds and attentionMask are BigInt64Arrays of shape `shape`
   * ([B, L], or [B, C, L] for multiple choice) with L <= the static length. Returns
   * {name: {data: Float32Array, dims}}.
   */
  async run(inputIds, attentionMask, shape) {
    const width = shape[shape.length - 1];
    if (width > this.length) {
      throw new Error(`inputs of ${width} tokens do not fit this static-shape model (${this.length} tokens)`);
    }
    const lead = shape.slice(0, -1);
    const rows = inputIds.length / width;
    const staticShape = shape.length === 3 ? [1, 1, this.length] : [1, this.length];
    const perRow = [];
    for (let r = 0; r < rows; r++) {
      const ids = new Int32Array(this.length).fill(PAD_ID);
      const mask = new Int32Array(this.length);
      for (let i = 0; i < width; i++) {
        ids[i] = Number(inputIds[r * width + i]);
        mask[i] = Number(attentionMask[r * width + i]);
      }
      perRow.push(await this.runOne(ids, mask, staticShape));
    }
    const out = {};
    for (const spec of this.outputs) {
      const hasLength = spec.axes.includes('L');
      const full = perRow[0][spec.name].length; // values of one padded row
      const kept = hasLength ? (full / this.length) * width : full;
      const data = new Float32Array(rows * kept);
      perRow.forEach((row, r) => data.set(row[spec.name].subarray(0, kept), r * kept));
      const trailing = spec.axes.length > lead.length + (hasLength ? 1 : 0) ? [kept / (hasLength ? width : 1)] : [];
      out[spec.name] = { data, dims: [...lead, ...(hasLength ? [width] : []), ...trailing] };
    }
    return out;
  }

  async runOne(ids, mask, staticShape) {
    const inputs = { input_ids: new Tensor(ids, staticShape), attention_mask: new Tensor(mask, staticShape) };
    let outputs;
    try {
      outputs = await this.compiled.run(inputs);
    } finally {
      for (const t of Object.values(inputs)) t.delete();
    }
    const row = {};
    try {
      for (const name of this.outputNames) {
        if (!outputs[name]) throw new Error(`the model gave no ${name}; it gave ${Object.keys(outputs).join(', ')}`);
        row[name] = Float32Array.from(await outputs[name].data());
      }
    } finally {
      for (const t of Object.values(outputs)) t.delete();
    }
    return row;
  }
}
