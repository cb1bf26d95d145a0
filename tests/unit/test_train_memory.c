/* test_train_memory — what training keeps in memory (llama.h):
 * - trainable subsets (llama_set_trainable): the gradients of the trainable
 *   tensors equal a full backward's, in every family, f32 and bf16; frozen
 *   tensors stay bit-identical through training; the trainer keeps 12 bytes
 *   (gradient, two moments) per trainable float; name patterns that do not
 *   compile or match nothing are refused, and so is a checkpoint resumed
 *   with another subset;
 * - activation checkpointing (llama_set_checkpointing): every gradient and
 *   the logits are the same bits as without, in every family, f32 and bf16,
 *   with a subset too; the activations shrink by L−1 layers' worth. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bf16_skip.h"
#include "families.h"
#include "model/safetensors.h"
#include "train/memplan.h"
#include "train/trainer.h"

#define B 2
#define T 9
#define V 23
static int32_t tokens[B * T], targets[B * T], attn[B * T];

/* A small model of a family: 0 llama (GQA), 1 llama tied, 2 mistral
 * (sliding window), 3 qwen2 (q/k/v biases), 4 qwen3 (q/k norms), 5 phi. */
static void make_model(llama_model *m, int which) {
  llama_config c;
  llama_config_defaults(&c);
  c.vocab_size = V, c.hidden_size = 16, c.intermediate_size = 24, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 4;
  c.max_position_embeddings = 16, c.initializer_range = 0.2;
  family_apply(&c, which);
  lethe_err err = {0};
  ck_assert_msg(llama_init(m, &c, 7, &err) == 0, "%s", err.msg);
  /* norms and biases away from 1 and 0, so that their gradients are generic */
  lethe_rng r;
  lethe_rng_seed(&r, 5);
  llama_tensor_ref refs[128];
  int n = llama_named_tensors(m, LLAMA_OF_PARAMS, refs, 128);
  for (int t = 0; t < n; t++)
    if (!llama_param_role_is_matrix(refs[t].role))
      for (int64_t i = 0; i < refs[t].shape[0]; i++)
        refs[t].data[i] += 0.1f * (float)lethe_rng_normal(&r);
  for (int i = 0; i < B * T; i++) {
    tokens[i] = (int32_t)lethe_rng_below(&r, V);
    targets[i] = i % T == T - 1 ? -1 : (int32_t)lethe_rng_below(&r, V);
    attn[i] = !(i / T == 1 && i % T >= T - 2); /* row 1 ends in padding */
  }
}

static void set_subset(llama_model *m, const char *const *patterns, int n) {
  uint8_t mask[LLAMA_N_PARAM_TENSORS * 8];
  lethe_err err = {0};
  ck_assert_msg(llama_trainable_mask(&m->cfg, patterns, n, mask, "test.params", &err) == 0, "%s",
                err.msg);
  ck_assert_msg(llama_set_trainable(m, mask, &err) == 0, "%s", err.msg);
}

/* Gradient of the mean NLL of the targets. */
static void grad(llama_model *m) {
  lethe_err err = {0};
  llama_zero_grads(m);
  ck_assert_msg(llama_forward(m, tokens, attn, B, T, &err) == 0, "%s", err.msg);
  float logp[B * T], g[B * T];
  llama_target_logp(m, targets, logp);
  for (int i = 0; i < B * T; i++) g[i] = targets[i] >= 0 ? -1.0f / (B * T) : 0.0f;
  llama_dlogits_from_dlogp(m, targets, g, NULL);
  llama_backward(m);
}

/* Subsets: the lowest layer's MLP, attention pieces, the head side alone,
 * the embedding (and with it a tied head), norms and biases. */
static const char *const subsets[][4] = {
    {"model\\.layers\\.1\\.mlp\\..*", NULL},
    {"model\\.layers\\.[12]\\.self_attn\\.(q|k)_proj\\.weight", "model\\.norm\\.weight", NULL},
    {"lm_head\\..*", "model\\.(final_layernorm|norm)\\..*", NULL},
    {"model\\.embed_tokens\\.weight", NULL},
    {".*norm.*", ".*bias", NULL},
    {"model\\.layers\\.2\\.self_attn\\.(o_proj|dense)\\.weight", NULL},
    {"model\\.layers\\.0\\.input_layernorm\\.weight", "model\\.layers\\.2\\.mlp\\..*", NULL},
};
#define N_SUBSETS ((int)(sizeof subsets / sizeof subsets[0]))

