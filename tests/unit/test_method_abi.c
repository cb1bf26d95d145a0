/* test_method_abi — ABI 1.2 through the host on a real model
 * (tests/data/llama-mha-tied, 3 layers): RMU trained with only its layer's
 * MLP trainable leaves every other tensor bit-identical after AdamW steps
 * (and its forget loss falls); needs resolved from parameters (no retain
 * rows at coefficient 0, RMU's layer and trainable pattern, a layer the
 * model lacks refused);
 * example ids reach the plugin row by row; at retain_coeff = 0 the
 * shipped methods take no retain rows and keep the forget gradient of ABI
 * 1.1; ABI 1.3's forget and retain parts, backpropagated apart, sum to the
 * one-pass gradient, and combine() is checked. Gradients against PyTorch are
 * test_objective_golden's. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/lora.h"
#include "train/objective.h"
#include "train/trainer.h"

#define CASE_DIR LETHE_TEST_DATA "/llama-mha-tied"

typedef struct fixture {
  llama_model policy, ref;
  token_batch parts[3], batch;
  lethe_segment seg[3];
} fixture;

static void fixture_load(fixture *f) {
  lethe_err err = {0};
  memset(f, 0, sizeof *f);
  ck_assert_msg(llama_load(&f->policy, CASE_DIR "/model", &err) == 0, "%s", err.msg);
  ck_assert_msg(llama_load(&f->ref, CASE_DIR "/ref_model", &err) == 0, "%s", err.msg);
  llama_freeze(&f->ref);
  const char *names[3] = {"forget", "retain", "idk"};
  const token_batch *stack[3];
  for (int s = 0; s < 3; s++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.jsonl", CASE_DIR, names[s]);
    ck_assert_msg(token_batch_read_jsonl(&f->parts[s], path, 0, &err) == 0, "%s", err.msg);
    stack[s] = &f->parts[s];
  }
  int row0[3], nrows[3];
  token_batch_stack(&f->batch, stack, 3, 0, 0, row0, nrows);
  for (int s = 0; s < 3; s++) f->seg[s].row0 = row0[s], f->seg[s].nrows = nrows[s];
}

static void fixture_free(fixture *f) {
  for (int s = 0; s < 3; s++) token_batch_free(&f->parts[s]);
  token_batch_free(&f->batch);
  llama_free(&f->policy);
  llama_free(&f->ref);
}

typedef struct run {
  fixture *f;
  objective obj;
} run;

static int micro(void *ctx, long step, int m, double grad_scale, double *loss, double *tokens,
                 lethe_err *err) {
  run *r = ctx;
  (void)m;
  *tokens = (double)r->f->batch.B * r->f->batch.T;
  return objective_step(&r->obj, &r->f->batch, r->f->seg, NULL, step, 4, grad_scale, loss, err);
}

/* Only layer 1's MLP of the policy trains. */
static void train_layer1_mlp(fixture *f) {
  lethe_err err = {0};
  const char *pattern = "model\\.layers\\.1\\.mlp\\..*";
  uint8_t *mask = malloc((size_t)LLAMA_N_PARAM_TENSORS * f->policy.cfg.num_hidden_layers);
  ck_assert_msg(llama_trainable_mask(&f->policy.cfg, &pattern, 1, mask, "test", &err) == 0, "%s",
                err.msg);
  ck_assert_msg(llama_set_trainable(&f->policy, mask, &err) == 0, "%s", err.msg);
  free(mask);
}

