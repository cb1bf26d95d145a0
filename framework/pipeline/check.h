/* check — everything a command needs, resolved and checked before its first
 * stage starts: a typo in a method name, a parameter out of range, a missing
 * data file or an output directory that cannot be written must not cost the
 * user a trained stage. Nothing here trains, evaluates, creates a directory
 * or writes a file; it reads settings, opens the method plugin, and looks at
 * files and directories.
 * Not here: the stages themselves (stages.h, prepare.h). */
#ifndef LETHE_CHECK_H
#define LETHE_CHECK_H

#include "pipeline/experiment.h"
#include "pipeline/prepare.h"

/* What experiment_check looks at (bits; combine them). */
enum {
  /* data.forget_split; the data (data.dir's tokenizer.json and pretrain.json
   * when it is set); the cache directory; base.* */
  EXPERIMENT_CHECK_BASE = 1u << 0,
  /* the target model's data (full.json); finetune.* */
  EXPERIMENT_CHECK_TARGET = 1u << 1,
  /* the retain model's data (retainNN.json) and the four eval sets; eval.* */
  EXPERIMENT_CHECK_RETAIN = 1u << 2,
  /* the method: its plugin and parameters (method.*, -s method.* overrides),
   * the forget data (forgetNN.json, idontknow.jsonl); unlearn.* */
  EXPERIMENT_CHECK_METHOD = 1u << 3,
};
/* `lethe train` (all stages) and `lethe unlearn`. */
#define EXPERIMENT_CHECK_TRAIN \
  (EXPERIMENT_CHECK_BASE | EXPERIMENT_CHECK_TARGET | EXPERIMENT_CHECK_RETAIN)
#define EXPERIMENT_CHECK_UNLEARN (EXPERIMENT_CHECK_TRAIN | EXPERIMENT_CHECK_METHOD)

/* The checks of the stages a stage_set builds (prepare.h). */
unsigned experiment_check_stages(stage_set which);

/* Checks everything `what` names, and out_dir (may be NULL: none) as a
 * directory the run can create or write into. Returns 0, or -1 with the
 * first problem in err: what is wrong and where (the setting's file:line,
 * the file's path, the method's name). No collective: under MPI any rank
 * may call it (every rank sees the same files). It opens and closes the
 * method plugin. Callers: lethe train, lethe unlearn, suites (once per run,
 * before any run starts). */
int experiment_check(const experiment *e, const char *out_dir, unsigned what, lethe_err *err);

/* What `lethe eval` reads and writes. */
typedef struct eval_inputs {
  const char *model_dir;   /* config.json, the weights, tokenizer.json (stage_model_dir_check) */
  const char *ref_dir;     /* the same, or NULL */
  const char *data_dir;    /* the four eval sets */
  const char *split;       /* forgetNN: SPLIT_perturbed.json */
  const char *retain_eval; /* an eval.json, or NULL */
  const char *out_dir;     /* created or written into */
} eval_inputs;
/* Checks that every input can be read and out_dir written, without loading
 * anything. Returns 0, or -1 with the path and what is wrong in err. */
int eval_inputs_check(const eval_inputs *in, lethe_err *err);

#endif
