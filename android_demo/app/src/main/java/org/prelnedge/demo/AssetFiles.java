package org.prelnedge.demo;

import android.content.res.AssetManager;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;

import org.prelnedge.core.AssetSource;
import org.prelnedge.core.Json;

/** The bundle files packed into the APK's assets (android_demo/app/src/main/assets). */
final class AssetFiles implements AssetSource {
    private final AssetManager assets;

    AssetFiles(AssetManager assets) {
        this.assets = assets;
    }

    @Override
    public String read(String name) throws IOException {
        try (InputStream in = assets.open(name)) {
            return Json.readUtf8(in);
        } catch (FileNotFoundException missing) {
            return null;
        }
    }
}
