/* bench_unlearn_epoch — one unlearning epoch of NPO+RT and one evaluation,
 * each through the real code path: the run's steps (unlearn.h's session:
 * the method's batches of forget/retain pairs, the reference log-probs
 * cached once, the plugin through the objective, the trainer with the run's
 * AdamW schedule) and evaluate_model on the four evaluation sets (scoring,
 * truth ratios, greedy generation, the forget KL against the starting model,
 * the teacher-forced pass unless eval.mia = false). Part (b) of
 * tests/bench/e2e.sh.
 *
 *   bench_unlearn_epoch --config FILE --out DIR [--model MODEL_DIR] [-s key=value]...
 *
 * The world is generated into DIR/cache (or taken from there); the model is
 * initialised at random as the base stage does (seed 7), or MODEL_DIR's (a
 * model of the same world: its tokenizer). unlearn.epochs is set to 1 (the
 * schedule is that of a one-epoch run). Before training, DIR/twin receives
 * what the PyTorch twin (torch_llama.py --mode unlearn_epoch) needs to do the
 * same work:
 *   config.json, model.safetensors, tokenizer.json  the model before unlearning
 *   unlearn_batches.bin  per micro-batch, in order: int32 B, T, forget row0,
 *       forget rows, retain row0, retain rows, then B·T tokens and B·T
 *       next-token targets (-1 where none)
 *   unlearn_epoch.json   steps, grad_accum, learning rate per step, AdamW
 *       settings (decay on matrices only), the method's parameters, and the
 *       evaluation's settings (max_new_tokens, batch size, pad and end ids,
 *       special ids)
 *   eval_inputs.bin      per set (forget, retain, real authors, world facts):
 *       int32 rows, has_para; per row int32 n_prompt, the prompt ids, int32
 *       variants, and per variant (answer, paraphrase when has_para, perturbed
 *       answers) int32 n, its n target ids (the answer tokens and the end
 *       token, as evaluation scores them)
 * and after the evaluation lethe_greedy.json: per set, each row's greedy
 * answer as ids (its text encoded again) for the twin to compare.
 * Prints one JSON line: seconds of the epoch's steps and of the evaluation,
 * tokens, per-step losses, and evaluation numbers the twin computes too. Not
 * run by ctest. */
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "method/method_host.h"
#include "unlearn/unlearn.h"

#define MAX_OVERRIDES 32
#define MAX_STEPS 4096

static void die(const lethe_err *err) {
  fprintf(stderr, "bench_unlearn_epoch: %s\n", err->msg);
  exit(1);
}

static void usage(void) {
  fprintf(stderr, "usage: bench_unlearn_epoch --config FILE --out DIR [--model MODEL_DIR] "
                  "[-s key=value]...\n");
  exit(2);
}

static FILE *open_or_die(const char *dir, const char *name, const char *mode) {
  char path[4096 + 64];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, mode);
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

static void put_i32(FILE *f, int32_t v) { fwrite(&v, sizeof v, 1, f); }

/* DIR/twin: the model before unlearning (random, or --model's), with its tokenizer. */
static void write_model(const experiment *e, const char *data_dir, const char *model, const char *twin) {
  lethe_err err = {0};
  llama_model m = {0};
  if (model) {
    if (llama_load(&m, model, &err) != 0 || llama_save(&m, twin, &err) != 0 ||
        stage_copy_tokenizer(model, twin, &err) != 0)
      die(&err);
  } else {
    tok_tokenizer *tok;
    if (stage_tokenizer(data_dir, &tok, &err) != 0) die(&err);
    tok_special_ids sp = tok_special(tok);
    llama_config cfg;
    experiment_model_config(e, tok_vocab_size(tok), sp.bos, sp.eos, sp.pad, &cfg);
    if (llama_init(&m, &cfg, 7, &err) != 0 || llama_save(&m, twin, &err) != 0 ||
        stage_copy_tokenizer(data_dir, twin, &err) != 0)
      die(&err);
    tok_free(tok);
  }
  llama_free(&m);
}

typedef struct train_stats {
  long micro;
  double padded, targets, flops, flops_done;
} train_stats;

