/* test_dist_runs — `mpirun -np 2 lethe ...` gives the run of one process
 * (docs/scaling.md), on a tiny embedded world with one thread per rank:
 * - unlearning (NPO: log-prob gathers and the reference cache; NPO+KL:
 *   logits gathers and a reference model): every step's loss agrees with
 *   one process within 1e-5 relative, every weight tensor within 1e-5 in
 *   norm and each weight within 1e-3 of the tensor's largest, and the
 *   evaluation before the first step is identical (NPO+KL trains a subset
 *   of the tensors, unlearn.params; NPO+L2, RMU and GRU the ABI 1.2/1.3
 *   paths: parameters, hidden states, the forget and retain gradients). A shard's gradient is a
 *   sum in another order, and AdamW turns rounding in a near-zero gradient
 *   into a fraction of a whole step (up to lr) of that one weight: measured
 *   with lethe's AVX2 GEMM, one embedding weight of a rare token differs by
 *   7e-5 of the tensor's largest after 8 steps while the tensor differs by
 *   1.2e-6 in norm (AVX-512, oneDNN: 8e-7 and 5e-8). A wrong shard or sum
 *   would be off by O(1);
 * - `lethe eval` of one model with 1, 2 and 3 ranks writes identical files;
 * - the stages (base, target, retain: data-parallel training) built by 2
 *   ranks in a fresh cache match those of one process more loosely: their
 *   evaluations within 1e-4 relative, each weight tensor within 1e-2 in
 *   norm. Training for hundreds of steps at a high learning rate is
 *   chaotic: AdamW divides by the root of each weight's gradient history,
 *   so rounding differences in near-zero gradients become whole steps of
 *   single weights (embedding and head rows of rare tokens), and those grow.
 *   Measured here: ~3e-7 in norm after the base, 4e-5 and 3e-4 after the
 *   fine-tunings; comparing 1, 2 and 3 ranks pairwise, no pair is
 *   systematically closer — rounding, not a rank-count effect. A wrong
 *   shard or sum would be off by O(1). The target's evaluation that
 *   `lethe train` wrote is the file `lethe eval` writes for it with the
 *   same options and ranks (every option set: a stray `pairwise` took
 *   another path, or on one rank only another sequence of gathers).
 * Runs `lethe` and LETHE_MPIRUN as child processes. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"

static char work[64];
static const char *const lethe = LETHE_BINARY_DIR "/framework/lethe";

/* Runs a shell command built from fmt (one thread per process). */
static void sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 ", work);
  vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
  va_end(ap);
  ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static char *slurp(const char *rel) {
  char *path = lethe_path_join(work, rel), *text = NULL;
  size_t len;
  lethe_err err = {0};
  ck_assert_msg(lethe_read_file(path, 1 << 26, &text, &len, &err) == 0, "%s", err.msg);
  free(path);
  return text;
}

/* Over the tensors of two model directories: the largest max|a − b| / max|a|
 * (returned) and the largest ‖a − b‖ / ‖a‖ (*norm_rel). */
