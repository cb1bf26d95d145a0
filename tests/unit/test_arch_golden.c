/* test_arch_golden — every model family against the independent float64
 * PyTorch reference (tests/golden/make_golden_arch.py, data in
 * tests/data/<case>): llama with llama3 rope scaling, attention and MLP
 * biases and an explicit head_dim; llama with linear scaling (tied,
 * transformers-5 rope_parameters); mistral; qwen2 (q/k/v biases, tied);
 * qwen3 (q/k norms, head_dim != hidden/heads); phi (LayerNorm, parallel
 * residual, partial rotary, GELU, biases). Checked: logits at every
 * position, token log-probs, the gradient of the forget NLL for every
 * HF-named parameter, each within 1e-4 (abs or rel); the KV-cache greedy
 * continuation exactly; batched generation = single; save and load back;
 * llama_init_dir (lethe init) per family; bf16 compute close to f32 where
 * the machine runs it. The largest
 * differences are printed (docs/file-formats.md quotes them). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_skip.h"
#include "model/generate.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "model/token_batch.h"
#include "unit/golden_fixture.h"

static const char *const cases[] = {"llama3-rope-bias", "llama-linear", "mistral-tiny",
                                    "qwen2-tiny", "qwen3-tiny", "phi-tiny"};
#define N_CASES 6


static void read_batch(fixture *f, const char *name, token_batch *tb) {
  char path[600];
  lethe_err err = {0};
  snprintf(path, sizeof path, "%s/%s.jsonl", f->dir, name);
  ck_assert_msg(token_batch_read_jsonl(tb, path, 0, &err) == 0, "%s", err.msg);
}

/* logits and token log-probs of a batch; returns the largest difference. */
static double check_batch(fixture *f, const char *batch) {
  token_batch tb;
  read_batch(f, batch, &tb);
  lethe_err err = {0};
  int B = tb.B, T = tb.T;
  ck_assert_msg(llama_forward(&f->m, tb.input_ids, tb.attn_mask, B, T, &err) == 0, "%s",
                err.msg);
  double worst = 0;
  char name[64];
  if (!strcmp(batch, "forget")) {
    size_t n = (size_t)B * T * f->m.cfg.vocab_size;
    float *want = golden(f, "forget.logits", n);
    worst = expect_close("forget.logits", f->m.acts.logits, want, n);
    free(want);
  }
  float *logp = malloc(sizeof(float) * B * T), *got = malloc(sizeof(float) * B * (T - 1));
  llama_target_logp(&f->m, tb.targets, logp);
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T - 1; t++) got[b * (T - 1) + t] = logp[b * T + t];
  snprintf(name, sizeof name, "%s.token_logprobs", batch);
  float *want = golden(f, name, (size_t)B * (T - 1));
  double d = expect_close(name, got, want, (size_t)B * (T - 1));
  free(want);
  free(logp);
  free(got);
  token_batch_free(&tb);
  return d > worst ? d : worst;
}

START_TEST(test_logits_and_logprobs) {
  fixture f;
  open_case(&f, cases[_i]);
  double a = check_batch(&f, "forget"), b = check_batch(&f, "retain");
  printf("%-18s logits/logprobs max |diff| %.2e\n", cases[_i], a > b ? a : b);
  close_case(&f);
}
END_TEST

/* Gradient of NLL_mean(forget) into m->grads. */
static void nll_forget_grad(llama_model *m, token_batch *tb) {
  lethe_err err = {0};
  ck_assert_msg(llama_forward(m, tb->input_ids, tb->attn_mask, tb->B, tb->T, &err) == 0, "%s",
                err.msg);
  long n = token_batch_n_targets(tb);
  float *dlogp = malloc(sizeof(float) * tb->B * tb->T);
  for (int i = 0; i < tb->B * tb->T; i++) dlogp[i] = tb->targets[i] >= 0 ? -1.0f / n : 0.0f;
  llama_alloc_grads(m);
  llama_zero_grads(m);
  llama_dlogits_from_dlogp(m, tb->targets, dlogp, NULL);
  llama_backward(m);
  free(dlogp);
}

/* Every golden gradient is one of ours and the reverse (the parameter
 * buffer holds exactly the family's tensors). */