/* unlearn_batches.bin: every micro-batch of the run, as the steps take them. */
static void write_batches(unlearn_session *s, const char *twin, const llama_config *cfg,
                          train_stats *st) {
  const train_config *tc = unlearn_session_train_config(s);
  FILE *f = open_or_die(twin, "unlearn_batches.bin", "wb");
  memset(st, 0, sizeof *st);
  for (long step = 0; step < tc->total_steps; step++)
    for (int k = 0; k < tc->grad_accum; k++) {
      token_batch tb;
      lethe_segment seg[LETHE_SEG_COUNT];
      unlearn_session_batch(s, step, k, &tb, seg);
      if (seg[LETHE_SEG_IDK].nrows) {
        fprintf(stderr, "bench_unlearn_epoch: the method takes idk rows; the twin knows NPO+RT\n");
        exit(1);
      }
      int32_t head[6] = {tb.B, tb.T, seg[0].row0, seg[0].nrows, seg[1].row0, seg[1].nrows};
      size_t n = (size_t)tb.B * tb.T;
      fwrite(head, sizeof head, 1, f);
      fwrite(tb.input_ids, sizeof(int32_t), n, f);
      fwrite(tb.targets, sizeof(int32_t), n, f);
      st->micro++;
      st->padded += (double)n;
      double real = 0, targets = 0;
      for (size_t i = 0; i < n; i++) real += tb.attn_mask[i] != 0, targets += tb.targets[i] >= 0;
      st->targets += targets;
      st->flops += 3.0 * bench_forward_flops(cfg, tb.B, tb.T);
      /* the policy's forward and backward skip the padding, its head sees the targets */
      st->flops_done += 3.0 * bench_forward_flops_done(cfg, tb.B, tb.T, real, targets);
      token_batch_free(&tb);
    }
  fclose(f);
}

/* unlearn_epoch.json: the schedule, the method's parameters, the evaluation's settings. */
static void write_settings(unlearn_session *s, const method_spec *ms, const eval_options *eo,
                           const tok_tokenizer *tok, tofu_ids ids, const char *twin) {
  const train_config *tc = unlearn_session_train_config(s);
  json_t *o = json_object(), *lr = json_array(), *params = json_object();
  for (long k = 0; k < tc->total_steps; k++) json_array_append_new(lr, json_real(train_lr_at(tc, k)));
  const lethe_method_desc *d = ms->plugin.desc;
  for (uint32_t i = 0; i < d->n_params; i++)
    json_object_set_new(params, d->params[i].name, json_real(method_param_value(d, ms->params, i)));
  tok_special_ids sp = tok_special(tok);
  json_t *special = json_array();
  int32_t sid[] = {sp.bos, sp.eos, sp.pad, sp.unk, ids.end};
  for (size_t i = 0; i < sizeof sid / sizeof *sid; i++)
    if (sid[i] >= 0) json_array_append_new(special, json_integer(sid[i]));
  json_object_set_new(o, "steps", json_integer(tc->total_steps));
  json_object_set_new(o, "grad_accum", json_integer(tc->grad_accum));
  json_object_set_new(o, "lr", lr);
  json_object_set_new(o, "weight_decay", json_real(tc->opt.weight_decay));
  json_object_set_new(o, "beta1", json_real(tc->opt.beta1));
  json_object_set_new(o, "beta2", json_real(tc->opt.beta2));
  json_object_set_new(o, "eps", json_real(tc->opt.eps));
  json_object_set_new(o, "decay_norms", json_integer(tc->decay_norms));
  json_object_set_new(o, "max_grad_norm", json_real(tc->max_grad_norm));
  json_object_set_new(o, "method", json_string(d->name));
  json_object_set_new(o, "params", params);
  json_object_set_new(o, "max_new_tokens", json_integer(eo->max_new_tokens));
  json_object_set_new(o, "eval_batch_size", json_integer(eo->batch_size));
  json_object_set_new(o, "mia", json_boolean(!eo->skip_mia));
  json_object_set_new(o, "end_id", json_integer(ids.end));
  json_object_set_new(o, "pad_id", json_integer(ids.pad));
  json_object_set_new(o, "special_ids", special);
  char path[4096 + 32];
  snprintf(path, sizeof path, "%s/unlearn_epoch.json", twin);
  if (json_dump_file(o, path, JSON_INDENT(1)) != 0) {
    fprintf(stderr, "bench_unlearn_epoch: cannot write %s\n", path);
    exit(1);
  }
  json_decref(o);
}

/* Writes one variant's targets: the answer tokens and, where batching adds
 * it (tofu_batch_fill: not after a row cut at max_length), the end token. */
static long put_targets(FILE *f, const tofu_example *ex, const tofu_format *fmt, int32_t end) {
  int with_end = ex->len < fmt->max_length, n = ex->len - ex->n_prompt + with_end;
  put_i32(f, n);
  fwrite(ex->ids + ex->n_prompt, sizeof(int32_t), (size_t)(ex->len - ex->n_prompt), f);
  if (with_end) put_i32(f, end);
  return (long)ex->len + with_end;
}

/* eval_inputs.bin: the four sets, then (when the evaluation has one and
 * runs the teacher-forced pass) the holdout set, whose rows the pass scores
 * with their answers alone; returns the tokens of every scored sequence
 * (prompt + targets). */
