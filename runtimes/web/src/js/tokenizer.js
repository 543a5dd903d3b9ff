// RoBERTa byte-level BPE, read from a Hugging Face tokenizer.json, mirroring what the Rust
// `tokenizers` library (and so prelnedge/runtime/tokenizer.py) produces: same ids, same offsets.
//
// Pipeline, in the library's order:
//   1. added tokens (<s>, </s>, <mask>, ...) are cut out of the raw text first, leftmost-longest,
//      honouring lstrip / rstrip / single_word (RoBERTa's <mask> has lstrip: "a <mask>" gives
//      "a" + " <mask>");
//   2. the GPT-2 pre-tokenizer regex splits the rest into words;
//   3. each word's UTF-8 bytes become printable characters (the byte-to-unicode map) and BPE
//      merges them by rank;
//   4. truncation (pairs: only the second text), then the template <s> A </s></s> B </s>, with
//      offsets trimmed of the leading/trailing spaces a token carries.
//
// OFFSETS ARE UTF-16 CODE UNITS here (what String.prototype.slice takes), whereas Python reports
// code points. They differ only after a character outside the BMP (emoji, rare CJK). Use
// `toCodePointOffsets` to compare with Python's numbers (golden.json stores code points).

export class TokenizerError extends Error {
  constructor(message) {
    super(message);
    this.name = 'TokenizerError';
  }
}