static double weights_rel_diff(const char *dir_a, const char *dir_b, double *norm_rel) {
  llama_model a = {0}, b = {0};
  lethe_err err = {0};
  char *pa = lethe_path_join(work, dir_a), *pb = lethe_path_join(work, dir_b);
  ck_assert_msg(llama_load(&a, pa, &err) == 0, "%s", err.msg);
  ck_assert_msg(llama_load(&b, pb, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(a.n_params, b.n_params);
  int n = llama_named_tensors(&a, LLAMA_OF_PARAMS, NULL, 0);
  llama_tensor_ref *ra = calloc((size_t)n, sizeof *ra), *rb = calloc((size_t)n, sizeof *rb);
  llama_named_tensors(&a, LLAMA_OF_PARAMS, ra, n);
  llama_named_tensors(&b, LLAMA_OF_PARAMS, rb, n);
  double worst = 0;
  *norm_rel = 0;
  for (int t = 0; t < n; t++) {
    size_t numel = (size_t)ra[t].shape[0] * (ra[t].ndim == 2 ? (size_t)ra[t].shape[1] : 1);
    double scale = 0, diff = 0, sq = 0, sq_diff = 0;
    for (size_t i = 0; i < numel; i++) {
      double x = ra[t].data[i], d = x - rb[t].data[i];
      scale = fmax(scale, fabs(x));
      diff = fmax(diff, fabs(d));
      sq += x * x;
      sq_diff += d * d;
    }
    worst = fmax(worst, scale > 0 ? diff / scale : diff);
    *norm_rel = fmax(*norm_rel, sq > 0 ? sqrt(sq_diff / sq) : sqrt(sq_diff));
  }
  free(ra);
  free(rb);
  free(pa);
  free(pb);
  llama_free(&a);
  llama_free(&b);
  return worst;
}

static void write_config(const char *name, const char *cache) {
  char *path = lethe_path_join(work, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fprintf(f,
          "cache_dir = \"%s/%s\";\n"
          "compute = \"f32\";\n"
          "world = { authors = 10; general_qa = 20; idk = 20; };\n"
          "data = { forget_split = \"forget10\"; };\n"
          "model = { hidden_size = 64; intermediate_size = 176; num_hidden_layers = 2;\n"
          "          num_attention_heads = 4; num_key_value_heads = 2; };\n"
          "base = { epochs = 4; batch_size = 16; lr = 3e-3; };\n"
          "finetune = { epochs = 2; batch_size = 15; lr = 3e-3; };\n"
          "unlearn = { epochs = 3; batch_size = 7; lr = 1e-3; save_model = true; };\n"
          "eval = { max_new_tokens = 16; batch_size = 16; };\n",
          work, cache);
  fclose(f);
  free(path);
}

static void setup(void) {
  strcpy(work, "/tmp/lethe_dist_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(work));
  write_config("one.cfg", "cache1");
  write_config("two.cfg", "cache2");
  sh("%s train one.cfg --quiet > /dev/null", lethe);
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", work);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", work);
}

static const char *const methods[] = {"npo", "npo_kl", "npo_l2", "rmu", "gru"};
/* npo_kl trains a subset: only its gradients are summed over ranks; npo_l2
 * adds dL/dθ once (rank 0); rmu's hidden states are gathered and its
 * backward starts at layer 0, whose MLP alone trains (the plugin's pattern);
 * gru's forget and retain parts are each summed over ranks before its
 * projection, whose result rank 0 alone adds */
static const char *const subsets[] = {"",
    "-s 'unlearn.params=[\"model\\\\.layers\\\\.1\\\\..*\", \"lm_head\\\\.weight\"]'", "",
    "-s method.layer=0", "-s method.npo=true"};

START_TEST(test_unlearning_matches_one_process) {
  const char *m = methods[_i];
  sh("%s unlearn one.cfg --out r1-%s --quiet -s method.name=%s %s", lethe, m, m, subsets[_i]);
  sh("%s -np 2 %s unlearn one.cfg --out r2-%s --quiet -s method.name=%s %s", LETHE_MPIRUN, lethe, m,
     m, subsets[_i]);
  char p1[64], p2[64];
  snprintf(p1, sizeof p1, "r1-%s/steps.jsonl", m);
  snprintf(p2, sizeof p2, "r2-%s/steps.jsonl", m);
  char *s1 = slurp(p1), *s2 = slurp(p2), *save1, *save2;
  int steps = 0;
  double worst = 0;
  for (char *a = strtok_r(s1, "\n", &save1), *b = strtok_r(s2, "\n", &save2); a || b;
       a = strtok_r(NULL, "\n", &save1), b = strtok_r(NULL, "\n", &save2), steps++) {
    ck_assert_msg(a && b, "%s: the runs have different numbers of steps", m);
    json_t *ja = json_loads(a, 0, NULL), *jb = json_loads(b, 0, NULL);
    double la = json_number_value(json_object_get(ja, "loss"));
    double lb = json_number_value(json_object_get(jb, "loss"));
    worst = fmax(worst, fabs(la - lb) / fmax(fabs(la), 1e-12));
    json_decref(ja);
    json_decref(jb);
  }
  snprintf(p1, sizeof p1, "r1-%s/model", m);
  snprintf(p2, sizeof p2, "r2-%s/model", m);
  double norm_rel, wdiff = weights_rel_diff(p1, p2, &norm_rel);
  fprintf(stderr, "%s, %d steps: 1 vs 2 ranks: loss rel diff %.2g, weights rel diff %.2g (norm %.2g)\n",
          m, steps, worst, wdiff, norm_rel);
  ck_assert_int_ge(steps, 3);
  ck_assert_msg(worst <= 1e-5, "%s: losses differ by %g relative", m, worst);
  ck_assert_msg(norm_rel <= 1e-5, "%s: weights differ by %g relative in norm", m, norm_rel);
  ck_assert_msg(wdiff <= 1e-3, "%s: a weight differs by %g of its tensor's largest", m, wdiff);
  /* the evaluation before the first step: the same model, the same numbers */
  snprintf(p1, sizeof p1, "r1-%s/history.jsonl", m);
  snprintf(p2, sizeof p2, "r2-%s/history.jsonl", m);
  char *h1 = slurp(p1), *h2 = slurp(p2);
  ck_assert_ptr_nonnull(strchr(h1, '\n'));
  *strchr(h1, '\n') = '\0';
  size_t len = strlen(h1);
  ck_assert_msg(!strncmp(h1, h2, len) && h2[len] == '\n', "%s: step-0 evaluations differ", m);
  free(h1);
  free(h2);
  free(s1);
  free(s2);
}
END_TEST

START_TEST(test_evaluation_identical_over_ranks) {
  sh("%s unlearn one.cfg --out ev --quiet -s method.name=ga -s unlearn.epochs=1", lethe);
  const char *args = "--data $(ls -d cache1/world-*[0-9a-f]) --split forget10 --model ev/model "
                     "--ref $(ls -d cache1/full-*[0-9a-f]) --batch-size 8 --max-new-tokens 12";
  sh("%s eval %s --out e1 > /dev/null", lethe, args);
  sh("%s -np 2 %s eval %s --out e2 > /dev/null", LETHE_MPIRUN, lethe, args);
  sh("%s -np 3 %s eval %s --out e3 > /dev/null", LETHE_MPIRUN, lethe, args);
  sh("cmp e1/eval.json e2/eval.json && cmp e1/eval.json e3/eval.json && "
     "cmp e1/summary.json e2/summary.json && cmp e1/summary.json e3/summary.json");
  char *text = slurp("e1/eval.json");
  ck_assert_ptr_nonnull(strstr(text, "\"kl\"")); /* forget KL took part */
  free(text);
}
END_TEST

/* A number from a JSON file: path inside work, then keys. */
static double json_at(const char *rel, const char *set, const char *key) {
  char *text = slurp(rel);
  json_t *j = json_loads(text, 0, NULL), *o = set ? json_object_get(j, set) : j;
  ck_assert_ptr_nonnull(o);
  double v = json_number_value(json_object_get(o, key));
  json_decref(j);
  free(text);
  return v;
}

/* `launcher lethe eval` of cache N's target model (write_config's eval
 * options) against the retain model's evaluation writes the eval.json that
 * `lethe train` wrote into the stage. */
static void stage_eval_is_lethe_eval(int cache, const char *launcher) {
  sh("%s %s eval --data $(ls -d cache%d/world-*[0-9a-f]) --split forget10 --model "
     "$(ls -d cache%d/full-*[0-9a-f]) --retain-eval $(ls cache%d/retain90-[0-9a-f]*[0-9a-f]/eval-*/eval.json) "
     "--batch-size 16 --max-new-tokens 16 --compute f32 --out stage-eval%d > /dev/null",
     launcher, lethe, cache, cache, cache, cache);
  sh("cmp cache%d/full-*[0-9a-f]/eval-*/eval.json stage-eval%d/eval.json", cache, cache);
}

START_TEST(test_stages_match_one_process) {
  sh("%s -np 2 %s train two.cfg --quiet > /dev/null", LETHE_MPIRUN, lethe);
  stage_eval_is_lethe_eval(1, "");
  stage_eval_is_lethe_eval(2, LETHE_MPIRUN " -np 2");
  const char *stages[] = {"base", "full", "retain90"};
  for (int i = 0; i < 3; i++) {
    char cmd[128], dirs[2][256];
    for (int c = 0; c < 2; c++) {
      snprintf(cmd, sizeof cmd, "cd %s && ls -d cache%d/%s-*[0-9a-f]", work, c + 1, stages[i]);
      FILE *p = popen(cmd, "r");
      ck_assert(p && fgets(dirs[c], sizeof dirs[c], p));
      pclose(p);
      dirs[c][strcspn(dirs[c], "\n")] = '\0';
    }
    ck_assert_str_eq(strrchr(dirs[0], '/'), strrchr(dirs[1], '/')); /* the same stage key */
    double norm_rel, d = weights_rel_diff(dirs[0], dirs[1], &norm_rel), worst = 0;
    if (i > 0) { /* the fine-tuned models' evaluations */
      static const char *const sets[] = {"forget", "retain", "real_authors", "world_facts"};
      for (int k = 0; k < 4; k++) {
        double v[2];
        for (int c = 0; c < 2; c++) {
          char rel[512], found[512];
          snprintf(cmd, sizeof cmd, "cd %s && ls %s/eval-*/summary.json", work, dirs[c]);
          FILE *p = popen(cmd, "r");
          ck_assert(p && fgets(found, sizeof found, p));
          pclose(p);
          found[strcspn(found, "\n")] = '\0';
          snprintf(rel, sizeof rel, "%s", found);
          v[c] = json_at(rel, sets[k], "prob");
        }
        worst = fmax(worst, fabs(v[0] - v[1]) / fmax(fabs(v[0]), 1e-12));
      }
    }
    fprintf(stderr, "stage %s: 1 vs 2 ranks: weights rel diff %.2g (norm %.2g), evaluation rel diff %.2g\n",
            stages[i], d, norm_rel, worst);
    ck_assert_msg(norm_rel <= 1e-2, "stage %s: weights differ by %g relative", stages[i], norm_rel);
    ck_assert_msg(worst <= 1e-4, "stage %s: evaluations differ by %g relative", stages[i], worst);
  }
}
END_TEST

int main(void) {
  Suite *s = suite_create("dist_runs");
  TCase *tc = tcase_create("one_vs_two_ranks");
  tcase_set_timeout(tc, 600);
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, test_unlearning_matches_one_process, 0, 5);
  tcase_add_test(tc, test_evaluation_identical_over_ranks);
  tcase_add_test(tc, test_stages_match_one_process);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
