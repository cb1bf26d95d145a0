/* test_llama_golden — the Llama runtime against reference tensors computed
 * by Hugging Face transformers (tests/data/llama-tiny, from shared/golden)
 * and by our float64 PyTorch reference (tests/data/llama-mha-tied, MHA, tied
 * embeddings, top-level rope_theta): logits at every position, token
 * log-probs, sequence NLLs, every parameter gradient of the forget NLL, two
 * AdamW steps and the greedy continuation, each within 1e-4 (abs or rel). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/generate.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "model/token_batch.h"
#include "unit/golden_fixture.h"
#include "train/adamw.h"

static const char *const cases[] = {"llama-tiny", "llama-mha-tied"};
#define N_CASES 2


static void read_batch(fixture *f, const char *name, token_batch *tb) {
  char path[600];
  lethe_err err = {0};
  snprintf(path, sizeof path, "%s/%s.jsonl", f->dir, name);
  ck_assert_msg(token_batch_read_jsonl(tb, path, 0, &err) == 0, "%s", err.msg);
}

START_TEST(test_logits_every_position) {
  fixture f;
  open_case(&f, cases[_i]);
  token_batch tb;
  read_batch(&f, "forget", &tb);
  lethe_err err = {0};
  ck_assert_msg(llama_forward(&f.m, tb.input_ids, tb.attn_mask, tb.B, tb.T, &err) == 0, "%s",
                err.msg);
  size_t n = (size_t)tb.B * tb.T * f.m.cfg.vocab_size;
  float *want = golden(&f, "forget.logits", n);
  expect_close("forget.logits", f.m.acts.logits, want, n);
  free(want);
  token_batch_free(&tb);
  close_case(&f);
}
END_TEST

/* token_logprobs (B,T-1) and seq_nll (B) of each batch under policy and ref */
START_TEST(test_token_logprobs_and_seq_nll) {
  fixture f;
  open_case(&f, cases[_i]);
  llama_model ref;
  lethe_err err = {0};
  char path[600];
  snprintf(path, sizeof path, "%s/ref_model", f.dir);
  ck_assert_msg(llama_load(&ref, path, &err) == 0, "%s", err.msg);
  const char *batches[] = {"forget", "retain", "idk"};
  for (int k = 0; k < 3; k++) {
    token_batch tb;
    read_batch(&f, batches[k], &tb);
    int B = tb.B, T = tb.T;
    float *logp = malloc(sizeof(float) * B * T), *got = malloc(sizeof(float) * B * (T - 1));
    float nll[2][64];
    llama_model *models[2] = {&f.m, &ref};
    for (int which = 0; which < 2; which++) {
      ck_assert_msg(llama_forward(models[which], tb.input_ids, tb.attn_mask, B, T, &err) == 0,
                    "%s", err.msg);
      llama_target_logp(models[which], tb.targets, logp);
      for (int b = 0; b < B; b++) {
        double s = 0;
        for (int t = 0; t < T - 1; t++) {
          got[b * (T - 1) + t] = logp[b * T + t];
          s -= logp[b * T + t];
        }
        nll[which][b] = (float)s;
      }
      if (which == 0) {
        char name[64];
        snprintf(name, sizeof name, "%s.token_logprobs", batches[k]);
        float *want = golden(&f, name, (size_t)B * (T - 1));
        expect_close(name, got, want, (size_t)B * (T - 1));
        free(want);
      }
    }
    char name[64];
    snprintf(name, sizeof name, "%s.seq_nll", batches[k]);
    float *want = golden(&f, name, (size_t)B);
    expect_close(name, nll[0], want, (size_t)B);
    free(want);
    snprintf(name, sizeof name, "%s.ref_seq_nll", batches[k]);
    want = golden(&f, name, (size_t)B);
    expect_close(name, nll[1], want, (size_t)B);
    free(want);
    free(logp);
    free(got);
    token_batch_free(&tb);
  }
  llama_free(&ref);
  close_case(&f);
}
END_TEST

/* Gradient of NLL_mean(forget) into m->grads. */
static void nll_forget_grad(fixture *f, token_batch *tb) {
  lethe_err err = {0};
  ck_assert_msg(llama_forward(&f->m, tb->input_ids, tb->attn_mask, tb->B, tb->T, &err) == 0,
                "%s", err.msg);
  long n = token_batch_n_targets(tb);
  float *dlogp = malloc(sizeof(float) * tb->B * tb->T);
  for (int i = 0; i < tb->B * tb->T; i++) dlogp[i] = tb->targets[i] >= 0 ? -1.0f / n : 0.0f;
  llama_alloc_grads(&f->m);
  llama_zero_grads(&f->m);
  llama_dlogits_from_dlogp(&f->m, tb->targets, dlogp, NULL);
  llama_backward(&f->m);
  free(dlogp);
}

START_TEST(test_grad_nll_forget_every_parameter) {
  fixture f;
  open_case(&f, cases[_i]);
  token_batch tb;
  read_batch(&f, "forget", &tb);
  nll_forget_grad(&f, &tb);
  llama_tensor_ref refs[512];
  int n = llama_named_tensors(&f.m, LLAMA_OF_GRADS, refs, 512);
  ck_assert_int_le(n, 512);
  for (int i = 0; i < n; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    char name[200];
    snprintf(name, sizeof name, "grad.nll_forget.%.96s", refs[i].name);
    float *want = golden(&f, name, numel);
    expect_close(name, refs[i].data, want, numel);
    free(want);
  }
  token_batch_free(&tb);
  close_case(&f);
}
END_TEST

