/* test_lora — LoRA adapters (model/lora.h) against the independent float64
 * PyTorch reference (tests/golden/make_golden_lora.py, data in
 * tests/data/lora-<base>; llama with every projection, qwen2 with a
 * subset and rsLoRA, phi with its own names): the adapted model's logits
 * and the gradient of the forget NLL for every lora_A / lora_B within 1e-4,
 * the base's weight gradients never computed; bf16 compute close to f32;
 * merging gives the adapted model's logits; save/load round trip; dropout
 * deterministic per key and its gradient consistent with the loss;
 * adapter_config.json errors name the file and the field; `lethe merge`. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_skip.h"
#include "model/generate.h"
#include "model/llama.h"
#include "model/lora.h"
#include "model/safetensors.h"
#include "model/token_batch.h"
#include "unit/golden_fixture.h"

static const char *const bases[] = {"llama3-rope-bias", "qwen2-tiny", "phi-tiny"};
#define N_CASES 3

typedef struct lora_case {
  fixture f;       /* f.m: the base model, f.golden: lora-<base>/golden.safetensors */
  lora_adapter lo;
  token_batch tb;
} lora_case;

static void open_lora_case(lora_case *c, const char *base) {
  fixture *f = &c->f;
  memset(c, 0, sizeof *c);
  char path[600];
  lethe_err err = {0};
  snprintf(path, sizeof path, "%s/%s/model", LETHE_TEST_DATA, base);
  ck_assert_msg(llama_load(&f->m, path, &err) == 0, "%s", err.msg);
  snprintf(f->dir, sizeof f->dir, "%s/lora-%s", LETHE_TEST_DATA, base);
  snprintf(path, sizeof path, "%s/adapter", f->dir);
  ck_assert_msg(lora_load(&c->lo, &f->m.cfg, path, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/golden.safetensors", f->dir);
  ck_assert_msg(st_open(&f->golden, path, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/%s/forget.jsonl", LETHE_TEST_DATA, base);
  ck_assert_msg(token_batch_read_jsonl(&c->tb, path, 0, &err) == 0, "%s", err.msg);
  llama_attach_lora(&f->m, &c->lo);
}

static void close_lora_case(lora_case *c) {
  llama_attach_lora(&c->f.m, NULL);
  lora_free(&c->lo);
  token_batch_free(&c->tb);
  close_case(&c->f);
}

/* Mean NLL of the batch's targets; with grad, its gradient into the
 * model's (and the adapter's) gradients. */
static double nll(llama_model *m, const token_batch *tb, int grad) {
  lethe_err err = {0};
  ck_assert_msg(llama_forward(m, tb->input_ids, tb->attn_mask, tb->B, tb->T, &err) == 0, "%s",
                err.msg);
  long n = token_batch_n_targets(tb);
  int BT = tb->B * tb->T;
  float *logp = malloc(sizeof(float) * BT), *dlogp = malloc(sizeof(float) * BT);
  llama_target_logp(m, tb->targets, logp);
  double sum = 0;
  for (int i = 0; i < BT; i++) {
    sum -= logp[i];
    dlogp[i] = tb->targets[i] >= 0 ? -1.0f / n : 0.0f;
  }
  if (grad) {
    llama_alloc_grads(m);
    llama_zero_grads(m);
    if (m->lora) {
      lora_alloc_grads(m->lora);
      lora_zero_grads(m->lora);
    }
    llama_dlogits_from_dlogp(m, tb->targets, dlogp, NULL);
    llama_backward(m);
  }
  free(logp);
  free(dlogp);
  return sum / n;
}

/* Compares every adapter gradient with the golden one: tol 1 is
 * golden_fixture's 1e-4 per element, otherwise the largest relative L2
 * error of a tensor. Returns the largest difference. */
static double check_grads(lora_case *c, double tol) {
  llama_tensor_ref refs[256];
  int n = lora_named_tensors(&c->lo, &c->f.m.cfg, 1, refs, 256), in_golden = 0;
  for (int i = 0; i < c->f.golden.n_tensors; i++)
    in_golden += !strncmp(c->f.golden.tensors[i].name, "grad.nll_forget.", 16);
  ck_assert_int_eq(n, in_golden);
  double worst = 0;
  for (int i = 0; i < n; i++) {
    size_t numel = (size_t)(refs[i].shape[0] * refs[i].shape[1]);
    char name[200];
    snprintf(name, sizeof name, "grad.nll_forget.%.120s", refs[i].name);
    float *want = golden(&c->f, name, numel);
    if (tol == 1) {
      double d = expect_close(name, refs[i].data, want, numel);
      worst = d > worst ? d : worst;
    } else { /* bf16: relative L2 error of the whole tensor */
      double e2 = 0, w2 = 0;
      for (size_t k = 0; k < numel; k++) {
        double d = (double)refs[i].data[k] - want[k];
        e2 += d * d;
        w2 += (double)want[k] * want[k];
      }
      double rel = sqrt(e2 / fmax(w2, 1e-30));
      ck_assert_msg(rel <= tol, "%s: relative L2 error %g", name, rel);
      worst = rel > worst ? rel : worst;
    }
    free(want);
  }
  return worst;
}

START_TEST(test_golden_logits_and_grads) {
  lora_case c;
  open_lora_case(&c, bases[_i]);
  llama_model *m = &c.f.m;
  nll(m, &c.tb, 1);
  size_t n = (size_t)c.tb.B * c.tb.T * m->cfg.vocab_size;
  float *want = golden(&c.f, "forget.logits", n);
  /* the backward turned the logits into dlogits: run the forward again */
  lethe_err err = {0};
  llama_set_compute(m, LLAMA_COMPUTE_F32);
  ck_assert(llama_forward(m, c.tb.input_ids, c.tb.attn_mask, c.tb.B, c.tb.T, &err) == 0);
  double dl = expect_close("forget.logits", m->acts.logits, want, n);
  free(want);
  double dg = check_grads(&c, 1);
  /* the base is frozen: no gradient buffer at all */
  ck_assert_ptr_null(m->grads_memory);
  ck_assert_uint_eq(m->n_trainable, 0);
  ck_assert_ptr_null(llama_grad(m, LLAMA_PARAM_WQ, 0));
  ck_assert_ptr_null(llama_grad(m, LLAMA_PARAM_EMBED, 0));
  printf("lora-%-16s logits max |diff| %.2e, adapter gradients %.2e\n", bases[_i], dl, dg);
  close_lora_case(&c);
}
END_TEST

START_TEST(test_golden_bf16) {
  if (!bf16_runs_here("lora bf16 golden")) return;
  lora_case c;
  open_lora_case(&c, bases[_i]);
  llama_set_compute(&c.f.m, LLAMA_COMPUTE_BF16);
  double got = nll(&c.f.m, &c.tb, 1);
  char path[600];
  snprintf(path, sizeof path, "%s/summary.json", c.f.dir);
  json_t *summary = json_load_file(path, 0, NULL);
  double want = json_real_value(json_object_get(summary, "nll_forget"));
  json_decref(summary);
  ck_assert_msg(fabs(got - want) < 0.01 * want, "bf16 nll %g, reference %g", got, want);
  double d = check_grads(&c, 0.1);
  printf("lora-%-16s bf16: nll %.4f, adapter gradients max relative L2 error %.2e\n", bases[_i], got, d);
  close_lora_case(&c);
}
END_TEST

/* The merged model (W + s·B·A, no adapter) gives the adapted logits, and
 * the same greedy generation (the KV-cache path applies the adapter too). */
START_TEST(test_merge_matches_adapter) {
  lora_case c;
  open_lora_case(&c, bases[_i]);
  llama_model *m = &c.f.m;
  lethe_err err = {0};
  size_t n = (size_t)c.tb.B * c.tb.T * m->cfg.vocab_size;
  ck_assert(llama_forward(m, c.tb.input_ids, c.tb.attn_mask, c.tb.B, c.tb.T, &err) == 0);
  float *adapted = malloc(n * sizeof(float));
  memcpy(adapted, m->acts.logits, n * sizeof(float));
  int lens[3] = {4, 7, 5}, n_new = 8, n_out[3];
  const int32_t *prompts[3];
  for (int b = 0; b < 3; b++) prompts[b] = c.tb.input_ids + b * c.tb.T;
  int32_t gen_adapted[3 * 8], gen_merged[3 * 8];
  ck_assert(llama_generate_greedy(m, prompts, lens, 3, n_new, -1, gen_adapted, n_out, &err) == 0);
  llama_attach_lora(m, NULL);
  lora_merge(m, &c.lo);
  ck_assert(llama_generate_greedy(m, prompts, lens, 3, n_new, -1, gen_merged, n_out, &err) == 0);
  ck_assert(memcmp(gen_adapted, gen_merged, sizeof gen_merged) == 0); /* the KV-cache path too */
  ck_assert(llama_forward(m, c.tb.input_ids, c.tb.attn_mask, c.tb.B, c.tb.T, &err) == 0);
  double worst = 0;
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)adapted[i] - m->acts.logits[i]));
  ck_assert_msg(worst < 1e-5 * 20, "merged logits differ by %g", worst);
  printf("lora-%-16s merged vs adapted logits max |diff| %.2e\n", bases[_i], worst);
  free(adapted);
  close_lora_case(&c);
}
END_TEST

START_TEST(test_save_load_round_trip) {
  lora_case c;
  open_lora_case(&c, bases[_i]);
  char dir[] = "/tmp/lethe_lora_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  lethe_err err = {0};
  ck_assert_msg(lora_save(&c.lo, &c.f.m.cfg, dir, "base/model", &err) == 0, "%s", err.msg);
  lora_adapter back;
  ck_assert_msg(lora_load(&back, &c.f.m.cfg, dir, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(back.cfg.rank, c.lo.cfg.rank);
  ck_assert(back.cfg.alpha == c.lo.cfg.alpha && back.scale == c.lo.scale);
  ck_assert_uint_eq(back.cfg.targets, c.lo.cfg.targets);
  ck_assert_int_eq(back.cfg.use_rslora, c.lo.cfg.use_rslora);
  ck_assert_uint_eq(back.n_params, c.lo.n_params);
  ck_assert(memcmp(back.params, c.lo.params, back.n_params * sizeof(float)) == 0);
  lora_free(&back);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  ck_assert_int_eq(system(cmd), 0);
  close_lora_case(&c);
}
END_TEST

/* A new adapter: A in U(−1/√in, 1/√in) (PEFT's kaiming-uniform), B = 0,
 * so the model is unchanged; the same seed gives the same A. */
START_TEST(test_create_init) {
  lora_case c;
  open_lora_case(&c, bases[0]);
  llama_config *mc = &c.f.m.cfg;
  lora_config cfg = {.rank = 4, .alpha = 16, .targets = 1u << LORA_Q | 1u << LORA_DOWN,
                     .seed = 7};
  lora_adapter a, b;
  lethe_err err = {0};
  ck_assert_msg(lora_create(&a, mc, &cfg, &err) == 0, "%s", err.msg);
  ck_assert(lora_create(&b, mc, &cfg, &err) == 0);
  ck_assert(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0);
  ck_assert(a.scale == 4.0f);
  double bound = 1.0 / sqrt((double)mc->intermediate_size), seen = 0;
  size_t na = (size_t)mc->num_hidden_layers * 4 * mc->intermediate_size;
  for (size_t i = 0; i < na; i++) {
    ck_assert(fabs(a.a[LORA_DOWN][i]) <= bound);
    seen = fmax(seen, fabs(a.a[LORA_DOWN][i]));
  }
  ck_assert(seen > 0.9 * bound);
  for (size_t i = 0; i < (size_t)mc->num_hidden_layers * mc->hidden_size * 4; i++)
    ck_assert(a.b[LORA_DOWN][i] == 0.0f);
  cfg.use_rslora = 1;
  lora_free(&b);
  ck_assert(lora_create(&b, mc, &cfg, &err) == 0);
  ck_assert(b.scale == 8.0f);
  lora_free(&b);
  cfg.rank = 0;
  ck_assert(lora_create(&b, mc, &cfg, &err) != 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "rank"));
  lora_free(&a);
  close_lora_case(&c);
}
END_TEST

/* Dropout: off outside training; in training the same key gives the same
 * loss, another key another; the gradient agrees with the loss (central
 * difference along the gradient). */
START_TEST(test_dropout) {
  lora_case c;
  open_lora_case(&c, bases[_i]);
  llama_model *m = &c.f.m;
  double plain = nll(m, &c.tb, 0);
  c.lo.cfg.dropout = 0.3;
  ck_assert(nll(m, &c.tb, 0) == plain); /* not training: no mask */
  lora_set_training(&c.lo, 1, 5);
  double k5 = nll(m, &c.tb, 1);
  ck_assert(k5 != plain);
  ck_assert(nll(m, &c.tb, 0) == k5);
  lora_set_training(&c.lo, 1, 6);
  ck_assert(nll(m, &c.tb, 0) != k5);
  lora_set_training(&c.lo, 1, 5);
  nll(m, &c.tb, 1);
  size_t n = c.lo.n_params;
  float *g = malloc(n * sizeof(float)), *p0 = malloc(n * sizeof(float));
  memcpy(g, c.lo.grads, n * sizeof(float));
  memcpy(p0, c.lo.params, n * sizeof(float));
  double gg = 0;
  for (size_t i = 0; i < n; i++) gg += (double)g[i] * g[i];
  double eps = 1e-2 / sqrt(gg), side[2];
  for (int s = 0; s < 2; s++) {
    for (size_t i = 0; i < n; i++) c.lo.params[i] = p0[i] + (float)((s ? -eps : eps) * g[i]);
    side[s] = nll(m, &c.tb, 0);
  }
  double fd = (side[0] - side[1]) / (2 * eps);
  ck_assert_msg(fabs(fd - gg) < 0.02 * gg, "directional derivative %g vs |g|² %g", fd, gg);
  free(g);
  free(p0);
  close_lora_case(&c);
}
END_TEST

/* After a few descent steps on the adapter, `lethe merge` writes a model
 * directory that llama_load reads, stored as the base is (f32 for the
 * first case, bf16 for the second), whose logits are the adapted model's:
 * to float rounding (f32), to the bf16 rounding of the merged weights. */
START_TEST(test_cli_merge_after_training) {
  lora_case c;
  open_lora_case(&c, bases[_i]);
  llama_model *m = &c.f.m;
  char tmp[] = "/tmp/lethe_merge_XXXXXX", base[600], adapter[600], out[600], cmd[2400];
  ck_assert_ptr_nonnull(mkdtemp(tmp));
  snprintf(base, sizeof base, "%s/base", tmp);
  snprintf(adapter, sizeof adapter, "%s/adapter", tmp);
  snprintf(out, sizeof out, "%s/merged", tmp);
  lethe_err err = {0};
  int dtype = _i ? ST_BF16 : ST_F32;
  llama_storage how = {.dtype = dtype};
  ck_assert_msg(llama_save_as(m, base, &how, &err) == 0, "%s", err.msg);
  llama_model stored; /* the base as the merge sees it: rounded to bf16 */
  ck_assert_msg(llama_load(&stored, base, &err) == 0, "%s", err.msg);
  memcpy(m->params_memory, stored.params_memory, m->n_params * sizeof(float));
  llama_free(&stored);
  double before = nll(m, &c.tb, 1), after = 0;
  for (int step = 0; step < 5; step++) {
    for (size_t i = 0; i < c.lo.n_params; i++) c.lo.params[i] -= 0.5f * c.lo.grads[i];
    after = nll(m, &c.tb, 1);
  }
  ck_assert_msg(after < before, "training the adapter did not lower the loss");
  ck_assert_msg(lora_save(&c.lo, &m->cfg, adapter, base, &err) == 0, "%s", err.msg);
  snprintf(cmd, sizeof cmd, "%s/framework/lethe merge --base %s --adapter %s --out %s > /dev/null",
           LETHE_BINARY_DIR, base, adapter, out);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert(llama_forward(m, c.tb.input_ids, c.tb.attn_mask, c.tb.B, c.tb.T, &err) == 0);
  size_t n = (size_t)c.tb.B * c.tb.T * m->cfg.vocab_size;
  float *adapted = malloc(n * sizeof(float));
  memcpy(adapted, m->acts.logits, n * sizeof(float));
  llama_model merged;
  ck_assert_msg(llama_load(&merged, out, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(merged.storage.dtype, dtype);
  ck_assert(llama_forward(&merged, c.tb.input_ids, c.tb.attn_mask, c.tb.B, c.tb.T, &err) == 0);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < n; i++) {
    worst = fmax(worst, fabs((double)adapted[i] - merged.acts.logits[i]));
    scale = fmax(scale, fabs((double)adapted[i]));
  }
  ck_assert_msg(worst < (dtype == ST_F32 ? 1e-5 : 0.05) * scale, "merged logits differ by %g "
                "(scale %g)", worst, scale);
  printf("lora-%-16s lethe merge (%s base) vs adapted logits max |diff| %.2e\n", bases[_i],
         dtype == ST_F32 ? "f32" : "bf16", worst);
  llama_free(&merged);
  free(adapted);
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  ck_assert_int_eq(system(cmd), 0);
  close_lora_case(&c);
}
END_TEST

/* adapter_config.json errors name the file and the field. */
START_TEST(test_config_errors) {
  llama_config mc;
  llama_config_defaults(&mc);
  static const struct {
    const char *json, *field;
  } bad[] = {
      {"{\"r\": 4}", "peft_type"},
      {"{\"peft_type\": \"LORA\", \"r\": 0}", "'r'"},
      {"{\"peft_type\": \"LORA\", \"r\": \"8\"}", "'r'"},
      {"{\"peft_type\": \"LORA\", \"lora_alpha\": -1}", "lora_alpha"},
      {"{\"peft_type\": \"LORA\", \"lora_dropout\": 1.5}", "lora_dropout"},
      {"{\"peft_type\": \"LORA\", \"target_modules\": \"q_proj|v_proj\"}", "target_modules"},
      {"{\"peft_type\": \"LORA\", \"target_modules\": [\"lm_head\"]}", "target_modules"},
      {"{\"peft_type\": \"LORA\", \"fan_in_fan_out\": true}", "fan_in_fan_out"},
      {"{\"peft_type\": \"LORA\", \"bias\": \"all\"}", "bias"},
      {"{\"peft_type\": \"LORA\", \"use_dora\": true}", "use_dora"},
      {"{\"peft_type\": \"LORA\", \"rank_pattern\": {\"q_proj\": 2}}", "rank_pattern"},
      {"{\"peft_type\": \"LORA\", \"use_rslora\": 1}", "use_rslora"},
      {"[1, 2]", "not a JSON object"},
      {"{\"peft_type\": \"LORA\",", "adapter_config.json:1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lora_config cfg;
    lethe_err err = {0};
    ck_assert_msg(lora_config_parse(&cfg, &mc, bad[i].json, strlen(bad[i].json),
                                    "x/adapter_config.json", &err) != 0, "%s accepted", bad[i].json);
    ck_assert_msg(strstr(err.msg, "x/adapter_config.json") && strstr(err.msg, bad[i].field),
                  "%s: %s", bad[i].json, err.msg);
  }
  lora_config cfg;
  lethe_err err = {0};
  const char *ok = "{\"peft_type\": \"LORA\", \"r\": 2}";
  ck_assert(lora_config_parse(&cfg, &mc, ok, strlen(ok), "ok.json", &err) == 0);
  ck_assert(cfg.rank == 2 && cfg.alpha == 8.0 && cfg.targets == (1u << LORA_Q | 1u << LORA_V));
}
END_TEST

int main(void) {
  Suite *s = suite_create("lora");
  TCase *tc = tcase_create("lora");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_golden_logits_and_grads, 0, N_CASES);
  tcase_add_loop_test(tc, test_golden_bf16, 0, N_CASES);
  tcase_add_loop_test(tc, test_merge_matches_adapter, 0, N_CASES);
  tcase_add_loop_test(tc, test_save_load_round_trip, 0, N_CASES);
  tcase_add_test(tc, test_create_init);
  tcase_add_loop_test(tc, test_dropout, 0, N_CASES);
  tcase_add_test(tc, test_config_errors);
  tcase_add_loop_test(tc, test_cli_merge_after_training, 0, N_CASES);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
