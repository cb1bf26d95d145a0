/* test_method_golden — the plugins' loss values against the Hugging Face
 * reference (tests/data/llama-tiny/summary.json `losses`) without running a
 * model: the view is built from the reference's own per-token log-probs
 * (golden.safetensors `<seg>.token_logprobs`) and per-row reference NLLs
 * (`<seg>.ref_seq_nll`, put on each row's first target; NPO and DPO only use
 * row sums). KL-type losses need full logits and are checked at model level
 * (test_objective_golden). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method/method_host.h"
#include "model/safetensors.h"
#include "model/token_batch.h"

#define GOLDEN_DIR LETHE_TEST_DATA "/llama-tiny"

enum { ROWS = 3, POS = 23, B = 3 * ROWS };

typedef struct golden {
  int32_t target[B * POS], attn[B * POS];
  float mask[B * POS], logp[B * POS], ref_logp[B * POS], seq_nll[B];
  json_t *summary;
} golden;

static void load_golden(golden *g) {
  memset(g, 0, sizeof *g);
  static const char *const segs[] = {"forget", "retain", "idk"};
  lethe_err err = {0};
  st_file st;
  ck_assert_msg(st_open(&st, GOLDEN_DIR "/golden.safetensors", &err) == 0, "%s", err.msg);
  for (int s = 0; s < 3; s++) {
    char path[512], name[64];
    snprintf(path, sizeof path, "%s/%s.jsonl", GOLDEN_DIR, segs[s]);
    token_batch tb;
    ck_assert_msg(token_batch_read_jsonl(&tb, path, 0, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tb.B, ROWS);
    ck_assert_int_eq(tb.T, POS + 1);
    float ref_nll[ROWS];
    snprintf(name, sizeof name, "%s.token_logprobs", segs[s]);
    ck_assert_msg(st_load_f32(&st, name, 2, (int64_t[]){ROWS, POS}, g->logp + s * ROWS * POS,
                              &err) == 0, "%s", err.msg);
    snprintf(name, sizeof name, "%s.seq_nll", segs[s]);
    ck_assert_msg(st_load_f32(&st, name, 1, (int64_t[]){ROWS}, g->seq_nll + s * ROWS, &err) == 0,
                  "%s", err.msg);
    snprintf(name, sizeof name, "%s.ref_seq_nll", segs[s]);
    ck_assert_msg(st_load_f32(&st, name, 1, (int64_t[]){ROWS}, ref_nll, &err) == 0, "%s", err.msg);
    for (int r = 0; r < ROWS; r++) {
      int row = s * ROWS + r, first = -1;
      for (int t = 0; t < POS; t++) {
        int i = row * POS + t;
        g->target[i] = tb.targets[r * tb.T + t];
        g->attn[i] = tb.attn_mask[r * tb.T + t];
        g->mask[i] = g->target[i] >= 0 ? 1.0f : 0.0f;
        if (g->target[i] >= 0 && first < 0) first = i;
      }
      ck_assert_int_ge(first, 0);
      g->ref_logp[first] = -ref_nll[r];
    }
    token_batch_free(&tb);
  }
  st_close(&st);
  json_error_t jerr;
  g->summary = json_load_file(GOLDEN_DIR "/summary.json", 0, &jerr);
  ck_assert_msg(g->summary != NULL, "summary.json: %s", jerr.text);
}

static double summary_number(const golden *g, const char *section, const char *key) {
  json_t *obj = section ? json_object_get(g->summary, section) : g->summary;
  json_t *v = json_object_get(obj, key);
  ck_assert_msg(json_is_number(v), "summary.json: no number %s%s%s", section ? section : "",
                section ? "." : "", key);
  return json_number_value(v);
}

/* The per-token log-probs are the reference's own: their masked row sums are its NLLs. */
START_TEST(test_golden_view_consistent) {
  golden g;
  load_golden(&g);
  for (int row = 0; row < B; row++) {
    double s = 0.0;
    for (int t = 0; t < POS; t++) s += (double)g.mask[row * POS + t] * g.logp[row * POS + t];
    ck_assert_msg(fabs(-s - g.seq_nll[row]) < 1e-4, "row %d: -sum logp %.7g vs seq_nll %.7g", row,
                  -s, g.seq_nll[row]);
  }
  json_decref(g.summary);
}
END_TEST

static const char *const methods[] = {"ga", "grad_diff", "npo", "npo_rt", "dpo", "idk", "simnpo"};
enum { N_METHODS = sizeof methods / sizeof methods[0] };

START_TEST(test_golden_loss) {
  const char *name = methods[_i];
  golden g;
  load_golden(&g);
  /* the reference's hyper-parameters: β = 0.1 and coefficients 1, SimNPO β and δ its own */
  char ov[3][64];
  int simnpo = !strcmp(name, "simnpo"), n_ov = 0;
  if (!strcmp(name, "npo") || !strcmp(name, "npo_rt") || !strcmp(name, "dpo"))
    snprintf(ov[n_ov++], sizeof ov[0], "method.beta=%.17g", summary_number(&g, NULL, "beta"));
  if (!strcmp(name, "npo_rt"))
    snprintf(ov[n_ov++], sizeof ov[0], "method.retain_coeff=%.17g",
             summary_number(&g, NULL, "retain_coeff"));
  if (simnpo) {
    snprintf(ov[n_ov++], sizeof ov[0], "method.beta=%.17g",
             summary_number(&g, NULL, "simnpo_beta"));
    snprintf(ov[n_ov++], sizeof ov[0], "method.delta=%.17g",
             summary_number(&g, NULL, "simnpo_delta"));
  }
  const char *overrides[3] = {ov[0], ov[1], ov[2]};
  method_spec spec;
  lethe_err err = {0};
  int rc = method_spec_from_name(&spec, name, METHOD_PLUGIN_DIR, overrides, n_ov, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  method_instance inst;
  ck_assert_msg(method_instance_create(&inst, &spec.plugin, spec.params, NULL, &err) == 0, "%s",
                err.msg);
  float dlogp[B * POS] = {0};
  lethe_method_batch b = {.struct_size = sizeof b, .B = B, .T = POS, .V = 97,
                          .seg = {{0, ROWS}, {ROWS, ROWS}, {2 * ROWS, ROWS}},
                          .target = g.target, .mask = g.mask, .attn = g.attn, .logp = g.logp,
                          .ref_logp = g.ref_logp, .step = 0, .total_steps = 1};
  lethe_method_grad out = {.struct_size = sizeof out, .dlogp = dlogp};
  rc = method_instance_step(&inst, &b, &out, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  double want = summary_number(&g, "losses", name);
  ck_assert_msg(fabs(out.loss - want) <= 1e-4, "%s: loss %.10g, reference %.10g", name, out.loss,
                want);
  if (!strcmp(name, "ga"))
    ck_assert_double_eq_tol(-out.loss, summary_number(&g, "losses", "nll_forget"), 1e-4);
  method_instance_destroy(&inst);
  method_spec_free(&spec);
  json_decref(g.summary);
}
END_TEST

int main(void) {
  Suite *s = suite_create("method_golden");
  TCase *tc = tcase_create("losses");
  tcase_add_test(tc, test_golden_view_consistent);
  tcase_add_loop_test(tc, test_golden_loss, 0, N_METHODS);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
