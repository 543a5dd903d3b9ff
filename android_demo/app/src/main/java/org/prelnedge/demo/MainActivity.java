package org.prelnedge.demo;

import android.app.Activity;
import android.graphics.Color;
import android.os.SystemClock;
import android.view.View;
import android.widget.Button;
import android.widget.EditText;
import android.widget.TextView;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

import org.prelnedge.core.Json;
import org.prelnedge.core.ModelBundle;
import org.prelnedge.core.Pipeline;
import org.prelnedge.core.RowByRow;
import org.prelnedge.core.SelfCheck;

/**
 * Loads the bundle in assets, runs the golden self-check with the real model on start, then answers
 * requests typed into two fields: question + context (qa), text (classification, tagging, fill-mask,
 * next token, features) or prompt + one choice per line (multiple-choice).
 */
public final class MainActivity extends Activity {
    private final ExecutorService worker = Executors.newSingleThreadExecutor();
    private ModelBundle bundle;
    private DeviceModel model;
    private Pipeline.Model runner; // the model, or row by row for models that cannot take padding

    private TextView taskView;
    private TextView selfCheckView;
    private TextView firstLabel;
    private TextView secondLabel;
    private EditText first;
    private EditText second;
    private Button runButton;
    private TextView resultView;

    @Override
    protected void onCreate(android.os.Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        taskView = findViewById(R.id.task);
        selfCheckView = findViewById(R.id.selfcheck);
        firstLabel = findViewById(R.id.first_label);
        secondLabel = findViewById(R.id.second_label);
        first = findViewById(R.id.first);
        second = findViewById(R.id.second);
        runButton = findViewById(R.id.run);
        resultView = findViewById(R.id.result);
        runButton.setOnClickListener(v -> runRequest());
        worker.execute(this::load);
    }

    @Override
    protected void onDestroy() {
        worker.shutdownNow();
        if (model != null) {
            model.close();
        }
        super.onDestroy();
    }

    /** Worker thread: bundle, interpreter, self-check. */
    private void load() {
        try {
            ModelBundle loaded = ModelBundle.load(new AssetFiles(getAssets()));
            DeviceModel device = DeviceModel.open(getAssets(), loaded); // LiteRT or ONNX Runtime
            Pipeline.Model rows = loaded.unpaddedOnly() ? new RowByRow(device, loaded) : device;
            // A quantized model need not match the float reference's numbers or answers: each output's
            // SQNR against them must reach the floor the bundle carries, as on the web page.
            boolean quantized = loaded.quantized();
            long start = SystemClock.elapsedRealtime();
            SelfCheck.Report report = SelfCheck.forBundle(loaded, rows);
            long millis = SystemClock.elapsedRealtime() - start;
            runOnUiThread(() -> showLoaded(loaded, device, rows, report, quantized, millis));
        } catch (Exception | LinkageError e) {
            runOnUiThread(() -> {
                selfCheckView.setText(getString(R.string.no_bundle, String.valueOf(e)));
                selfCheckView.setTextColor(Color.rgb(0xB0, 0x00, 0x20));
            });
        }
    }

    private void showLoaded(ModelBundle loaded, DeviceModel device, Pipeline.Model rows, SelfCheck.Report report,
                            boolean quantized, long millis) {
        bundle = loaded;
        model = device;
        runner = rows;
        taskView.setText(String.format(Locale.ROOT, "Task: %s · max %d tokens · %s%s", loaded.task, loaded.maxTokens,
                loaded.runtime, quantized ? " · quantized" : ""));
        String error = quantized
                ? String.format(Locale.ROOT, "min SQNR %.1f dB, floor %.1f dB", report.worstSqnrDb, loaded.minSqnrDb)
                : String.format(Locale.ROOT, "worst output error %.2g of peak", report.worstOutputError);
        if (report.passed) {
            selfCheckView.setText("Golden self-check PASS (" + report.summary() + ", " + error + ", " + millis + " ms)");
            selfCheckView.setTextColor(Color.rgb(0x1B, 0x5E, 0x20));
        } else {
            selfCheckView.setText("Golden self-check FAIL: " + report.failure);
            selfCheckView.setTextColor(Color.rgb(0xB0, 0x00, 0x20));
        }
        configureFields(loaded);
        runButton.setEnabled(true);
    }