START_TEST(test_adamw_two_steps) {
  fixture f;
  open_case(&f, cases[_i]);
  token_batch tb;
  read_batch(&f, "forget", &tb);
  nll_forget_grad(&f, &tb); /* allocates the gradients; their values are replaced: */
  /* the golden applies its own grad.nll_forget at both steps, so lethe's AdamW gets exactly
   * that gradient. With lethe's (test_grad_nll_forget_every_parameter checks it to 1e-4), an
   * element whose gradient is rounding noise (llama-mha-tied k_proj[2194]: 6.7e-8 against a
   * median of 8.5e-3) moves by up to lr·g/(|g|+eps) on either side: the comparison would test
   * the last bits of the gradient, not the optimizer. */
  llama_tensor_ref grads[512];
  int n_grads = llama_named_tensors(&f.m, LLAMA_OF_GRADS, grads, 512);
  for (int i = 0; i < n_grads; i++) {
    size_t numel = (size_t)grads[i].shape[0] * (grads[i].ndim == 2 ? grads[i].shape[1] : 1);
    char name[200];
    snprintf(name, sizeof name, "grad.nll_forget.%.96s", grads[i].name);
    float *g = golden(&f, name, numel);
    memcpy(grads[i].data, g, numel * sizeof(float));
    free(g);
  }
  adamw_config cfg = {1e-3, 0.9, 0.999, 1e-8, 0.01};
  adamw_state st;
  adamw_init(&st, f.m.n_params);
  adamw_span all = {f.m.params_memory, f.m.grads_memory, f.m.n_params, 1}; /* decay everywhere */
  adamw_step(&st, &cfg, cfg.lr, &all, 1);
  adamw_step(&st, &cfg, cfg.lr, &all, 1);
  llama_tensor_ref refs[512];
  int n = llama_named_tensors(&f.m, LLAMA_OF_PARAMS, refs, 512);
  for (int i = 0; i < n; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    char name[200];
    snprintf(name, sizeof name, "adamw2.%.96s", refs[i].name);
    float *want = golden(&f, name, numel);
    expect_close(name, refs[i].data, want, numel);
    free(want);
  }
  adamw_free(&st);
  token_batch_free(&tb);
  close_case(&f);
}
END_TEST

START_TEST(test_greedy_continuation) {
  fixture f;
  open_case(&f, cases[_i]);
  json_t *greedy = json_object_get(f.summary, "greedy");
  json_t *prompt = json_object_get(greedy, "prompt"), *cont = json_object_get(greedy, "continuation");
  ck_assert(json_is_array(prompt) && json_is_array(cont));
  int np = (int)json_array_size(prompt), nc = (int)json_array_size(cont);
  int32_t ids[64], out[64];
  for (int i = 0; i < np; i++) ids[i] = (int32_t)json_integer_value(json_array_get(prompt, i));
  const int32_t *prompts[1] = {ids};
  int n_out;
  lethe_err err = {0};
  /* eos -1: the reference decodes a fixed number of tokens */
  ck_assert_msg(llama_generate_greedy(&f.m, prompts, &np, 1, nc, -1, out, &n_out, &err) == 0,
                "%s", err.msg);
  ck_assert_int_eq(n_out, nc);
  for (int i = 0; i < nc; i++)
    ck_assert_msg(out[i] == json_integer_value(json_array_get(cont, i)),
                  "token %d: got %d, want %lld", i, out[i],
                  (long long)json_integer_value(json_array_get(cont, i)));
  close_case(&f);
}
END_TEST

/* A batch of prompts of different lengths decodes each row exactly as it
 * decodes alone (left padding and per-row positions are correct). */
START_TEST(test_batched_generation_matches_single) {
  fixture f;
  open_case(&f, cases[_i]);
  token_batch tb;
  read_batch(&f, "forget", &tb);
  int lens[3] = {4, 7, 5}, B = tb.B < 3 ? tb.B : 3, n_new = 8;
  const int32_t *prompts[3];
  for (int b = 0; b < B; b++) prompts[b] = tb.input_ids + b * tb.T;
  int32_t batch_out[3 * 8], single[8];
  int n_batch[3], n_single;
  lethe_err err = {0};
  ck_assert(llama_generate_greedy(&f.m, prompts, lens, B, n_new, -1, batch_out, n_batch, &err) == 0);
  for (int b = 0; b < B; b++) {
    ck_assert(llama_generate_greedy(&f.m, &prompts[b], &lens[b], 1, n_new, -1, single, &n_single,
                                    &err) == 0);
    for (int i = 0; i < n_new; i++) ck_assert_int_eq(batch_out[b * n_new + i], single[i]);
  }
  token_batch_free(&tb);
  close_case(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("llama_golden");
  TCase *tc = tcase_create("golden");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_logits_every_position, 0, N_CASES);
  tcase_add_loop_test(tc, test_token_logprobs_and_seq_nll, 0, N_CASES);
  tcase_add_loop_test(tc, test_grad_nll_forget_every_parameter, 0, N_CASES);
  tcase_add_loop_test(tc, test_adamw_two_steps, 0, N_CASES);
  tcase_add_loop_test(tc, test_greedy_continuation, 0, N_CASES);
  tcase_add_loop_test(tc, test_batched_generation_matches_single, 0, N_CASES);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