// Unicode White_Space: what Rust's char::is_whitespace and Oniguruma's \s (the regex engine of
// `tokenizers`) both match. JavaScript's \s differs (it adds U+FEFF, lacks U+0085), so it is
// never used below.
const WS = '\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const IS_WS = new RegExp(`^[${WS}]$`, 'u');
// The GPT-2 split (tokenizers' ByteLevel pre-tokenizer with use_regex = true).
const GPT2_SPLIT = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`, 'gu');
// Rust regex's Unicode \w, for single_word added tokens.
const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;

// GPT-2's byte-to-unicode table: printable bytes stand for themselves, the other 68 bytes are
// shifted to U+0100.. so that every byte is a visible character (a space becomes 'Ġ').
const BYTE_TO_CHAR = (() => {
  const table = new Array(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + shifted++);
  }
  return table;
})();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));
const SPACE_CHAR = BYTE_TO_CHAR[0x20];

const utf8 = new TextEncoder();
// ignoreBOM keeps a decoded U+FEFF, as Rust's String::from_utf8_lossy does.
const utf8Lossy = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Bytes in the UTF-8 sequence a lead byte starts; 0 when it cannot start one.
function utf8SequenceLength(lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  return lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
}

// The character the bytes encode, or null when they are not one well-formed UTF-8 character.
function strictUtf8(bytes) {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return null;
  }
}

function isWhitespace(ch) {
  return IS_WS.test(ch);
}

// UTF-16 index where the run of whitespace ending at `end` starts (lstrip).
function whitespaceRunStart(text, from, end) {
  let i = end;
  while (i > from) {
    const cp = text.codePointAt(i - 1);
    const prev = (cp >= 0xdc00 && cp <= 0xdfff && i - 2 >= from) ? i - 2 : i - 1;
    if (!isWhitespace(String.fromCodePoint(text.codePointAt(prev)))) break;
    i = prev;
  }
  return i;
}

// UTF-16 index where the run of whitespace starting at `start` ends (rstrip).
function whitespaceRunEnd(text, start) {
  let i = start;
  while (i < text.length) {
    const ch = String.fromCodePoint(text.codePointAt(i));
    if (!isWhitespace(ch)) break;
    i += ch.length;
  }
  return i;
}

function lastChar(text) {
  if (!text) return '';
  const chars = Array.from(text.slice(-2));
  return chars[chars.length - 1];
}

/** Convert UTF-16 [start, end) offsets into code-point offsets (Python str indices) of `text`. */
export function toCodePointOffsets(text, offsets) {
  const cpIndex = new Int32Array(text.length + 1); // UTF-16 index -> code points before it
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    cpIndex[i] = count;
    const c = text.charCodeAt(i);
    // the low half of a surrogate pair counts with its high half
    if (!(c >= 0xdc00 && c <= 0xdfff && i > 0 && text.charCodeAt(i - 1) >= 0xd800 && text.charCodeAt(i - 1) <= 0xdbff)) count++;
    else cpIndex[i] = count - 1;
  }
  cpIndex[text.length] = count;
  return offsets.map(([a, b]) => [cpIndex[a], cpIndex[b]]);
}

export class Tokenizer {
  /**
   * @param {object} json      parsed tokenizer.json
   * @param {number} maxTokens the model's limit (golden.json max_tokens), used when encode() gets none
   */
  constructor(json, maxTokens) {
    this.maxTokens = maxTokens;
    const model = json.model ?? {};
    if (model.type !== 'BPE') throw new TokenizerError(`tokenizer model ${model.type} is not supported; expected BPE`);
    for (const key of ['continuing_subword_prefix', 'end_of_word_suffix', 'dropout']) {
      if (model[key] != null) throw new TokenizerError(`BPE option ${key}=${model[key]} is not supported`);
    }
    if (json.normalizer != null) throw new TokenizerError(`normalizer ${json.normalizer.type} is not supported`);
    const pre = json.pre_tokenizer;
    if (!pre || pre.type !== 'ByteLevel' || pre.use_regex === false) {
      throw new TokenizerError('only the RoBERTa pre-tokenizer (ByteLevel, use_regex true) is supported');
    }
    // add_prefix_space: each text (each piece between added tokens) not starting with ' ' gets one,
    // so a text's first word is tokenized as it would be inside a text (" Leeds", not "Leeds")
    this.prefixSpace = Boolean(pre.add_prefix_space);
    this.vocab = new Map(Object.entries(model.vocab));
    this.idToToken = [];
    for (const [token, id] of this.vocab) this.idToToken[id] = token;
    this.ignoreMerges = Boolean(model.ignore_merges);
    this.unkId = model.unk_token != null ? this.vocab.get(model.unk_token) : undefined;
    this.fuseUnk = Boolean(model.fuse_unk);
    // (left id, right id) -> [rank, merged id]
    this.merges = new Map();
    model.merges.forEach((merge, rank) => {
      const [a, b] = typeof merge === 'string' ? merge.split(' ') : merge;
      const left = this.vocab.get(a), right = this.vocab.get(b), merged = this.vocab.get(a + b);
      if (left === undefined || right === undefined || merged === undefined) {
        throw new TokenizerError(`merge "${a} ${b}" uses tokens missing from the vocabulary`);
      }
      this.merges.set(pairKey(left, right), [rank, merged]);
    });

    this.added = (json.added_tokens ?? []).map((t) => ({
      id: t.id, content: t.content, special: Boolean(t.special), lstrip: Boolean(t.lstrip),
      rstrip: Boolean(t.rstrip), singleWord: Boolean(t.single_word), normalized: Boolean(t.normalized),
    }));
    for (const t of this.added) this.idToToken[t.id] = t.content;
    this.addedById = new Map(this.added.map((t) => [t.id, t]));
    // Sorted longest first, so the first that matches at a position is the longest (leftmost-longest).
    const byLength = (list) => [...list].sort((x, y) => y.content.length - x.content.length);
    this.rawAdded = byLength(this.added.filter((t) => !t.normalized && t.content));
    this.normalizedAdded = byLength(this.added.filter((t) => t.normalized && t.content));

    const post = json.post_processor;
    if (post == null) {
      this.template = null;
      this.trimOffsets = false;
    } else if (post.type === 'RobertaProcessing') {
      this.template = { cls: post.cls[1], sep: post.sep[1] };
      this.trimOffsets = post.trim_offsets !== false;
    } else if (post.type === 'ByteLevel') {
      this.template = null;
      this.trimOffsets = post.trim_offsets !== false;
    } else {
      throw new TokenizerError(`post-processor ${post.type} is not supported; expected RobertaProcessing`);
    }
    // the post-processor's add_prefix_space keeps one leading space in a sequence's first token's span
    this.postPrefixSpace = Boolean(post && post.add_prefix_space);
    this.padId = this.tokenToId('<pad>') ?? 1;
    this.bosId = this.tokenToId('<s>');
    this.eosId = this.tokenToId('</s>');
    this.maskId = this.tokenToId('<mask>');
    this.cache = new Map();
  }

  /** Fetch tokenizer.json relative to `base` (a URL) or read a parsed object. */
  static async load(url, maxTokens) {
    const response = await fetch(url);
    if (!response.ok) throw new TokenizerError(`cannot fetch ${url}: HTTP ${response.status}`);
    return new Tokenizer(await response.json(), maxTokens);
  }

  /** Ids in use: the model's vocabulary and the added tokens. */
  get vocabSize() {
    return this.idToToken.length;
  }

  tokenToId(token) {
    const added = this.added.find((t) => t.content === token);
    if (added) return added.id;
    return this.vocab.get(token);
  }

  idToTokenString(id) {
    return this.idToToken[id];
  }

  /**
   * Encode a text or a (text, pair), truncated to maxTokens (pairs lose the tail of the pair).
   * Returns {ids, offsets (UTF-16, [start, end) into the text the token came from), sequenceIds
   * (0, 1, or null for special tokens)}.
   */
  encode(text, pair = null, { maxTokens = this.maxTokens, addSpecialTokens = true } = {}) {
    const first = this.encodeSequence(text);
    const second = pair == null ? null : this.encodeSequence(pair);
    const added = addSpecialTokens && this.template ? (second ? 4 : 2) : 0;
    const total = first.length + (second ? second.length : 0) + added;
    if (maxTokens != null && total > maxTokens) {
      const remove = total - maxTokens;
      if (second) {
        // tokenizers' "only_second": the pair must keep at least one token
        if (second.length <= remove) {
          throw new TokenizerError(`cannot encode input within ${maxTokens} tokens: the first text is too long`);
        }
        second.length -= remove;
      } else {
        if (first.length < remove) throw new TokenizerError(`cannot encode input within ${maxTokens} tokens`);
        first.length -= remove;
      }
    }
    return this.assemble(first, second, addSpecialTokens);
  }

  /**
   * QA input for a context of any length, as prelnedge.runtime.tokenizer.encode_windows: consecutive
   * windows `<s> question </s></s> window </s>` of the context, each sharing `stride` tokens with
   * the previous one (default a quarter of the limit).
   */
  encodeWindows(question, context, stride = null) {
    const limit = this.maxTokens;
    stride = stride == null ? Math.floor(limit / 4) : stride;
    if (stride < 0) throw new TokenizerError(`stride must be 0 or more; got ${stride}`);
    const q = this.encodeSequence(question);
    const room = limit - q.length - (this.template ? 4 : 0);
    if (room <= 0) throw new TokenizerError(`the question alone fills the model's ${limit} tokens; shorten it`);
    if (stride >= room) throw new TokenizerError(`stride ${stride} must be smaller than the ${room} context tokens a window holds`);
    const c = this.encodeSequence(context);
    if (c.length <= room) return [this.assemble(q, c, true)];
    // tokenizers' Encoding.truncate: windows start every (room - stride) tokens until one reaches the end
    const windows = [];
    for (let start = 0; ; start += room - stride) {
      const stop = Math.min(start + room, c.length);
      windows.push(this.assemble(q, c.slice(start, stop), true));
      if (stop === c.length) break;
    }
    return windows;
  }

  /** Causal LM input: `<s>` + the text's tokens (at most maxTokens - 1), no `</s>`. */
  encodeCausal(text) {
    const enc = this.encode(text, null, { maxTokens: this.maxTokens - 1, addSpecialTokens: false });
    return {
      ids: [this.bosId, ...enc.ids],
      offsets: [[0, 0], ...enc.offsets],
      sequenceIds: [null, ...enc.sequenceIds],
    };
  }

  /** Right-pad encodings to the longest: int64 tensors' data and shape [B, L]. */
  batch(encodings) {
    const length = Math.max(...encodings.map((e) => e.ids.length));
    const ids = new BigInt64Array(encodings.length * length).fill(BigInt(this.padId));
    const mask = new BigInt64Array(encodings.length * length);
    encodings.forEach((e, row) => {
      e.ids.forEach((id, col) => {
        ids[row * length + col] = BigInt(id);
        mask[row * length + col] = 1n;
      });
    });
    return { inputIds: ids, attentionMask: mask, shape: [encodings.length, length] };
  }

  /** Token ids back to text (byte-level decoding; special tokens dropped unless asked). */
  decode(ids, { skipSpecialTokens = true } = {}) {
    return utf8Lossy.decode(this.bytesOf(ids, skipSpecialTokens));
  }

  /**
   * One token as readable text: '' for a special token, and each byte that is only part of a
   * character (byte-level BPE splits them), or an ASCII control character, as '<0xHH>' (not U+FFFD),
   * as the Python runtime does.
   */
  readableToken(id) {
    if (this.decode([id]) === '') return '';
    const bytes = this.bytesOf([id], true);
    let out = '';
    for (let i = 0; i < bytes.length;) {
      const n = utf8SequenceLength(bytes[i]);
      const control = bytes[i] < 0x20 || bytes[i] === 0x7f; // shown as hex too: it would garble a terminal
      const ch = n > 0 && !control && i + n <= bytes.length ? strictUtf8(bytes.subarray(i, i + n)) : null;
      if (ch !== null) {
        out += ch;
        i += n;
      } else {
        out += `<0x${bytes[i].toString(16).toUpperCase().padStart(2, '0')}>`;
        i += 1;
      }
    }
    return out;
  }

  bytesOf(ids, skipSpecialTokens) {
    const bytes = [];
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added && added.special && skipSpecialTokens) continue;
      const token = this.idToToken[id];
      if (token === undefined) continue;
      const mapped = [];
      let ok = true;
      for (const ch of token) {
        const b = CHAR_TO_BYTE.get(ch);
        if (b === undefined) { ok = false; break; }
        mapped.push(b);
      }
      // tokenizers keeps a token's own UTF-8 when it is not made of byte characters
      bytes.push(...(ok ? mapped : utf8.encode(token)));
    }
    return new Uint8Array(bytes);
  }

  // ---- internals ---------------------------------------------------------------------------

  // One text -> [{id, token, start, end}], before truncation and the template.
  encodeSequence(text) {
    const tokens = [];
    for (const piece of this.splitAdded(text, 0, text.length, this.rawAdded)) {
      if (piece.added) {
        tokens.push(addedToken(text, piece));
        continue;
      }
      for (const inner of this.splitAdded(text, piece.start, piece.end, this.normalizedAdded)) {
        if (inner.added) {
          tokens.push(addedToken(text, inner));
        } else {
          this.tokenizePlain(text, inner.start, inner.end, tokens);
        }
      }
    }
    return tokens;
  }

  // Cut added tokens out of text[from, to): pieces {start, end, added|null} covering the range.
  splitAdded(text, from, to, candidates) {
    if (candidates.length === 0 || from === to) return [{ start: from, end: to, added: null }];
    // Non-overlapping leftmost-longest matches (as the aho-corasick automaton finds them); a match
    // dropped later by single_word still consumes its characters.
    const matches = [];
    for (let i = from; i < to;) {
      const hit = candidates.find((t) => i + t.content.length <= to && text.startsWith(t.content, i));
      if (hit) {
        matches.push({ start: i, end: i + hit.content.length, added: hit });
        i += hit.content.length;
      } else {
        i += 1;
      }
    }
    const pieces = [];
    let cursor = from;
    for (const m of matches) {
      let { start, end } = m;
      const t = m.added;
      if (t.singleWord) {
        const before = lastChar(text.slice(from, start));
        const after = end < to ? String.fromCodePoint(text.codePointAt(end)) : '';
        if ((before && WORD_CHAR.test(before)) || (after && WORD_CHAR.test(after))) continue;
      }
      if (t.lstrip) start = Math.max(whitespaceRunStart(text, from, start), cursor);
      if (t.rstrip) end = Math.min(whitespaceRunEnd(text, end), to);
      if (cursor < start) pieces.push({ start: cursor, end: start, added: null });
      pieces.push({ start, end, added: t });
      cursor = end;
    }
    if (cursor < to) pieces.push({ start: cursor, end: to, added: null });
    return pieces;
  }

  // Pre-tokenize text[from, to) and BPE each word; push tokens with absolute UTF-16 offsets.
  tokenizePlain(text, from, to, out) {
    let segment = text.slice(from, to);
    // The added space takes the span of the character it precedes (as tokenizers aligns it).
    const added = this.prefixSpace && segment.length > 0 && segment[0] !== ' ';
    if (added) segment = ` ${segment}`;
    GPT2_SPLIT.lastIndex = 0;
    let cursor = 0;
    const words = [];
    for (const m of segment.matchAll(GPT2_SPLIT)) {
      if (m.index > cursor) words.push([cursor, m.index]); // never happens: the regex covers everything
      words.push([m.index, m.index + m[0].length]);
      cursor = m.index + m[0].length;
    }
    if (cursor < segment.length) words.push([cursor, segment.length]);
    for (const [a, b] of words) this.tokenizeWord(segment, a, b, from, out, added);
  }

  tokenizeWord(segment, a, b, base, out, addedSpace) {
    // byte characters of the word, each remembering the UTF-16 span of the character it came from
    const shift = addedSpace ? 1 : 0; // segment position -> text position
    const firstWidth = addedSpace && segment.codePointAt(1) > 0xffff ? 2 : 1;
    let chars = '';
    const spans = [];
    for (let i = a; i < b;) {
      const cp = segment.codePointAt(i);
      const width = cp > 0xffff ? 2 : 1;
      const span = addedSpace && i === 0 ? [base, base + firstWidth] : [base + i - shift, base + i - shift + width];
      for (const byte of utf8.encode(String.fromCodePoint(cp))) {
        chars += BYTE_TO_CHAR[byte];
        spans.push(span);
      }
      i += width;
    }
    for (const sym of this.bpe(chars)) {
      const token = { id: sym.id, token: chars.slice(sym.start, sym.end), start: spans[sym.start][0], end: spans[sym.end - 1][1] };
      // tokenizers trims offsets in code points: the added space counts as its borrowed character
      if (addedSpace && a === 0 && sym.start === 0) token.addedSpaceUnits = firstWidth;
      out.push(token);
    }
  }

  // BPE over a string of byte characters: [{id, start, end}] in character positions.
  bpe(word) {
    const cached = this.cache.get(word);
    if (cached) return cached;
    let symbols = [];
    if (this.ignoreMerges && this.vocab.has(word)) {
      symbols = [{ id: this.vocab.get(word), start: 0, end: word.length }];
    } else {
      for (let i = 0; i < word.length; i++) {
        const id = this.vocab.get(word[i]);
        if (id !== undefined) {
          symbols.push({ id, start: i, end: i + 1 });
        } else if (this.unkId !== undefined) {
          const last = symbols[symbols.length - 1];
          if (this.fuseUnk && last && last.id === this.unkId && last.end === i) last.end = i + 1;
          else symbols.push({ id: this.unkId, start: i, end: i + 1 });
        } // else: tokenizers drops a character it has no id for
      }
      // Repeatedly merge the lowest-rank adjacent pair, the leftmost on ties: the order in which
      // tokenizers' priority queue (rank, position) applies merges.
      for (;;) {
        let best = -1, bestRank = Infinity, bestId = -1;
        for (let i = 0; i + 1 < symbols.length; i++) {
          const merge = this.merges.get(pairKey(symbols[i].id, symbols[i + 1].id));
          if (merge && merge[0] < bestRank) {
            best = i; bestRank = merge[0]; bestId = merge[1];
          }
        }
        if (best < 0) break;
        symbols.splice(best, 2, { id: bestId, start: symbols[best].start, end: symbols[best + 1].end });
      }
    }
    if (this.cache.size > 50000) this.cache.clear();
    this.cache.set(word, symbols);
    return symbols;
  }

  // Trim offsets, add the template's special tokens: the final encoding.
  assemble(first, second, addSpecialTokens) {
    const ids = [], offsets = [], sequenceIds = [];
    const special = (id) => { ids.push(id); offsets.push([0, 0]); sequenceIds.push(null); };
    const push = (tokens, seq) => {
      for (const [i, t] of tokens.entries()) {
        ids.push(t.id);
        // tokenizers counts a token as first when it leads its sequence or starts at offset 0
        const keepOneSpace = this.postPrefixSpace && (i === 0 || t.start === 0);
        offsets.push(this.trimOffsets ? trimmed(t, keepOneSpace) : [t.start, t.end]);
        sequenceIds.push(seq);
      }
    };
    const template = addSpecialTokens ? this.template : null;
    if (template) special(template.cls);
    push(first, 0);
    if (template) special(template.sep);
    if (second) {
      if (template) special(template.sep);
      push(second, 1);
      if (template) special(template.sep);
    }
    return { ids, offsets, sequenceIds };
  }
}

