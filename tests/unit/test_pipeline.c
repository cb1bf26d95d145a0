/* test_pipeline — the whole pipeline on a tiny embedded world: base → target
 * → retain → evaluation → one unlearning run, asserting what must hold
 * (the target memorises the authors, forget quality separates the target from
 * the retain model but not a second retain model trained with another seed,
 * membership inference recognises the target's forget authors),
 * the evaluation's probability and truth ratio against a hand computation
 * from `lethe score`, the shared-prompt evaluation against the pairwise one,
 * and resume after SIGKILL giving identical weights. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/world.h"
#include "evaluate/evaluate.h"
#include "model/lora.h"
#include "model/safetensors.h"
#include "pipeline/prepare.h"
#include "pipeline/stages.h"
#include "unlearn/unlearn.h"
#include "unit/bf16_skip.h"

static char cache_dir[64];

/* The tiny experiment with n_extra further overrides. */
static void load_tiny_with(experiment *e, const char *const *extra, int n_extra) {
  char cache[128];
  snprintf(cache, sizeof cache, "cache_dir=\"%s\"", cache_dir);
  const char *over[24] = {cache, "world.authors=10", "world.general_qa=20", "world.idk=20",
                          "model.hidden_size=64", "model.intermediate_size=176",
                          "model.num_hidden_layers=2", "base.epochs=20", "base.batch_size=16",
                          "base.lr=3e-3", "finetune.epochs=20", "finetune.batch_size=16",
                          "finetune.lr=3e-3", "unlearn.epochs=4", "unlearn.batch_size=8",
                          "unlearn.lr=1e-3"};
  int n = 16;
  for (int i = 0; i < n_extra && n < 24; i++) over[n++] = extra[i];
  lethe_err err = {0};
  ck_assert_msg(experiment_load(e, NULL, over, n, &err) == 0, "%s", err.msg);
  e->quiet = 1;
}

static void load_tiny(experiment *e, const char *extra) {
  load_tiny_with(e, &extra, extra ? 1 : 0);
}

static json_t *load_json(const char *dir, const char *name) {
  char *path = lethe_path_join(dir, name);
  json_error_t jerr;
  json_t *j = json_load_file(path, 0, &jerr);
  ck_assert_msg(j != NULL, "%s: %s", path, jerr.text);
  free(path);
  return j;
}

static double get(json_t *summary, const char *set, const char *key) {
  json_t *o = set ? json_object_get(summary, set) : summary;
  return json_number_value(json_object_get(o, key));
}

/* Evaluates stage model `s` against retain truth ratios; returns summary. */
static void eval_stage(experiment *e, const stage_out *data, const stage_out *s, const double *tr,
                       size_t n_tr, eval_report *r) {
  tok_tokenizer *tok;
  llama_model m;
  eval_data d;
  lethe_err err = {0};
  tofu_format fmt;
  experiment_format(e, &fmt);
  eval_options opt = {.max_rows = 300, .max_new_tokens = 48, .batch_size = 64};
  ck_assert_msg(stage_tokenizer(data->dir, &tok, &err) == 0, "%s", err.msg);
  ck_assert_msg(llama_load(&m, s->dir, &err) == 0, "%s", err.msg);
  ck_assert_msg(eval_data_load(&d, data->dir, "forget10", 300, &err) == 0, "%s", err.msg);
  ck_assert_msg(evaluate_model(&m, NULL, tok, &fmt, &d, &opt, tr, n_tr, NULL, r, &err) == 0, "%s", err.msg);
  eval_data_free(&d);
  llama_free(&m);
  tok_free(tok);
}

/* The data, base and target stages (trained, or from the cache). */
static void stages_to_target(experiment *e, stage_out *data, stage_out *base, stage_out *target) {
  lethe_err err = {0};
  ck_assert_msg(stage_data(e, data, &err) == 0, "%s", err.msg);
  ck_assert_msg(stage_base(e, data, base, &err) == 0, "%s", err.msg);
  ck_assert_msg(stage_finetune(e, data, base, "full", 0, target, &err) == 0, "%s", err.msg);
}

/* A stage's train.json: its group and label (NULL: not checked), at least
 * the rows of its split in the world data_dir (fine-tuning adds replayed
 * text), the steps its epochs over them make in batches, a positive time. */
static void check_train_record(const char *dir, const char *data_dir, const char *group,
                               const char *label, const char *split) {
  json_t *r = load_json(dir, "train.json");
  ck_assert_str_eq(json_string_value(json_object_get(r, "group")), group);
  if (label) ck_assert_str_eq(json_string_value(json_object_get(r, "stage")), label);
  lethe_err err = {0};
  tofu_set set;
  ck_assert_msg(tofu_load_split(data_dir, split, 0, &set, &err) == 0, "%s", err.msg);
  long examples = (long)json_integer_value(json_object_get(r, "examples"));
  long bs = (long)json_integer_value(json_object_get(r, "batch_size"));
  double epochs = json_number_value(json_object_get(r, "epochs"));
  long steps = (long)json_integer_value(json_object_get(r, "steps"));
  ck_assert_msg(examples >= (long)set.n, "%s: %ld examples, %zu rows in %s", dir, examples, set.n,
                split);
  long eff = bs < examples ? bs : examples;
  ck_assert_int_eq(steps, (long)ceil(epochs * (double)examples / (double)eff));
  ck_assert_int_eq(json_integer_value(json_object_get(r, "resumed_from")), 0);
  ck_assert(json_number_value(json_object_get(r, "seconds")) > 0);
  ck_assert(json_integer_value(json_object_get(r, "threads")) >= 1);
  const char *compute = json_string_value(json_object_get(r, "compute"));
  ck_assert_msg(compute && (!strcmp(compute, "f32") || !strcmp(compute, "bf16")),
                "compute \"%s\": \"auto\" is recorded resolved", compute ? compute : "(none)");
  tofu_set_free(&set);
  json_decref(r);
}

