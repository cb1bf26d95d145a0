/* unlearn_plan — the memory plan of an unlearning run's step (see
 * unlearn_plan.h). */
#include "unlearn/unlearn_plan.h"

#include <stdlib.h>

#include "core/dist.h"
#include "lethe/method.h"
#include "train/objective.h"

/* The longest token row of n examples (0 for none). */
static int longest(const tofu_example *ex, size_t n) {
  int T = 0;
  for (size_t i = 0; ex && i < n; i++) T = ex[i].len > T ? ex[i].len : T;
  return T;
}

int unlearn_plan(const experiment *e, const char *method, const lethe_method_needs *needs,
                 const tofu_forget_data *fd, int bs, const char *target_dir, memplan *plan,
                 lethe_err *err) {
  uint32_t caps = needs->caps;
  llama_config cfg;
  llama_model shell, ref;
  char *path = lethe_path_join(target_dir, "config.json");
  int rc = llama_config_read(&cfg, path, err);
  free(path);
  if (rc != 0 || llama_shell(&shell, &cfg, err) != 0) return -1;
  experiment_set_compute(e, &shell);
  experiment_set_memory(e, &shell);
  ref = shell;
  objective_use_logits(&shell, (caps & LETHE_CAP_LOGITS) != 0);
  objective_use_logits(&ref, (caps & LETHE_CAP_REF_LOGITS) != 0);
  uint8_t *mask = lethe_malloc((size_t)LLAMA_N_PARAM_TENSORS * cfg.num_hidden_layers);
  lora_config lc;
  rc = experiment_method_trainable_mask(e, method, needs, &cfg, mask, err);
  if (rc == 0) rc = experiment_lora(e, "unlearn", &lc, err);
  int retain = (caps & LETHE_CAP_RETAIN) != 0, idk = (caps & LETHE_CAP_IDK) != 0;
  int T = longest(fd->forget, fd->n_forget);
  int T_retain = retain ? longest(fd->retain, fd->n_retain) : 0;
  int T_idk = idk ? longest(fd->idk, fd->n_forget) : 0;
  T = T > T_retain ? T : T_retain;
  T = T > T_idk ? T : T_idk;
  int rows = (size_t)bs < fd->n_forget ? bs : (int)fd->n_forget;
  size_t cache = 0; /* build_ref_cache: every forget example's rows, per segment */
  if ((caps & LETHE_CAP_REF_LOGP) && !(caps & LETHE_CAP_REF_LOGITS))
    for (size_t i = 0; i < fd->n_forget; i++)
      cache += (size_t)(fd->forget[i].len + (retain ? T : 0) + (idk ? T : 0)) * sizeof(float);
  size_t B = (size_t)rows * (1 + retain + idk), hidden = (size_t)cfg.hidden_size * B * T;
  size_t trainable = rc == 0 ? llama_trainable_floats(&cfg, mask) : 0;
  size_t own = ((caps & LETHE_CAP_PARAMS) ? 2 * trainable : 0) + /* reference values, dL/dθ */
               ((caps & LETHE_CAP_PART_GRADS) ? 3 * trainable : 0) + /* objective_parts */
               ((caps & LETHE_CAP_HIDDEN) ? hidden : 0); /* dhidden */
  if (dist_size() > 1) /* the gathered batch's hidden states */
    own += hidden * (!!(caps & LETHE_CAP_HIDDEN) + !!(caps & LETHE_CAP_REF_HIDDEN));
  memplan_training t = {.shell = &shell, .B = (int)B, .T = T, .method_bytes = own * sizeof(float),
                        .trainable = mask, .lora = &lc, .ref = &ref, .ref_cache_bytes = cache,
                        .runtime_bytes = memplan_resident(),
                        .method_logits = (caps & LETHE_CAP_LOGITS) != 0,
                        .ref_borrows = lc.rank > 0,
                        .frozen_bf16 = experiment_plans_frozen_bf16(e, target_dir)};
  if (rc == 0) rc = memplan_training_parts(&t, plan, err);
  free(mask);
  return rc;
}