static double write_eval_inputs(const eval_data *ed, const eval_options *eo,
                                const tok_tokenizer *tok, const tofu_format *fmt, tofu_ids ids,
                                const char *twin) {
  lethe_err err = {0};
  FILE *f = open_or_die(twin, "eval_inputs.bin", "wb");
  double tokens = 0;
  int n_sets = TOFU_N_SETS + (ed->holdout_split && !eo->skip_mia);
  for (int s = 0; s < n_sets; s++) {
    const tofu_set *set = s < TOFU_N_SETS ? &ed->sets[s] : &ed->holdout;
    int has_para = s == TOFU_SET_FORGET || s == TOFU_SET_RETAIN;
    put_i32(f, (int32_t)set->n);
    put_i32(f, has_para);
    for (size_t i = 0; i < set->n; i++) {
      const tofu_qa *row = &set->rows[i];
      int nv = s < TOFU_N_SETS ? 1 + has_para + row->n_perturbed : 1;
      for (int v = 0; v < nv; v++) {
        const char *a = v == 0 ? row->answer : v == 1 && has_para ? row->paraphrased_answer
                                                                  : row->perturbed[v - 1 - has_para];
        tofu_example ex = {0};
        if (tofu_encode(tok, fmt, row->question, a, &ex, &err) != 0) die(&err);
        if (v == 0) {
          put_i32(f, ex.n_prompt);
          fwrite(ex.ids, sizeof(int32_t), (size_t)ex.n_prompt, f);
          put_i32(f, nv);
        }
        tokens += (double)put_targets(f, &ex, fmt, ids.end);
        tofu_example_free(&ex);
      }
    }
  }
  fclose(f);
  return tokens;
}

/* lethe_greedy.json: each greedy answer's text encoded again (the twin
 * compares ids); returns the number of generated tokens that makes. */
static double write_greedy(const eval_report *r, const tok_tokenizer *tok, const char *twin) {
  lethe_err err = {0};
  json_t *o = json_array();
  double count = 0;
  for (int s = 0; s < TOFU_N_SETS; s++) {
    json_t *rows = json_array();
    for (size_t i = 0; i < r->n[s]; i++) {
      int32_t *tid;
      int n;
      if (tok_encode(tok, r->ex[s][i].generation, 0, &tid, &n, NULL, &err) != 0) die(&err);
      json_t *row = json_array();
      for (int k = 0; k < n; k++) json_array_append_new(row, json_integer(tid[k]));
      json_array_append_new(rows, row);
      count += n;
      free(tid);
    }
    json_array_append_new(o, rows);
  }
  char path[4096 + 32];
  snprintf(path, sizeof path, "%s/lethe_greedy.json", twin);
  if (json_dump_file(o, path, JSON_COMPACT) != 0) {
    fprintf(stderr, "bench_unlearn_epoch: cannot write %s\n", path);
    exit(1);
  }
  json_decref(o);
  return count;
}

typedef struct losses {
  double v[MAX_STEPS];
  long n;
} losses;

static int record_loss(void *ctx, long step, double loss, lethe_err *err) {
  (void)err;
  losses *l = ctx;
  if (step > 0 && l->n < MAX_STEPS) l->v[l->n++] = loss;
  return 0;
}

/* The evaluation numbers the twin computes too: per set the mean answer
 * probability and truth ratio, the mean forget KL, the model utility. */
static void print_eval(const eval_report *r) {
  const char *keys[TOFU_N_SETS] = {"forget", "retain", "real_authors", "world_facts"};
  for (int s = 0; s < TOFU_N_SETS; s++) {
    double prob = 0, tr = 0;
    for (size_t i = 0; i < r->n[s]; i++) prob += r->ex[s][i].prob, tr += r->ex[s][i].truth_ratio;
    double n = r->n[s] ? (double)r->n[s] : 1;
    printf(", \"%s_prob\": %.9g, \"%s_truth_ratio\": %.9g, \"%s_rouge\": %.6g", keys[s], prob / n,
           keys[s], tr / n, keys[s], r->summary[s].rouge);
  }
  printf(", \"forget_kl\": %.9g, \"model_utility\": %.6g", r->forget_kl, r->model_utility);
}

