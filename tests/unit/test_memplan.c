/* test_memplan — the memory plan (train/memplan.h) is the run's own
 * allocations, not an estimate of them:
 * - llama_reserve_bytes on a weightless shell equals the bytes llama_reserve
 *   then allocates on the real model, in every family, f32 and bf16, with
 *   and without checkpointing, whole and chunked logits;
 * - llama_trainable_floats of a mask equals the gradient floats
 *   llama_set_trainable allocates for it;
 * - the plan's parts: gradients and AdamW 4 and 8 bytes per trainable float,
 *   none for the base under LoRA, logits B·T·V floats whole and one chunk
 *   chunked;
 * - frozen matrices held in bfloat16: the floats and widening buffer
 *   llama_hold_frozen allocates;
 * - a plan over the memory available is refused naming its biggest part. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bf16_skip.h"
#include "families.h"
#include "train/memplan.h"

/* A small config of a family: 0 llama (GQA), 1 llama tied, 2 mistral,
 * 3 qwen2 (q/k/v biases), 4 qwen3 (q/k norms), 5 phi. */
static llama_config family_config(int which) {
  llama_config c;
  llama_config_defaults(&c);
  c.vocab_size = 101, c.hidden_size = 32, c.intermediate_size = 48, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8;
  c.max_position_embeddings = 64, c.initializer_range = 0.02;
  family_apply(&c, which);
  return c;
}

static void settings(llama_model *m, int compute, int ckpt, int logits) {
  llama_set_compute(m, compute);
  llama_set_checkpointing(m, ckpt);
  llama_set_logits(m, logits, logits == LLAMA_LOGITS_CHUNKED ? 7 : 0);
}

START_TEST(test_reserve_bytes_are_the_allocation) {
  int bf16 = tensor_backend_get()->bf16;
  for (int fam = 0; fam < N_FAMILIES; fam++)
    for (int compute = LLAMA_COMPUTE_F32; compute <= (bf16 ? LLAMA_COMPUTE_BF16 : LLAMA_COMPUTE_F32);
         compute++)
      for (int ckpt = 0; ckpt <= 1; ckpt++)
        for (int logits = LLAMA_LOGITS_WHOLE; logits <= LLAMA_LOGITS_CHUNKED; logits++) {
          llama_config c = family_config(fam);
          lethe_err err = {0};
          llama_model m, shell;
          ck_assert_msg(llama_init(&m, &c, 3, &err) == 0, "%s", err.msg);
          ck_assert_msg(llama_shell(&shell, &c, &err) == 0, "%s", err.msg);
          ck_assert_uint_eq(shell.n_params, m.n_params);
          settings(&m, compute, ckpt, logits);
          settings(&shell, compute, ckpt, logits);
          ck_assert_ptr_null(shell.params_bf16); /* a shell allocates nothing */
          int B = 3, T = 11;
          size_t planned = llama_reserve_bytes(&shell, B, T);
          llama_reserve(&m, B, T);
          ck_assert_msg(planned == m.acts_bytes,
                        "family %d %s ckpt %d logits %d: planned %zu, allocated %zu", fam,
                        llama_compute_name(compute), ckpt, logits, planned, m.acts_bytes);
          llama_free(&m);
        }
}
END_TEST

