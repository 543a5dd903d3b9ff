// The demo page: loads the bundle (manifest.json, golden.json, tokenizer.json, the ONNX model),
// shows the form for the bundle's task, and runs the self-test when the URL has ?selftest=1.
// Everything task-specific comes from manifest.json "spec" (prelnedge/bundle/runtime_spec.py): the
// form gets one input per request field of the spec (named as the spec names it, laid out by its
// role), results are shown by head kind, decode numbers come from spec.decode.

import { Tokenizer } from './tokenizer.js';
import { loadModel, RUNTIME_NAMES } from './runner.js';
import { runTask } from './postprocess.js';
import { selfTest } from './selftest.js';
import { generateIds } from './generate.js';

const root = new URL('../', import.meta.url); // the bundle folder
const $ = (id) => document.getElementById(id);

// A lone text field's label, by head kind (a causal lm continues its text instead)
const TEXT_LABELS = {
  lm: 'Text with <mask> where a word is missing',
  sequence: 'Text to classify',
  token: 'Text to tag',
  features: 'Text to embed',
};
const CAUSAL_TEXT_LABEL = 'Text to continue';
const BUTTON_TEXT = { span: 'Find the answer', choice: 'Choose' }; // by head kind; else Run

async function fetchJson(name) {
  const response = await fetch(new URL(name, root));
  if (!response.ok) throw new Error(`cannot load ${name}: HTTP ${response.status}`);
  return response.json();
}

function setStatus(state, text) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function labelsFrom(golden, config) {
  if (golden.labels && golden.labels.length) return golden.labels;
  const id2label = config.id2label ?? {};
  return Object.keys(id2label).sort((a, b) => a - b).map((k) => id2label[k]);
}

const capitalised = (name) => name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, ' ');

// One labelled input per request field of the spec, before the form's buttons; each input's id is the
// field's name. A "strings" field (rows) is a textarea with one item per line; a first text paired
// with others is one line.
function buildForm(spec) {
  const form = $('request-form');
  const alone = spec.request.length === 1;
  for (const field of spec.request) {
    const label = document.createElement('label');
    label.htmlFor = field.name;
    label.id = `${field.name}-label`;
    label.textContent = alone ? (spec.causal ? CAUSAL_TEXT_LABEL : TEXT_LABELS[spec.head_kind]) ?? 'Text'
      : field.type === 'strings' ? `${capitalised(field.name)}, one per line` : capitalised(field.name);
    const oneLine = field.role === 'first' && !alone;
    const input = document.createElement(oneLine ? 'input' : 'textarea');
    input.id = input.name = field.name;
    if (oneLine) Object.assign(input, { type: 'text', autocomplete: 'off' });
    else input.rows = field.role === 'second' ? 6 : 4;
    form.insertBefore(label, $('run'));
    form.insertBefore(input, $('run'));
  }
  $('run').textContent = BUTTON_TEXT[spec.head_kind] ?? 'Run';
  return form;
}

function prefill(spec, example) {
  if (!example) return;
  for (const field of spec.request) {
    const value = example[field.name] ?? (field.type === 'strings' ? [] : '');
    $(field.name).value = field.type === 'strings' ? value.join('\n') : value;
  }
}

function request(spec) {
  return Object.fromEntries(spec.request.map((field) => {
    const value = $(field.name).value;
    return [field.name, field.type === 'strings' ? value.split('\n').map((c) => c.trim()).filter(Boolean) : value];
  }));
}

const pct = (p) => `${(100 * p).toFixed(2)}%`;

function table(headers, rows) {
  const t = document.createElement('table');
  const head = t.createTHead().insertRow();
  for (const h of headers) head.appendChild(document.createElement('th')).textContent = h;
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const cell of r) tr.insertCell().textContent = cell;
  }
  return t;
}

function render(spec, result) {
  const answer = $('answer'), detail = $('answer-detail'), box = $('result');
  box.replaceChildren();
  $('json').textContent = JSON.stringify(result, null, 2);
  const kind = spec.head_kind === 'lm' && spec.causal ? 'next-token' : spec.head_kind;
  switch (kind) {
    case 'span':
      answer.textContent = result.answer;
      detail.textContent = `score ${pct(result.score)} · characters ${result.start}–${result.end} · window ${result.window + 1} of ${result.windows}`;
      break;
    case 'sequence':
      answer.textContent = result.label;
      detail.textContent = `score ${pct(result.score)}`;
      break;
    case 'token':
      answer.textContent = result.map((t) => `${t.token}/${t.label}`).join(' ');
      detail.textContent = `${result.length} tokens`;
      box.appendChild(table(['token', 'label', 'score'], result.map((t) => [JSON.stringify(t.token), t.label, pct(t.score)])));
      break;
    case 'lm':
      answer.textContent = result.map((m) => m.candidates[0].token).join(' | ');
      detail.textContent = `${result.length} mask${result.length === 1 ? '' : 's'}`;
      for (const m of result) {
        box.appendChild(table([`position ${m.position}`, 'id', 'score'], m.candidates.map((c) => [JSON.stringify(c.token), c.id, pct(c.score)])));
      }
      break;
    case 'next-token':
      answer.textContent = result[0].token;
      detail.textContent = 'most likely next tokens';
      box.appendChild(table(['token', 'id', 'score'], result.map((c) => [JSON.stringify(c.token), c.id, pct(c.score)])));
      break;
    case 'choice':
      answer.textContent = result.choice;
      detail.textContent = `option ${result.index + 1}`;
      box.appendChild(table(['option', 'score'], result.scores.map((s, i) => [i + 1, pct(s)])));
      break;
    default:
      answer.textContent = `${result.tokens} tokens, |pooler_output| = ${result.pooler_output_norm.toFixed(4)}`;
      detail.textContent = `pooler_output[:4] = ${result.pooler_output_head.join(', ')}`;
  }
}

