package org.prelnedge.demo;

import android.content.res.AssetManager;

import org.prelnedge.core.ModelBundle;
import org.prelnedge.core.Pipeline;

/** The bundle's model on the device, run by the runtime its manifest names. */
interface DeviceModel extends Pipeline.Model, AutoCloseable {
    @Override
    void close();

    /** LiteRT for model.tflite, ONNX Runtime for model.ort (ModelBundle checked that they agree). */
    static DeviceModel open(AssetManager assets, ModelBundle bundle) throws Exception {
        if (bundle.runtime.equals(ModelBundle.ONNXRUNTIME)) {
            return new OrtModel(assets, bundle);
        }
        return new LiteRtModel(assets, bundle);
    }
}
