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

import org.prelnedge.core.Generate;
import org.prelnedge.core.ModelBundle;
import org.prelnedge.core.Nested;
import org.prelnedge.core.Pipeline;
import org.prelnedge.core.Tensor;

/**
 * model.ort (an ONNX export in ONNX Runtime's format) run by ONNX Runtime for Android: int64
 * input_ids and attention_mask of any batch and length in, the task's float32 outputs out, named as
 * the bundle's manifest lists them. Output shapes come from the tensors ONNX Runtime returns.
 */
final class OrtModel implements DeviceModel, Generate.Decoder {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final Set<String> outputNames;
    /** Causal LM: the key/value cache of the generation under way (past_key_values.* -> tensor), or null. */
    private Map<String, OnnxTensor> past;

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
    public synchronized void reset() {
        closeAll(past);
        past = null;
    }

    /**
     * One cached decoding call (Generate.Decoder): the new tokens, a mask over all `total` tokens and the
     * cache the previous call returned; keeps present.* as the next call's past_key_values.*. The cache is
     * copied out of the Result, which owns (and closes) its tensors.
     */
    @Override
    public synchronized double[] step(int[] newIds, int total) throws OrtException {
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        try {
            long[] ids = new long[newIds.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = newIds[i];
            }
            long[] mask = new long[total];
            java.util.Arrays.fill(mask, 1L);
            feeds.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length}));
            feeds.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, total}));
            if (past == null) {
                putEmptyCache(feeds, 1);
            }
            Map<String, OnnxTensor> inputs = new LinkedHashMap<>(feeds);
            if (past != null) {
                inputs.putAll(past);
            }
            Map<String, OnnxTensor> next = new LinkedHashMap<>();
            double[] last;
            try (OrtSession.Result outputs = session.run(inputs, session.getOutputNames())) {
                OnnxTensor logits = (OnnxTensor) outputs.get("logits").get();
                long[] dims = logits.getInfo().getShape();
                FloatBuffer values = logits.getFloatBuffer();
                int vocab = (int) dims[2];
                last = new double[vocab];
                for (int v = 0; v < vocab; v++) {
                    last[v] = values.get((int) ((dims[1] - 1) * vocab + v));
                }
                for (String name : session.getOutputNames()) {
                    if (name.startsWith("present.")) {
                        OnnxTensor present = (OnnxTensor) outputs.get(name).get();
                        next.put(name.replaceFirst("present\\.", "past_key_values."),
                                OnnxTensor.createTensor(env, present.getFloatBuffer(), present.getInfo().getShape()));
                    }
                }
            }
            closeAll(past);
            past = next;
            return last;
        } finally {
            closeAll(feeds);
        }
    }

    private static void closeAll(Map<String, OnnxTensor> tensors) {
        if (tensors != null) {
            for (OnnxTensor tensor : tensors.values()) {
                tensor.close();
            }
        }
    }

    @Override
    public synchronized void close() {
        reset();
        try {
            session.close();
        } catch (OrtException e) {
            // closing a session that loaded cannot fail in a way the app could act on
        }
    }
}
