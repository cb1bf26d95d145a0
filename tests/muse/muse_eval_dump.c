/* muse_eval_dump — writes what tests/muse/muse_check.py checks from outside:
 * a tiny world's MUSE corpus (OUT/corpus), two random tiny models evaluated
 * by muse_evaluate (OUT/retain: no retain AUC; OUT/target: PrivLeak against
 * the first one's AUC), and OUT/cases.json: ROUGE-L F1 (no stemming) of
 * pairs with real overlap, KnowMem's cut of crafted outputs and one KnowMem
 * prompt. usage: muse_eval_dump OUT */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "data/muse.h"
#include "evaluate/eval_muse.h"

static void die(const lethe_err *err) {
  fprintf(stderr, "muse_eval_dump: %s\n", err->msg);
  exit(1);
}

static void evaluate_random(const tok_tokenizer *tok, const muse_corpus *c, uint64_t seed,
                            double retain_auc, const char *dir, double *auc) {
  llama_config cfg;
  llama_config_defaults(&cfg);
  tok_special_ids sp = tok_special(tok);
  cfg.vocab_size = tok_vocab_size(tok);
  cfg.hidden_size = 32, cfg.intermediate_size = 64, cfg.num_hidden_layers = 2;
  cfg.num_attention_heads = 2, cfg.num_key_value_heads = 1, cfg.head_dim = 16;
  cfg.max_position_embeddings = 512, cfg.initializer_range = 0.2;
  cfg.bos_token_id = sp.bos, cfg.eos_token_id = sp.eos, cfg.pad_token_id = sp.pad;
  llama_model m = {0};
  lethe_err err = {0};
  if (llama_init(&m, &cfg, seed, &err)) die(&err);
  tofu_format fmt;
  tofu_format_default(&fmt);
  muse_eval_options opt = {24, 8, 5};
  muse_report r;
  if (muse_evaluate(&m, tok, &fmt, c, &opt, retain_auc, &r, &err) || lethe_mkdir_p(dir, &err) ||
      muse_report_write(&r, dir, &err))
    die(&err);
  char *summary = lethe_path_join(dir, "summary.json");
  if (muse_read_privleak_auc(summary, auc, &err)) die(&err);
  free(summary);
  muse_report_free(&r);
  llama_free(&m);
}

static json_t *rouge_case(rouge_scorer *rs, const char *ref, const char *pred) {
  double f1;
  lethe_err err = {0};
  if (muse_rouge_f1(rs, ref, pred, &f1, &err)) die(&err);
  return json_pack("{s:s, s:s, s:f}", "reference", ref, "prediction", pred, "f1", f1);
}

int main(int argc, char **argv) {
  if (argc != 2) return fprintf(stderr, "usage: muse_eval_dump OUT\n"), 2;
  const char *out = argv[1];
  world_settings ws;
  world_settings_default(&ws);
  ws.authors = 10, ws.general_qa = 12, ws.idk = 10;
  world w;
  lethe_err err = {0};
  muse_settings ms;
  muse_settings_default(&ms);
  ms.icl = 2;
  muse_corpus c;
  if (world_generate(&w, &ws, 7, &err) || muse_generate(&w, 20, &ms, &c, &err)) die(&err);
  char *corpus = lethe_path_join(out, "corpus"), *target = lethe_path_join(out, "target"),
       *retain = lethe_path_join(out, "retain");
  if (muse_write(&c, corpus, &err)) die(&err);
  tok_tokenizer *tok = world_tokenizer(&w);
  double auc_retain, auc_target;
  evaluate_random(tok, &c, 11, NAN, retain, &auc_retain);
  evaluate_random(tok, &c, 12, auc_retain, target, &auc_target);

  rouge_scorer *rs = rouge_scorer_new(&err);
  if (!rs) die(&err);
  json_t *pairs = json_array();
  for (size_t i = 0; i < c.verbmem.n; i++) {
    json_array_append_new(pairs, rouge_case(rs, c.verbmem.rows[i].gt, c.verbmem.rows[i].prompt));
    json_array_append_new(pairs, rouge_case(rs, c.verbmem.rows[i].gt, c.forget.text[i]));
    json_array_append_new(pairs, rouge_case(rs, c.forget.text[i], c.retain1.text[i]));
  }
  json_array_append_new(pairs, rouge_case(rs, "Running runners ran", "runner running RAN!"));
  json_array_append_new(pairs, rouge_case(rs, "...", "anything"));
  json_t *cuts = json_array();
  static const char *const outputs[] = {"Lisbon\n\nQuestion: next", "a b\nQuestion c",
                                        "x Question: y\n\nz", "no stop here", "\n\n"};
  for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++)
    json_array_append_new(cuts, json_pack("{s:s, s:I}", "output", outputs[i], "cut",
                                          (json_int_t)muse_knowmem_cut(outputs[i])));
  char *prompt = muse_knowmem_prompt(&c.icl_forget, c.knowmem_forget.rows[0].question);
  json_t *cases = json_pack("{s:o, s:o, s:s, s:s}", "rouge", pairs, "cuts", cuts, "prompt", prompt,
                            "question", c.knowmem_forget.rows[0].question);
  char *path = lethe_path_join(out, "cases.json");
  if (lethe_json_write_atomic(path, cases, JSON_INDENT(1), LETHE_JSON_NEWLINE, &err)) die(&err);
  json_decref(cases);
  free(prompt), free(path), free(corpus), free(target), free(retain);
  rouge_scorer_free(rs);
  tok_free(tok);
  muse_corpus_free(&c);
  world_free(&w);
  return 0;
}
