// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package ai.onnxruntime;
public interface ValueInfo {}
