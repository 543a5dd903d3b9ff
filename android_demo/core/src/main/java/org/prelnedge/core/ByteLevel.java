package org.prelnedge.core;

import java.io.ByteArrayOutputStream;
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
        return new String(bytes.toByteArray(), StandardCharsets.UTF_8);
    }
}