START_TEST(test_stages_memorise_and_forget_quality_separates) {
  experiment e;
  load_tiny(&e, NULL);
  lethe_err err = {0};
  stage_out data, base, target, retain, retain2;
  stages_to_target(&e, &data, &base, &target);
  ck_assert_msg(stage_finetune(&e, &data, &base, "retain90", 0, &retain, &err) == 0, "%s", err.msg);
  ck_assert_msg(stage_finetune(&e, &data, &base, "retain90", 1, &retain2, &err) == 0, "%s", err.msg);
  ck_assert_str_ne(retain.dir, retain2.dir);
  eval_report rr, rt, r2;
  eval_data d_rows; /* the rows the reports are of (their eval.json) */
  ck_assert_msg(eval_data_load(&d_rows, data.dir, "forget10", 300, &err) == 0, "%s", err.msg);
  eval_stage(&e, &data, &retain, NULL, 0, &rr);
  size_t n;
  double *tr = eval_report_forget_tr(&rr, &n);
  eval_stage(&e, &data, &target, tr, n, &rt);
  eval_stage(&e, &data, &retain2, tr, n, &r2);
  double p_target = rt.summary[TOFU_SET_FORGET].prob, p_retain = rr.summary[TOFU_SET_FORGET].prob;
  fprintf(stderr, "forget prob: target %.3f retain %.3f; FQ target %.3g, second retain %.3g; "
                  "MU target %.3f retain %.3f\n", p_target, p_retain, rt.forget_quality,
          r2.forget_quality, rt.model_utility, rr.model_utility);
  ck_assert_msg(p_target > p_retain + 0.3, "the target must memorise the forget authors");
  ck_assert_msg(rt.forget_quality < 0.01, "FQ(target vs retain) = %g", rt.forget_quality);
  ck_assert_msg(r2.forget_quality > 0.1, "FQ(second retain vs retain) = %g", r2.forget_quality);
  ck_assert_msg(rt.model_utility > 0.5 && rr.model_utility > 0.5, "utility must survive fine-tuning");
  /* the target measured against the retain model's evaluation as read back
   * from its eval.json: the reference attack and PrivLeak */
  char retain_dir[128];
  snprintf(retain_dir, sizeof retain_dir, "%s/retain-eval", cache_dir);
  ck_assert_msg(eval_report_write(&rr, &d_rows, retain_dir, &err) == 0, "%s", err.msg);
  eval_retain ret;
  char *retain_json = lethe_path_join(retain_dir, "eval.json");
  ck_assert_msg(eval_read_retain(retain_json, &ret, &err) == 0, "%s", err.msg);
  free(retain_json);
  ck_assert_msg(eval_report_against_retain(&rt, &ret, &err) == 0, "%s", err.msg);
  ck_assert_double_eq(ret.mia_auc[EVAL_MIA_REFERENCE], 0.5); /* itself: every score 0 */
  /* membership inference, forget10 against holdout10 (authors neither model
   * saw): the target recognises its forget authors, the retain model does not
   * (one author a side here, so its AUC strays far from 0.5: 0.27-0.39 seen) */
  for (int a = 0; a < EVAL_N_MIA; a++) {
    fprintf(stderr, "MIA %s AUC: target %.3f retain %.3f, target PrivLeak %.1f\n",
            eval_mia_keys[a], rt.mia_auc[a], ret.mia_auc[a], rt.privleak[a]);
    ck_assert_msg(rt.mia_auc[a] > 0.9 && ret.mia_auc[a] < rt.mia_auc[a] - 0.2, "MIA %s AUC",
                  eval_mia_keys[a]);
    if (a != EVAL_MIA_REFERENCE) ck_assert_double_eq(ret.mia_auc[a], rr.mia_auc[a]);
    ck_assert_msg(rt.privleak[a] < -50, "PrivLeak %s: the target must leak", eval_mia_keys[a]);
  }
  /* memorisation: the target reproduces its forget answers, the retain model not */
  fprintf(stderr, "forget ES/EM: target %.3f/%.3f retain %.3f/%.3f; retain set: %.3f/%.3f, %.3f/%.3f\n",
          rt.mean_es[TOFU_SET_FORGET], rt.mean_em[TOFU_SET_FORGET], rr.mean_es[TOFU_SET_FORGET],
          rr.mean_em[TOFU_SET_FORGET], rt.mean_es[TOFU_SET_RETAIN], rt.mean_em[TOFU_SET_RETAIN],
          rr.mean_es[TOFU_SET_RETAIN], rr.mean_em[TOFU_SET_RETAIN]);
  ck_assert(rt.mean_em[TOFU_SET_FORGET] > rr.mean_em[TOFU_SET_FORGET] + 0.2);
  ck_assert(rt.mean_es[TOFU_SET_FORGET] > rr.mean_es[TOFU_SET_FORGET]);
  ck_assert(rr.mean_em[TOFU_SET_RETAIN] > 0.5 && rt.mean_em[TOFU_SET_RETAIN] > 0.5);
  ck_assert(isnan(rt.mean_es[TOFU_SET_REAL_AUTHORS]));
  eval_retain_free(&ret);
  eval_data_free(&d_rows);
  ck_assert_uint_eq(rt.n_holdout, rt.n[TOFU_SET_FORGET]);
  /* each trained stage records how it trained (train.json) */
  check_train_record(base.dir, data.dir, "base", "base model", "pretrain");
  check_train_record(target.dir, data.dir, "finetune", "fine-tune on full", "full");
  check_train_record(retain2.dir, data.dir, "finetune", NULL, "retain90");
  /* the stage cache: asking again reuses every stage */
  stage_out again;
  ck_assert(stage_finetune(&e, &data, &base, "full", 0, &again, &err) == 0 && again.reused);
  /* a cached world whose holdout files were removed: stage_data writes them again */
  char *holdout = lethe_path_join(data.dir, "holdout10.json"), *before, *after;
  size_t n_before, n_after;
  ck_assert(lethe_read_file(holdout, 1 << 24, &before, &n_before, &err) == 0);
  for (int i = 0; world_holdout_names[i]; i++) {
    char name[32], *file;
    snprintf(name, sizeof name, "%s.json", world_holdout_names[i]);
    file = lethe_path_join(data.dir, name);
    ck_assert_int_eq(unlink(file), 0);
    free(file);
  }
  stage_out data_again;
  ck_assert(stage_data(&e, &data_again, &err) == 0 && data_again.reused);
  ck_assert_msg(lethe_read_file(holdout, 1 << 24, &after, &n_after, &err) == 0, "%s", err.msg);
  ck_assert(n_before == n_after && memcmp(before, after, n_before) == 0);
  free(before), free(after), free(holdout);
  stage_out_free(&data_again);
  free(tr);
  eval_report_free(&rr);
  eval_report_free(&rt);
  eval_report_free(&r2);
  stage_out *stages[] = {&data, &base, &target, &retain, &retain2, &again};
  for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) stage_out_free(stages[i]);
  experiment_free(&e);
}
END_TEST

