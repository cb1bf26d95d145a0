// corpus.mjs — a deterministic test corpus for the tokenizer oracle, one line
// per entry (no "\n", no NUL): English prose (license texts, generated
// sentences), lethe's own C sources, numbers, white space runs, accents in NFC
// and NFD, CJK, emoji (ZWJ sequences, flags), combining marks, right-to-left
// and Indic scripts, rare code points, and special tokens' strings in text.
//
//   node corpus.mjs SRC_DIR OUT_FILE [ENGLISH_OUT_FILE [LONG_OUT_FILE]]
//
// ENGLISH_OUT_FILE, when given, receives the English prose lines alone (the
// benchmark's input); LONG_OUT_FILE long lines: every eight lines of the
// corpus joined (3,000 of them), and runs of 10^5 spaces, letters, digits,
// punctuation and CRs (words longer than the BPE's stack buffers).
import fs from 'node:fs';
import path from 'node:path';

const [srcDir, outFile, englishFile, longFile] = process.argv.slice(2);
if (!srcDir || !outFile) {
  console.error('usage: node corpus.mjs SRC_DIR OUT_FILE [ENGLISH_OUT_FILE]');
  process.exit(2);
}

let seed = 0x1e7e;
function rand() { // mulberry32: the same numbers on every machine
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (n) => Math.floor(rand() * n);

const clean = (l) => l.replace(/\n/g, '').replace(/\0/g, '');

// ---- English prose -------------------------------------------------------------
function textFiles(dir, depth, out) {
  let names;
  try { names = fs.readdirSync(dir).sort(); } catch { return out; }
  for (const n of names) {
    const p = path.join(dir, n);
    let st;
    try { st = fs.lstatSync(p); } catch { continue; }
    if (st.isDirectory() && depth > 0) textFiles(p, depth - 1, out);
    else if (st.isFile() && st.size < 200000 && !/\.(gz|xz|bz2|png|jpg|html?)$/.test(n)) out.push(p);
  }
  return out;
}
function proseLines() {
  const files = textFiles('/usr/share/common-licenses', 0, []).concat(
    textFiles('/usr/share/doc', 1, []).filter((f) => /copyright|README|NEWS|changelog$/i.test(f)));
  const lines = [];
  for (const f of files) {
    const buf = fs.readFileSync(f);
    const text = buf.toString('utf8');
    if (Buffer.compare(Buffer.from(text, 'utf8'), buf) !== 0) continue; // not UTF-8
    for (const l of text.split('\n')) if (/[A-Za-z]{3}/.test(l)) lines.push(clean(l));
    if (lines.length > 25000) break;
  }
  return lines;
}
const subjects = ['The model', 'A student', 'Our method', 'The forget set', 'Every author',
  'She', 'They', "The author's mother", 'Nobody', 'The 3rd experiment', 'It'];
const verbs = ['remembers', 'forgets', "doesn't know", 'wrote', "'ll describe", 'unlearned',
  'was born in', 'is compared with', "can't reproduce", 'measured'];
const objects = ['the book.', 'a novel about Paris!', 'every fact, twice.', 'the results?',
  '42 short stories;', 'the 1984 award (again).', 'its "retain" set', "what they'd said...",
  'about 3.14159 percent', 'the URL https://example.com/a?b=1&c=2'];
function sentences(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const k = 1 + int(3);
    const parts = [];
    for (let j = 0; j < k; j++) parts.push(`${pick(subjects)} ${pick(verbs)} ${pick(objects)}`);
    out.push(parts.join(' '));
  }
  return out;
}

// ---- source code ----------------------------------------------------------------
function codeLines() {
  const lines = [];
  const walk = (d) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (/\.[ch]$/.test(n)) lines.push(...fs.readFileSync(p, 'utf8').split('\n').map(clean));
    }
  };
  walk(path.join(srcDir, 'framework'));
  return lines;
}