// An added token's value is the text it matched, stripped whitespace included; offset trimming
// then drops that whitespace from its span (tokenizers gives "a <mask>" the span of "<mask>").
function addedToken(text, piece) {
  return { id: piece.added.id, token: text.slice(piece.start, piece.end), start: piece.start, end: piece.end };
}

function pairKey(a, b) {
  return a * 4194304 + b; // ids < 2^22
}

// tokenizers' byte-level offset trimming: a token's leading/trailing 'Ġ' (spaces) are not part of
// its span. tokenizers counts them in code points: a space of the text is one UTF-16 unit, a space
// the pre-tokenizer added spans the character it precedes (addedSpaceUnits units). keepOneSpace (the
// post-processor's add_prefix_space, on a sequence's first token) keeps one leading space: the added one.
function trimmed({ token, start, end, addedSpaceUnits = 1 }, keepOneSpace = false) {
  const chars = Array.from(token);
  const units = (i) => (i === 0 ? addedSpaceUnits : 1);
  let lead = 0, trail = 0, leadUnits = 0, trailUnits = 0;
  while (lead < chars.length && (chars[lead] === SPACE_CHAR || isWhitespace(chars[lead]))) leadUnits += units(lead++);
  while (trail < chars.length && (chars[chars.length - 1 - trail] === SPACE_CHAR || isWhitespace(chars[chars.length - 1 - trail]))) {
    trailUnits += units(chars.length - 1 - trail++);
  }
  if (keepOneSpace && lead === 1) lead = 0;
  if (lead > 0) start = Math.min(start + leadUnits, end);
  if (trail > 0 && end >= trail) end = Math.max(end - trailUnits, start);
  return [start, end];
}