START_TEST(test_grad_every_parameter) {
  fixture f;
  open_case(&f, cases[_i]);
  token_batch tb;
  read_batch(&f, "forget", &tb);
  nll_forget_grad(&f.m, &tb);
  llama_tensor_ref refs[512];
  int n = llama_named_tensors(&f.m, LLAMA_OF_GRADS, refs, 512), in_golden = 0;
  ck_assert_int_le(n, 512);
  for (int i = 0; i < f.golden.n_tensors; i++)
    in_golden += !strncmp(f.golden.tensors[i].name, "grad.nll_forget.", 16);
  ck_assert_int_eq(n, in_golden);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    char name[200];
    snprintf(name, sizeof name, "grad.nll_forget.%.96s", refs[i].name);
    float *want = golden(&f, name, numel);
    double d = expect_close(name, refs[i].data, want, numel);
    worst = d > worst ? d : worst;
    free(want);
  }
  printf("%-18s gradients (%d tensors) max |diff| %.2e\n", cases[_i], n, worst);
  token_batch_free(&tb);
  close_case(&f);
}
END_TEST

START_TEST(test_greedy_continuation) {
  fixture f;
  open_case(&f, cases[_i]);
  json_t *greedy = json_object_get(f.summary, "greedy");
  json_t *prompt = json_object_get(greedy, "prompt"), *cont = json_object_get(greedy, "continuation");
  int np = (int)json_array_size(prompt), nc = (int)json_array_size(cont);
  int32_t ids[64], out[64];
  for (int i = 0; i < np; i++) ids[i] = (int32_t)json_integer_value(json_array_get(prompt, i));
  const int32_t *prompts[1] = {ids};
  int n_out;
  lethe_err err = {0};
  ck_assert_msg(llama_generate_greedy(&f.m, prompts, &np, 1, nc, -1, out, &n_out, &err) == 0,
                "%s", err.msg);
  ck_assert_int_eq(n_out, nc);
  for (int i = 0; i < nc; i++)
    ck_assert_msg(out[i] == json_integer_value(json_array_get(cont, i)),
                  "%s token %d: got %d, want %lld", cases[_i], i, out[i],
                  (long long)json_integer_value(json_array_get(cont, i)));
  printf("%-18s greedy: %d of %d tokens match\n", cases[_i], nc, nc);
  close_case(&f);
}
END_TEST

/* Left-padded batched decoding = each row alone (per-row positions with
 * partial or scaled rotary, biases on padding rows). */
START_TEST(test_batched_generation_matches_single) {
  fixture f;
  open_case(&f, cases[_i]);
  token_batch tb;
  read_batch(&f, "forget", &tb);
  int lens[3] = {4, 7, 5}, n_new = 8;
  const int32_t *prompts[3];
  for (int b = 0; b < 3; b++) prompts[b] = tb.input_ids + b * tb.T;
  int32_t batch_out[3 * 8], single[8];
  int n_batch[3], n_single;
  lethe_err err = {0};
  ck_assert(llama_generate_greedy(&f.m, prompts, lens, 3, n_new, -1, batch_out, n_batch, &err) == 0);
  for (int b = 0; b < 3; b++) {
    ck_assert(llama_generate_greedy(&f.m, &prompts[b], &lens[b], 1, n_new, -1, single, &n_single,
                                    &err) == 0);
    for (int i = 0; i < n_new; i++) ck_assert_int_eq(batch_out[b * n_new + i], single[i]);
  }
  token_batch_free(&tb);
  close_case(&f);
}
END_TEST