int main(int argc, char **argv) {
  const char *config = NULL, *out = NULL, *model = NULL;
  const char *overrides[MAX_OVERRIDES + 1];
  int n_over = 0;
  static const struct option longs[] = {
      {"config", 1, 0, 'c'}, {"out", 1, 0, 'o'}, {"model", 1, 0, 'm'}, {0, 0, 0, 0}};
  for (int o; (o = getopt_long(argc, argv, "s:", longs, NULL)) != -1;) {
    if (o == 'c') config = optarg;
    else if (o == 'o') out = optarg;
    else if (o == 'm') model = optarg;
    else if (o == 's' && n_over < MAX_OVERRIDES) overrides[n_over++] = optarg;
    else usage();
  }
  if (!config || !out || optind != argc) usage();
  overrides[n_over++] = "unlearn.epochs=1"; /* one epoch, and its schedule */

  lethe_err err = {0};
  char path[4096], twin[4096 + 8];
  snprintf(path, sizeof path, "%s/cache", out);
  snprintf(twin, sizeof twin, "%s/twin", out);
  if (lethe_mkdir_p(path, &err) != 0 || lethe_mkdir_p(twin, &err) != 0) die(&err);
  setenv("LETHE_CACHE_DIR", path, 1);
  experiment e;
  if (experiment_load(&e, config, overrides, n_over, &err) != 0) die(&err);
  e.quiet = 1;
  method_spec ms; /* checked before any work: the twin computes NPO+RT only */
  if (method_spec_from_config(&ms, lcfg_setting(&e.cfg, "method"),
                              (const char *const *)e.method_overrides, e.n_method_overrides,
                              &err) != 0)
    die(&err);
  if (strcmp(ms.plugin.desc->name, "npo_rt") != 0) {
    fprintf(stderr, "bench_unlearn_epoch: method %s; the twin computes npo_rt only\n",
            ms.plugin.desc->name);
    return 2;
  }
  stage_out data;
  if (stage_data(&e, &data, &err) != 0) die(&err);
  write_model(&e, data.dir, model, twin);

  unlearn_session *s;
  if (unlearn_session_open(&s, &e, data.dir, twin, &err) != 0) die(&err);
  llama_model *policy = unlearn_session_policy(s);
  tok_tokenizer *tok;
  if (stage_tokenizer(twin, &tok, &err) != 0) die(&err);
  tofu_format fmt;
  experiment_format(&e, &fmt);
  tofu_ids ids;
  if (tofu_format_ids(tok, &fmt, &ids, &err) != 0) die(&err);
  eval_options eo;
  experiment_eval_options(&e, &eo);
  eval_data ed;
  const char *split = lcfg_string(&e.cfg, "data.forget_split");
  if (eval_data_load(&ed, data.dir, split, eo.max_rows, &err) != 0) die(&err);
  train_stats st;
  write_batches(s, twin, &policy->cfg, &st);
  write_settings(s, &ms, &eo, tok, ids, twin);
  double eval_tokens = write_eval_inputs(&ed, &eo, tok, &fmt, ids, twin);

  static losses ls;
  double t0 = lethe_now();
  if (unlearn_session_train(s, record_loss, &ls, &err) != 0) die(&err);
  double train_secs = lethe_now() - t0;
  eval_report r;
  eval_workspace *ws = eval_workspace_new();
  t0 = lethe_now();
  if (evaluate_model(policy, unlearn_session_reference(s), tok, &fmt, &ed, &eo, NULL, 0, ws, &r,
                     &err) != 0)
    die(&err);
  double eval_secs = lethe_now() - t0;
  double generated = write_greedy(&r, tok, twin);

  const train_config *tc = unlearn_session_train_config(s);
  printf("{\"impl\": \"lethe\", \"mode\": \"unlearn_epoch\", \"method\": \"%s\", \"split\": \"%s\", "
         "\"compute\": \"%s\", \"threads\": %d, \"steps\": %ld, \"micro_batches\": %ld, "
         "\"train_seconds\": %.6g, \"tokens_padded\": %.0f, \"targets\": %.0f, \"flops\": %.6g, \"flops_done\": %.6g, ",
         ms.plugin.desc->name, split, policy->compute == LLAMA_COMPUTE_BF16 ? "bf16" : "f32",
         bench_threads(), tc->total_steps, st.micro, train_secs, st.padded, st.targets, st.flops, st.flops_done);
  bench_print_array("losses", ls.v, (int)ls.n);
  printf(", \"final_loss\": %.9g, \"eval_seconds\": %.6g, \"eval_tokens\": %.0f, "
         "\"generated_tokens\": %.0f, \"mia\": %s, \"eval_rows\": [%zu, %zu, %zu, %zu]",
         ls.n ? ls.v[ls.n - 1] : NAN, eval_secs, eval_tokens, generated, eo.skip_mia ? "false" : "true",
         r.n[0], r.n[1], r.n[2], r.n[3]);
  print_eval(&r);
  printf("}\n");
  eval_report_free(&r);
  eval_workspace_free(ws);
  eval_data_free(&ed);
  tok_free(tok);
  unlearn_session_free(s);
  method_spec_free(&ms);
  stage_out_free(&data);
  experiment_free(&e);
  return 0;
}
