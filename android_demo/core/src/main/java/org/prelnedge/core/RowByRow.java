package org.prelnedge.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Runs a padded batch one row at a time, each cut to its real length, and pads the outputs back
 * (with zeros, which post-processing never reads). For quantized models that are only valid on
 * unpadded rows (manifest quantization.unpadded_only): their integer attention cannot mask padding.
 */
public final class RowByRow implements Pipeline.Model {
    private final Pipeline.Model inner;
    private final ModelBundle bundle;

    public RowByRow(Pipeline.Model inner, ModelBundle bundle) {
        this.inner = inner;
        this.bundle = bundle;
    }

    @Override
    public Map<String, Tensor> run(Pipeline.Inputs in) throws Exception {
        int rank = in.shape.length;
        int length = in.shape[rank - 1];
        int rows = in.inputIds.length / length;
        Map<String, Tensor> full = new LinkedHashMap<>();
        for (String name : bundle.outputNames) {
            int[] shape = bundle.outputShape(name, in.shape);
            full.put(name, new Tensor(shape, new double[size(shape)]));
        }
        for (int r = 0; r < rows; r++) {
            int real = 0;
            while (real < length && in.attentionMask[r * length + real] == 1) {
                real++;
            }
            if (real == 0) {
                continue; // an all-padding row has nothing to run
            }
            int[] ids = new int[real];
            int[] mask = new int[real];
            System.arraycopy(in.inputIds, r * length, ids, 0, real);
            Arrays.fill(mask, 1);
            int[] rowShape = rank == 2 ? new int[] {1, real} : new int[] {1, 1, real};
            Map<String, Tensor> out = inner.run(new Pipeline.Inputs(rowShape, ids, mask));
            for (Map.Entry<String, Tensor> entry : full.entrySet()) {
                Tensor row = out.get(entry.getKey());
                if (row == null) {
                    throw new IllegalArgumentException("the model gave no output named " + entry.getKey());
                }
                double[] target = entry.getValue().values;
                if (bundle.hasLengthAxis(entry.getKey())) {
                    // (rows..., L, rest...): the row's `real` positions go to the start of its L positions.
                    int rest = row.values.length / Math.max(real, 1);
                    System.arraycopy(row.values, 0, target, r * length * rest, real * rest);
                } else {
                    System.arraycopy(row.values, 0, target, r * row.values.length, row.values.length);
                }
            }
        }
        return full;
    }

    private static int size(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }
}