static int count(const char *const *p) {
  int n = 0;
  while (p[n]) n++;
  return n;
}

/* A gradient tensor against the one it should equal, to 1e-6 of the
 * largest entry; returns its floats. */
static size_t close_to(const llama_tensor_ref *got, const float *want, int family, int s,
                       int compute, const char *what) {
  size_t numel = (size_t)got->shape[0] * (got->ndim == 2 ? got->shape[1] : 1);
  double worst = 0, scale = 1e-12;
  for (size_t k = 0; k < numel; k++) {
    worst = fmax(worst, fabs((double)got->data[k] - want[k]));
    scale = fmax(scale, fabs(want[k]));
  }
  ck_assert_msg(worst <= 1e-6 * scale, "family %d subset %d %s %s: %sgradients differ by %g "
                "(largest %g)", family, s, llama_compute_name(compute), got->name, what, worst,
                scale);
  return numel;
}

/* Every trainable tensor's gradient against the full backward's; 1 if the
 * subset names nothing in this family (skipped). */
static void check_subset_grads(int family, int s, int compute) {
  llama_model full, sub;
  make_model(&full, family);
  make_model(&sub, family);
  llama_set_compute(&full, compute);
  llama_set_compute(&sub, compute);
  uint8_t mask[LLAMA_N_PARAM_TENSORS * 8];
  lethe_err err = {0};
  if (llama_trainable_mask(&sub.cfg, subsets[s], count(subsets[s]), mask, "t", &err) != 0) {
    ck_assert_msg(strstr(err.msg, "matches no tensor"), "%s", err.msg); /* e.g. no lm_head when tied */
    llama_free(&full);
    llama_free(&sub);
    return;
  }
  ck_assert_int_eq(llama_set_trainable(&sub, mask, &err), 0);
  llama_alloc_grads(&full);
  grad(&full);
  grad(&sub);
  llama_tensor_ref refs[128];
  int n = llama_named_tensors(&sub, LLAMA_OF_GRADS, refs, 128);
  size_t floats = 0;
  ck_assert_int_gt(n, 0);
  for (int i = 0; i < n; i++) {
    floats += close_to(&refs[i], llama_grad(&full, refs[i].role, refs[i].layer), family, s,
                       compute, "");
  }
  ck_assert_uint_eq(floats, sub.n_trainable);
  ck_assert_int_eq(llama_trainable_tensors(&sub), n);
  llama_free(&full);
  llama_free(&sub);
}

START_TEST(test_subset_gradients_equal_full_f32) {
  for (int s = 0; s < N_SUBSETS; s++) check_subset_grads(_i, s, LLAMA_COMPUTE_F32);
}
END_TEST

START_TEST(test_subset_gradients_equal_full_bf16) {
  if (!bf16_runs_here("subset gradients in bf16")) return;
  for (int s = 0; s < N_SUBSETS; s++) check_subset_grads(_i, s, LLAMA_COMPUTE_BF16);
}
END_TEST

START_TEST(test_tied_head_trains_with_embedding) {
  llama_model m;
  make_model(&m, 1);
  set_subset(&m, (const char *const[]){"model\\.embed_tokens\\.weight"}, 1);
  ck_assert_ptr_eq(llama_grad(&m, LLAMA_PARAM_LM_HEAD, 0), llama_grad(&m, LLAMA_PARAM_EMBED, 0));
  ck_assert_uint_eq(m.n_trainable, (size_t)V * 16);
  llama_free(&m);
}
END_TEST

/* ---- training with a subset ------------------------------------------------ */
static int micro(void *vc, long step, int k, double scale, double *loss, double *toks,
                 lethe_err *err) {
  llama_model *m = vc;
  (void)step, (void)k;
  if (llama_forward(m, tokens, attn, B, T, err) != 0) return -1;
  float logp[B * T], g[B * T];
  llama_target_logp(m, targets, logp);
  double s = 0;
  for (int i = 0; i < B * T; i++) {
    if (targets[i] >= 0) s -= logp[i];
    g[i] = targets[i] >= 0 ? (float)(-scale / (B * T)) : 0.0f;
  }
  *loss = s / (B * T);
  *toks = B * T;
  llama_dlogits_from_dlogp(m, targets, g, NULL);
  llama_backward(m);
  return 0;
}

