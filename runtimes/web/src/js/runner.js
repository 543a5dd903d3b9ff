// Which runtime runs the bundle's model: LiteRT.js for a TFLite export, ONNX Runtime Web for an ONNX
// one. Each runner module imports its runtime from the bundle (ort/ or litert/), and a bundle ships
// only its own, so the runner is imported only once the manifest has said which.

export const RUNTIME_NAMES = {
  tflite: 'LiteRT.js (WebAssembly, one thread)',
  onnx: 'ONNX Runtime Web (WebAssembly, one thread)',
};

export async function loadModel(manifest, modelUrl, root) {
  if (manifest.target === 'tflite') {
    const { LiteRtModel } = await import('./litert_model.js');
    return LiteRtModel.load(modelUrl, new URL('litert/', root).href, manifest.io);
  }
  const { OnnxModel } = await import('./model.js');
  return OnnxModel.load(modelUrl, new URL('ort/', root).href, manifest.spec?.cache ?? null);
}
