// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package ai.onnxruntime;
public class OrtEnvironment implements AutoCloseable {
    public static OrtEnvironment getEnvironment() { return null; }
    public OrtSession createSession(byte[] model, OrtSession.SessionOptions o) throws OrtException { return null; }
    public void close() {}
}