static train_config config(const char *ckpt, long steps) {
  train_config tc = {{1e-2, 0.9, 0.999, 1e-8, 0.1}, steps, 1, 1, 1.0, 0, "subset", ckpt, 3, 1, 1, 0};
  return tc;
}

static const char *const mlp1[] = {"model\\.layers\\.1\\.mlp\\..*", "model\\.norm\\.weight"};

START_TEST(test_frozen_tensors_stay_bit_identical) {
  llama_model m, before;
  make_model(&m, 0);
  make_model(&before, 0);
  set_subset(&m, mlp1, 2);
  train_config tc = config(NULL, 4);
  train_result res;
  lethe_err err = {0};
  ck_assert_msg(trainer_run(&m, &tc, micro, NULL, &m, &res, &err) == 0, "%s", err.msg);
  llama_tensor_ref now[128], was[128];
  int n = llama_named_tensors(&m, LLAMA_OF_PARAMS, now, 128);
  llama_named_tensors(&before, LLAMA_OF_PARAMS, was, 128);
  size_t trainable = 0;
  for (int i = 0; i < n; i++) {
    size_t bytes = sizeof(float) * (size_t)now[i].shape[0] * (now[i].ndim == 2 ? now[i].shape[1] : 1);
    int same = !memcmp(now[i].data, was[i].data, bytes);
    int trains = llama_grad(&m, now[i].role, now[i].layer) != NULL;
    ck_assert_msg(trains ? !same : same, "%s: %s", now[i].name, trains ? "did not train" : "changed");
    if (trains) trainable += bytes / sizeof(float);
  }
  /* layer 1's gate, up and down; the final norm */
  ck_assert_uint_eq(trainable, 3 * 24 * 16 + 16);
  ck_assert_uint_eq(m.n_trainable, trainable);
  ck_assert_uint_eq(res.state_bytes, 12 * trainable);
  llama_free(&m);
  llama_free(&before);
}
END_TEST