// Causal LM: Generate continues the text greedily, streaming each token into the answer as it comes.
function wireGenerate(spec, model, tok, golden) {
  const newTokens = spec.decode.generate_tokens; // per click of Generate
  const button = $('generate');
  button.hidden = false;
  button.addEventListener('click', async () => {
    const output = $('output');
    const text = $(spec.request[0].name).value; // a causal lm's one text
    output.dataset.state = 'running';
    button.disabled = true;
    const newIds = [];
    try {
      const enc = tok.encodeCausal(text);
      const maxTokens = golden.max_tokens ?? tok.maxTokens;
      const result = await generateIds(model, enc.ids, {
        maxNewTokens: newTokens, eosId: tok.eosId, maxTokens,
        onToken: (id) => { newIds.push(id); $('answer').textContent = text + tok.decode(newIds); },
      });
      const stops = { eos: '</s>', 'max-new-tokens': `${newTokens} new tokens`, limit: `the model's limit of ${maxTokens} tokens` };
      $('answer-detail').textContent = `${result.newIds.length} tokens, ${result.cached ? 'with the key/value cache' : 'recomputed per token'}; stopped at ${stops[result.stop]}`;
      $('json').textContent = JSON.stringify({ text: tok.decode(result.newIds), new_ids: result.newIds, stop: result.stop, cached: result.cached });
      output.dataset.state = 'done';
    } catch (err) {
      $('answer').textContent = err.message;
      output.dataset.state = 'error';
    } finally {
      button.disabled = false;
    }
  });
}

async function main() {
  // index.html's inline script has already said that a file:// page must be served over HTTP
  if (location.protocol === 'file:') return;
  const params = new URLSearchParams(location.search);
  const [manifest, golden, tokenizerJson, config] = await Promise.all(
    ['manifest.json', 'golden.json', 'tokenizer.json', 'config.json'].map(fetchJson));
  const spec = manifest.spec;
  if (!spec?.head_kind || !spec.rule || !spec.decode) {
    throw new Error(`manifest.json has no task spec (format ${manifest.format}); bundle the export again with a current prelnedge`);
  }
  const task = spec.task;
  const modelFile = manifest.bundle?.model ?? 'onnx/model.onnx';
  const quantized = Boolean(manifest.quantization);
  const labels = labelsFrom(golden, config);
  const tok = new Tokenizer(tokenizerJson, golden.max_tokens ?? manifest.io?.max_tokens);
  $('task-name').textContent = task;
  $('model-info').textContent = `${modelFile}${quantized ? ` (${manifest.quantization.mode ?? 'quantized'})` : ''}, ` +
    `run in this page by ${RUNTIME_NAMES[manifest.target] ?? manifest.target}. Nothing leaves the browser.`;

  const model = await loadModel(manifest, new URL(modelFile, root).href, root);

  const form = buildForm(spec);
  form.hidden = false;
  prefill(spec, golden.examples?.[0]);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const output = $('output');
    output.dataset.state = 'running';
    try {
      render(spec, await runTask(spec, model, tok, labels, request(spec)));
      output.dataset.state = 'done';
    } catch (err) {
      $('answer').textContent = err.message;
      $('answer-detail').textContent = '';
      output.dataset.state = 'error';
    }
  });

  if (spec.causal) wireGenerate(spec, model, tok, golden);

  const runSelfTest = async () => {
    const line = $('selftest');
    line.dataset.state = 'running';
    line.textContent = 'running…';
    // judged by the rule prelnedge wrote into the manifest (spec.rule), as the Android app judges
    const result = await selfTest({ model, tok, golden, spec, labels });
    line.textContent = result.line;
    line.dataset.state = result.pass ? 'pass' : 'fail';
    console.log(result.line);
  };
  $('selftest-button').disabled = false;
  $('selftest-button').addEventListener('click', runSelfTest);
  setStatus('ready', `Ready: ${task}, ${tok.vocabSize} tokens in the vocabulary.`);
  if (params.get('selftest') === '1') await runSelfTest();
}

main().catch((err) => {
  setStatus('error', `Cannot start: ${err.message}`);
  $('selftest').textContent = `SELFTEST FAIL cannot start: ${err.message}`;
  $('selftest').dataset.state = 'fail';
  console.error(err);
});
