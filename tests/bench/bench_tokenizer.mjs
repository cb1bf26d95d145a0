// bench_tokenizer.mjs — HF tokenizers' Rust core (npm @anush008/tokenizers)
// on the same lines as bench_tokenizer.c: encodeBatch over batches of 1000
// lines without special tokens, a few rounds, best round as one JSON line.
// Run under RAYON_NUM_THREADS=1 and taskset by tests/bench/tokenizer.sh so
// that it uses one core, as lethe does.
//
//   node bench_tokenizer.mjs NODE_MODULES TOKENIZER_DIR TEXT_FILE [ROUNDS]
import fs from 'node:fs';
import { createRequire } from 'node:module';

const [nodeModules, dir, file, roundsArg] = process.argv.slice(2);
const { Tokenizer } = createRequire(`${nodeModules}/`)('@anush008/tokenizers');
const tok = Tokenizer.fromFile(`${dir}/tokenizer.json`);
const lines = fs.readFileSync(file, 'utf8').split('\n');
lines.pop();
let best = Infinity;
let tokens = 0;
for (let r = 0; r < Number(roundsArg || 3); r++) {
  tokens = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < lines.length; i += 1000) {
    const batch = await tok.encodeBatch(lines.slice(i, i + 1000), { addSpecialTokens: false });
    for (const e of batch) tokens += e.getIds().length;
  }
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, dt);
}
console.log(JSON.stringify({ bench: 'tokenizer', impl: 'hf-tokenizers (encodeBatch)',
  lines: lines.length, tokens, seconds: Number(best.toFixed(4)),
  tokens_per_s: Math.round(tokens / best) }));