// ---- generated hard cases ------------------------------------------------------
const fragments = [
  'café', 'cafe\u0301', 'naïve', 'nai\u0308ve', 'Ångström', 'A\u030angstro\u0308m', 'ﬁne', '①②',
  '日本語のテキスト', '中文分词测试', '한국어 문장', '👍', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇫🇷🇩🇪', '👋🏽',
  'e\u0301\u0302\u0323', 'مرحبا بالعالم', 'שלום עולם', 'नमस्ते दुनिया', 'สวัสดีชาวโลก', '\uFFFD',
  '\uFDD0', '\uFFFE', '\u{10FFFF}', '\u{1F600}', '\u{20000}', '\u00A0', '\u3000', '\u2028',
  '\u0085', '\u200B', '\u200D', '\t', '\r', '\r\r', '  ', '     ', '\t\t ', ' \r ', "'S", "'ll",
  "I'M", "we'VE", '<s>', '</s>', '<unk>', '<|begin_of_text|>', '<|end_of_text|>', '<|im_start|>',
  '<|im_end|>', '<|endoftext|>', '<|im_sta', '<|begin_of', '<s', '</s', '<|eot_id|>', '$A',
  '<think>', '</think>', '<tool_call>', '</tool_call>', '<|fim_prefix|>', '<|start_header_id|>',
  '<|end_header_id|>', '<|reserved_special_token_5|>', '<bos>', '<eos>', '<pad>', '<|endofprompt|>',
  '▁', '▁▁x', 'Ġhello', '<0x0A>', '0', '00', '123', '1234', '12345', '3.14', '-7', '1,000,000',
  'ſ', 'K', 'İstanbul', 'ΣΊΣΥΦΟΣ', 'ß', '(hello)', '"quoted"', 'a.b.c', '...', '?!', '#include',
  'x++', 'foo_bar', 'camelCase', 'UPPER', 'ǅ', '\u0301', 'a\u0300\u0301\u0302', '\u00AD',
];
function digits(len) {
  let s = '';
  for (let i = 0; i < len; i++) s += String(int(10));
  return s;
}
function hardLines(n) {
  const out = [];
  for (let len = 1; len <= 40; len++) out.push(digits(len), ` ${digits(len)}`, `x${digits(len)}y`);
  for (let len = 1; len <= 12; len++) {
    out.push(' '.repeat(len), `a${' '.repeat(len)}b`, `${' '.repeat(len)}lead`, `trail${' '.repeat(len)}`,
             '\t'.repeat(len) + 'tab', `a${'\r'.repeat(len)}b`, `x${'\u00A0'.repeat(len)}y`);
  }
  for (const f of fragments) out.push(f, ` ${f}`, `${f} `, `a${f}b`, `${f}${f}`);
  const seps = ['', ' ', '  ', '\t', ' \t', '\r', ''];
  for (let i = 0; i < n; i++) {
    const k = 1 + int(6);
    let s = '';
    for (let j = 0; j < k; j++) s += pick(seps) + (rand() < 0.3 ? pick(objects) : pick(fragments));
    out.push(rand() < 0.5 ? s : s.normalize(rand() < 0.5 ? 'NFD' : 'NFC'));
  }
  return out;
}

const english = proseLines().concat(sentences(25000));
const code = codeLines().slice(0, 25000);
// at least 100,000 lines whatever this machine's /usr/share/doc holds
const all = english.concat(code, hardLines(Math.max(20000, 101000 - english.length - code.length)));
fs.writeFileSync(outFile, all.join('\n') + '\n');
if (englishFile) fs.writeFileSync(englishFile, english.join('\n') + '\n');
if (longFile) {
  const long = [];
  for (let i = 0; i + 8 <= all.length && long.length < 3000; i += 8) long.push(all.slice(i, i + 8).join(' '));
  long.push(`${' '.repeat(100000)}x`, 'a'.repeat(100000), '7'.repeat(100000),
            `${'!'.repeat(100000)}${'\r'.repeat(1000)}`, ' \r'.repeat(50000), 'é'.repeat(50000));
  fs.writeFileSync(longFile, long.join('\n') + '\n');
}
console.log(`corpus: ${all.length} lines (${english.length} English) -> ${outFile}`);
