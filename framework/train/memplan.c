/* memplan — the memory plan of a training step (see memplan.h). */
#include "train/memplan.h"

#include <stdlib.h>
#include <string.h>

/* What shrinks each kind of part, for the refusal. */
enum { HINT_WEIGHTS, HINT_REF, HINT_STATE, HINT_ACTS, HINT_LOGITS, HINT_NONE, N_HINTS };
static const char *const hints[N_HINTS] = {
    "only a smaller model shrinks the weights",
    "a method without reference logits needs no reference copy (its log-probs are cached)",
    "train a subset (params) or a LoRA adapter (lora.rank) instead of every weight",
    "memory.checkpoint_activations = true or a smaller batch_size",
    "a smaller batch_size (or a method that needs only per-token log-probs: chunked logits)",
    "", /* nothing to suggest */
};

static void add(memplan *p, const char *name, size_t bytes, int hint) {
  if (!bytes || p->n == MEMPLAN_MAX_PARTS) return;
  snprintf(p->part[p->n].name, sizeof p->part[p->n].name, "%s", name);
  p->part[p->n].bytes = bytes;
  p->part[p->n++].hint = hint;
}

/* Activations and logits of a model's forward/backward for (B, T) with its
 * settings: the logits are what a vocabulary of 0 would not allocate. */
static void acts_and_logits(const llama_model *m, int B, int T, size_t *acts, size_t *logits) {
  llama_model no_vocab = *m;
  no_vocab.cfg.vocab_size = 0;
  size_t all = llama_reserve_bytes(m, B, T), without = llama_reserve_bytes(&no_vocab, B, T);
  *logits = all - without;
  *acts = without;
}

int memplan_training_parts(const memplan_training *t, memplan *plan, lethe_err *err) {
  memset(plan, 0, sizeof *plan);
  const llama_model *m = t->shell;
  size_t np = m->n_params, bf16 = m->compute == LLAMA_COMPUTE_BF16;
  int adapter = t->lora && t->lora->rank > 0;
  /* held: every matrix under an adapter, those the mask leaves frozen (no mask: all train) */
  size_t held = !t->frozen_bf16 ? 0
                : adapter       ? llama_frozen_matrix_floats(&m->cfg, NULL)
                : t->trainable  ? llama_frozen_matrix_floats(&m->cfg, t->trainable)
                                : 0;
  add(plan, "runtime (libraries, data)", t->runtime_bytes, HINT_NONE);
  add(plan, "weights (float32 master)", (np - held) * sizeof(float), HINT_WEIGHTS);
  add(plan, "frozen weights (bfloat16)", held * sizeof(uint16_t), HINT_WEIGHTS);
  add(plan, "weights (bfloat16 copy)", bf16 * (np - held) * sizeof(uint16_t), HINT_WEIGHTS);
  if (held && !bf16) /* f32 compute widens a held weight's rows for each matmul */
    add(plan, "widening buffer", llama_widen_bytes(&m->cfg, adapter ? NULL : t->trainable),
        HINT_NONE);
  size_t trained, acts, logits;
  llama_model policy = *m; /* what trains decides which activations are kept */
  policy.grad_offset = NULL;
  if (adapter) {
    lora_adapter lo;
    if (lora_create(&lo, &m->cfg, t->lora, err) != 0) return -1;
    trained = lo.n_params;
    add(plan, "LoRA adapter (weights)", lo.n_params * sizeof(float), HINT_NONE);
    add(plan, "LoRA forward state", lora_work_bytes(&lo, (int64_t)t->B * t->T), HINT_ACTS);
    policy.lora = &lo;
    acts_and_logits(&policy, t->B, t->T, &acts, &logits);
    lora_free(&lo);
  } else {
    trained = llama_trainable_floats(&m->cfg, t->trainable);
    if (llama_set_trainable(&policy, t->trainable, err) != 0) return -1; /* offsets only */
    acts_and_logits(&policy, t->B, t->T, &acts, &logits);
    free(policy.grad_offset);
  }
  add(plan, "gradients", trained * sizeof(float), HINT_STATE);
  add(plan, "AdamW moments", 2 * trained * sizeof(float), HINT_STATE);
  add(plan, "activations", acts, HINT_ACTS);
  add(plan, "logits", logits, HINT_LOGITS);
  if (t->method_logits)
    add(plan, "method's logit gradients",
        (size_t)t->B * t->T * (size_t)m->cfg.vocab_size * sizeof(float), HINT_LOGITS);
  add(plan, "per-token buffers", (size_t)t->B * t->T * 4 * sizeof(float), HINT_NONE);
  if (t->ref) {
    size_t ref_bf16 = t->ref->compute == LLAMA_COMPUTE_BF16;
    /* a view has its bf16 copy alone (and none of the policy's held slices) */
    size_t ref_held = t->frozen_bf16 ? llama_frozen_matrix_floats(&m->cfg, NULL) : 0;
    size_t own = t->ref_borrows ? 0 : (t->ref->n_params - ref_held) * sizeof(float) +
                                          ref_held * sizeof(uint16_t);
    size_t ref_copy = t->ref_borrows ? t->ref->n_params - held : t->ref->n_params - ref_held;
    add(plan, "reference model", own + ref_bf16 * ref_copy * sizeof(uint16_t), HINT_REF);
    if (ref_held && !ref_bf16 && !t->ref_borrows)
      add(plan, "reference widening buffer", llama_widen_bytes(&m->cfg, NULL), HINT_REF);
    size_t ref_acts, ref_logits;
    llama_model ref = *t->ref; /* frozen (forward only), as the run's reference is */
    ref.grad_offset = NULL;
    llama_freeze(&ref);
    acts_and_logits(&ref, t->B, t->T, &ref_acts, &ref_logits);
    free(ref.grad_offset);
    add(plan, "reference activations and logits", ref_acts + ref_logits, HINT_REF);
  }
  add(plan, "reference log-prob cache", t->ref_cache_bytes, HINT_NONE);
  add(plan, "method's parameters and hidden states", t->method_bytes, HINT_NONE);
  return 0;
}