START_TEST(test_resume_needs_the_same_subset) {
  char dir[] = "/tmp/lethe_trainable_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *ckpt = lethe_path_join(dir, "ckpt.safetensors");
  lethe_err err = {0};
  train_result res;
  llama_model ref, m;
  /* 6 steps straight, and 6 steps from the checkpoint written at 3 */
  make_model(&ref, 0);
  set_subset(&ref, mlp1, 2);
  train_config tc = config(ckpt, 6);
  ck_assert_msg(trainer_run(&ref, &tc, micro, NULL, &ref, &res, &err) == 0, "%s", err.msg);
  ck_assert(lethe_file_exists(ckpt));
  make_model(&m, 0);
  set_subset(&m, mlp1, 2);
  ck_assert_msg(trainer_run(&m, &tc, micro, NULL, &m, &res, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(res.resumed_from, 3);
  ck_assert(!memcmp(m.params_memory, ref.params_memory, m.n_params * sizeof(float)));
  llama_free(&m);
  /* another subset, and every tensor, are refused */
  make_model(&m, 0);
  set_subset(&m, (const char *const[]){"model\\.layers\\.2\\.mlp\\..*"}, 1);
  ck_assert_int_eq(trainer_run(&m, &tc, micro, NULL, &m, &res, &err), -1);
  ck_assert_msg(strstr(err.msg, "another subset") && strstr(err.msg, "ckpt.safetensors") &&
                    strstr(err.msg, "model.layers.1.mlp.gate_proj.weight is frozen here"),
                "%s", err.msg);
  llama_free(&m);
  make_model(&m, 0);
  ck_assert_int_eq(trainer_run(&m, &tc, micro, NULL, &m, &res, &err), -1);
  ck_assert_msg(strstr(err.msg, "another subset") && strstr(err.msg, "(4 trainable there, 30 here"),
                "%s", err.msg);
  llama_free(&m);
  llama_free(&ref);
  unlink(ckpt);
  rmdir(dir);
  free(ckpt);
}
END_TEST

START_TEST(test_patterns_refused) {
  llama_model m;
  make_model(&m, 0);
  uint8_t mask[LLAMA_N_PARAM_TENSORS * 3];
  lethe_err err = {0};
  const char *bad[] = {"model\\.layers\\.(1"};
  ck_assert_int_eq(llama_trainable_mask(&m.cfg, bad, 1, mask, "unlearn.params (x.cfg:3)", &err), -1);
  ck_assert_msg(strstr(err.msg, "unlearn.params (x.cfg:3)") && strstr(err.msg, bad[0]) &&
                    strstr(err.msg, "missing closing parenthesis") && strstr(err.msg, "offset 17"),
                "%s", err.msg);
  const char *none[] = {"model\\.layers\\.1\\.mlp\\..*", "model\\.layers\\.3\\..*"};
  ck_assert_int_eq(llama_trainable_mask(&m.cfg, none, 2, mask, "finetune.params", &err), -1);
  ck_assert_msg(strstr(err.msg, "finetune.params") && strstr(err.msg, none[1]) &&
                    strstr(err.msg, "matches no tensor"), "%s", err.msg);
  const char *partial[] = {"model\\.layers\\.1"}; /* a full match is needed */
  ck_assert_int_eq(llama_trainable_mask(&m.cfg, partial, 1, mask, "finetune.params", &err), -1);
  ck_assert_int_eq(llama_trainable_mask(&m.cfg, NULL, 0, mask, "finetune.params", &err), 0);
  for (int i = 0; i < LLAMA_N_PARAM_TENSORS * 3; i++) ck_assert_int_eq(mask[i], 1);
  llama_free(&m);
}
END_TEST

/* ---- activation checkpointing ---------------------------------------------- */
/* A checkpointed model against a plain one: the same logits and the same
 * bits in every gradient; subset s (-1: every tensor) on both. */
static void check_checkpointed(int family, int s, int compute) {
  llama_model plain, ckpt;
  make_model(&plain, family);
  make_model(&ckpt, family);
  if (s >= 0) {
    uint8_t mask[LLAMA_N_PARAM_TENSORS * 8];
    lethe_err err = {0};
    ck_assert_msg(llama_trainable_mask(&plain.cfg, subsets[s], count(subsets[s]), mask, "t",
                                       &err) == 0, "%s", err.msg);
    ck_assert_int_eq(llama_set_trainable(&plain, mask, &err), 0);
    ck_assert_int_eq(llama_set_trainable(&ckpt, mask, &err), 0);
  }
  llama_alloc_grads(&plain);
  llama_alloc_grads(&ckpt);
  llama_set_compute(&plain, compute);
  llama_set_compute(&ckpt, compute);
  llama_set_checkpointing(&ckpt, 1);
  grad(&plain);
  grad(&ckpt); /* logits hold dlogits now: the same on both if the logits were */
  ck_assert_msg(!memcmp(plain.acts.logits, ckpt.acts.logits, sizeof(float) * B * T * V),
                "family %d %s: logits differ with checkpointing", family, llama_compute_name(compute));
  llama_tensor_ref refs[128];
  int n = llama_named_tensors(&ckpt, LLAMA_OF_GRADS, refs, 128);
  for (int i = 0; i < n; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    ck_assert_msg(!memcmp(refs[i].data, llama_grad(&plain, refs[i].role, refs[i].layer),
                          numel * sizeof(float)),
                  "family %d subset %d %s: %s differs with checkpointing", family, s,
                  llama_compute_name(compute), refs[i].name);
  }
  llama_free(&plain);
  llama_free(&ckpt);
}

START_TEST(test_checkpointing_same_gradients_f32) {
  check_checkpointed(_i, -1, LLAMA_COMPUTE_F32);
  check_checkpointed(_i, 6, LLAMA_COMPUTE_F32); /* layer 0's norm: the whole depth */
  check_checkpointed(_i, 0, LLAMA_COMPUTE_F32); /* from layer 1 up */
}
END_TEST

START_TEST(test_checkpointing_same_gradients_bf16) {
  if (!bf16_runs_here("checkpointed gradients in bf16")) return;
  check_checkpointed(_i, -1, LLAMA_COMPUTE_BF16);
  check_checkpointed(_i, 0, LLAMA_COMPUTE_BF16);
}
END_TEST

/* With B·T = 16 every buffer is a whole number of 64-byte lines, so the
 * saving is exactly L−1 layers of the per-layer activations: for family 0
 * (C 16, F 24, 4 heads of 4, 2 kv heads) per layer in floats attn_xn, q,
 * att_out, resid_mid, mlp_xn 16·16 each, k and v 16·8, two rstd 16, att
 * 2·4·8·8, gate and up 16·24 (swiglu is one layer's in any case); in bf16
 * compute also its copies attn_xn, q, k, v (expanded), att_out, mlp_xn
 * 16·16, att 512 halves. */
START_TEST(test_checkpointing_shrinks_activations) {
  const size_t layer_f32 = 5 * 256 + 2 * 128 + 2 * 16 + 512 + 2 * 384;
  const size_t layer_bf16 = 6 * 256 + 512;
  for (int compute = 0; compute < 2; compute++) {
    llama_model m;
    make_model(&m, 0);
    llama_set_compute(&m, compute);
    llama_reserve(&m, 2, 8);
    size_t plain = m.acts_bytes;
    llama_set_checkpointing(&m, 1);
    llama_reserve(&m, 2, 8);
    size_t saved = (size_t)(m.cfg.num_hidden_layers - 1) *
                   (layer_f32 * sizeof(float) + (compute ? layer_bf16 * sizeof(uint16_t) : 0));
    fprintf(stderr, "activations (%s, L = 3, B·T = 16): %zu bytes, %zu checkpointed\n",
            llama_compute_name(compute), plain, m.acts_bytes);
    ck_assert_uint_eq(plain - m.acts_bytes, saved);
    llama_set_checkpointing(&m, 0);
    llama_reserve(&m, 2, 8);
    ck_assert_uint_eq(m.acts_bytes, plain);
    llama_free(&m);
  }
}
END_TEST

/* Layers below the lowest trained one share one slot of activations (their
 * backward never runs): a model that only runs forward (llama_freeze) keeps
 * one layer's, as checkpointing does, and training the top layer alone two
 * (its own and the shared one). Per-layer sizes as above. */
START_TEST(test_frozen_layers_keep_no_activations) {
  const size_t layer_f32 = 5 * 256 + 2 * 128 + 2 * 16 + 512 + 2 * 384;
  const size_t layer_bf16 = 6 * 256 + 512;
  const char *top[] = {"model\\.layers\\.2\\..*"};
  for (int compute = 0; compute < 2; compute++) {
    llama_model m;
    lethe_err err = {0};
    uint8_t mask[LLAMA_N_PARAM_TENSORS * 3];
    make_model(&m, 0);
    llama_set_compute(&m, compute);
    size_t layer = layer_f32 * sizeof(float) + (compute ? layer_bf16 * sizeof(uint16_t) : 0);
    llama_alloc_grads(&m);
    llama_reserve(&m, 2, 8);
    size_t plain = m.acts_bytes;
    ck_assert_int_eq(m.acts_from, 0);
    ck_assert_int_eq(llama_trainable_mask(&m.cfg, top, 1, mask, "t", &err), 0);
    ck_assert_int_eq(llama_set_trainable(&m, mask, &err), 0);
    ck_assert_int_eq(llama_first_trained_layer(&m), 2);
    m.B_max = m.T_max = 0;
    llama_reserve(&m, 2, 8);
    ck_assert_uint_eq(plain - m.acts_bytes, 1 * layer); /* layers 0 and 1 share a slot */
    ck_assert_uint_eq(m.acts_bytes, llama_reserve_bytes(&m, 2, 8));
    llama_freeze(&m);
    ck_assert_int_eq(llama_first_trained_layer(&m), 3);
    ck_assert_int_eq(llama_runs_backward(&m), 0);
    m.B_max = m.T_max = 0;
    llama_reserve(&m, 2, 8);
    /* and no backward scratch: d_resid, d_xn, d_q, d_att_out 256 floats each, d_k, d_v
     * 128, d_att 512, d_gate, d_up, d_swiglu 384, dk_rep, dv_rep 256; in bf16 also
     * d_logits 16·23 (padded to 384), d_resid, d_att_out, d_q, d_k, d_v 256, d_att 512,
     * d_gate, d_up 384 halves */
    size_t scratch = 3456 * sizeof(float) + (compute ? 2944 * sizeof(uint16_t) : 0);
    ck_assert_uint_eq(plain - m.acts_bytes, 2 * layer + scratch);
    ck_assert_uint_eq(m.acts_bytes, llama_reserve_bytes(&m, 2, 8));
    llama_free(&m);
  }
}
END_TEST

/* ---- frozen weights held in bfloat16 (llama_hold_frozen) ------------------- */
/* Every parameter rounded to bfloat16, as a bf16 checkpoint loads. */
static void round_to_bf16(llama_model *m) {
  for (size_t i = 0; i < m->n_params; i++)
    m->params_memory[i] = st_bf16_to_f32(tensor_bf16_round(m->params_memory[i]));
}

/* Subset s trained with the frozen matrices held in bf16 against the same
 * model holding them in f32: the same gradients (f32 compute widens the
 * same values; bf16 compute reads the same bf16 values), and after
 * llama_release_frozen the same parameters, bit for bit. */
static void check_held(int family, int s, int compute) {
  llama_model plain, held;
  make_model(&plain, family);
  make_model(&held, family);
  round_to_bf16(&plain);
  round_to_bf16(&held);
  uint8_t mask[LLAMA_N_PARAM_TENSORS * 8];
  lethe_err err = {0};
  if (llama_trainable_mask(&plain.cfg, subsets[s], count(subsets[s]), mask, "t", &err) != 0) {
    llama_free(&plain); /* e.g. no lm_head when tied */
    llama_free(&held);
    return;
  }
  ck_assert_int_eq(llama_set_trainable(&plain, mask, &err), 0);
  ck_assert_int_eq(llama_set_trainable(&held, mask, &err), 0);
  llama_set_compute(&plain, compute);
  llama_set_compute(&held, compute);
  size_t want = llama_frozen_matrix_floats(&held.cfg, mask);
  ck_assert_uint_gt(want, 0);
  ck_assert_uint_eq(llama_hold_frozen(&held, LLAMA_HOLD_AUTO), want);
  ck_assert_uint_eq(held.widen_floats * sizeof(float), llama_widen_bytes(&held.cfg, mask));
  grad(&plain);
  grad(&held);
  llama_tensor_ref refs[128];
  int n = llama_named_tensors(&held, LLAMA_OF_GRADS, refs, 128);
  for (int i = 0; i < n; i++)
    close_to(&refs[i], llama_grad(&plain, refs[i].role, refs[i].layer), family, s, compute,
             "held ");
  llama_release_frozen(&held);
  ck_assert_ptr_null(held.frozen16);
  ck_assert(!memcmp(plain.params_memory, held.params_memory, plain.n_params * sizeof(float)));
  llama_free(&plain);
  llama_free(&held);
}

START_TEST(test_frozen_bf16_same_gradients_f32) {
  for (int s = 0; s < N_SUBSETS; s++) check_held(_i, s, LLAMA_COMPUTE_F32);
}
END_TEST

START_TEST(test_frozen_bf16_same_gradients_bf16) {
  if (!bf16_runs_here("held frozen weights in bf16 compute")) return;
  for (int s = 0; s < N_SUBSETS; s++) check_held(_i, s, LLAMA_COMPUTE_BF16);
}
END_TEST

/* AUTO holds only what bfloat16 stores exactly; BF16 rounds; F32 and a
 * model whose trainable set is not chosen hold nothing; the float32 pages
 * of what is held are given back (the resident set shrinks by them). */
START_TEST(test_frozen_hold_modes) {
  llama_model m;
  make_model(&m, 0);
  ck_assert_uint_eq(llama_hold_frozen(&m, LLAMA_HOLD_BF16), 0); /* not chosen */
  llama_freeze(&m);
  ck_assert_uint_eq(llama_hold_frozen(&m, LLAMA_HOLD_F32), 0);
  ck_assert_uint_eq(llama_hold_frozen(&m, LLAMA_HOLD_AUTO), 0); /* float32 values */
  size_t all = llama_frozen_matrix_floats(&m.cfg, NULL);
  ck_assert_uint_eq(llama_hold_frozen(&m, LLAMA_HOLD_BF16), all);
  ck_assert_uint_eq(llama_hold_frozen(&m, LLAMA_HOLD_BF16), 0); /* already held */
  llama_release_frozen(&m);
  llama_tensor_ref refs[128]; /* the matrices came back rounded; norms never left */
  int n = llama_named_tensors(&m, LLAMA_OF_PARAMS, refs, 128), rounded = 0, kept = 0;
  for (int t = 0; t < n; t++) {
    size_t numel = (size_t)refs[t].shape[0] * (refs[t].ndim == 2 ? refs[t].shape[1] : 1), low = 0;
    for (size_t i = 0; i < numel; i++) {
      uint32_t bits;
      memcpy(&bits, &refs[t].data[i], sizeof bits);
      low |= bits & 0xFFFFu;
    }
    if (llama_param_role_is_matrix(refs[t].role)) ck_assert_uint_eq(low, 0);
    rounded += llama_param_role_is_matrix(refs[t].role);
    kept += low != 0;
  }
  ck_assert_int_gt(rounded, 0);
  ck_assert_int_gt(kept, 0); /* the norms' float32 values */
  llama_free(&m);
  /* a model big enough for pages to count: 4 layers of 256x1024 MLPs */
  llama_config c;
  llama_config_defaults(&c);
  c.vocab_size = 512, c.hidden_size = 256, c.intermediate_size = 1024, c.num_hidden_layers = 4;
  c.num_attention_heads = 4, c.num_key_value_heads = 4, c.head_dim = 64;
  lethe_err err = {0};
  ck_assert_msg(llama_init(&m, &c, 3, &err) == 0, "%s", err.msg);
  llama_freeze(&m);
  size_t before = memplan_resident(), held = llama_hold_frozen(&m, LLAMA_HOLD_BF16);
  size_t after = memplan_resident();
  double freed = (double)before - (double)after, want = 2.0 * (double)held; /* 4 - 2 bytes */
  fprintf(stderr, "held %zu floats: resident %zu -> %zu bytes (%.0f freed, %.0f expected)\n",
          held, before, after, freed, want);
  /* AddressSanitizer's shadow of the new bf16 buffer costs 1/8 of it (freed ≈ 0.87) */
  ck_assert_msg(freed > 0.8 * want && freed < 1.1 * want, "freed %.0f bytes, expected %.0f",
                freed, want);
  llama_free(&m);
}
END_TEST

/* Training checkpointed ends on the same weights, bit for bit. */
START_TEST(test_checkpointed_training_identical) {
  llama_model plain, ckpt;
  make_model(&plain, 4);
  make_model(&ckpt, 4);
  llama_set_checkpointing(&ckpt, 1);
  train_config tc = config(NULL, 3);
  train_result res;
  lethe_err err = {0};
  ck_assert_msg(trainer_run(&plain, &tc, micro, NULL, &plain, &res, &err) == 0, "%s", err.msg);
  ck_assert_msg(trainer_run(&ckpt, &tc, micro, NULL, &ckpt, &res, &err) == 0, "%s", err.msg);
  ck_assert(!memcmp(plain.params_memory, ckpt.params_memory, plain.n_params * sizeof(float)));
  llama_free(&plain);
  llama_free(&ckpt);
}
END_TEST

int main(void) {
  Suite *s = suite_create("train_memory");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_loop_test(tc, test_subset_gradients_equal_full_f32, 0, N_FAMILIES);
  tcase_add_loop_test(tc, test_subset_gradients_equal_full_bf16, 0, N_FAMILIES);
  tcase_add_test(tc, test_tied_head_trains_with_embedding);
  tcase_add_test(tc, test_frozen_tensors_stay_bit_identical);
  tcase_add_test(tc, test_resume_needs_the_same_subset);
  tcase_add_test(tc, test_patterns_refused);
  tcase_add_loop_test(tc, test_checkpointing_same_gradients_f32, 0, N_FAMILIES);
  tcase_add_loop_test(tc, test_checkpointing_same_gradients_bf16, 0, N_FAMILIES);
  tcase_add_test(tc, test_checkpointing_shrinks_activations);
  tcase_add_test(tc, test_frozen_layers_keep_no_activations);
  tcase_add_loop_test(tc, test_frozen_bf16_same_gradients_f32, 0, N_FAMILIES);
  tcase_add_loop_test(tc, test_frozen_bf16_same_gradients_bf16, 0, N_FAMILIES);
  tcase_add_test(tc, test_frozen_hold_modes);
  tcase_add_test(tc, test_checkpointed_training_identical);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
