/* test_objective_golden — every method plugin, run through the host (model
 * forward, plugin, chain rule, backward), against the reference losses and
 * parameter gradients (grad.<method>.<hf name>) of tests/data/llama-tiny
 * (Hugging Face) and tests/data/llama-mha-tied (our float64 PyTorch
 * reference), within 1e-4 (abs or rel). The nine ABI 1.1 methods read β, δ
 * and coefficients from each case's summary.json and golden.safetensors;
 * the ABI 1.2 ones (UNDIAL on logits, NPO+L2 on parameters, RMU on hidden
 * states) and the ABI 1.3 one (GRU: the forget and retain gradients
 * backpropagated apart and combined; its "gradient" is the update, and on
 * llama-tiny the forget gradient conflicts with the retain one, so it is
 * projected, on llama-mha-tied not) their parameters from summary_abi.json
 * and golden_abi.safetensors (tests/golden/make_golden_abi.py). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"
#include "train/objective.h"

static const char *const cases[] = {"llama-tiny", "llama-mha-tied"};
static const char *const methods[] = {"ga", "grad_diff", "kl", "npo", "npo_rt", "npo_kl", "dpo",
                                      "idk", "simnpo", "undial", "npo_l2", "rmu", "gru"};
#define N_CASES 2
#define N_METHODS 13
#define FIRST_ABI_1_2 9 /* methods[9..]: golden_abi.safetensors */

static void check_close(const char *what, const float *got, const float *want, size_t n) {
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]), lim = 1e-4 * fmax(1.0, fabs(want[i]));
    ck_assert_msg(d <= lim, "%s[%zu]: got %.8g, want %.8g", what, i, got[i], want[i]);
  }
}

/* The overrides of an ABI 1.1 method: β (SimNPO's own β and δ) from summary.json. */
static int overrides_v1_1(const char *method, json_t *summary, char over[][64]) {
  int is_simnpo = !strcmp(method, "simnpo"), uses_beta = 0;
  for (const char *const *b = (const char *const[]){"npo", "npo_rt", "npo_kl", "dpo", "simnpo", NULL};
       *b; b++)
    uses_beta |= !strcmp(*b, method);
  double beta = json_real_value(json_object_get(summary, is_simnpo ? "simnpo_beta" : "beta"));
  snprintf(over[0], 64, "method.beta=%.17g", beta);
  snprintf(over[1], 64, "method.delta=%.17g",
           json_real_value(json_object_get(summary, "simnpo_delta")));
  return uses_beta ? (is_simnpo ? 2 : 1) : 0;
}

/* The overrides of an ABI 1.2 method: every parameter summary_abi.json gives it. */
static int overrides_v1_2(const char *method, json_t *summary, char over[][64]) {
  json_t *params = json_object_get(json_object_get(summary, "params"), method);
  ck_assert_msg(json_is_object(params), "summary_abi.json: no params.%s", method);
  const char *key;
  json_t *v;
  int n = 0;
  json_object_foreach(params, key, v) {
    ck_assert_int_lt(n, 6);
    snprintf(over[n++], 64, "method.%s=%.17g", key, json_number_value(v));
  }
  return n;
}

START_TEST(test_method_matches_reference) {
  const char *case_name = cases[_i / N_METHODS], *method = methods[_i % N_METHODS];
  int abi_1_2 = _i % N_METHODS >= FIRST_ABI_1_2;
  char dir[512], path[700], over[6][64];
  snprintf(dir, sizeof dir, "%s/%s", LETHE_TEST_DATA, case_name);
  snprintf(path, sizeof path, "%s/%s", dir, abi_1_2 ? "summary_abi.json" : "summary.json");
  json_error_t jerr;
  json_t *summary = json_load_file(path, 0, &jerr);
  ck_assert_msg(summary != NULL, "%s: %s", path, jerr.text);
  int n_over = abi_1_2 ? overrides_v1_2(method, summary, over) : overrides_v1_1(method, summary, over);
  const char *overrides[6] = {over[0], over[1], over[2], over[3], over[4], over[5]};
  lethe_err err = {0};
  method_spec spec = {0};
  ck_assert_msg(method_spec_from_name(&spec, method, NULL, overrides, n_over, &err) == 0, "%s",
                err.msg);
  llama_model policy, ref;
  snprintf(path, sizeof path, "%s/model", dir);
  ck_assert_msg(llama_load(&policy, path, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/ref_model", dir);
  ck_assert_msg(llama_load(&ref, path, &err) == 0, "%s", err.msg);
  token_batch parts[3], batch;
  const char *names[3] = {"forget", "retain", "idk"};
  const token_batch *stack[3];
  for (int s = 0; s < 3; s++) {
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, names[s]);
    ck_assert_msg(token_batch_read_jsonl(&parts[s], path, 0, &err) == 0, "%s", err.msg);
    stack[s] = &parts[s];
  }
  int row0[3], nrows[3];
  token_batch_stack(&batch, stack, 3, 0, 0, row0, nrows);
  lethe_segment seg[3];
  for (int s = 0; s < 3; s++) seg[s].row0 = row0[s], seg[s].nrows = nrows[s];
  method_instance inst;
  objective obj;
  ck_assert_msg(method_instance_create(&inst, &spec.plugin, spec.params, NULL, &err) == 0, "%s",
                err.msg);
  ck_assert_msg(objective_init(&obj, &policy, &ref, &inst, &err) == 0, "%s", err.msg);
  llama_zero_grads(&policy);
  double loss;
  ck_assert_msg(objective_step(&obj, &batch, seg, NULL, 0, 1, 1.0, &loss, &err) == 0, "%s",
                err.msg);
  double want = json_real_value(json_object_get(json_object_get(summary, "losses"), method));
  ck_assert_msg(fabs(loss - want) <= 1e-4 * fmax(1.0, fabs(want)), "%s/%s loss %.10g, want %.10g",
                case_name, method, loss, want);

  st_file golden;
  snprintf(path, sizeof path, "%s/%s", dir, abi_1_2 ? "golden_abi.safetensors" : "golden.safetensors");
  ck_assert_msg(st_open(&golden, path, &err) == 0, "%s", err.msg);
  llama_tensor_ref refs[512];
  int n = llama_named_tensors(&policy, LLAMA_OF_GRADS, refs, 512);
  for (int i = 0; i < n; i++) {
    char name[200];
    snprintf(name, sizeof name, "grad.%s.%.96s", method, refs[i].name);
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    float *expect = malloc(numel * sizeof(float));
    ck_assert_msg(st_load_f32(&golden, name, refs[i].ndim, refs[i].shape, expect, &err) == 0,
                  "%s", err.msg);
    check_close(name, refs[i].data, expect, numel);
    free(expect);
  }
  st_close(&golden);
  objective_free(&obj);
  method_instance_destroy(&inst);
  method_spec_free(&spec);
  for (int s = 0; s < 3; s++) token_batch_free(&parts[s]);
  token_batch_free(&batch);
  llama_free(&policy);
  llama_free(&ref);
  json_decref(summary);
}
END_TEST

int main(void) {
  Suite *s = suite_create("objective_golden");
  TCase *tc = tcase_create("golden");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_method_matches_reference, 0, N_CASES * N_METHODS);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
