// Stand-in, signatures only, for the app runners' compile check (android_demo/stubs/README.md).
package android.content.res;
public class AssetManager {
    public java.io.InputStream open(String name) throws java.io.IOException { throw new java.io.FileNotFoundException(name); }
    public AssetFileDescriptor openFd(String name) throws java.io.IOException { return null; }
}
