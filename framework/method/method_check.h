/* method_check — a plugin checked without a model (`lethe check-method`, the
 * plugin tests): its analytic gradients against central finite differences
 * of the scalar it declares (desc->objective, so stop-gradient methods pass;
 * else its loss), determinism, and mask-0 log-probs that change nothing;
 * with LETHE_CAP_PART_GRADS, a finite and deterministic combine().
 * Each check is reported; a failure does not stop the others.
 * Not here: any model (`lethe grad` checks a method on one), loss math. */
#ifndef LETHE_METHOD_CHECK_H
#define LETHE_METHOD_CHECK_H

#include <stdio.h>

#include "method/method_host.h"

/* The random batch's shape: forget, retain and idk rows (idk row k pairs with
 * forget row k), positions, vocabulary, hidden width, and two parameter
 * tensors of CHECK_P0 and CHECK_P1 floats. */
enum {
  CHECK_FORGET = 3, CHECK_RETAIN = 2, CHECK_IDK = 3, CHECK_B = 8, CHECK_T = 6, CHECK_V = 7,
  CHECK_C = 5, CHECK_P0 = 12, CHECK_P1 = 5, CHECK_P = CHECK_P0 + CHECK_P1
};

/* Every input a plugin may ask for, random but well formed: each row has 1–2
 * question positions, answer targets (mask 1), then padding (target −1,
 * attn 0); log-probs are the logits' own; the reference's logits, hidden
 * states and parameters are the policy's plus noise; example ids are 100 + row.
 * b and g point into the struct (method_check_batch_copy keeps that). */
typedef struct method_check_batch {
  int32_t target[CHECK_B * CHECK_T], attn[CHECK_B * CHECK_T];
  int64_t example_id[CHECK_B];
  float mask[CHECK_B * CHECK_T], logp[CHECK_B * CHECK_T], ref_logp[CHECK_B * CHECK_T];
  float logits[CHECK_B * CHECK_T * CHECK_V], ref_logits[CHECK_B * CHECK_T * CHECK_V];
  float hidden[CHECK_B * CHECK_T * CHECK_C], ref_hidden[CHECK_B * CHECK_T * CHECK_C];
  float value[CHECK_P], ref_value[CHECK_P];
  lethe_param_tensor params[2];
  float dlogp[CHECK_B * CHECK_T], dlogits[CHECK_B * CHECK_T * CHECK_V];
  float dhidden[CHECK_B * CHECK_T * CHECK_C], dvalue[CHECK_P];
  float *dparams[2];
  lethe_method_batch b;
  lethe_method_grad g;
} method_check_batch;

/* A new random batch (malloc'd: free() it); the same seed, the same batch. */
method_check_batch *method_check_batch_new(uint64_t seed);
/* dst = src, with dst's views pointing into dst. */
void method_check_batch_copy(method_check_batch *dst, const method_check_batch *src);
/* Zeroes the outputs and runs one checked step (method_instance_step). */
int method_check_step(method_instance *mi, method_check_batch *cb, double *loss, lethe_err *err);
/* Central differences of the declared scalar (see above) over the n floats
 * x (inside cb) against analytic (n floats, copied first), with cb as the
 * base. Returns the mismatches (0 = all within 1e-7 + 1e-4·|numeric|),
 * describing the worst in report; -1 when a step fails (err). */
int method_check_fd(method_instance *mi, method_check_batch *cb, float *x, const float *analytic,
                    size_t n, char *report, size_t report_n, lethe_err *err);
/* Every check of plugin p with params, on batches drawn from seed: each one
 * line on out, "ok  ..." or "FAIL  ...". logits_masked: the method also
 * ignores the logits at mask-0 positions (checked too). Returns the number
 * of failed checks, or -1 when the plugin cannot run at all (err). */
int method_check_all(const method_plugin *p, const void *params, uint64_t seed, int logits_masked,
                     FILE *out, lethe_err *err);

#endif
