// variants.mjs — tokenizer.json files derived from the published ones, to
// exercise components no published file in the oracle uses: the Llama-2
// vocabulary with the non-legacy Metaspace pre-tokenizer and decoder, the
// GPT-2 vocabulary with ByteLevel's prefix space on every piece, and the
// Llama-3 vocabulary behind normalizers (NFKC, NFD, Lowercase, Strip,
// Replace with a regex), every Split behaviour with and without invert,
// Digits, Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, and
// added tokens with single_word / lstrip / rstrip / normalized.
//
//   node variants.mjs MODELS_DIR OUT_DIR     (prints NAME=DIR per variant)
import fs from 'node:fs';

const [models, outDir] = process.argv.slice(2);
const read = (name) => JSON.parse(fs.readFileSync(`${models}/tokenizer-${name}/models/tokenizer.json`, 'utf8'));
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };
const seq = (...p) => ({ type: 'Sequence', pretokenizers: [...p, byteLevel] });
const split = (behavior, invert, pattern = { Regex: '\\s+|[,.;]' }) =>
  ({ type: 'Split', pattern, behavior, invert });
const added = (id, content, o) => ({ id, content, single_word: false, lstrip: false, rstrip: false,
  normalized: false, special: false, ...o });

const variants = {
  'llama2-metaspace': (t) => {
    t.normalizer = null;
    t.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false };
    t.decoder = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false };
  },
  'llama2-metaspace-split': (t) => {
    t.normalizer = { type: 'NFKC' };
    t.pre_tokenizer = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
    t.decoder = { type: 'Sequence', decoders: [{ type: 'Metaspace', replacement: '▁', add_prefix_space: true },
      { type: 'ByteFallback' }] };
  },
  'llama3-normalized': (t) => {
    t.model.ignore_merges = false;
    t.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFKD' }, { type: 'Lowercase' },
      { type: 'Strip', strip_left: true, strip_right: true },
      { type: 'Replace', pattern: { Regex: '[0-9]+' }, content: '#' }, { type: 'NFC' }] };
    t.added_tokens.push(added(128256, 'hello', { single_word: true }), added(128257, ' world', { normalized: true }),
      added(128258, 'ab', { lstrip: true, rstrip: true }));
  },
  'llama3-splits': (t) => {
    t.model.ignore_merges = false;
    t.pre_tokenizer = seq(split('MergedWithPrevious', false), split('Contiguous', true, { String: 'e' }),
      { type: 'Digits', individual_digits: false });
  },
  'llama3-splits2': (t) => {
    t.pre_tokenizer = seq(split('MergedWithNext', false), split('Removed', true, { Regex: '\\p{L}+|\\p{N}' }),
      { type: 'Punctuation', behavior: 'Contiguous' });
  },
  'llama3-whitespace': (t) => {
    t.model.ignore_merges = false;
    t.pre_tokenizer = seq({ type: 'Whitespace' }, { type: 'Digits', individual_digits: true });
  },
  'llama3-bert': (t) => {
    t.pre_tokenizer = seq({ type: 'BertPreTokenizer' });
    t.decoder = { type: 'Sequence', decoders: [{ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      { type: 'Replace', pattern: { String: ' ' }, content: '_' }, { type: 'Strip', content: '_', start: 2, stop: 0 }] };
  },
  'gpt2-prefix': (t) => {
    t.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' },
      { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true }] };
  },
  'llama3-wssplit': (t) => {
    t.pre_tokenizer = seq({ type: 'WhitespaceSplit' }, split('Isolated', false, { String: 'th' }));
  },
};

for (const [name, edit] of Object.entries(variants)) {
  const t = read(name.split('-')[0]);
  edit(t);
  const dir = `${outDir}/${name}`;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(`${dir}/tokenizer.json`, JSON.stringify(t));
  console.log(`${name}=${dir}`);
}
