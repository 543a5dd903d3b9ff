package org.prelnedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** A dense row-major array of doubles with a shape: model outputs on their way to post-processing. */
public final class Tensor {
    public final int[] shape;
    public final double[] values;

    public Tensor(int[] shape, double[] values) {
        long size = 1;
        for (int d : shape) {
            size *= d;
        }
        if (size != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + size + " values, got " + values.length);
        }
        this.shape = shape.clone();
        this.values = values;
    }

    public static Tensor ofFloats(int[] shape, float[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            d[i] = values[i];
        }
        return new Tensor(shape, d);
    }

    /** From nested JSON lists (golden.json's "values") with the given shape. */
    public static Tensor fromNested(int[] shape, Object nested) {
        List<Double> flat = new ArrayList<>();
        flatten(nested, flat);
        double[] values = new double[flat.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = flat.get(i);
        }
        return new Tensor(shape, values);
    }

    private static void flatten(Object value, List<Double> out) {
        if (value instanceof List) {
            for (Object item : (List<?>) value) {
                flatten(item, out);
            }
        } else {
            out.add(Json.number(value, "tensor value"));
        }
    }

    public int rank() {
        return shape.length;
    }

    /** The last axis at the given leading index, e.g. lastAxis(0, 5) of a (B, L, V) tensor is (V,). */
    public double[] lastAxis(int... leading) {
        if (leading.length != shape.length - 1) {
            throw new IllegalArgumentException("need " + (shape.length - 1) + " indices for shape " + Arrays.toString(shape));
        }
        int offset = 0;
        for (int axis = 0; axis < leading.length; axis++) {
            if (leading[axis] < 0 || leading[axis] >= shape[axis]) {
                throw new IndexOutOfBoundsException("index " + leading[axis] + " on axis " + axis + " of " + Arrays.toString(shape));
            }
            offset = offset * shape[axis] + leading[axis];
        }
        int n = shape[shape.length - 1];
        return Arrays.copyOfRange(values, offset * n, offset * n + n);
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }
}
