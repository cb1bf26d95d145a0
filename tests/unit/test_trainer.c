/* test_trainer — the optimisation loop: Hugging Face's linear schedule, the
 * NaN/Inf guard naming step and tensor, resume after SIGKILL giving
 * bit-identical weights to an uninterrupted run, and a checkpoint that cannot
 * be written (read-only directory, full disk) failing with a clear message
 * while the previous checkpoint stays intact. With a LoRA adapter attached
 * (model/lora.h): only the adapter changes — the base weights stay
 * bit-identical — and a killed run resumes to the same adapter, dropout
 * masks included. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/lora.h"
#include "train/trainer.h"

#define B 4
#define T 10
static int32_t tokens[3][B * T], targets[3][B * T], mask[B * T];

static void make_model(llama_model *m) {
  llama_config cfg;
  llama_config_defaults(&cfg);
  cfg.vocab_size = 17, cfg.hidden_size = 16, cfg.intermediate_size = 32;
  cfg.num_hidden_layers = 2, cfg.num_attention_heads = 2, cfg.num_key_value_heads = 1;
  cfg.head_dim = 8, cfg.max_position_embeddings = 16, cfg.initializer_range = 0.1;
  lethe_err err = {0};
  ck_assert_msg(llama_init(m, &cfg, 3, &err) == 0, "%s", err.msg);
  lethe_rng r;
  lethe_rng_seed(&r, 9);
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < B * T; i++) {
      tokens[k][i] = (int32_t)lethe_rng_below(&r, 17);
      targets[k][i] = i % T == T - 1 ? -1 : (int32_t)lethe_rng_below(&r, 17);
      mask[i] = 1;
    }
}

/* nan_at: the loss of that step is NaN; bad_grad_at: after that step's
 * backward, gradient element bad_index of (bad_role, bad_layer) becomes
 * bad_value */
typedef struct ctx {
  llama_model *m;
  long kill_at;
  int nan_at, bad_grad_at, bad_role, bad_layer;
  size_t bad_index;
  float bad_value;
} ctx;

static int micro(void *vc, long step, int k, double scale, double *loss, double *toks, lethe_err *err) {
  ctx *c = vc;
  int which = (int)((step * 2 + k) % 3); /* data is a function of the step */
  if (llama_forward(c->m, tokens[which], mask, B, T, err) != 0) return -1;
  float logp[B * T], g[B * T];
  llama_target_logp(c->m, targets[which], logp);
  double s = 0;
  int n = 0;
  for (int i = 0; i < B * T; i++)
    if (targets[which][i] >= 0) s -= logp[i], n++;
  for (int i = 0; i < B * T; i++) g[i] = targets[which][i] >= 0 ? (float)(-scale / n) : 0.0f;
  *loss = c->nan_at == step ? NAN : s / n;
  *toks = B * T;
  llama_dlogits_from_dlogp(c->m, targets[which], g, NULL);
  llama_backward(c->m);
  if (c->bad_grad_at == step) llama_grad(c->m, c->bad_role, c->bad_layer)[c->bad_index] = c->bad_value;
  return 0;
}

static int after(void *vc, long done, double loss, lethe_err *err) {
  (void)loss, (void)err;
  if (((ctx *)vc)->kill_at == done) raise(SIGKILL);
  return 0;
}

static train_config config(const char *ckpt) {
  train_config tc = {{1e-2, 0.9, 0.999, 1e-8, 0.01}, 12, 3, 2, 0.0, 0, "test", ckpt, 3, 1, 1, 0};
  return tc;
}

START_TEST(test_lr_schedule_matches_hf) {
  train_config tc = config(NULL);
  tc.total_steps = 10, tc.warmup_steps = 2;
  ck_assert_double_eq(train_lr_at(&tc, 0), 0.0); /* HF: the first step has lr 0 */
  ck_assert_double_eq_tol(train_lr_at(&tc, 1), 0.005, 1e-15);
  ck_assert_double_eq_tol(train_lr_at(&tc, 2), 0.01, 1e-15);
  ck_assert_double_eq_tol(train_lr_at(&tc, 6), 0.01 * 4 / 8, 1e-15);
  ck_assert_double_eq(train_lr_at(&tc, 10), 0.0);
}
END_TEST