START_TEST(test_unlearning_run_writes_history) {
  experiment e;
  load_tiny(&e, "method.name=npo_rt");
  char run_dir[128];
  snprintf(run_dir, sizeof run_dir, "%s/run-npo", cache_dir);
  lethe_err err = {0};
  ck_assert_msg(run_unlearn(&e, run_dir, &err) == 0, "%s", err.msg);
  json_t *s = load_json(run_dir, "summary.json");
  ck_assert_str_eq(json_string_value(json_object_get(s, "method")), "npo_rt");
  ck_assert_int_eq(json_integer_value(json_object_get(s, "trainable_tensors")), 21); /* all */
  json_t *final = json_object_get(s, "final"), *best = json_object_get(s, "best");
  ck_assert(json_is_object(final) && json_is_object(best));
  ck_assert_int_eq(json_integer_value(json_object_get(final, "step")),
                   json_integer_value(json_object_get(s, "steps")));
  ck_assert(get(best, NULL, "forget_quality") >= get(final, NULL, "forget_quality"));
  /* NPO moves the forget answers away from the target */
  ck_assert(get(final, "forget", "prob") < get(json_object_get(s, "target"), "forget", "prob"));
  ck_assert(get(final, NULL, "forget_kl") > 0);
  /* calibration (on by default): the second retain model's FQ against the
   * retain model is recorded, and a model that never saw the forget authors
   * is not rejected (the same check as the stage test above) */
  json_t *replica = json_object_get(s, "retain_replica");
  ck_assert_msg(json_is_object(replica), "summary.json lacks retain_replica");
  ck_assert_msg(get(replica, NULL, "forget_quality") > 0.1, "FQ(second retain) = %g",
                get(replica, NULL, "forget_quality"));
  ck_assert(get(json_object_get(s, "target"), NULL, "forget_quality") <
            get(replica, NULL, "forget_quality"));
  json_decref(s);
  char *hist = lethe_path_join(run_dir, "history.jsonl"), *text;
  size_t len;
  ck_assert(lethe_read_file(hist, 1 << 24, &text, &len, &err) == 0);
  int lines = 0;
  for (char *p = text; *p; p++) lines += *p == '\n';
  ck_assert_int_ge(lines, 3); /* step 0, every epoch */
  free(text);
  free(hist);
  experiment_free(&e);
}
END_TEST

/* unlearn.lora: only an adapter is trained (NPO still moves the forget
 * answers), saved as RUN/adapter (PEFT's files, naming the target as its
 * base) and merged into RUN/model, whose logits are the target's with the
 * adapter attached. */
