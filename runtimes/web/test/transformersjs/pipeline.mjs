// Run transformers.js pipelines on prelnedge web bundles, as a user of the library would: local
// files only, each bundle folder given by name under one parent folder.
//   node pipeline.mjs JOB.json > RESULT.json
// JOB: {"root": "/parent/of/bundles",
//       "runs": [{"pipeline": "question-answering", "model": "qa", "args": [question, context],
//                 "options"?: {...call options}, "load"?: {...pipeline options, e.g. {"dtype": "fp32"}}}]}
// RESULT: one entry per run: the pipeline's output (a Tensor becomes {"dims", "data"}), or
// {"error": message}.
import { readFileSync } from 'node:fs';
import { env, pipeline } from '@huggingface/transformers';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
env.allowRemoteModels = false; // nothing from the Hub: the bundle must be complete
env.localModelPath = job.root.endsWith('/') ? job.root : `${job.root}/`;
env.useBrowserCache = false;

const plain = (value) => (value && value.dims && value.data
  ? { dims: value.dims, data: Array.from(value.data, Number) } : value);

const results = [];
for (const run of job.runs) {
  try {
    const pipe = await pipeline(run.pipeline, run.model, run.load ?? {});
    results.push(plain(await pipe(...run.args, run.options ?? {})));
    await pipe.dispose();
  } catch (err) {
    results.push({ error: String(err?.message ?? err) });
  }
}
process.stdout.write(JSON.stringify(results));
