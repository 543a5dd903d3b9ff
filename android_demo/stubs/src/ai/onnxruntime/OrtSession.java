// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package ai.onnxruntime;
import java.util.*;
public class OrtSession implements AutoCloseable {
    public static class SessionOptions implements AutoCloseable { public void setIntraOpNumThreads(int n) throws OrtException {} public void close() {} }
    public static class Result implements AutoCloseable, Iterable<Map.Entry<String, OnnxValue>> {
        public Iterator<Map.Entry<String, OnnxValue>> iterator() { return null; }
        public Optional<OnnxValue> get(String name) { return null; }
        public void close() {}
    }
    public Set<String> getInputNames() { return null; }
    public Map<String, NodeInfo> getInputInfo() throws OrtException { return null; }
    public Set<String> getOutputNames() { return null; }
    public Result run(Map<String, ? extends OnnxTensor> in, Set<String> out) throws OrtException { return null; }
    public void close() throws OrtException {}
}
