// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package ai.onnxruntime;
public class TensorInfo implements ValueInfo { public long[] getShape() { return null; } }
