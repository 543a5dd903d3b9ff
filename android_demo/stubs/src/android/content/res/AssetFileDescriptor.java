// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package android.content.res;
public class AssetFileDescriptor implements java.io.Closeable {
    public java.io.FileDescriptor getFileDescriptor() { return null; }
    public long getStartOffset() { return 0; }
    public long getDeclaredLength() { return 0; }
    public void close() {}
}
