package org.prelnedge.core;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level layer, as RoBERTa uses it: every UTF-8 byte is shown as one printable
 * character before BPE, and the pre-tokenizer splits text with GPT-2's regular expression.
 */
public final class ByteLevel {
    private ByteLevel() {
    }

    /** BYTE_TO_CHAR[b] is the character standing for byte b. */
    static final char[] BYTE_TO_CHAR = new char[256];
    static final Map<Character, Integer> CHAR_TO_BYTE = new HashMap<>();

    static {
        // GPT-2 keeps the printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') as themselves and
        // moves the other 68 (controls, space, DEL, NBSP, soft hyphen) to U+0100.. in byte order,
        // so that no byte becomes whitespace or a control character; the space becomes 'Ġ' (U+0120).
        int shifted = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            BYTE_TO_CHAR[b] = printable ? (char) b : (char) (256 + shifted++);
            CHAR_TO_BYTE.put(BYTE_TO_CHAR[b], b);
        }
    }

    /**
     * Unicode White_Space, which is what both Rust's {@code char::is_whitespace} and the
     * tokenizers library's regex {@code \s} mean. Java's {@code Character.isWhitespace} differs (it
     * excludes no-break spaces and includes U+001C..U+001F), so the set is spelled out.
     */
    static final String WHITE_SPACE =
            "\\t\\n\\u000B\\f\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";

    public static boolean isWhiteSpace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }

    /**
     * GPT-2's pre-tokenizer pattern: English contractions (case-sensitive), a letter run, a number run
     * or a run of other symbols (each with at most one leading space), then whitespace runs, where a
     * run followed by a word leaves its last space to that word.
     */
    static final Pattern SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + WHITE_SPACE + "\\p{L}\\p{N}]+"
                    + "|[" + WHITE_SPACE + "]+(?![^" + WHITE_SPACE + "])|[" + WHITE_SPACE + "]+");

    /** The byte-level string of a text: one character per UTF-8 byte. */
    public static String encode(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        StringBuilder out = new StringBuilder(bytes.length);
        for (byte b : bytes) {
            out.append(BYTE_TO_CHAR[b & 0xFF]);
        }
        return out.toString();
    }

    /**
     * Joins tokens back into text. A token made only of byte characters gives its bytes; any other
     * token (an added token such as "<mask>") gives its own UTF-8. Invalid UTF-8 becomes U+FFFD.
     */
    public static String decode(List<String> tokens) {
        return new String(toBytes(tokens), StandardCharsets.UTF_8);
    }

    /**
     * Like decode, but a byte that is not part of a whole UTF-8 character (byte-level BPE splits
     * characters), or an ASCII control character, shows as "<0xHH>" instead of U+FFFD, as prelnedge's
     * Python readable_token does.
     */
    public static String readable(List<String> tokens) {
        byte[] bytes = toBytes(tokens);
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < bytes.length) {
            int n = sequenceLength(bytes[i] & 0xFF);
            boolean control = (bytes[i] & 0xFF) < 0x20 || bytes[i] == 0x7F; // hex too: it would garble a terminal
            String ch = n > 0 && !control && i + n <= bytes.length ? strictUtf8(bytes, i, n) : null;
            if (ch != null) {
                out.append(ch);
                i += n;
            } else {
                out.append(String.format("<0x%02X>", bytes[i] & 0xFF));
                i++;
            }
        }
        return out.toString();
    }

    private static byte[] toBytes(List<String> tokens) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (String token : tokens) {
            byte[] mapped = new byte[token.length()];
            boolean allBytes = true;
            for (int i = 0; i < token.length() && allBytes; i++) {
                Integer b = CHAR_TO_BYTE.get(token.charAt(i));
                if (b == null) {
                    allBytes = false;
                } else {
                    mapped[i] = (byte) (int) b;
                }
            }
            byte[] out = allBytes ? mapped : token.getBytes(StandardCharsets.UTF_8);
            bytes.write(out, 0, out.length);
        }
        return bytes.toByteArray();
    }

    /** Bytes in the UTF-8 sequence a lead byte starts; 0 when it cannot start one. */
    private static int sequenceLength(int lead) {
        if (lead < 0x80) {
            return 1;
        }
        if (lead >= 0xC2 && lead <= 0xDF) {
            return 2;
        }
        if (lead >= 0xE0 && lead <= 0xEF) {
            return 3;
        }
        return lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
    }

    /** The character the bytes encode, or null when they are not one well-formed UTF-8 character. */
    private static String strictUtf8(byte[] bytes, int offset, int length) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes, offset, length)).toString();
        } catch (CharacterCodingException e) {
            return null;
        }
    }
}
