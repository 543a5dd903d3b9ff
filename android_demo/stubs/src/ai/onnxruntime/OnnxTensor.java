// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package ai.onnxruntime;
public class OnnxTensor implements OnnxValue {
    public static OnnxTensor createTensor(OrtEnvironment env, java.nio.LongBuffer data, long[] shape) throws OrtException { return null; }
    public static OnnxTensor createTensor(OrtEnvironment env, java.nio.FloatBuffer data, long[] shape) throws OrtException { return null; }
    public TensorInfo getInfo() { return null; }
    public java.nio.FloatBuffer getFloatBuffer() { return null; }
    public void close() {}
}
