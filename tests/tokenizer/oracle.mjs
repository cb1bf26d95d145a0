// oracle.mjs — lethe's tokenizers against Hugging Face tokenizers' Rust core
// (npm @anush008/tokenizers) on every line of a corpus: the ids of
// `lethe tokenize` must equal encode(line, addSpecialTokens: true), and
// `lethe tokenize --decode` of those ids must equal decode(ids, false).
//
//   node oracle.mjs LETHE NODE_MODULES CORPUS NAME=DIR...
//
// Prints one summary line per tokenizer; on a mismatch the first lines that
// differ (escaped) with both id lists, and exits 1.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';

const [lethe, nodeModules, corpus, ...tokenizers] = process.argv.slice(2);
const require = createRequire(`${nodeModules}/`);
const { Tokenizer } = require('@anush008/tokenizers');

const lines = fs.readFileSync(corpus, 'utf8').split('\n');
lines.pop();
const esc = (s) => JSON.stringify(s);

function runLethe(args, input) {
  const r = spawnSync(lethe, ['tokenize', ...args], { input, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`lethe tokenize ${args.join(' ')}: ${r.stderr}`);
  const out = r.stdout.toString('utf8').split('\n');
  out.pop();
  return out;
}

async function rustEncode(tok) {
  const ids = [];
  for (let i = 0; i < lines.length; i += 2000) {
    const batch = await tok.encodeBatch(lines.slice(i, i + 2000), { addSpecialTokens: true });
    for (const e of batch) ids.push(Array.from(e.getIds()));
  }
  return ids;
}

async function check(name, dir) {
  const tok = Tokenizer.fromFile(`${dir}/tokenizer.json`);
  const t0 = Date.now();
  const mine = runLethe(['--tokenizer', dir], lines.join('\n') + '\n');
  const want = await rustEncode(tok);
  const bad = [];
  for (let i = 0; i < lines.length; i++)
    if (mine[i] !== JSON.stringify(want[i])) bad.push(i);
  const idLines = want.map((ids) => JSON.stringify(ids));
  const decoded = runLethe(['--tokenizer', dir, '--decode'], idLines.join('\n') + '\n');
  const wantText = [];
  for (let i = 0; i < want.length; i += 2000)
    wantText.push(...(await tok.decodeBatch(want.slice(i, i + 2000), false)));
  const badDecode = [];
  let roundTrips = 0;
  for (let i = 0; i < lines.length; i++) {
    if (decoded[i] !== wantText[i]) badDecode.push(i);
    else if (wantText[i] === lines[i]) roundTrips++;
  }
  const s = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`${name}: ${lines.length} lines, encode ${lines.length - bad.length} identical, ` +
              `decode ${lines.length - badDecode.length} identical (${roundTrips} round-trip ` +
              `to the line) [${s} s]`);
  for (const i of bad.slice(0, 5))
    console.log(`  encode line ${i + 1}: ${esc(lines[i])}\n    lethe: ${mine[i]}\n    hf:    ${JSON.stringify(want[i])}`);
  for (const i of badDecode.slice(0, 5))
    console.log(`  decode line ${i + 1}: ${esc(lines[i])}\n    lethe: ${esc(decoded[i])}\n    hf:    ${esc(wantText[i])}`);
  return bad.length + badDecode.length === 0;
}

let ok = true;
for (const spec of tokenizers) {
  const [name, dir] = spec.split('=');
  ok = (await check(name, dir)) && ok;
}
process.exit(ok ? 0 : 1);