START_TEST(test_resume_after_sigkill_is_identical) {
  char dir[] = "/tmp/lethe_trainer_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *ckpt = lethe_path_join(dir, "ckpt.safetensors");
  lethe_err err = {0};
  train_result res;
  /* fork before this process starts OpenMP threads (libgomp is not fork-safe) */
  pid_t pid = fork();
  if (pid == 0) { /* the run that gets killed after step 7 (last checkpoint: 6) */
    llama_model m;
    make_model(&m);
    ctx k = {&m, 7, -1, -1, 0, 0, 0, 0.0f};
    train_config t2 = config(ckpt);
    trainer_run(&m, &t2, micro, after, &k, &res, &err);
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ck_assert(lethe_file_exists(ckpt));
  llama_model ref;
  make_model(&ref);
  ctx c = {&ref, -1, -1, -1, 0, 0, 0, 0.0f};
  train_config tc = config(NULL);
  ck_assert_msg(trainer_run(&ref, &tc, micro, after, &c, &res, &err) == 0, "%s", err.msg);
  llama_model m;
  make_model(&m);
  ctx k = {&m, -1, -1, -1, 0, 0, 0, 0.0f};
  train_config t3 = config(ckpt);
  ck_assert_msg(trainer_run(&m, &t3, micro, after, &k, &res, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(res.resumed_from, 6);
  ck_assert_int_eq(res.steps, 12);
  ck_assert_msg(!memcmp(m.params_memory, ref.params_memory, m.n_params * sizeof(float)),
                "resumed weights differ from the uninterrupted run");
  unlink(ckpt);
  rmdir(dir);
  free(ckpt);
  llama_free(&m);
  llama_free(&ref);
}
END_TEST

static void make_lora(lora_adapter *lo, llama_model *m) {
  lora_config lc = {.rank = 2, .alpha = 4, .dropout = 0.1, .targets = (1u << LORA_N_MODULES) - 1,
                    .seed = 5};
  lethe_err err = {0};
  ck_assert_msg(lora_create(lo, &m->cfg, &lc, &err) == 0, "%s", err.msg);
  llama_attach_lora(m, lo);
}

START_TEST(test_lora_trains_adapter_only_and_resumes) {
  char dir[] = "/tmp/lethe_trainer_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *ckpt = lethe_path_join(dir, "ckpt.safetensors");
  lethe_err err = {0};
  train_result res;
  pid_t pid = fork();
  if (pid == 0) {
    llama_model m;
    lora_adapter lo;
    make_model(&m);
    make_lora(&lo, &m);
    ctx k = {&m, 7, -1, -1, 0, 0, 0, 0.0f};
    train_config t2 = config(ckpt);
    trainer_run(&m, &t2, micro, after, &k, &res, &err);
    _exit(0);
  }
  int status;
  waitpid(pid, &status, 0);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  llama_model ref, base;
  lora_adapter ref_lo, lo;
  make_model(&base);
  make_model(&ref);
  make_lora(&ref_lo, &ref);
  ctx c = {&ref, -1, -1, -1, 0, 0, 0, 0.0f};
  train_config tc = config(NULL);
  ck_assert_msg(trainer_run(&ref, &tc, micro, after, &c, &res, &err) == 0, "%s", err.msg);
  ck_assert_msg(!memcmp(ref.params_memory, base.params_memory, base.n_params * sizeof(float)),
                "the frozen base changed");
  int b_moved = 0;
  for (int l = 0; l < 2 * 16 * 2; l++) b_moved |= ref_lo.b[LORA_DOWN][l] != 0.0f;
  ck_assert_msg(b_moved, "B was not trained");
  llama_model m;
  make_model(&m);
  make_lora(&lo, &m);
  ctx k = {&m, -1, -1, -1, 0, 0, 0, 0.0f};
  train_config t3 = config(ckpt);
  ck_assert_msg(trainer_run(&m, &t3, micro, after, &k, &res, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(res.resumed_from, 6);
  ck_assert_msg(!memcmp(lo.params, ref_lo.params, lo.n_params * sizeof(float)),
                "resumed adapter differs from the uninterrupted run");
  unlink(ckpt);
  rmdir(dir);
  free(ckpt);
  lora_free(&lo);
  lora_free(&ref_lo);
  llama_free(&m);
  llama_free(&ref);
  llama_free(&base);
}
END_TEST

START_TEST(test_nan_loss_stops_with_step) {
  llama_model m;
  make_model(&m);
  ctx c = {&m, -1, 4, -1, 0, 0, 0, 0.0f};
  train_config tc = config(NULL);
  train_result res;
  lethe_err err = {0};
  ck_assert_int_eq(trainer_run(&m, &tc, micro, after, &c, &res, &err), -1);
  ck_assert_msg(strstr(err.msg, "step 5") && strstr(err.msg, "test") && strstr(err.msg, "nan"),
                "%s", err.msg);
  m.params.wq[3] = INFINITY; /* a non-finite weight makes non-finite gradients */
  c.nan_at = -1;
  int rc = trainer_run(&m, &tc, micro, after, &c, &res, &err);
  ck_assert_int_eq(rc, -1);
  ck_assert_msg(strstr(err.msg, "step 1"), "%s", err.msg);
  llama_free(&m);
}
END_TEST

/* A finite loss with a non-finite gradient stops the run at that step,
 * naming the tensor: a NaN inside a layer's tensor, and an infinity in the
 * last element of the whole gradient (the end of the checked range). */
START_TEST(test_nonfinite_gradient_names_tensor) {
  static const struct {
    int role, layer, last;
    float value;
    const char *tensor, *shown;
  } cases[] = {{LLAMA_PARAM_WO, 1, 0, NAN, "layers.1.self_attn.o_proj", "nan"},
               {LLAMA_PARAM_LM_HEAD, 0, 1, -INFINITY, "lm_head", "inf"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    llama_model m;
    make_model(&m);
    size_t index = cases[i].last ? (size_t)m.cfg.vocab_size * m.cfg.hidden_size - 1 : 5;
    ctx c = {&m, -1, -1, 2, cases[i].role, cases[i].layer, index, cases[i].value};
    train_config tc = config(NULL);
    train_result res;
    lethe_err err = {0};
    ck_assert_int_eq(trainer_run(&m, &tc, micro, after, &c, &res, &err), -1);
    ck_assert_int_eq(err.code, LETHE_E_NUMERIC);
    ck_assert_msg(strstr(err.msg, "a gradient is") && strstr(err.msg, cases[i].shown) &&
                      strstr(err.msg, "step 3") && strstr(err.msg, cases[i].tensor),
                  "%s", err.msg);
    llama_free(&m);
  }
}
END_TEST

/* A small tmpfs on dir (root only); 0 when mounted, -1 when not permitted. */
static int mount_tmpfs(const char *dir, const char *size) {
  char opts[64];
  snprintf(opts, sizeof opts, "size=%s,mode=0755", size);
  if (mount("tmpfs", dir, "tmpfs", 0, opts) == 0) return 0;
  fprintf(stderr, "test_trainer: cannot mount a tmpfs (%s): skipped\n", strerror(errno));
  return -1;
}

/* Saves a checkpoint into dir, makes the next save fail with `breaker`,
 * checks the error names the file and the reason, and that the first
 * checkpoint still loads with its own weights and no temporary file is left. */
static void check_failed_save_keeps_old(const char *dir, void (*breaker)(const char *dir),
                                        const char *reason) {
  char *ckpt = lethe_path_join(dir, "ckpt.safetensors");
  llama_model m;
  make_model(&m);
  adamw_state opt;
  adamw_init(&opt, m.n_params);
  lethe_err err = {0};
  ck_assert_msg(train_checkpoint_save(ckpt, &m, &opt, &err) == 0, "%s", err.msg);
  breaker(dir);
  float first = m.params_memory[0];
  m.params_memory[0] += 1.0f;
  ck_assert_int_eq(train_checkpoint_save(ckpt, &m, &opt, &err), -1);
  ck_assert_msg(strstr(err.msg, "ckpt.safetensors") && strstr(err.msg, reason), "%s", err.msg);
  ck_assert(train_checkpoint_load(ckpt, &m, &opt, &err) == 0);
  ck_assert_float_eq(m.params_memory[0], first);
  DIR *d = opendir(dir);
  for (struct dirent *e; (e = readdir(d));)
    ck_assert_msg(!strstr(e->d_name, ".tmp."), "temporary file %s left behind", e->d_name);
  closedir(d);
  adamw_free(&opt);
  llama_free(&m);
  free(ckpt);
}

static void make_read_only(const char *dir) {
  if (geteuid() == 0) /* root ignores permissions: make the file system read-only */
    ck_assert_int_eq(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL), 0);
  else
    chmod(dir, 0555);
}

static void fill_disk(const char *dir) {
  char *filler = lethe_path_join(dir, "filler");
  FILE *f = fopen(filler, "wb");
  static const char block[4096];
  while (fwrite(block, 1, sizeof block, f) == sizeof block) continue;
  fclose(f); /* ENOSPC: the file system is full */
  free(filler);
}

START_TEST(test_checkpoint_into_readonly_dir_keeps_old) {
  char dir[] = "/tmp/lethe_trainer_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  int mounted = geteuid() == 0;
  if (mounted && mount_tmpfs(dir, "1m") != 0) return;
  check_failed_save_keeps_old(dir, make_read_only, mounted ? "Read-only file system"
                                                           : "Permission denied");
  if (mounted) umount2(dir, MNT_DETACH);
  chmod(dir, 0755);
  char *ckpt = lethe_path_join(dir, "ckpt.safetensors");
  unlink(ckpt);
  free(ckpt);
  rmdir(dir);
}
END_TEST

START_TEST(test_checkpoint_into_full_disk_keeps_old) {
  char dir[] = "/tmp/lethe_trainer_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  if (mount_tmpfs(dir, "1m") != 0) {
    rmdir(dir);
    return;
  }
  check_failed_save_keeps_old(dir, fill_disk, "No space left on device");
  umount2(dir, MNT_DETACH);
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("trainer");
  TCase *tc = tcase_create("loop");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_lr_schedule_matches_hf);
  tcase_add_test(tc, test_resume_after_sigkill_is_identical);
  tcase_add_test(tc, test_lora_trains_adapter_only_and_resumes);
  tcase_add_test(tc, test_nan_loss_stops_with_step);
  tcase_add_test(tc, test_nonfinite_gradient_names_tensor);
  tcase_add_test(tc, test_checkpoint_into_readonly_dir_keeps_old);
  tcase_add_test(tc, test_checkpoint_into_full_disk_keeps_old);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