size_t memplan_total(const memplan *plan) {
  size_t total = 0;
  for (int i = 0; i < plan->n; i++) total += plan->part[i].bytes;
  return total;
}

int memplan_biggest(const memplan *plan) {
  int best = 0;
  for (int i = 1; i < plan->n; i++)
    if (plan->part[i].bytes > plan->part[best].bytes) best = i;
  return best;
}

static double mib(size_t bytes) { return (double)bytes / 1048576.0; }

void memplan_print(const memplan *plan, size_t available, const char *title, FILE *f) {
  size_t total = memplan_total(plan);
  fprintf(f, "memory plan: %s\n", title);
  for (int i = 0; i < plan->n; i++)
    fprintf(f, "  %-36s %10.1f MiB  %5.1f%%\n", plan->part[i].name, mib(plan->part[i].bytes),
            total ? 100.0 * (double)plan->part[i].bytes / (double)total : 0.0);
  fprintf(f, "  %-36s %10.1f MiB\n", "total (peak of a step)", mib(total));
  if (available) fprintf(f, "  %-36s %10.1f MiB\n", "available", mib(available));
}

/* A number after `key` in a /proc or /sys text file, in bytes (kB fields
 * times 1024); 0 when absent. */
static size_t read_field(const char *path, const char *key, size_t unit) {
  FILE *fp = fopen(path, "r");
  if (!fp) return 0;
  char line[256];
  size_t value = 0, klen = strlen(key);
  while (fgets(line, sizeof line, fp))
    if (!strncmp(line, key, klen)) {
      value = (size_t)strtoull(line + klen, NULL, 10) * unit;
      break;
    }
  fclose(fp);
  return value;
}

size_t memplan_resident(void) { return read_field("/proc/self/status", "VmRSS:", 1024); }

size_t memplan_available(void) {
  size_t avail = read_field("/proc/meminfo", "MemAvailable:", 1024);
  if (!avail) return 0;
  avail += memplan_resident();
  size_t limit = read_field("/sys/fs/cgroup/memory.max", "", 1); /* "max" reads as 0 */
  size_t used = read_field("/sys/fs/cgroup/memory.current", "", 1);
  if (limit && used <= limit && limit - used + memplan_resident() < avail)
    avail = limit - used + memplan_resident();
  return avail;
}

int memplan_check(const memplan *plan, size_t available, const char *what, lethe_err *err) {
  size_t total = memplan_total(plan);
  if (!available || total <= available) return 0;
  int big = memplan_biggest(plan);
  const char *hint = hints[plan->part[big].hint];
  return lethe_errf(err, LETHE_E_NOMEM,
                    "%s needs about %.0f MiB but %.0f MiB are available; the biggest part is "
                    "%s (%.0f MiB)%s%s (lethe plan prints every part)",
                    what, mib(total), mib(available), plan->part[big].name,
                    mib(plan->part[big].bytes), *hint ? ": " : "", hint);
}