START_TEST(test_rmu_trains_only_its_layer) {
  fixture f;
  fixture_load(&f);
  lethe_err err = {0};
  train_layer1_mlp(&f);
  float *before = malloc(f.policy.n_params * sizeof(float));
  memcpy(before, f.policy.params_memory, f.policy.n_params * sizeof(float));

  method_spec spec;
  const char *ov[] = {"method.layer=1", "method.steering_coeff=3"};
  ck_assert_msg(method_spec_from_name(&spec, "rmu", NULL, ov, 2, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(spec.needs.caps, LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN | LETHE_CAP_RETAIN);
  ck_assert_int_eq(spec.needs.hidden_layer, 1);
  method_instance inst;
  run r = {.f = &f};
  ck_assert_msg(method_instance_create(&inst, &spec.plugin, spec.params, NULL, &err) == 0, "%s",
                err.msg);
  ck_assert_msg(objective_init(&r.obj, &f.policy, &f.ref, &inst, &err) == 0, "%s", err.msg);
  train_config tc = {.opt = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8,
                             .weight_decay = 0.01},
                     .total_steps = 4, .grad_accum = 1, .decay_norms = 1, .label = "rmu",
                     .quiet = 1};
  double first;
  ck_assert_msg(objective_step(&r.obj, &f.batch, f.seg, NULL, 0, 4, 1.0, &first, &err) == 0, "%s",
                err.msg);
  llama_zero_grads(&f.policy);
  train_result res;
  ck_assert_msg(trainer_run(&f.policy, &tc, micro, NULL, &r, &res, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(res.steps, 4);
  ck_assert_msg(res.last_loss < first, "loss %g after 4 steps, %g before", res.last_loss, first);

  llama_tensor_ref refs[128];
  int n = llama_named_tensors(&f.policy, LLAMA_OF_PARAMS, refs, 128), moved = 0;
  for (int i = 0; i < n; i++) {
    size_t at = (size_t)(refs[i].data - f.policy.params_memory);
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    int same = memcmp(before + at, refs[i].data, numel * sizeof(float)) == 0;
    int trains = strstr(refs[i].name, "model.layers.1.mlp.") == refs[i].name;
    ck_assert_msg(trains ? !same : same, "%s %s", refs[i].name,
                  trains ? "did not move" : "moved but is frozen");
    moved += trains;
  }
  ck_assert_int_eq(moved, 3); /* gate, up, down */
  objective_free(&r.obj);
  method_instance_destroy(&inst);
  method_spec_free(&spec);
  free(before);
  fixture_free(&f);
}
END_TEST

START_TEST(test_needs_from_parameters) {
  lethe_err err = {0};
  method_spec spec;
  ck_assert_msg(method_spec_from_name(&spec, "undial", NULL, NULL, 0, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(spec.needs.caps, LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS); /* α = 0 */
  method_spec_free(&spec);
  const char *retain[] = {"method.retain_coeff=0.5"};
  ck_assert_msg(method_spec_from_name(&spec, "undial", NULL, retain, 1, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(spec.needs.caps, LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS | LETHE_CAP_RETAIN);
  method_spec_free(&spec);
  const char *alone[] = {"method.alpha=0", "method.layer=2"};
  ck_assert_msg(method_spec_from_name(&spec, "rmu", NULL, alone, 2, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(spec.needs.caps, LETHE_CAP_HIDDEN); /* no retain rows, no reference */
  ck_assert_int_eq(spec.needs.hidden_layer, 2);
  ck_assert_str_eq(spec.needs.trainable, "model\\.layers\\.2\\.mlp\\..*");
  method_spec_free(&spec);
  const char *no_pull[] = {"method.l2=0"};
  ck_assert_msg(method_spec_from_name(&spec, "npo_l2", NULL, no_pull, 1, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(spec.needs.caps, LETHE_CAP_REF_LOGP);
  method_spec_free(&spec);

  /* a layer the model does not have: refused before any step, naming the layers */
  fixture f;
  fixture_load(&f);
  const char *deep[] = {"method.layer=3"};
  ck_assert_msg(method_spec_from_name(&spec, "rmu", NULL, deep, 1, &err) == 0, "%s", err.msg);
  method_instance inst;
  objective obj;
  ck_assert_msg(method_instance_create(&inst, &spec.plugin, spec.params, NULL, &err) == 0, "%s",
                err.msg);
  ck_assert_int_ne(objective_init(&obj, &f.policy, &f.ref, &inst, &err), 0);
  ck_assert_msg(strstr(err.msg, "method rmu reads the hidden states after layer 3, but the model "
                                "has 3 layers (0..2)") != NULL, "%s", err.msg);
  ck_assert_int_ne(objective_init(&obj, &f.policy, NULL, &inst, &err), 0);
  ck_assert_msg(strstr(err.msg, "needs reference hidden states") != NULL, "%s", err.msg);
  objective_free(&obj);
  method_instance_destroy(&inst);
  method_spec_free(&spec);
  fixture_free(&f);
}
END_TEST

/* One objective step of plugin p (params: defaults, then ov) on batch/seg;
 * returns the loss and leaves the gradients in f->policy (zeroed first). */
static double grad_of(fixture *f, const method_plugin *p, const char *ov, const token_batch *batch,
                      const lethe_segment *seg) {
  lethe_err err = {0};
  void *params = method_params_new(p->desc);
  ck_assert_msg(method_params_override(p->desc, params, ov, &err) == 0, "%s", err.msg);
  method_instance inst;
  objective obj;
  ck_assert_msg(method_instance_create(&inst, p, params, NULL, &err) == 0, "%s", err.msg);
  ck_assert_msg(objective_init(&obj, &f->policy, &f->ref, &inst, &err) == 0, "%s", err.msg);
  llama_zero_grads(&f->policy);
  double loss;
  ck_assert_msg(objective_step(&obj, batch, seg, NULL, 0, 1, 1.0, &loss, &err) == 0, "%s", err.msg);
  objective_free(&obj);
  method_instance_destroy(&inst);
  free(params);
  return loss;
}

/* At retain_coeff = 0 today's grad_diff, npo_rt and kl take forget rows
 * alone; the 1.1 build of the same method, given forget and retain rows,
 * has the same loss and parameter gradient up to the rounding of a batch of
 * another shape (more rows; in a run also the retain rows' padding): 1e-5
 * relative. */
START_TEST(test_no_retain_rows_same_forget_gradient) {
  static const char *const names[] = {"grad_diff", "npo_rt", "kl"};
  const char *name = names[_i];
  fixture f;
  fixture_load(&f);
  lethe_err err = {0};
  method_plugin old, now;
  char path[1024];
  snprintf(path, sizeof path, "%s/lethe_%s.so", METHOD_ABI_V1_1_DIR, name);
  ck_assert_msg(method_plugin_open(&old, path, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/lethe_%s.so", METHOD_PLUGIN_DIR, name);
  ck_assert_msg(method_plugin_open(&now, path, &err) == 0, "%s", err.msg);
  lethe_segment both[3] = {f.seg[0], f.seg[1], {f.seg[1].row0 + f.seg[1].nrows, 0}};
  double old_loss = grad_of(&f, &old, "method.retain_coeff=0", &f.batch, both);
  size_t n = f.policy.n_trainable;
  float *old_grad = malloc(n * sizeof(float));
  memcpy(old_grad, f.policy.grads_memory, n * sizeof(float));
  lethe_segment forget_only[3] = {{0, f.parts[0].B}, {f.parts[0].B, 0}, {f.parts[0].B, 0}};
  double loss = grad_of(&f, &now, "method.retain_coeff=0", &f.parts[0], forget_only);
  ck_assert_msg(fabs(loss - old_loss) <= 1e-5 * fabs(old_loss), "%s: loss %.9g, 1.1 %.9g", name,
                loss, old_loss);
  double worst = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; i++) {
    worst = fmax(worst, fabs((double)f.policy.grads_memory[i] - old_grad[i]));
    scale = fmax(scale, fabs((double)old_grad[i]));
  }
  ck_assert_msg(scale > 0 && worst <= 1e-5 * scale, "%s: gradients differ by %g (largest %g)", name,
                worst, scale);
  free(old_grad);
  method_plugin_close(&old);
  method_plugin_close(&now);
  fixture_free(&f);
}
END_TEST

/* Method ABI 1.3: the forget and retain parts backpropagated apart and
 * summed (gru with project = false, retain_coeff = 1) give grad_diff's
 * one-pass gradient; the combination, times grad_scale, is added to the
 * gradients already accumulated; with a trainable subset the parts cover
 * only it (_i = 1: layer 1's MLP). */
START_TEST(test_part_grads_sum_to_the_gradient) {
  fixture f;
  fixture_load(&f);
  lethe_err err = {0};
  if (_i == 1) train_layer1_mlp(&f);
  method_plugin gd, gru;
  ck_assert_msg(method_plugin_open(&gd, METHOD_PLUGIN_DIR "/lethe_grad_diff.so", &err) == 0, "%s",
                err.msg);
  ck_assert_msg(method_plugin_open(&gru, METHOD_PLUGIN_DIR "/lethe_gru.so", &err) == 0, "%s",
                err.msg);
  double want_loss = grad_of(&f, &gd, "method.retain_coeff=1", &f.batch, f.seg);
  size_t n = f.policy.n_trainable;
  float *want = malloc(n * sizeof(float));
  memcpy(want, f.policy.grads_memory, n * sizeof(float));

  void *params = method_params_new(gru.desc);
  const char *ov[] = {"method.project=false", "method.retain_coeff=1"};
  for (int k = 0; k < 2; k++)
    ck_assert_msg(method_params_override(gru.desc, params, ov[k], &err) == 0, "%s", err.msg);
  method_instance inst;
  objective obj;
  ck_assert_msg(method_instance_create(&inst, &gru, params, NULL, &err) == 0, "%s", err.msg);
  ck_assert_msg(objective_init(&obj, &f.policy, &f.ref, &inst, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(obj.params.n, _i == 1 ? 3 : llama_trainable_tensors(&f.policy));
  for (size_t i = 0; i < n; i++) f.policy.grads_memory[i] = 0.25f * (float)(i % 7); /* accumulated */
  double loss;
  ck_assert_msg(objective_step(&obj, &f.batch, f.seg, NULL, 0, 1, 0.5, &loss, &err) == 0, "%s",
                err.msg);
  ck_assert_msg(fabs(loss - want_loss) <= 1e-12 * fabs(want_loss), "loss %.17g, grad_diff %.17g",
                loss, want_loss);
  double worst = 0.0, scale = 0.0;
  for (size_t i = 0; i < n; i++) {
    double expect = 0.25f * (float)(i % 7) + 0.5 * want[i];
    worst = fmax(worst, fabs(f.policy.grads_memory[i] - expect));
    scale = fmax(scale, fabs(0.5 * want[i]));
  }
  ck_assert_msg(scale > 0 && worst <= 1e-5 * scale, "parts' sum differs by %g (largest %g)", worst,
                scale);
  objective_free(&obj);
  method_instance_destroy(&inst);
  free(params);
  free(want);
  method_plugin_close(&gd);
  method_plugin_close(&gru);
  fixture_free(&f);
}
END_TEST

/* combine()'s output is checked like every other gradient: a NaN stops the
 * step, naming the method, the step, the tensor and the index. */
START_TEST(test_combine_checked) {
  lethe_err err = {0};
  method_plugin p;
  ck_assert_msg(method_plugin_open(&p, METHOD_BAD_DIR "/lethe_bad_combine_nan.so", &err) == 0, "%s",
                err.msg);
  void *params = method_params_new(p.desc);
  method_instance mi;
  ck_assert_msg(method_instance_create(&mi, &p, params, NULL, &err) == 0, "%s", err.msg);
  float forget[6] = {1, 2, 3, 4, 5, 6}, retain[6] = {0}, out[6] = {0};
  lethe_param_tensor t[2] = {{.name = "a.weight", .ndim = 1, .shape = {4, 1}, .numel = 4},
                             {.name = "b.weight", .ndim = 1, .shape = {2, 1}, .numel = 2}};
  const float *fv[2] = {forget, forget + 4}, *rv[2] = {retain, retain + 4};
  float *ov[2] = {out, out + 4};
  lethe_method_parts parts = {sizeof parts, 2, t, fv, rv, ov, 7, 10, NULL};
  ck_assert_int_ne(method_instance_combine(&mi, &parts, &err), 0);
  ck_assert_msg(strstr(err.msg, "method 'bad_combine_nan'") && strstr(err.msg, "step 7") &&
                    strstr(err.msg, "combined gradient of a.weight[1] is nan"),
                "%s", err.msg);
  ck_assert(out[0] == 1 && out[5] == 6);
  method_instance_destroy(&mi);
  free(params);
  method_plugin_close(&p);
}
END_TEST

/* With an adapter the adapter trains: a method that combines the model's
 * parameter gradients is refused, naming what to do instead. */
START_TEST(test_part_grads_refused_with_an_adapter) {
  fixture f;
  fixture_load(&f);
  lethe_err err = {0};
  lora_config lc = {.rank = 2, .alpha = 4, .targets = 1u << LORA_Q, .seed = 1};
  lora_adapter lora;
  ck_assert_msg(lora_create(&lora, &f.policy.cfg, &lc, &err) == 0, "%s", err.msg);
  llama_attach_lora(&f.policy, &lora);
  method_plugin p;
  ck_assert_msg(method_plugin_open(&p, METHOD_PLUGIN_DIR "/lethe_gru.so", &err) == 0, "%s",
                err.msg);
  void *params = method_params_new(p.desc);
  method_instance inst;
  objective obj;
  ck_assert_msg(method_instance_create(&inst, &p, params, NULL, &err) == 0, "%s", err.msg);
  ck_assert_int_ne(objective_init(&obj, &f.policy, &f.ref, &inst, &err), 0);
  ck_assert_msg(strstr(err.msg, "method gru combines the forget and retain gradients of the "
                                "trainable parameters") && strstr(err.msg, "unlearn.params"),
                "%s", err.msg);
  method_instance_destroy(&inst);
  free(params);
  method_plugin_close(&p);
  llama_attach_lora(&f.policy, NULL);
  lora_free(&lora);
  fixture_free(&f);
}
END_TEST

typedef struct id_log {
  int n;
  double id[64];
} id_log;

static void log_id(void *ctx, const char *name, double value) {
  id_log *l = ctx;
  if (!strcmp(name, "example_id") && l->n < 64) l->id[l->n++] = value;
}

START_TEST(test_example_ids_reach_the_plugin) {
  fixture f;
  fixture_load(&f);
  lethe_err err = {0};
  method_plugin p;
  ck_assert_msg(method_plugin_open(&p, METHOD_BAD_DIR "/lethe_bad_ids.so", &err) == 0, "%s",
                err.msg);
  void *params = method_params_new(p.desc);
  id_log log = {0};
  lethe_host_api host = {sizeof host, &log, log_id, NULL};
  method_instance inst;
  objective obj;
  ck_assert_msg(method_instance_create(&inst, &p, params, &host, &err) == 0, "%s", err.msg);
  ck_assert_msg(objective_init(&obj, &f.policy, NULL, &inst, &err) == 0, "%s", err.msg);
  int B = f.batch.B;
  int64_t ids[64];
  for (int b = 0; b < B; b++) ids[b] = 1000 + 7 * b;
  obj.example_id = ids;
  double loss;
  ck_assert_msg(objective_step(&obj, &f.batch, f.seg, NULL, 0, 1, 1.0, &loss, &err) == 0, "%s",
                err.msg);
  ck_assert_int_eq(log.n, B);
  for (int b = 0; b < B; b++) ck_assert_int_eq((int64_t)log.id[b], ids[b]);
  obj.example_id = NULL; /* none known: -1 */
  log.n = 0;
  ck_assert_msg(objective_step(&obj, &f.batch, f.seg, NULL, 1, 2, 1.0, &loss, &err) == 0, "%s",
                err.msg);
  for (int b = 0; b < B; b++) ck_assert_int_eq((int64_t)log.id[b], -1);
  objective_free(&obj);
  method_instance_destroy(&inst);
  free(params);
  method_plugin_close(&p);
  fixture_free(&f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("method_abi");
  TCase *tc = tcase_create("abi_1_2");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_rmu_trains_only_its_layer);
  tcase_add_test(tc, test_needs_from_parameters);
  tcase_add_test(tc, test_example_ids_reach_the_plugin);
  tcase_add_loop_test(tc, test_no_retain_rows_same_forget_gradient, 0, 3);
  tcase_add_loop_test(tc, test_part_grads_sum_to_the_gradient, 0, 2);
  tcase_add_test(tc, test_combine_checked);
  tcase_add_test(tc, test_part_grads_refused_with_an_adapter);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
