// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package org.tensorflow.lite;
public class Interpreter implements AutoCloseable {
    public static class Options { public Options setNumThreads(int n) { return this; } }
    public Interpreter(java.nio.ByteBuffer model, Options o) {}
    public String[] getSignatureKeys() { return null; }
    public String[] getSignatureInputs(String k) { return null; }
    public String[] getSignatureOutputs(String k) { return null; }
    public void runSignature(java.util.Map<String, Object> in, java.util.Map<String, Object> out, String k) {}
    public void close() {}
}
