/* test_unlearn_session — unlearn.h's session: the batches it exposes are
 * those its steps train on, and its training starts from the model given.
 * The oracle of the first step's loss is NPO+RT's value at the reference
 * (plugins/npo_rt/README.md): the policy equals the reference, so every
 * forget ratio is 0 and L_NPO = (2/β)·ln 2; the retain term is the mean NLL
 * of the retain rows of step 0's batch, scored here by a fresh copy of the
 * model. A run over the wrong rows, or from another model, misses it. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/objective.h"
#include "unlearn/unlearn.h"

static char cache_dir[64];

typedef struct step_losses {
  double v[16];
  int n;
} step_losses;

static int record(void *ctx, long step, double loss, lethe_err *err) {
  (void)err;
  step_losses *l = ctx;
  if (step > 0 && l->n < 16) l->v[l->n++] = loss;
  return 0;
}

/* Mean NLL of the labelled positions of rows [row0, row0 + n) of tb under m. */
static double rows_nll(llama_model *m, const token_batch *tb, int row0, int n) {
  lethe_err err = {0};
  float *lp = malloc(sizeof(float) * (size_t)tb->B * tb->T);
  ck_assert_msg(objective_target_logp(m, tb, lp, &err) == 0, "%s", err.msg);
  double sum = 0;
  long count = 0;
  for (size_t i = (size_t)row0 * tb->T; i < (size_t)(row0 + n) * tb->T; i++)
    if (tb->targets[i] >= 0) sum -= lp[i], count++;
  free(lp);
  return sum / (double)count;
}

START_TEST(test_session_first_step_is_npo_rt_at_the_reference) {
  char cache[128], model_dir[128];
  snprintf(cache, sizeof cache, "cache_dir=\"%s\"", cache_dir);
  snprintf(model_dir, sizeof model_dir, "%s/model", cache_dir);
  const char *over[] = {cache, "world.authors=10", "world.general_qa=20", "world.idk=20",
                        "model.hidden_size=64", "model.intermediate_size=176",
                        "model.num_hidden_layers=2", "method.name=npo_rt", "unlearn.epochs=1",
                        "unlearn.batch_size=8", "unlearn.lr=1e-3", "unlearn.warmup_epochs=0",
                        "compute=\"f32\""};
  lethe_err err = {0};
  experiment e;
  ck_assert_msg(experiment_load(&e, NULL, over, 13, &err) == 0, "%s", err.msg);
  e.quiet = 1;
  stage_out data;
  ck_assert_msg(stage_data(&e, &data, &err) == 0, "%s", err.msg);
  tok_tokenizer *tok;
  ck_assert_msg(stage_tokenizer(data.dir, &tok, &err) == 0, "%s", err.msg);
  tok_special_ids sp = tok_special(tok);
  llama_config cfg;
  experiment_model_config(&e, tok_vocab_size(tok), sp.bos, sp.eos, sp.pad, &cfg);
  llama_model start = {0};
  ck_assert(llama_init(&start, &cfg, 3, &err) == 0 && llama_save(&start, model_dir, &err) == 0 &&
            stage_copy_tokenizer(data.dir, model_dir, &err) == 0);

  unlearn_session *s;
  ck_assert_msg(unlearn_session_open(&s, &e, data.dir, model_dir, &err) == 0, "%s", err.msg);
  const train_config *tc = unlearn_session_train_config(s);
  ck_assert_int_eq(tc->total_steps, 2); /* forget10 of 10 authors: 20 rows, batches of 8 */
  ck_assert_ptr_null(tc->checkpoint_path);
  token_batch tb;
  lethe_segment seg[LETHE_SEG_COUNT];
  unlearn_session_batch(s, 0, 0, &tb, seg);
  ck_assert_int_eq(seg[LETHE_SEG_FORGET].nrows, 8);
  ck_assert_int_eq(seg[LETHE_SEG_RETAIN].nrows, 8);
  ck_assert_int_eq(seg[LETHE_SEG_IDK].nrows, 0); /* npo_rt takes no idk rows */
  double retain_nll = rows_nll(&start, &tb, seg[LETHE_SEG_RETAIN].row0, 8);
  /* the reference is the starting model */
  double ref_nll = rows_nll(unlearn_session_reference(s), &tb, seg[LETHE_SEG_RETAIN].row0, 8);
  ck_assert_msg(fabs(ref_nll - retain_nll) < 1e-6, "reference %.8f, start %.8f", ref_nll, retain_nll);

  step_losses ls = {{0}, 0};
  ck_assert_msg(unlearn_session_train(s, record, &ls, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(ls.n, 2);
  double expect = (2.0 / 0.1) * log(2.0) + retain_nll;
  ck_assert_msg(fabs(ls.v[0] - expect) < 1e-4 * expect, "first loss %.8f, NPO+RT at the reference %.8f",
                ls.v[0], expect);
  /* the policy moved: the forget rows of step 0 are less likely now */
  double before = rows_nll(&start, &tb, seg[LETHE_SEG_FORGET].row0, 8);
  double after = rows_nll(unlearn_session_policy(s), &tb, seg[LETHE_SEG_FORGET].row0, 8);
  ck_assert_msg(after > before, "forget NLL %.6f before, %.6f after", before, after);
  token_batch_free(&tb);
  unlearn_session_free(s);
  llama_free(&start);
  tok_free(tok);
  stage_out_free(&data);
  experiment_free(&e);
}
END_TEST

int main(void) {
  strcpy(cache_dir, "/tmp/lethe_session_XXXXXX");
  if (!mkdtemp(cache_dir)) return EXIT_FAILURE;
  Suite *s = suite_create("unlearn_session");
  TCase *tc = tcase_create("session");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_session_first_step_is_npo_rt_at_the_reference);
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
