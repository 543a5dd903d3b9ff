package org.prelnedge.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The bundle self-check on a desktop JVM: {@code java org.prelnedge.core.SelfTest ASSETS}.
 *
 * <p>Checks what can be checked without Android: the files are there, model.tflite is a TFLite
 * flatbuffer, the Java tokenizer reproduces every golden example's ids, mask and offsets (from
 * tokenizer.json and, when present, from vocab.json + merges.txt), and the Java post-processing of
 * the stored outputs reproduces Python's decoded answers. The model itself is not run: LiteRT's
 * Java API needs Android's native libraries. Prints one line, {@code SELFTEST PASS ...} (exit 0)
 * or {@code SELFTEST FAIL <reason>} (exit 1); bad usage exits 2.
 */
public final class SelfTest {
    private SelfTest() {
    }

    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: SelfTest ASSETS   (a folder written by prelnedge bundle --platform android)");
            System.exit(2);
        }
        File dir = new File(args[0]);
        String result;
        try {
            result = check(dir);
        } catch (Exception ex) {
            result = "FAIL " + ex;
        }
        System.out.println("SELFTEST " + result);
        System.exit(result.startsWith("PASS") ? 0 : 1);
    }

    static String check(File dir) throws IOException {
        if (!dir.isDirectory()) {
            return "FAIL " + dir + " is not a folder";
        }
        File model = new File(dir, ModelBundle.MODEL_FILE);
        String modelProblem = checkFlatbuffer(model);
        if (modelProblem != null) {
            return "FAIL " + modelProblem;
        }
        AssetSource files = AssetSource.folder(dir);
        ModelBundle bundle = ModelBundle.load(files);
        SelfCheck.Report report = SelfCheck.run(bundle.golden, bundle.pipeline, null, 0, true);
        if (!report.passed) {
            return "FAIL " + report.failure;
        }
        // The app sizes LiteRT's output arrays from config.json; they must fit the stored outputs.
        for (Golden.Example example : bundle.golden.examples) {
            for (java.util.Map.Entry<String, Golden.Expected> out : example.expected.entrySet()) {
                int[] shape = bundle.outputShape(out.getKey(), example.shape);
                if (!java.util.Arrays.equals(shape, out.getValue().shape)) {
                    return "FAIL example " + example.index + ": the app would allocate " + out.getKey() + " as "
                            + java.util.Arrays.toString(shape) + " but golden has " + java.util.Arrays.toString(out.getValue().shape);
                }
            }
        }
        String sources = files.read("tokenizer.json") != null ? "tokenizer.json" : "vocab.json+merges.txt";
        if (files.read("tokenizer.json") != null && files.read("vocab.json") != null && files.read("merges.txt") != null) {
            // The app reads tokenizer.json; the GPT-2 style files must tokenise the goldens the same way.
            RobertaTokenizer plain = RobertaTokenizer.fromVocabAndMerges(files.read("vocab.json"),
                    files.read("merges.txt"), bundle.maxTokens);
            Pipeline other = new Pipeline(bundle.task, plain, bundle.labels, bundle.golden.topK);
            SelfCheck.Report second = SelfCheck.run(bundle.golden, other, null, 0, true);
            if (!second.passed) {
                return "FAIL with vocab.json + merges.txt: " + second.failure;
            }
            sources += ",vocab.json+merges.txt";
        }
        StringBuilder line = new StringBuilder("PASS ").append(report.summary())
                .append(" task=").append(bundle.task)
                .append(" tokenizer=").append(sources)
                .append(" model=").append(model.length()).append("B(not run on the JVM)");
        for (String note : report.notes) {
            line.append(" | ").append(note);
        }
        return line.toString();
    }

    /** A .tflite file carries the identifier "TFL3" at bytes 4..7 of its flatbuffer. */
    static String checkFlatbuffer(File model) throws IOException {
        if (!model.isFile()) {
            return "the bundle has no " + model.getName();
        }
        byte[] head = new byte[8];
        int n;
        try (InputStream in = new FileInputStream(model)) {
            n = in.read(head);
        }
        if (n < 8 || head[4] != 'T' || head[5] != 'F' || head[6] != 'L' || head[7] != '3') {
            return model.getName() + " is not a TFLite flatbuffer (no TFL3 identifier)";
        }
        return null;
    }
}
