package org.prelnedge.demo;

import android.content.res.AssetManager;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;

import org.prelnedge.core.ModelBundle;
import org.prelnedge.core.Nested;
import org.prelnedge.core.Pipeline;
import org.prelnedge.core.Tensor;

/**
 * model.ort (an ONNX export in ONNX Runtime's format) run by ONNX Runtime for Android: int64
 * input_ids and attention_mask of any batch and length in, the task's float32 outputs out, named as
 * the bundle's manifest lists them. Output shapes come from the tensors ONNX Runtime returns.
 */
final class OrtModel implements DeviceModel {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final Set<String> outputNames;

    OrtModel(AssetManager assets, ModelBundle bundle) throws IOException, OrtException {
        env = OrtEnvironment.getEnvironment();
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        options.setIntraOpNumThreads(Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())));
        // The .ort file holds the graph already optimized at conversion (prelnedge.bundle.ort_format).
        session = env.createSession(read(assets, bundle.modelFile), options);
        outputNames = new LinkedHashSet<>(bundle.outputNames);
        if (!session.getInputNames().containsAll(java.util.Arrays.asList("input_ids", "attention_mask"))
                || !session.getOutputNames().containsAll(outputNames)) {
            session.close();
            throw new IllegalArgumentException(bundle.modelFile + " takes " + session.getInputNames() + " and gives "
                    + session.getOutputNames() + "; the bundle needs input_ids, attention_mask -> " + outputNames);
        }
    }

    private static byte[] read(AssetManager assets, String name) throws IOException {
        try (InputStream in = assets.open(name); ByteArrayOutputStream out = new ByteArrayOutputStream()) {
            byte[] buffer = new byte[1 << 16];
            int n;
            while ((n = in.read(buffer)) > 0) {
                out.write(buffer, 0, n);
            }
            return out.toByteArray();
        }
    }

    @Override
    public synchronized Map<String, Tensor> run(Pipeline.Inputs in) throws OrtException {
        long[] shape = Nested.longs(in.shape);
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        try {
            feeds.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(Nested.longs(in.inputIds)), shape));
            feeds.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(Nested.longs(in.attentionMask)), shape));
            putEmptyCache(feeds, shape[0]);
            Map<String, Tensor> result = new LinkedHashMap<>();
            try (OrtSession.Result outputs = session.run(feeds, outputNames)) {
                for (Map.Entry<String, OnnxValue> entry : outputs) {
                    OnnxTensor tensor = (OnnxTensor) entry.getValue();
                    long[] dims = tensor.getInfo().getShape();
                    int[] outShape = new int[dims.length];
                    for (int i = 0; i < dims.length; i++) {
                        outShape[i] = (int) dims[i];
                    }
                    FloatBuffer values = tensor.getFloatBuffer();
                    float[] flat = new float[values.remaining()];
                    values.get(flat);
                    result.put(entry.getKey(), Tensor.ofFloats(outShape, flat));
                }
            }
            return result;
        } finally {
            for (OnnxTensor tensor : feeds.values()) {
                tensor.close();
            }
        }
    }

    /**
     * A causal-lm export is a cached decoder (past_key_values.{i}.key|value in, present.* out): the plain
     * call feeds it a past of length 0, shaped [batch, heads, 0, head_dim] from the graph's fixed axes.
     */
    private void putEmptyCache(Map<String, OnnxTensor> feeds, long batch) throws OrtException {
        for (Map.Entry<String, NodeInfo> input : session.getInputInfo().entrySet()) {
            if (!input.getKey().startsWith("past_key_values.")) {
                continue;
            }
            long[] dims = ((TensorInfo) input.getValue().getInfo()).getShape();
            long[] empty = {batch, dims[1], 0, dims[3]};
            feeds.put(input.getKey(), OnnxTensor.createTensor(env, FloatBuffer.allocate(0), empty));
        }
    }

    @Override
    public synchronized void close() {
        try {
            session.close();
        } catch (OrtException e) {
            // closing a session that loaded cannot fail in a way the app could act on
        }
    }
}
