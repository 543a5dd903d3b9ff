package org.prelnedge.core;

import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The bundle self-check on a desktop JVM: {@code java org.prelnedge.core.SelfTest ASSETS [RECORDED]}.
 *
 * <p>Checks what can be checked without Android: the files are there, the model is a TFLite
 * (model.tflite) or ONNX Runtime (model.ort) flatbuffer as the manifest says, the Java tokenizer
 * reproduces every golden example's ids, mask and offsets (from tokenizer.json and, when present,
 * from vocab.json + merges.txt), and the Java post-processing of the stored outputs reproduces
 * Python's decoded answers. The model itself is not run: LiteRT's and ONNX Runtime's Java APIs need
 * their native libraries. RECORDED, a JSON file of outputs a real runtime gave for the golden inputs
 * ({@link Recorded}), is judged by the app's own rule ({@link SelfCheck#forBundle}). Prints one
 * line, {@code SELFTEST PASS ...} (exit 0) or {@code SELFTEST FAIL <reason>} (exit 1); bad usage
 * exits 2.
 */
public final class SelfTest {
    private SelfTest() {
    }

    public static void main(String[] args) {
        if (args.length != 1 && args.length != 2) {
            System.err.println("usage: SelfTest ASSETS [RECORDED]   (a folder written by prelnedge bundle --platform android;"
                    + " outputs a runtime recorded for its golden inputs)");
            System.exit(2);
        }
        File dir = new File(args[0]);
        String result;
        try {
            result = check(dir, args.length == 2 ? new File(args[1]) : null);
        } catch (Exception ex) {
            result = "FAIL " + ex;
        }
        System.out.println("SELFTEST " + result);
        System.exit(result.startsWith("PASS") ? 0 : 1);
    }

    static String check(File dir, File recordedFile) throws IOException {
        if (!dir.isDirectory()) {
            return "FAIL " + dir + " is not a folder";
        }
        AssetSource files = AssetSource.folder(dir);
        ModelBundle bundle = ModelBundle.load(files);
        File model = new File(dir, bundle.modelFile);
        String modelProblem = checkFlatbuffer(model, bundle.runtime);
        if (modelProblem != null) {
            return "FAIL " + modelProblem;
        }
        SelfCheck.Report report = SelfCheck.replay(bundle.golden, bundle.pipeline);
        if (!report.passed) {
            return "FAIL " + report.failure;
        }
        String ran = "not run on the JVM";
        SelfCheck.Report recordedReport = null;
        if (recordedFile != null) {
            Recorded recorded = new Recorded(AssetSource.folder(recordedFile.getAbsoluteFile().getParentFile())
                    .read(recordedFile.getName()));
            recordedReport = SelfCheck.forBundle(bundle, bundle.unpaddedOnly() ? new RowByRow(recorded, bundle) : recorded);
            if (!recordedReport.passed) {
                return "FAIL with outputs recorded by " + recorded.runtime + ": " + recordedReport.failure;
            }
            ran = "outputs recorded by " + recorded.runtime + String.format(java.util.Locale.ROOT,
                    ", worst error %.2g of peak", recordedReport.worstOutputError)
                    + (bundle.quantized() ? String.format(java.util.Locale.ROOT, ", min SQNR %.1f dB (floor %.1f dB)",
                    recordedReport.worstSqnrDb, bundle.minSqnrDb) : "");
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
                    files.read("merges.txt"), RobertaTokenizer.configPrefixSpace(files), bundle.maxTokens);
            Pipeline other = new Pipeline(bundle.spec, plain, bundle.labels);
            SelfCheck.Report second = SelfCheck.replay(bundle.golden, other);
            if (!second.passed) {
                return "FAIL with vocab.json + merges.txt: " + second.failure;
            }
            sources += ",vocab.json+merges.txt";
        }
        StringBuilder line = new StringBuilder("PASS ").append((recordedReport != null ? recordedReport : report).summary())
                .append(" task=").append(bundle.task)
                .append(" runtime=").append(bundle.runtime)
                .append(" tokenizer=").append(sources)
                .append(" model=").append(model.getName()).append(":").append(model.length()).append("B(").append(ran).append(")");
        for (String note : report.notes) {
            line.append(" | ").append(note);
        }
        return line.toString();
    }

    /**
     * Both formats are flatbuffers with a file identifier at bytes 4..7: "TFL3" for .tflite, "ORTM"
     * for ONNX Runtime's .ort (onnxruntime/core/flatbuffers/schema/ort.fbs).
     */
    static String checkFlatbuffer(File model, String runtime) throws IOException {
        if (!model.isFile()) {
            return "the bundle has no " + model.getName();
        }
        byte[] head = new byte[8];
        int n;
        try (InputStream in = new FileInputStream(model)) {
            n = in.read(head);
        }
        boolean litert = runtime.equals(ModelBundle.LITERT);
        String id = litert ? "TFL3" : "ORTM";
        if (n < 8 || !new String(head, 4, 4, "ISO-8859-1").equals(id)) {
            return model.getName() + " is not a" + (litert ? " TFLite" : "n ONNX Runtime (ORT format)")
                    + " flatbuffer (no " + id + " identifier)";
        }
        return null;
    }
}