    /** Labels and example values for the task's two fields, filled from the first golden example. */
    private void configureFields(ModelBundle loaded) {
        Map<String, Object> example = loaded.golden.examples.isEmpty()
                ? new LinkedHashMap<String, Object>() : loaded.golden.examples.get(0).request;
        if (loaded.task.equals("qa")) {
            setFields("Question", str(example.get("question")), "Context", str(example.get("context")));
        } else if (loaded.task.equals("multiple-choice")) {
            List<String> choices = new ArrayList<>();
            if (example.get("choices") instanceof List) {
                for (Object choice : (List<?>) example.get("choices")) {
                    choices.add(String.valueOf(choice));
                }
            }
            setFields("Prompt", str(example.get("prompt")), "Choices, one per line", join(choices));
        } else {
            String hint = loaded.task.equals("masked-lm") ? "Text with <mask>" : "Text";
            setFields(hint, str(example.get("text")), null, null);
        }
    }

    private void setFields(String firstName, String firstValue, String secondName, String secondValue) {
        firstLabel.setText(firstName);
        first.setText(firstValue);
        boolean two = secondName != null;
        secondLabel.setVisibility(two ? View.VISIBLE : View.GONE);
        second.setVisibility(two ? View.VISIBLE : View.GONE);
        if (two) {
            secondLabel.setText(secondName);
            second.setText(secondValue);
        }
    }

    private void runRequest() {
        if (bundle == null) {
            return;
        }
        final Map<String, Object> request = new LinkedHashMap<>();
        String a = first.getText().toString();
        String b = second.getText().toString();
        if (bundle.task.equals("qa")) {
            request.put("question", a);
            request.put("context", b);
        } else if (bundle.task.equals("multiple-choice")) {
            request.put("prompt", a);
            List<Object> choices = new ArrayList<>();
            for (String line : b.split("\n")) {
                if (!line.trim().isEmpty()) {
                    choices.add(line.trim());
                }
            }
            request.put("choices", choices);
        } else {
            request.put("text", a);
        }
        runButton.setEnabled(false);
        resultView.setText(R.string.running);
        final ModelBundle current = bundle;
        final Pipeline.Model currentModel = runner;
        worker.execute(() -> {
            String text;
            try {
                long start = SystemClock.elapsedRealtime();
                Object result = current.pipeline.run(request, currentModel);
                long millis = SystemClock.elapsedRealtime() - start;
                text = describe(current.task, result) + "\n\n" + Json.write(result) + "\n\n" + millis + " ms";
            } catch (Exception e) {
                text = "Error: " + e.getMessage();
            }
            final String shown = text;
            runOnUiThread(() -> {
                resultView.setText(shown);
                runButton.setEnabled(true);
            });
        });
    }

    /** One readable line for the result; the JSON below it has everything. */
    @SuppressWarnings("unchecked")
    static String describe(String task, Object result) {
        if (result instanceof Map) {
            Map<String, Object> map = (Map<String, Object>) result;
            if (task.equals("qa")) {
                return String.format(Locale.ROOT, "Answer: \"%s\" (score %.3f)", map.get("answer"), num(map.get("score")));
            }
            if (task.equals("sequence-classification")) {
                return String.format(Locale.ROOT, "%s (%.3f)", map.get("label"), num(map.get("score")));
            }
            if (task.equals("multiple-choice")) {
                return "Choice: " + map.get("choice");
            }
            return "Pooled feature norm: " + map.get("pooler_output_norm");
        }
        List<String> lines = new ArrayList<>();
        for (Object item : (List<Object>) result) {
            Map<String, Object> map = (Map<String, Object>) item;
            if (task.equals("token-classification")) {
                lines.add(map.get("token") + " → " + map.get("label"));
            } else if (task.equals("masked-lm")) {
                List<String> tokens = new ArrayList<>();
                for (Object candidate : (List<Object>) map.get("candidates")) {
                    tokens.add("\"" + ((Map<String, Object>) candidate).get("token") + "\"");
                }
                lines.add("<mask> at " + map.get("position") + ": " + tokens);
            } else {
                lines.add(String.format(Locale.ROOT, "\"%s\" %.3f", map.get("token"), num(map.get("score"))));
            }
        }
        return join(lines);
    }

    private static double num(Object value) {
        return value instanceof Number ? ((Number) value).doubleValue() : Double.NaN;
    }

    private static String str(Object value) {
        return value == null ? "" : String.valueOf(value);
    }

    private static String join(List<String> lines) {
        StringBuilder out = new StringBuilder();
        for (String line : lines) {
            out.append(out.length() == 0 ? "" : "\n").append(line);
        }
        return out.toString();
    }
}
