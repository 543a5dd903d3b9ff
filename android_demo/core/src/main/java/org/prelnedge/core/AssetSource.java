package org.prelnedge.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/** Where a bundle's text files come from: a folder on the JVM, the APK's assets on Android. */
public interface AssetSource {
    /** The file's text (UTF-8), or null when the bundle has no such file. */
    String read(String name) throws IOException;

    /** A bundle folder on disk. */
    static AssetSource folder(final File dir) {
        return new AssetSource() {
            @Override
            public String read(String name) throws IOException {
                File file = new File(dir, name);
                if (!file.isFile()) {
                    return null;
                }
                try (InputStream in = new FileInputStream(file)) {
                    return Json.readUtf8(in);
                }
            }
        };
    }
}
