package org.prelnedge.demo;

import android.content.res.AssetFileDescriptor;
import android.content.res.AssetManager;

import java.io.FileInputStream;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.prelnedge.core.ModelBundle;
import org.prelnedge.core.Nested;
import org.prelnedge.core.Pipeline;
import org.prelnedge.core.Tensor;
import org.tensorflow.lite.Interpreter;

/**
 * model.tflite run by LiteRT's Interpreter through its one signature, serving_default: int32
 * input_ids and attention_mask of any batch and length in, the task's float32 outputs out.
 */
final class LiteRtModel implements DeviceModel {
    static final String SIGNATURE = "serving_default";

    private final Interpreter interpreter;
    private final ModelBundle bundle;
    private final List<String> outputNames;

    LiteRtModel(AssetManager assets, ModelBundle bundle) throws IOException {
        this.bundle = bundle;
        this.outputNames = bundle.outputNames;
        Interpreter.Options options = new Interpreter.Options();
        options.setNumThreads(Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())));
        interpreter = new Interpreter(map(assets, bundle.modelFile), options);
        try {
            checkSignature();
        } catch (RuntimeException e) {
            interpreter.close();
            throw e;
        }
    }

    /** Memory-maps the model from the APK (stored uncompressed, see app/build.gradle.kts). */
    private static MappedByteBuffer map(AssetManager assets, String name) throws IOException {
        try (AssetFileDescriptor fd = assets.openFd(name);
             FileInputStream in = new FileInputStream(fd.getFileDescriptor());
             FileChannel channel = in.getChannel()) {
            return channel.map(FileChannel.MapMode.READ_ONLY, fd.getStartOffset(), fd.getDeclaredLength());
        }
    }

    private void checkSignature() {
        List<String> keys = Arrays.asList(interpreter.getSignatureKeys());
        if (!keys.contains(SIGNATURE)) {
            throw new IllegalArgumentException("model.tflite has signatures " + keys + ", not " + SIGNATURE);
        }
        List<String> inputs = Arrays.asList(interpreter.getSignatureInputs(SIGNATURE));
        if (!inputs.containsAll(Arrays.asList("input_ids", "attention_mask"))) {
            throw new IllegalArgumentException("serving_default takes " + inputs + "; expected input_ids, attention_mask");
        }
        List<String> outputs = Arrays.asList(interpreter.getSignatureOutputs(SIGNATURE));
        if (!outputs.containsAll(outputNames)) {
            throw new IllegalArgumentException("serving_default gives " + outputs + "; task " + bundle.task + " needs " + outputNames);
        }
    }

    @Override
    public synchronized Map<String, Tensor> run(Pipeline.Inputs in) {
        Map<String, Object> inputs = new HashMap<>();
        inputs.put("input_ids", Nested.ints(in.inputIds, in.shape));
        inputs.put("attention_mask", Nested.ints(in.attentionMask, in.shape));
        // LiteRT resizes the inputs to these arrays' shapes; the outputs must be arrays of the
        // shapes it will produce, which follow from the task and config.json.
        Map<String, Object> outputs = new HashMap<>();
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (String name : outputNames) {
            int[] shape = bundle.outputShape(name, in.shape);
            shapes.put(name, shape);
            outputs.put(name, Nested.floats(shape));
        }
        interpreter.runSignature(inputs, outputs, SIGNATURE);
        Map<String, Tensor> result = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> entry : shapes.entrySet()) {
            result.put(entry.getKey(), Nested.toTensor(outputs.get(entry.getKey()), entry.getValue()));
        }
        return result;
    }

    @Override
    public synchronized void close() {
        interpreter.close();
    }
}