START_TEST(test_trainable_floats_are_the_gradients) {
  static const char *const pats[] = {"model\\.layers\\.1\\..*",
                                     "model\\.(norm|final_layernorm)\\.weight"};
  for (int fam = 0; fam < N_FAMILIES; fam++) {
    llama_config c = family_config(fam);
    lethe_err err = {0};
    llama_model m;
    ck_assert_msg(llama_init(&m, &c, 3, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(llama_trainable_floats(&c, NULL), m.n_params);
    uint8_t mask[LLAMA_N_PARAM_TENSORS * 3];
    ck_assert_msg(llama_trainable_mask(&c, pats, 2, mask, "test", &err) == 0, "%s", err.msg);
    ck_assert_msg(llama_set_trainable(&m, mask, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(llama_trainable_floats(&c, mask), m.n_trainable);
    ck_assert_uint_lt(m.n_trainable, m.n_params);
    llama_free(&m);
  }
}
END_TEST

static const memplan_part *part(const memplan *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->part[i].name, name)) return &p->part[i];
  return NULL;
}

START_TEST(test_plan_parts) {
  llama_config c = family_config(1);
  lethe_err err = {0};
  llama_model shell;
  ck_assert(llama_shell(&shell, &c, &err) == 0);
  int B = 4, T = 16;
  size_t n = shell.n_params;
  /* every tensor, whole logits */
  llama_set_logits(&shell, LLAMA_LOGITS_WHOLE, 0);
  memplan_training t = {.shell = &shell, .B = B, .T = T, .runtime_bytes = 1000};
  memplan p;
  ck_assert(memplan_training_parts(&t, &p, &err) == 0);
  ck_assert_uint_eq(part(&p, "weights (float32 master)")->bytes, 4 * n);
  ck_assert_uint_eq(part(&p, "gradients")->bytes, 4 * n);
  ck_assert_uint_eq(part(&p, "AdamW moments")->bytes, 8 * n);
  size_t whole = part(&p, "logits")->bytes, bt_v = (size_t)B * T * c.vocab_size * 4;
  ck_assert_msg(whole >= bt_v && whole < bt_v + 64 * 4, "whole logits %zu for %zu", whole, bt_v);
  ck_assert_uint_eq(part(&p, "runtime (libraries, data)")->bytes, 1000);
  ck_assert_ptr_null(part(&p, "reference model"));
  size_t total = memplan_total(&p);
  /* chunked: one chunk of 7 rows (and the head's gathered inputs) */
  llama_set_logits(&shell, LLAMA_LOGITS_CHUNKED, 7);
  ck_assert(memplan_training_parts(&t, &p, &err) == 0);
  size_t chunk = part(&p, "logits")->bytes, rows_v = (size_t)7 * c.vocab_size * 4;
  ck_assert_msg(chunk >= rows_v && chunk < rows_v + 64 * 4, "chunked logits %zu for %zu", chunk,
                rows_v);
  ck_assert_uint_lt(memplan_total(&p), total);
  /* LoRA: no gradients or moments of the base, the adapter's instead */
  lora_config lc = {.rank = 2, .alpha = 4, .targets = 1u << LORA_Q | 1u << LORA_V, .seed = 1};
  lora_adapter lo;
  ck_assert(lora_create(&lo, &c, &lc, &err) == 0);
  t.lora = &lc;
  t.ref = &shell;
  t.ref_borrows = 1;
  ck_assert(memplan_training_parts(&t, &p, &err) == 0);
  ck_assert_uint_eq(part(&p, "gradients")->bytes, 4 * lo.n_params);
  ck_assert_uint_eq(part(&p, "AdamW moments")->bytes, 8 * lo.n_params);
  ck_assert_uint_eq(part(&p, "LoRA adapter (weights)")->bytes, 4 * lo.n_params);
  ck_assert_uint_eq(part(&p, "LoRA forward state")->bytes, lora_work_bytes(&lo, (int64_t)B * T));
  ck_assert_ptr_null(part(&p, "reference model")); /* f32: a view owns no weights */
  ck_assert_ptr_nonnull(part(&p, "reference activations and logits"));
  lora_free(&lo);
  /* a subset: the mask's floats */
  static const char *const pats[] = {"model\\.layers\\.2\\.mlp\\..*"};
  uint8_t mask[LLAMA_N_PARAM_TENSORS * 3];
  ck_assert(llama_trainable_mask(&c, pats, 1, mask, "test", &err) == 0);
  t.lora = NULL;
  t.trainable = mask;
  ck_assert(memplan_training_parts(&t, &p, &err) == 0);
  ck_assert_uint_eq(part(&p, "gradients")->bytes, 4 * llama_trainable_floats(&c, mask));
  /* frozen matrices held in bf16: what llama_hold_frozen holds on the model */
  llama_model m;
  ck_assert(llama_init(&m, &c, 3, &err) == 0);
  ck_assert(llama_set_trainable(&m, mask, &err) == 0);
  size_t held = llama_hold_frozen(&m, LLAMA_HOLD_BF16);
  t.frozen_bf16 = 1;
  ck_assert(memplan_training_parts(&t, &p, &err) == 0);
  ck_assert_uint_gt(held, 0);
  ck_assert_uint_eq(part(&p, "weights (float32 master)")->bytes, 4 * (n - held));
  ck_assert_uint_eq(part(&p, "frozen weights (bfloat16)")->bytes, 2 * held);
  ck_assert_uint_eq(part(&p, "widening buffer")->bytes, 4 * m.widen_floats);
  t.trainable = NULL; /* every tensor trains: nothing held */
  ck_assert(memplan_training_parts(&t, &p, &err) == 0);
  ck_assert_ptr_null(part(&p, "frozen weights (bfloat16)"));
  ck_assert_uint_eq(part(&p, "weights (float32 master)")->bytes, 4 * n);
  llama_free(&m);
}
END_TEST

START_TEST(test_refuses_naming_the_biggest_part) {
  llama_config c = family_config(0);
  c.vocab_size = 50000; /* whole logits dominate */
  lethe_err err = {0};
  llama_model shell;
  ck_assert(llama_shell(&shell, &c, &err) == 0);
  llama_set_logits(&shell, LLAMA_LOGITS_WHOLE, 0);
  memplan_training t = {.shell = &shell, .B = 8, .T = 64};
  memplan p;
  ck_assert(memplan_training_parts(&t, &p, &err) == 0);
  size_t total = memplan_total(&p);
  ck_assert_str_eq(p.part[memplan_biggest(&p)].name, "logits");
  ck_assert_int_eq(memplan_check(&p, total, "this run", &err), 0);
  ck_assert_int_eq(memplan_check(&p, 0, "this run", &err), 0); /* unknown: no refusal */
  ck_assert_int_ne(memplan_check(&p, total - 1, "this run", &err), 0);
  ck_assert_msg(strstr(err.msg, "this run needs") && strstr(err.msg, "biggest part is logits") &&
                    strstr(err.msg, "batch_size") && strstr(err.msg, "lethe plan"),
                "%s", err.msg);
}
END_TEST

int main(void) {
  Suite *s = suite_create("memplan");
  TCase *tc = tcase_create("memplan");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_reserve_bytes_are_the_allocation);
  tcase_add_test(tc, test_trainable_floats_are_the_gradients);
  tcase_add_test(tc, test_plan_parts);
  tcase_add_test(tc, test_refuses_naming_the_biggest_part);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
