package org.prelnedge.core;

/**
 * One encoded text or text pair.
 *
 * <p>Offsets are [start, end) <b>code point</b> indices into the text the token came from (the
 * first or the second text of a pair), as Python's str indexing counts them; special tokens have
 * (0, 0). Use {@link #slice} to cut the original Java (UTF-16) string with them.
 */
public final class Encoding {
    public final int[] ids;
    public final int[][] offsets;
    /** 0 first text, 1 second text, -1 special token added around them. */
    public final int[] sequenceIds;

    Encoding(int[] ids, int[][] offsets, int[] sequenceIds) {
        this.ids = ids;
        this.offsets = offsets;
        this.sequenceIds = sequenceIds;
    }

    public int length() {
        return ids.length;
    }

    /** text[start:end] in code points, like Python's slicing of a str. */
    public static String slice(String text, int start, int end) {
        int from = text.offsetByCodePoints(0, start);
        int to = text.offsetByCodePoints(from, end - start);
        return text.substring(from, to);
    }
}
