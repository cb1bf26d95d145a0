/* test_dist_trainer — the trainer when one rank fails alone (core/dist.h):
 * an error or a non-finite loss in its micro-batch, an after() that fails
 * on rank 0 only (as a write does), a checkpoint only the last rank cannot
 * read. Every rank's trainer_run must fail with the failing rank's message,
 * and the ranks must still be in step (the next collective agrees). Run
 * alone (ctest registers it with and without mpirun) the only rank is the
 * failing one. Check runs without fork under MPI (MPI does not survive a
 * fork), so a failure ends the process and the launcher the job. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dist.h"
#include "train/trainer.h"

#define B 4
#define T 8

/* What fails, where: rank fail_rank at step fail_step (an error, or with
 * nan a non-finite loss); after() on rank after_rank after after_step steps. */
typedef struct ctx {
  llama_model m;
  int fail_rank, nan, after_rank;
  long fail_step, after_step;
} ctx;

static void make_model(llama_model *m) {
  llama_config cfg;
  llama_config_defaults(&cfg);
  cfg.vocab_size = 13, cfg.hidden_size = 16, cfg.intermediate_size = 32;
  cfg.num_hidden_layers = 1, cfg.num_attention_heads = 2, cfg.num_key_value_heads = 1;
  cfg.head_dim = 8, cfg.max_position_embeddings = T;
  lethe_err err = {0};
  ck_assert_msg(llama_init(m, &cfg, 5, &err) == 0, "%s", err.msg);
}

static int micro(void *vc, long step, int k, double scale, double *loss, double *toks, lethe_err *err) {
  ctx *c = vc;
  int32_t tokens[B * T], targets[B * T], mask[B * T];
  for (int i = 0; i < B * T; i++)
    tokens[i] = (int32_t)((i * 7 + k) % 13), targets[i] = (int32_t)((i * 5 + 1) % 13), mask[i] = 1;
  int fails = dist_rank() == c->fail_rank && step == c->fail_step;
  if (fails && !c->nan) return lethe_errf(err, LETHE_E_IO, "rank %d broke", dist_rank());
  if (llama_forward(&c->m, tokens, mask, B, T, err) != 0) return -1;
  float logp[B * T], g[B * T];
  llama_target_logp(&c->m, targets, logp);
  double s = 0;
  for (int i = 0; i < B * T; i++) s -= logp[i], g[i] = (float)(-scale / (B * T));
  llama_dlogits_from_dlogp(&c->m, targets, g, NULL);
  llama_backward(&c->m);
  *loss = fails ? NAN : s / (B * T);
  *toks = B * T;
  return 0;
}

static int after(void *vc, long done, double loss, lethe_err *err) {
  ctx *c = vc;
  (void)loss;
  if (dist_rank() == c->after_rank && done == c->after_step)
    return lethe_errf(err, LETHE_E_IO, "rank %d cannot write", dist_rank());
  return 0;
}

/* trainer_run fails on every rank with `want` in its message, and the
 * ranks are in step afterwards. */
static void fails_together(ctx *c, const char *checkpoint, const char *want) {
  make_model(&c->m);
  train_config tc = {.opt = {1e-2, 0.9, 0.999, 1e-8, 0.0}, .total_steps = 5, .grad_accum = 2,
                     .label = "test", .checkpoint_path = checkpoint, .resume = 1, .quiet = 1};
  train_result res;
  lethe_err err = {0};
  ck_assert_int_eq(trainer_run(&c->m, &tc, micro, after, c, &res, &err), -1);
  ck_assert_msg(strstr(err.msg, want), "rank %d: \"%s\" lacks \"%s\"", dist_rank(), err.msg, want);
  long next = 7;
  ck_assert(dist_agree(&next, sizeof next));
  llama_free(&c->m);
}

START_TEST(test_one_rank_fails_every_rank_stops) {
  int last = dist_size() - 1;
  char want[64];
  ctx c = {.fail_rank = last, .fail_step = 2, .after_rank = -1};
  snprintf(want, sizeof want, "test, step 3: rank %d broke", last);
  fails_together(&c, NULL, want);
  c.nan = 1, c.fail_step = 1;
  fails_together(&c, NULL, "test: the loss is nan at step 2");
  c = (ctx){.fail_rank = -1, .after_rank = 0, .after_step = 2};
  fails_together(&c, NULL, "rank 0 cannot write");
}
END_TEST

START_TEST(test_one_rank_cannot_resume_every_rank_stops) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/lethe_dist_trainer_%ld.safetensors", (long)getpid());
  int last = dist_rank() == dist_size() - 1;
  if (last) { /* only this rank sees a checkpoint, and cannot read it */
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("not a checkpoint", f);
    fclose(f);
  }
  ctx c = {.fail_rank = -1, .after_rank = -1};
  fails_together(&c, path, "header length");
  if (last) unlink(path);
}
END_TEST

int main(int argc, char **argv) {
  lethe_err err = {0};
  if (dist_init(&argc, &argv, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return EXIT_FAILURE;
  }
  Suite *s = suite_create("dist_trainer");
  TCase *tc = tcase_create("one_rank_fails");
  tcase_add_test(tc, test_one_rank_fails_every_rank_stops);
  tcase_add_test(tc, test_one_rank_cannot_resume_every_rank_stops);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  if (dist_size() > 1) srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, dist_is_root() ? CK_NORMAL : CK_SILENT);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  dist_finalize();
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