/* Saved and loaded back: the same family, config fields and tensors. */
START_TEST(test_save_load_round_trip) {
  fixture f;
  open_case(&f, cases[_i]);
  char out[] = "/tmp/lethe_arch_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(out));
  lethe_err err = {0};
  ck_assert_msg(llama_save(&f.m, out, &err) == 0, "%s", err.msg);
  llama_model back;
  ck_assert_msg(llama_load(&back, out, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(back.cfg.family, f.m.cfg.family);
  ck_assert(memcmp(&back.cfg, &f.m.cfg, sizeof back.cfg) == 0);
  ck_assert_uint_eq(back.n_params, f.m.n_params);
  ck_assert(memcmp(back.params_memory, f.m.params_memory, f.m.n_params * sizeof(float)) == 0);
  llama_free(&back);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", out);
  ck_assert_int_eq(system(cmd), 0);
  close_case(&f);
}
END_TEST

/* llama_init_dir (lethe init) from each family's config: loads back with
 * the same config; norm weights 1, biases 0, matrices N(0, 0.2). */
START_TEST(test_init_dir) {
  fixture f;
  open_case(&f, cases[_i]);
  char out[] = "/tmp/lethe_init_XXXXXX", path[600];
  ck_assert_ptr_nonnull(mkdtemp(out));
  snprintf(path, sizeof path, "%s/model/config.json", f.dir);
  lethe_err err = {0};
  ck_assert_msg(llama_init_dir(path, out, 11, NULL, &err) == 0, "%s", err.msg);
  llama_model m;
  ck_assert_msg(llama_load(&m, out, &err) == 0, "%s", err.msg);
  ck_assert(memcmp(&m.cfg, &f.m.cfg, sizeof m.cfg) == 0);
  ck_assert_uint_eq(llama_config_n_params(&m.cfg), m.n_params);
  const float *at = m.params_memory;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; at += m.param_sizes[r], r++) {
    size_t n = m.param_sizes[r];
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) sum += at[i], sq += (double)at[i] * at[i];
    int is_norm = r == LLAMA_PARAM_ATTN_NORM || r == LLAMA_PARAM_MLP_NORM ||
                  r == LLAMA_PARAM_FINAL_NORM || r == LLAMA_PARAM_Q_NORM ||
                  r == LLAMA_PARAM_K_NORM;
    if (n == 0) continue;
    if (llama_param_role_is_matrix(r))
      ck_assert_msg(fabs(sqrt(sq / n) - 0.2) < 0.02, "%s role %d: std %g", cases[_i], r,
                    sqrt(sq / n));
    else
      ck_assert_msg(sum == (is_norm ? (double)n : 0.0) && sq == sum, "%s role %d", cases[_i], r);
  }
  llama_free(&m);
  snprintf(path, sizeof path, "rm -rf %s", out);
  ck_assert_int_eq(system(path), 0);
  close_case(&f);
}
END_TEST

/* bf16 compute: the forget NLL within 2% of f32's, and decoding runs. */
START_TEST(test_bf16_compute) {
  if (!bf16_runs_here("test_arch_golden bf16 compute")) return;
  fixture f;
  open_case(&f, cases[_i]);
  token_batch tb;
  read_batch(&f, "forget", &tb);
  lethe_err err = {0};
  float *logp = malloc(sizeof(float) * tb.B * tb.T);
  double nll[2];
  for (int mode = 0; mode < 2; mode++) {
    llama_set_compute(&f.m, mode ? LLAMA_COMPUTE_BF16 : LLAMA_COMPUTE_F32);
    nll_forget_grad(&f.m, &tb);
    llama_target_logp(&f.m, tb.targets, logp);
    nll[mode] = 0;
    for (int i = 0; i < tb.B * tb.T; i++) nll[mode] -= logp[i];
  }
  ck_assert_msg(fabs(nll[1] - nll[0]) < 0.02 * fabs(nll[0]), "%s: bf16 NLL %g vs f32 %g",
                cases[_i], nll[1], nll[0]);
  int32_t out[8];
  int len = 5, n_out;
  const int32_t *prompts[1] = {tb.input_ids};
  ck_assert_msg(llama_generate_greedy(&f.m, prompts, &len, 1, 8, -1, out, &n_out, &err) == 0,
                "%s", err.msg);
  free(logp);
  token_batch_free(&tb);
  close_case(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("arch_golden");
  TCase *tc = tcase_create("golden");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_logits_and_logprobs, 0, N_CASES);
  tcase_add_loop_test(tc, test_grad_every_parameter, 0, N_CASES);
  tcase_add_loop_test(tc, test_greedy_continuation, 0, N_CASES);
  tcase_add_loop_test(tc, test_batched_generation_matches_single, 0, N_CASES);
  tcase_add_loop_test(tc, test_save_load_round_trip, 0, N_CASES);
  tcase_add_loop_test(tc, test_init_dir, 0, N_CASES);
  tcase_add_loop_test(tc, test_bf16_compute, 0, N_CASES);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
