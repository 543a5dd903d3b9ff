// How many WebAssembly threads onnxruntime-web may use on this page.
//
// Threads need SharedArrayBuffer, which browsers grant only to a cross-origin isolated page: one
// served with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
// require-corp` (the bundle's serve.py sends both). Anywhere else (`python3 -m http.server`, most
// static hosts) the page runs on one thread, with the same results. The threaded build already
// shipped in ort/ (ort-wasm-simd-threaded.*) starts its worker threads from that same .mjs file, so
// no other runtime file is needed.
//
// One thread per logical core, as native ONNX Runtime's default, at most 4 (onnxruntime-web's own
// cap). Not its default of half the cores: the page calls run() on its main thread, which waits and
// works as one of the pool's threads, and on a 2-core machine half would mean no threads at all.

export const MAX_THREADS = 4;

/** 1 unless `scope` (a window or worker global) is cross-origin isolated; then up to MAX_THREADS. */
export function wasmThreads(scope = globalThis) {
  if (!scope.crossOriginIsolated || typeof scope.SharedArrayBuffer === 'undefined') return 1;
  const cores = scope.navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(MAX_THREADS, cores));
}
