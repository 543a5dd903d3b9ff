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
import org.prelnedge.core.TaskSpec;

/**
 * Loads the bundle in assets, runs the golden self-check with the real model on start, then answers
 * requests typed into up to two fields, one per request field of the bundle's spec (manifest.json
 * "spec": question + context, text, or prompt + one choice per line); results are described by the
 * spec's head kind. The app keeps no task list of its own.
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
                : String.format(Locale.ROOT, "worst output error %.2g of peak (bound %.2g)", report.worstOutputError,
                loaded.spec.rule.peakRel);
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

    /** Labels and example values for the spec's request fields (one or two), from the first golden example. */
    private void configureFields(ModelBundle loaded) {
        Map<String, Object> example = loaded.golden.examples.isEmpty()
                ? new LinkedHashMap<String, Object>() : loaded.golden.examples.get(0).request;
        List<TaskSpec.Field> fields = loaded.spec.request;
        TaskSpec.Field second = fields.size() > 1 ? fields.get(1) : null;
        setFields(fieldLabel(loaded.spec, fields.get(0)), fieldValue(fields.get(0), example),
                second == null ? null : fieldLabel(loaded.spec, second), second == null ? null : fieldValue(second, example));
    }

    /** "Question", "Context", "Prompt", "Choices, one per line", "Text" ("Text with <mask>" to fill in). */
    private static String fieldLabel(TaskSpec spec, TaskSpec.Field field) {
        String name = Character.toUpperCase(field.name.charAt(0)) + field.name.substring(1);
        if (field.list) {
            return name + ", one per line";
        }
        boolean fillIn = spec.headKind.equals(TaskSpec.LM) && !spec.causal;
        return fillIn ? name + " with <mask>" : name;
    }

    private static String fieldValue(TaskSpec.Field field, Map<String, Object> example) {
        Object value = example.get(field.name);
        if (!field.list) {
            return str(value);
        }
        List<String> items = new ArrayList<>();
        if (value instanceof List) {
            for (Object item : (List<?>) value) {
                items.add(String.valueOf(item));
            }
        }
        return join(items);
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
        List<TaskSpec.Field> fields = bundle.spec.request;
        for (int i = 0; i < fields.size() && i < 2; i++) {
            String typed = (i == 0 ? first : second).getText().toString();
            if (!fields.get(i).list) {
                request.put(fields.get(i).name, typed);
                continue;
            }
            List<Object> items = new ArrayList<>();
            for (String line : typed.split("\n")) {
                if (!line.trim().isEmpty()) {
                    items.add(line.trim());
                }
            }
            request.put(fields.get(i).name, items);
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
                text = describe(current.spec, result) + "\n\n" + Json.write(result) + "\n\n" + millis + " ms";
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

    /** One readable line for the result, by head kind; the JSON below it has everything. */
    @SuppressWarnings("unchecked")
    static String describe(TaskSpec spec, Object result) {
        if (result instanceof Map) {
            Map<String, Object> map = (Map<String, Object>) result;
            switch (spec.headKind) {
                case TaskSpec.SPAN:
                    return String.format(Locale.ROOT, "Answer: \"%s\" (score %.3f)", map.get("answer"), num(map.get("score")));
                case TaskSpec.SEQUENCE:
                    return String.format(Locale.ROOT, "%s (%.3f)", map.get("label"), num(map.get("score")));
                case TaskSpec.CHOICE:
                    return "Choice: " + map.get("choice");
                default:
                    return "Pooled feature norm: " + map.get("pooler_output_norm");
            }
        }
        List<String> lines = new ArrayList<>();
        for (Object item : (List<Object>) result) {
            Map<String, Object> map = (Map<String, Object>) item;
            if (spec.headKind.equals(TaskSpec.TOKEN)) {
                lines.add(map.get("token") + " → " + map.get("label"));
            } else if (spec.headKind.equals(TaskSpec.LM) && !spec.causal) {
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