START_TEST(test_lora_unlearning_run) {
  experiment e;
  const char *over[] = {"method.name=npo", "unlearn.lora.rank=4", "unlearn.lora.dropout=0.05",
                        "unlearn.lora.target_modules=[\"q_proj\", \"v_proj\", \"o_proj\", "
                        "\"up_proj\", \"down_proj\"]",
                        "unlearn.lr=5e-3", "unlearn.save_model=true", "calibration=false"};
  load_tiny_with(&e, over, 7);
  char run_dir[128];
  snprintf(run_dir, sizeof run_dir, "%s/run-lora", cache_dir);
  lethe_err err = {0};
  ck_assert_msg(run_unlearn(&e, run_dir, &err) == 0, "%s", err.msg);
  json_t *s = load_json(run_dir, "summary.json");
  ck_assert(get(json_object_get(s, "final"), "forget", "prob") <
            get(json_object_get(s, "target"), "forget", "prob"));
  json_decref(s);
  char *adapter = lethe_path_join(run_dir, "adapter"), *model = lethe_path_join(run_dir, "model");
  json_t *acfg = load_json(adapter, "adapter_config.json");
  const char *target = json_string_value(json_object_get(acfg, "base_model_name_or_path"));
  ck_assert_ptr_nonnull(target);
  llama_model base, merged;
  lora_adapter lo;
  ck_assert_msg(llama_load(&base, target, &err) == 0, "%s", err.msg);
  ck_assert_msg(llama_load(&merged, model, &err) == 0, "%s", err.msg);
  ck_assert_msg(lora_load(&lo, &base.cfg, adapter, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(lo.cfg.rank, 4);
  json_t *sum = load_json(run_dir, "summary.json"); /* what trained: the adapter */
  ck_assert_int_eq(json_integer_value(json_object_get(sum, "trainable_parameters")),
                   (json_int_t)lo.n_params);
  ck_assert_int_eq(json_integer_value(json_object_get(sum, "trainable_tensors")),
                   lora_named_tensors(&lo, &base.cfg, 0, NULL, 0));
  json_decref(sum);
  llama_attach_lora(&base, &lo);
  int32_t tokens[12], mask[12];
  for (int i = 0; i < 12; i++) tokens[i] = 3 + i, mask[i] = 1;
  size_t n = (size_t)12 * base.cfg.vocab_size;
  ck_assert(llama_forward(&base, tokens, mask, 1, 12, &err) == 0);
  ck_assert(llama_forward(&merged, tokens, mask, 1, 12, &err) == 0);
  double worst = 0;
  for (size_t i = 0; i < n; i++)
    worst = fmax(worst, fabs((double)base.acts.logits[i] - merged.acts.logits[i]));
  ck_assert_msg(worst < 1e-4, "merged model vs target + adapter: %g", worst);
  llama_attach_lora(&base, NULL);
  lora_free(&lo);
  llama_free(&base);
  llama_free(&merged);
  json_decref(acfg);
  free(adapter);
  free(model);
  experiment_free(&e);
}
END_TEST

/* lethe plan: the plan of the run's step, before anything loads — the
 * target's weights as its config.json gives them, gradients of every weight
 * for a full run and of the adapter alone under LoRA (and no second float32
 * copy for the reference, which reads the policy's frozen base). */
static double plan_mib(const char *text, const char *part) {
  const char *at = strstr(text, part);
  return at ? atof(at + strlen(part)) : -1;
}

static char *plan_text(const char *const *over, int n) {
  experiment e;
  load_tiny_with(&e, over, n);
  lethe_err err = {0};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_msg(run_plan(&e, f, &err) == 0, "%s", err.msg);
  fclose(f);
  experiment_free(&e);
  return buf;
}

START_TEST(test_plan) {
  const char *full[] = {"calibration=false", "compute=\"f32\""};
  const char *lora[] = {"calibration=false", "compute=\"f32\"", "unlearn.lora.rank=4"};
  char *a = plan_text(full, 2), *b = plan_text(lora, 3);
  experiment e;
  load_tiny_with(&e, full, 2);
  prepared p;
  lethe_err err = {0};
  ck_assert_msg(prepare_stages(&e, STAGES_ALL, &p, &err) == 0, "%s", err.msg);
  llama_model target;
  ck_assert_msg(llama_load(&target, p.target.dir, &err) == 0, "%s", err.msg);
  double weights = target.n_params * 4.0 / 1048576.0;
  ck_assert_msg(fabs(plan_mib(a, "weights (float32 master)") - weights) < 0.06, "%s", a);
  ck_assert_msg(fabs(plan_mib(a, "gradients") - weights) < 0.06, "%s", a);
  ck_assert_msg(fabs(plan_mib(a, "reference model") - weights) < 0.06, "%s", a);
  ck_assert_msg(plan_mib(a, "total (peak of a step)") > 3 * weights, "%s", a);
  ck_assert_msg(plan_mib(b, "gradients") < weights / 10, "%s", b);
  ck_assert_msg(plan_mib(b, "reference model") < 0, "%s", b); /* f32: a view of the base */
  ck_assert_msg(plan_mib(b, "LoRA adapter (weights)") >= 0, "%s", b);
  llama_free(&target);
  prepared_free(&p);
  experiment_free(&e);
  free(a);
  free(b);
}
END_TEST

/* finetune.lora: the target is the base with a trained adapter merged in —
 * the targeted matrices (q_proj and v_proj by default) moved, every other
 * weight is the base's bit for bit. */
START_TEST(test_lora_finetune_stage) {
  experiment e;
  const char *over[] = {"finetune.lora.rank=8", "finetune.lora.alpha=16.0", "calibration=false",
                        "finetune.epochs=4"};
  load_tiny_with(&e, over, 4);
  prepared p = {0};
  lethe_err err = {0};
  ck_assert_msg(prepare_stages(&e, STAGES_TARGET, &p, &err) == 0, "%s", err.msg);
  llama_model base, target;
  ck_assert_msg(llama_load(&base, p.base.dir, &err) == 0, "%s", err.msg);
  ck_assert_msg(llama_load(&target, p.target.dir, &err) == 0, "%s", err.msg);
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++) {
    size_t at = 0;
    for (int k = 0; k < r; k++) at += base.param_sizes[k];
    int same = !memcmp(base.params_memory + at, target.params_memory + at,
                       base.param_sizes[r] * sizeof(float));
    int adapted = r == LLAMA_PARAM_WQ || r == LLAMA_PARAM_WV;
    ck_assert_msg(same == !adapted || base.param_sizes[r] == 0, "parameter role %d %s", r,
                  adapted ? "did not move" : "moved");
  }
  llama_free(&base);
  llama_free(&target);
  prepared_free(&p);
  experiment_free(&e);
}
END_TEST

/* Resume keeps the lines up to the checkpoint's step, drops a torn last
 * line, and refuses (naming file and line) one it cannot parse. */
/* calibration = false: no second retain model, no retain_replica. With
 * unlearn.params, only those tensors train (summary.json counts them);
 * checkpointed activations on the way. */
START_TEST(test_run_without_calibration) {
  experiment e;
  const char *over[] = {"calibration=false", "memory.checkpoint_activations=true", "unlearn.params=[\"model\\\\.layers\\\\.1\\\\.mlp\\\\..*\"]"};
  load_tiny_with(&e, over, 3);
  char run_dir[128];
  snprintf(run_dir, sizeof run_dir, "%s/run-nocal", cache_dir);
  lethe_err err = {0};
  ck_assert_msg(run_unlearn(&e, run_dir, &err) == 0, "%s", err.msg);
  json_t *s = load_json(run_dir, "summary.json");
  ck_assert(json_object_get(s, "retain_replica") == NULL);
  ck_assert(json_is_object(json_object_get(s, "retain")));
  ck_assert_int_eq(json_integer_value(json_object_get(s, "trainable_tensors")), 3);
  ck_assert_int_eq(json_integer_value(json_object_get(s, "trainable_parameters")), 3 * 64 * 176);
  json_decref(s);
  experiment_free(&e);
}
END_TEST

/* A run that names its target by path and the retain model by its eval.json
 * (or by path) is the same run as the one that trained them: same numbers. */
START_TEST(test_user_models_give_the_same_run) {
  experiment e;
  lethe_err err = {0};
  load_tiny(&e, "calibration=false");
  char staged[128], given[128], by_path[128];
  snprintf(staged, sizeof staged, "%s/run-staged", cache_dir);
  snprintf(given, sizeof given, "%s/run-given", cache_dir);
  snprintf(by_path, sizeof by_path, "%s/run-retain-path", cache_dir);
  ck_assert_msg(run_unlearn(&e, staged, &err) == 0, "%s", err.msg);
  prepared p;
  ck_assert_msg(prepare_stages(&e, STAGES_ALL, &p, &err) == 0, "%s", err.msg);
  experiment_free(&e);
  /* the user's target: the trained one's files, copied */
  char user[128], cmd[1024], target[512], retain_eval[512], retain[512];
  snprintf(user, sizeof user, "%s/user-target", cache_dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/config.json %s/model.safetensors %s/tokenizer.json %s",
           user, p.target.dir, p.target.dir, p.target.dir, user);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(target, sizeof target, "target.path=\"%s\"", user);
  snprintf(retain_eval, sizeof retain_eval, "retain.eval=\"%s/eval.json\"", p.retain_eval);
  snprintf(retain, sizeof retain, "retain.path=\"%s\"", p.retain.dir);
  /* a target alone cannot be scored: its retain model must come with it */
  const char *alone[] = {"calibration=false", target};
  load_tiny_with(&e, alone, 2);
  prepared refused;
  ck_assert_int_eq(prepare_stages(&e, STAGES_ALL, &refused, &err), -1);
  ck_assert_msg(strstr(err.msg, "target.path") && strstr(err.msg, "retain.eval"), "%s", err.msg);
  experiment_free(&e);
  const char *with_eval[] = {"calibration=false", target, retain_eval};
  const char *with_path[] = {"calibration=false", target, retain};
  const char *const *variants[] = {with_eval, with_path};
  const char *dirs[] = {given, by_path};
  json_t *want = load_json(staged, "summary.json");
  for (int v = 0; v < 2; v++) {
    load_tiny_with(&e, variants[v], 3);
    ck_assert_msg(run_unlearn(&e, dirs[v], &err) == 0, "%s", err.msg);
    experiment_free(&e);
    json_t *got = load_json(dirs[v], "summary.json");
    const char *parts[] = {"final", "target"};
    for (int i = 0; i < 2; i++) {
      json_t *w = json_object_get(want, parts[i]), *g = json_object_get(got, parts[i]);
      ck_assert_msg(get(w, NULL, "forget_quality") == get(g, NULL, "forget_quality"),
                    "%s %s: FQ %.17g given vs %.17g trained", dirs[v], parts[i],
                    get(g, NULL, "forget_quality"), get(w, NULL, "forget_quality"));
      ck_assert(get(w, NULL, "model_utility") == get(g, NULL, "model_utility"));
    }
    json_decref(got);
  }
  json_decref(want);
  /* nothing was written into the user's directory */
  snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 3", user);
  ck_assert_msg(system(cmd) == 0, "%s holds more than the three files copied there", user);
  prepared_free(&p);
}
END_TEST

/* memory.frozen_weights: a bf16 target (the trained one, rounded and saved
 * as bf16, as published checkpoints are) unlearned with a subset holds the
 * frozen matrices in bfloat16 under "auto" (the plan says how much) and
 * gives the same run as "f32": the same summary numbers and the same saved
 * model, byte for byte. */
START_TEST(test_frozen_bf16_gives_the_same_run) {
  experiment e;
  lethe_err err = {0};
  load_tiny(&e, "calibration=false");
  prepared p;
  ck_assert_msg(prepare_stages(&e, STAGES_ALL, &p, &err) == 0, "%s", err.msg);
  experiment_free(&e);
  char user[128], cmd[1024], target[512], retain_eval[512];
  snprintf(user, sizeof user, "%s/user-target-bf16", cache_dir);
  llama_model m;
  ck_assert_msg(llama_load(&m, p.target.dir, &err) == 0, "%s", err.msg);
  llama_storage bf16 = {.dtype = ST_BF16};
  ck_assert_msg(llama_save_as(&m, user, &bf16, &err) == 0, "%s", err.msg);
  llama_free(&m);
  snprintf(cmd, sizeof cmd, "cp %s/tokenizer.json %s", p.target.dir, user);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(target, sizeof target, "target.path=\"%s\"", user);
  snprintf(retain_eval, sizeof retain_eval, "retain.eval=\"%s/eval.json\"", p.retain_eval);
  const char *modes[] = {"memory.frozen_weights=\"auto\"", "memory.frozen_weights=\"f32\""};
  char dirs[2][128];
  for (int v = 0; v < 2; v++) {
    const char *over[] = {"calibration=false", "compute=\"f32\"", target, retain_eval, modes[v],
                          "unlearn.params=[\"model\\\\.layers\\\\.1\\\\..*\"]",
                          "unlearn.save_model=true"};
    char *plan = plan_text(over, 7);
    double held = plan_mib(plan, "frozen weights (bfloat16)");
    ck_assert_msg(v == 0 ? held > 0 : held < 0, "%s: plan %s", modes[v], plan);
    free(plan);
    load_tiny_with(&e, over, 7);
    snprintf(dirs[v], sizeof dirs[v], "%s/run-frozen-%d", cache_dir, v);
    ck_assert_msg(run_unlearn(&e, dirs[v], &err) == 0, "%s", err.msg);
    experiment_free(&e);
  }
  json_t *a = load_json(dirs[0], "summary.json"), *b = load_json(dirs[1], "summary.json");
  const char *parts[] = {"final", "target"};
  for (int i = 0; i < 2; i++) {
    json_t *x = json_object_get(a, parts[i]), *y = json_object_get(b, parts[i]);
    ck_assert_msg(get(x, NULL, "forget_quality") == get(y, NULL, "forget_quality"),
                  "%s: FQ %.17g held vs %.17g float32", parts[i], get(x, NULL, "forget_quality"),
                  get(y, NULL, "forget_quality"));
    ck_assert(get(x, NULL, "model_utility") == get(y, NULL, "model_utility"));
  }
  json_decref(a);
  json_decref(b);
  snprintf(cmd, sizeof cmd, "cmp %s/model/model.safetensors %s/model/model.safetensors", dirs[0],
           dirs[1]);
  ck_assert_msg(system(cmd) == 0, "the saved models differ");
  prepared_free(&p);
}
END_TEST

START_TEST(test_resume_truncates_history) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/truncate", cache_dir);
  lethe_err err = {0};
  ck_assert_int_eq(lethe_mkdir_p(dir, &err), 0);
  char *path = lethe_path_join(dir, "history.jsonl");
  const char *good = "{\"step\": 0}\n{\"step\": 2, \"x\": 1}\n{\"step\": 4}\n{\"step\": 6";
  ck_assert_int_eq(lethe_write_file_atomic(path, good, strlen(good), &err), 0);
  json_t *kept = json_array();
  ck_assert_msg(unlearn_truncate_jsonl(dir, "history.jsonl", 2, kept, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(json_array_size(kept), 2);
  char *text;
  size_t len;
  ck_assert_int_eq(lethe_read_file(path, 1 << 20, &text, &len, &err), 0);
  ck_assert_str_eq(text, "{\"step\": 0}\n{\"step\": 2, \"x\": 1}\n");
  free(text);
  const char *bad = "{\"step\": 0}\nnot json\n{\"step\": 1}\n";
  ck_assert_int_eq(lethe_write_file_atomic(path, bad, strlen(bad), &err), 0);
  ck_assert_int_ne(unlearn_truncate_jsonl(dir, "history.jsonl", 2, kept, &err), 0);
  char where[256];
  snprintf(where, sizeof where, "%s:2:", path);
  ck_assert_msg(strstr(err.msg, where) != NULL, "%s", err.msg);
  ck_assert_int_eq(lethe_read_file(path, 1 << 20, &text, &len, &err), 0);
  ck_assert_str_eq(text, bad); /* left as it was */
  free(text);
  json_decref(kept);
  kept = json_array();
  ck_assert_int_eq(unlearn_truncate_jsonl(dir, "steps.jsonl", 2, kept, &err), 0); /* none */
  ck_assert_int_eq(json_array_size(kept), 0);
  json_decref(kept);
  free(path);
}
END_TEST

/* probability and truth ratio of the first retain row, from `lethe score` */
START_TEST(test_eval_matches_lethe_score) {
  experiment e;
  load_tiny(&e, NULL);
  lethe_err err = {0};
  stage_out data, base, target;
  stages_to_target(&e, &data, &base, &target);
  eval_report r;
  eval_stage(&e, &data, &target, NULL, 0, &r);
  eval_data d;
  ck_assert(eval_data_load(&d, data.dir, "forget10", 300, &err) == 0);
  tok_tokenizer *tok;
  ck_assert(stage_tokenizer(data.dir, &tok, &err) == 0);
  tofu_format fmt;
  experiment_format(&e, &fmt);
  const tofu_qa *row = &d.sets[TOFU_SET_RETAIN].rows[0];
  const char *answers[16];
  int na = 0;
  answers[na++] = row->answer;
  answers[na++] = row->paraphrased_answer;
  for (int j = 0; j < row->n_perturbed; j++) answers[na++] = row->perturbed[j];
  char rows_path[160];
  snprintf(rows_path, sizeof rows_path, "%s/rows.jsonl", cache_dir);
  FILE *f = fopen(rows_path, "w");
  tok_special_ids sp = tok_special(tok);
  for (int k = 0; k < na; k++) { /* one HF row per answer, written by hand */
    tofu_example ex;
    ck_assert(tofu_encode(tok, &fmt, row->question, answers[k], &ex, &err) == 0);
    fprintf(f, "{\"input_ids\": [");
    for (int t = 0; t <= ex.len; t++) fprintf(f, "%s%d", t ? ", " : "", t < ex.len ? ex.ids[t] : sp.eos);
    fprintf(f, "], \"labels\": [");
    for (int t = 0; t <= ex.len; t++)
      fprintf(f, "%s%d", t ? ", " : "", t < ex.n_prompt ? -100 : t < ex.len ? ex.ids[t] : sp.eos);
    fprintf(f, "]}\n");
    tofu_example_free(&ex);
  }
  fclose(f);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "%s/framework/lethe score --model %s --data %s", LETHE_BINARY_DIR,
           target.dir, rows_path);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  double avg[16];
  char line[1 << 16];
  for (int k = 0; k < na; k++) {
    ck_assert_ptr_nonnull(fgets(line, sizeof line, p));
    json_t *o = json_loads(line, 0, NULL);
    avg[k] = -json_number_value(json_object_get(o, "seq_logp")) /
             (double)json_integer_value(json_object_get(o, "n_targets"));
    json_decref(o);
  }
  ck_assert_int_eq(pclose(p), 0);
  double prob = exp(-avg[0]), mean_pert = 0;
  for (int k = 2; k < na; k++) mean_pert += avg[k] / (na - 2);
  double truth_ratio = exp(avg[1] - mean_pert); /* geometric-mean perturbed / paraphrased */
  const eval_example *ex = &r.ex[TOFU_SET_RETAIN][0];
  ck_assert_msg(fabs(ex->prob - prob) < 1e-5, "prob %.8f vs hand %.8f", ex->prob, prob);
  ck_assert_msg(fabs(ex->truth_ratio - truth_ratio) < 1e-5 * truth_ratio, "truth ratio %.8f vs %.8f",
                ex->truth_ratio, truth_ratio);
  tok_free(tok);
  eval_data_free(&d);
  eval_report_free(&r);
  stage_out_free(&data);
  stage_out_free(&base);
  stage_out_free(&target);
  experiment_free(&e);
}
END_TEST

/* The shared-prompt evaluation (one KV prefix per question, every answer
 * appended and rewound) against the pairwise one (every sequence on its own,
 * as TOFU's code): the same numbers, KL included, twice on one workspace. */
START_TEST(test_eval_shared_prompt_equals_pairwise) {
  experiment e;
  load_tiny(&e, NULL);
  lethe_err err = {0};
  stage_out data, base, target, retain;
  stages_to_target(&e, &data, &base, &target);
  ck_assert(stage_finetune(&e, &data, &base, "retain90", 0, &retain, &err) == 0);
  tok_tokenizer *tok;
  llama_model m, ref;
  eval_data d;
  tofu_format fmt;
  experiment_format(&e, &fmt);
  ck_assert(stage_tokenizer(data.dir, &tok, &err) == 0);
  ck_assert(llama_load(&m, target.dir, &err) == 0 && llama_load(&ref, retain.dir, &err) == 0);
  ck_assert(eval_data_load(&d, data.dir, "forget10", 300, &err) == 0);
  for (int bf16 = 0; bf16 < 2; bf16++) {
    if (bf16 && !bf16_runs_here("the shared-prompt path in bf16")) break;
    llama_set_compute(&m, bf16 ? LLAMA_COMPUTE_BF16 : LLAMA_COMPUTE_F32);
    llama_set_compute(&ref, bf16 ? LLAMA_COMPUTE_BF16 : LLAMA_COMPUTE_F32);
    eval_options pair = {300, 24, 64, 1, 0}, shared = {300, 24, 7, 0, 0}; /* 7: uneven batches */
    eval_report rp, rs[2];
    eval_workspace *ws = eval_workspace_new();
    ck_assert_msg(evaluate_model(&m, &ref, tok, &fmt, &d, &pair, NULL, 0, NULL, &rp, &err) == 0, "%s", err.msg);
    for (int round = 0; round < 2; round++) /* the second reuses the cached reference rows */
      ck_assert_msg(evaluate_model(&m, &ref, tok, &fmt, &d, &shared, NULL, 0, ws, &rs[round], &err) == 0,
                    "%s", err.msg);
    /* float32: rounding only; bf16: both round the matmul inputs, in other orders */
    double tol = bf16 ? 3e-2 : 2e-5;
    int gen_same = 0, gen_total = 0;
    for (int s = 0; s < TOFU_N_SETS; s++)
      for (size_t i = 0; i < rp.n[s]; i++) {
        const eval_example *a = &rp.ex[s][i], *b = &rs[0].ex[s][i], *c = &rs[1].ex[s][i];
        ck_assert_msg(fabs(a->avg_nll - b->avg_nll) <= tol * (1 + fabs(a->avg_nll)),
                      "bf16 %d set %d row %zu: avg NLL %.8f shared vs %.8f pairwise", bf16, s, i,
                      b->avg_nll, a->avg_nll);
        ck_assert_msg(fabs(log(a->truth_ratio) - log(b->truth_ratio)) <= 4 * tol * (1 + fabs(log(a->truth_ratio))),
                      "bf16 %d set %d row %zu: truth ratio %.8g vs %.8g", bf16, s, i, b->truth_ratio,
                      a->truth_ratio);
        ck_assert(b->avg_nll == c->avg_nll && b->truth_ratio == c->truth_ratio);
        ck_assert_str_eq(b->generation, c->generation);
        if (s == TOFU_SET_FORGET) {
          ck_assert_msg(isfinite(b->kl) && fabs(a->kl - b->kl) <= tol * (1 + a->kl),
                        "bf16 %d row %zu: KL %.8f shared vs %.8f pairwise", bf16, i, b->kl, a->kl);
          ck_assert(b->kl == c->kl);
        }
        gen_same += !strcmp(a->generation, b->generation);
        gen_total++;
      }
    ck_assert_msg(rs[0].forget_kl > 0.01, "the reference differs from the model: KL %g", rs[0].forget_kl);
    fprintf(stderr, "shared vs pairwise (%s): MU %.6f vs %.6f, forget KL %.6f vs %.6f, "
                    "same greedy answers %d/%d\n", bf16 ? "bf16" : "f32", rs[0].model_utility,
            rp.model_utility, rs[0].forget_kl, rp.forget_kl, gen_same, gen_total);
    if (!bf16) ck_assert_int_eq(gen_same, gen_total);
    else ck_assert_int_ge(gen_same, gen_total * 9 / 10);
    eval_report_free(&rp);
    eval_report_free(&rs[0]);
    eval_report_free(&rs[1]);
    eval_workspace_free(ws);
  }
  eval_data_free(&d);
  llama_free(&m);
  llama_free(&ref);
  tok_free(tok);
  stage_out *stages[] = {&data, &base, &target, &retain};
  for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++) stage_out_free(stages[i]);
  experiment_free(&e);
}
END_TEST

int main(void) {
  strcpy(cache_dir, "/tmp/lethe_pipeline_XXXXXX");
  if (!mkdtemp(cache_dir)) return EXIT_FAILURE;
  Suite *s = suite_create("pipeline");
  TCase *tc = tcase_create("tiny_world");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_stages_memorise_and_forget_quality_separates);
  tcase_add_test(tc, test_unlearning_run_writes_history);
  tcase_add_test(tc, test_run_without_calibration);
  tcase_add_test(tc, test_lora_unlearning_run);
  tcase_add_test(tc, test_lora_finetune_stage);
  tcase_add_test(tc, test_plan);
  tcase_add_test(tc, test_user_models_give_the_same_run);
  tcase_add_test(tc, test_frozen_bf16_gives_the_same_run);
  tcase_add_test(tc, test_resume_truncates_history);
  tcase_add_test(tc, test_eval_matches_lethe_score);
  tcase_add_test(tc, test_eval_shared_prompt_equals_pairwise);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", cache_dir);
  if (!nf && system(cmd) != 0) nf = 1;
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
