/* stages — the pipeline's cached stages: data (the embedded world or a TOFU
 * directory), the base model (from scratch on the pre-training text), and
 * fine-tuned models (base + a split, e.g. the target on `full`, retain models
 * on `retainXX`). Each stage's output is a directory keyed by a hash of
 * everything it depends on (settings, data, parent stage, lethe version):
 * built into "<dir>.partial" and renamed when complete, so a re-run reuses
 * it and an interrupted build resumes from its checkpoint.
 * Not here: unlearning runs (unlearn.h), suites. */
#ifndef LETHE_STAGES_H
#define LETHE_STAGES_H

#include "pipeline/experiment.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"

/* The most rows one micro-batch may have (the upper bound of every
 * batch_size setting). */
#define STAGE_MAX_BATCH 4096

typedef struct stage_out {
  char *dir;     /* the stage's directory (owned) */
  char *work;    /* where what is derived from it goes (its evaluations) when that is not
                    dir: cache_dir/external-KEY for a user's directory (owned; NULL = dir) */
  uint64_t key;  /* its cache key */
  int reused;    /* 1 when it came from the cache */
  int external;  /* 1: a user's directory, read and never written */
} stage_out;

void stage_out_free(stage_out *s);

/* The data directory: data.dir if set (keyed by its files' contents), else
 * the embedded world generated into the cache. */
int stage_data(const experiment *e, stage_out *out, lethe_err *err);
/* The tokenizer in DIR: DIR/tokenizer.json, with DIR/tokenizer_config.json
 * where present (tok_load_dir). */
int stage_tokenizer(const char *dir, tok_tokenizer **tok, lethe_err *err);
/* A user's model directory named by the setting `key` (base.path,
 * target.path, retain.path) as a stage: checked (config.json, the weights,
 * tokenizer.json; stage_model_dir_check), keyed by its real path and each
 * file's name, size and modification time — not the contents, which for a
 * 7B checkpoint would cost more to hash than a run's setup — with its
 * evaluations under cache_dir/external-KEY. A model's tokenizer travels with
 * it: stages built from it copy its tokenizer files. */
int stage_external(const experiment *e, const char *key, stage_out *out, lethe_err *err);
/* Which models an experiment takes from the user rather than training:
 * base.path, target.path, and retain.path or retain.eval. */
typedef struct stage_givens {
  int base, target, retain;
} stage_givens;
stage_givens stage_given_models(const experiment *e);
/* The eval.json that retain.eval names: the setting itself, or DIR/eval.json
 * when it names a directory (as `lethe eval --out DIR` writes it). malloc'd. */
char *stage_retain_eval_file(const char *given);
/* Copies a model's tokenizer files (tokenizer.json, required; and where
 * present tokenizer_config.json, special_tokens_map.json,
 * generation_config.json) from one directory to another, atomically each. */
int stage_copy_tokenizer(const char *from, const char *to, lethe_err *err);
/* Checks that dir holds a model lethe can load: config.json, model.safetensors
 * or model.safetensors.index.json, and (with need_tokenizer) tokenizer.json.
 * `what` names it in the error ("target.path (file:line)"). Reads nothing but
 * the directory. */
int stage_model_dir_check(const char *dir, const char *what, int need_tokenizer, lethe_err *err);
/* The tokenizer of a model: model_dir's tokenizer.json, else (a model saved
 * without one) fallback_dir's. */
int stage_model_tokenizer(const char *model_dir, const char *fallback_dir, tok_tokenizer **tok,
                          lethe_err *err);
/* The base model: trained from scratch on DIR/pretrain.json (whole-sequence
 * language modelling). */
int stage_base(const experiment *e, const stage_out *data, stage_out *out, lethe_err *err);
/* base fine-tuned on `split` (answers only), replaying the pre-training QA
 * every epoch when finetune.replay is set; seed_offset distinguishes
 * independent replicas (e.g. a second retain model). */
int stage_finetune(const experiment *e, const stage_out *data, const stage_out *base,
                   const char *split, long seed_offset, stage_out *out, lethe_err *err);

/* base fine-tuned on documents (e.g. MUSE's raw text), whole-sequence
 * language modelling, with the same finetune settings and replay; the
 * stage is named `name` and keyed by the documents themselves. */
int stage_finetune_texts(const experiment *e, const stage_out *data, const stage_out *base,
                         const char *name, char *const *texts, size_t n, stage_out *out,
                         lethe_err *err);

/* An exclusive lock on "<dir>.lock" (flock): concurrent processes that need
 * the same stage build it once. While another process holds it, the progress
 * record (core/progress.h) says "waiting for <what>" (e.g. "the base model").
 * Returns the fd, or -1 with err. */
int stage_lock(const char *dir, const char *what, lethe_err *err);
void stage_unlock(int fd);

/* Shared by stages and unlearning: the i-th example of a stream of epochs
 * (epoch k is tofu_epoch_order(seed, k) of n examples). */
int stage_stream_index(long global, int n, uint64_t seed, int *order_cache, long *cached_epoch);

/* The examples of DIR/NAME.json encoded with tok; whole_sequence makes every
 * token a target (pre-training text). */
int stage_load_examples(const char *dir, const char *name, const tok_tokenizer *tok,
                        const tofu_format *fmt, int whole_sequence, tofu_example **ex, size_t *n,
                        lethe_err *err);

/* The rows of each optimizer step of a stage's training loop: step s takes
 * the next batch_size examples of the stream (stage_stream_index: a fresh
 * shuffle per epoch, a function of the seed and the step only), padded to the
 * batch's longest row (tofu_batch_fill). Exposed so a benchmark can give a
 * twin implementation exactly the batches a stage trains on. */
typedef struct stage_batch {
  const tofu_example *ex;
  int n, batch_size; /* batch_size <= n */
  uint64_t seed;
  const tofu_format *fmt;
  int32_t pad, eos;
  int *order; /* the current epoch's permutation */
  long epoch;
  tofu_batch tb;
} stage_batch;
void stage_batch_init(stage_batch *sb, const tofu_example *ex, int n, int batch_size,
                      uint64_t seed, const tofu_format *fmt, int32_t pad, int32_t eos);
void stage_batch_free(stage_batch *sb);
/* The batch of optimizer step `step` (0-based); valid until the next call. */
const tofu_batch *stage_batch_of_step(stage_batch *sb, long step);

/* The optimisation settings of training group `group` ("base" or
 * "finetune": lr, weight decay, steps for its epochs over n examples,
 * warm-up) into tc; returns the batch size, or -1 with err when it is out
 * of range. */
int stage_train_config(const experiment *e, const char *group, int n, train_config *tc,
                       lethe_err *err);
/* Trains m on ex[0..n) with whole-batch mean NLL of the labelled tokens, as
 * group's settings say (stage_train_config), the batches of stage_batch. With
 * `partial` set, checkpoints into it every tenth of the run and resumes from
 * one found there (removed at the end), and writes partial/train.json (the
 * steps, the seconds, what computed them; docs/configuration.md); NULL
 * trains without checkpoints or record. */
int stage_train(const experiment *e, llama_model *m, const tofu_example *ex, int n,
                const char *group, const char *label, const char *partial, uint64_t seed,
                const tofu_format *fmt, int32_t pad, int32_t eos, lethe_err *err);

#endif
