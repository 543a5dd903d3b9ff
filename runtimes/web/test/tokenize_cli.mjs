// Tokenizer parity driver: one node process encodes a whole batch.
//   node test/tokenize_cli.mjs REQUEST.json > RESULT.json
// REQUEST: {"tokenizer": "path/to/tokenizer.json", "max_tokens": N,
//           "items": [{"op": "encode", "text": "...", "pair": "..."|null, "max_tokens"?: N,
//                      "add_special_tokens"?: bool}
//                    | {"op": "windows", "question": "...", "context": "...", "stride"?: N}
//                    | {"op": "causal", "text": "..."}
//                    | {"op": "decode", "ids": [...], "skip_special_tokens"?: bool}
//                    | {"op": "readable", "id": N}
//                    | {"op": "word_edges", "context": "..."}]}
// RESULT: one entry per item: {"ids", "offsets" (UTF-16 code units), "sequence_ids"} (windows: a
// list of those), {"text"} for decode and readable, {"can_start", "can_end"} for word_edges (postprocess.js
// wordEdges over the context's tokens in a QA pair after the question "q"), or {"error": message} when
// the tokenizer refused.
import { readFileSync } from 'node:fs';
import { Tokenizer, TokenizerError } from '../src/js/tokenizer.js';
import { wordEdges } from '../src/js/postprocess.js';

const [requestPath] = process.argv.slice(2);
if (!requestPath) {
  console.error('usage: node test/tokenize_cli.mjs REQUEST.json');
  process.exit(2);
}
const request = JSON.parse(readFileSync(requestPath, 'utf8'));
const tok = new Tokenizer(JSON.parse(readFileSync(request.tokenizer, 'utf8')), request.max_tokens);
const plain = (e) => ({ ids: e.ids, offsets: e.offsets, sequence_ids: e.sequenceIds });

const results = request.items.map((item) => {
  try {
    switch (item.op) {
      case 'encode':
        return plain(tok.encode(item.text, item.pair ?? null, {
          maxTokens: item.max_tokens ?? request.max_tokens,
          addSpecialTokens: item.add_special_tokens ?? true,
        }));
      case 'windows':
        return tok.encodeWindows(item.question, item.context, item.stride ?? null).map(plain);
      case 'causal':
        return plain(tok.encodeCausal(item.text));
      case 'decode':
        return { text: tok.decode(item.ids, { skipSpecialTokens: item.skip_special_tokens ?? true }) };
      case 'readable':
        return { text: tok.readableToken(item.id) };
      case 'word_edges': {
        const e = tok.encode('q', item.context, { maxTokens: request.max_tokens });
        const allowed = [];
        e.sequenceIds.forEach((sid, k) => { if (sid === 1) allowed.push(k); });
        const { canStart, canEnd } = wordEdges(item.context, e.offsets, allowed);
        return { can_start: canStart, can_end: canEnd };
      }
      default:
        throw new Error(`unknown op ${item.op}`);
    }
  } catch (err) {
    if (err instanceof TokenizerError) return { error: err.message };
    throw err;
  }
});
process.stdout.write(JSON.stringify(results));
