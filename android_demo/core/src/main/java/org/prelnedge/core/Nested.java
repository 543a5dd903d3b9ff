package org.prelnedge.core;

import java.lang.reflect.Array;

/**
 * Between flat row-major arrays and the nested Java arrays (int[B][L], float[B][L][V], ...) that
 * LiteRT's Java API reads inputs from and writes outputs into.
 */
public final class Nested {
    private Nested() {
    }

    /** Flat ints to a nested int array of the given shape. */
    public static Object ints(int[] flat, int[] shape) {
        check(flat.length, shape);
        Object array = Array.newInstance(int.class, shape);
        fill(array, flat, new int[] {0});
        return array;
    }

    /** Widened to int64, as ONNX Runtime's int64 inputs (and shapes) take them. */
    public static long[] longs(int[] flat) {
        long[] out = new long[flat.length];
        for (int i = 0; i < flat.length; i++) {
            out[i] = flat[i];
        }
        return out;
    }

    /** An empty nested float array of the given shape (an output buffer). */
    public static Object floats(int[] shape) {
        return Array.newInstance(float.class, shape);
    }

    /** A nested float array of the given shape as a Tensor. */
    public static Tensor toTensor(Object nested, int[] shape) {
        float[] flat = new float[size(shape)];
        int[] next = {0};
        flatten(nested, flat, next);
        if (next[0] != flat.length) {
            throw new IllegalArgumentException("nested array holds " + next[0] + " values, shape needs " + flat.length);
        }
        return Tensor.ofFloats(shape, flat);
    }

    private static void fill(Object array, int[] flat, int[] next) {
        if (array instanceof int[]) {
            int[] row = (int[]) array;
            System.arraycopy(flat, next[0], row, 0, row.length);
            next[0] += row.length;
            return;
        }
        for (Object sub : (Object[]) array) {
            fill(sub, flat, next);
        }
    }

    private static void flatten(Object array, float[] out, int[] next) {
        if (array instanceof float[]) {
            float[] row = (float[]) array;
            System.arraycopy(row, 0, out, next[0], row.length);
            next[0] += row.length;
            return;
        }
        for (Object sub : (Object[]) array) {
            flatten(sub, out, next);
        }
    }

    private static int size(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("shape too large");
        }
        return (int) n;
    }

    private static void check(int length, int[] shape) {
        if (length != size(shape)) {
            throw new IllegalArgumentException(length + " values do not fill shape " + java.util.Arrays.toString(shape));
        }
    }
}
