/* lethe train / lethe unlearn / lethe plan — run an experiment's stages, an
 * unlearning run, or print its memory plan, from a configuration file with
 * -s overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "muse/muse_run.h"
#include "pipeline/check.h"
#include "unlearn/unlearn.h"

void help_train(void) {
  printf(
      "usage: lethe train [CONFIG] [-s path=value ...]\n"
      "                   [--stages all|base|target|retain|replica] [--quiet]\n\n"
      "Builds (or reuses from the stage cache) every model an unlearning experiment\n"
      "needs: the data (the embedded world unless data.dir is set), the base model,\n"
      "the target model (fine-tuned on `full`) and the retain model of\n"
      "data.forget_split, and evaluates target and retain once; with calibration =\n"
      "true (the default) also a second retain model (another data order),\n"
      "evaluated against the first: whether the benchmark discriminates at all\n"
      "(docs/report.md). Prints the directories. Stages are cached by a hash of\n"
      "everything they depend on (cache_dir, default $LETHE_CACHE_DIR or\n"
      "~/.cache/lethe); an interrupted stage resumes from its checkpoint. --stages\n"
      "builds only up to the base, the target, the retain model and its evaluation,\n"
      "or the second retain model (suites use it to train them in parallel).\n"
      "Settings: docs/configuration.md.\n");
}

void help_unlearn(void) {
  printf(
      "usage: lethe unlearn [CONFIG] --out DIR [-s path=value ...] [--resume] [--quiet]\n\n"
      "Runs the experiment's unlearning method (method.name, its parameters in\n"
      "method.params or as -s method.KEY=VALUE) on the target model, evaluating\n"
      "every epoch (every step for forget01) against the retain model. DIR gets\n"
      "config.cfg, steps.jsonl, history.jsonl, eval.json, summary.json (final,\n"
      "best-FQ and utility-constrained points) and DONE. --resume continues a\n"
      "killed run from its last checkpoint (unlearn.checkpoint_every).\n");
}

void help_muse(void) {
  printf(
      "usage: lethe muse [CONFIG] --out DIR [-s path=value ...] [--resume] [--quiet]\n\n"
      "An experiment of kind \"muse\" (e.g. configs/experiments/muse.cfg): the\n"
      "MUSE-like corpus cut from the world (muse.{doc_sentences, items, icl}; forget\n"
      "authors from data.forget_split) or muse.dir's corpus in MUSE's layout, the\n"
      "base model, the target (fine-tuned on the raw forget and retain documents)\n"
      "and the retain model (retain documents only), each evaluated once with MUSE's\n"
      "VerbMem, KnowMem (forget, retain) and PrivLeak (docs/metrics.md, MUSE) — all\n"
      "cached. Then the method (method.name) unlearns the target on the forget\n"
      "documents, retain1's documents as retain rows, evaluated with the same\n"
      "metrics at eval.at_start, every eval.every steps and at the end. DIR gets\n"
      "config.cfg, corpus/, target/ and retain/ (eval.json, summary.json),\n"
      "steps.jsonl, history.jsonl, eval.json, summary.json and DONE. --resume\n"
      "continues a killed run from its last checkpoint (unlearn.checkpoint_every).\n");
}

void help_plan(void) {
  printf(
      "usage: lethe plan [CONFIG] [-s path=value ...] [--quiet]\n\n"
      "Prints what one step of the experiment's unlearning run will hold in memory\n"
      "before it runs: the weights (and their bfloat16 copy with compute = bf16),\n"
      "the gradients and AdamW moments of what trains (every tensor, unlearn.params\n"
      "or a LoRA adapter), activations (memory.checkpoint_activations), logits\n"
      "(chunked unless the method needs them whole), the reference copy and the\n"
      "cached reference log-probs, each in MiB, then the total and the memory\n"
      "available. Builds (or finds) the stages first: the target model's\n"
      "config.json and the forget data's longest row give the shapes. Exits 1,\n"
      "naming the biggest part, when the run cannot fit; `lethe unlearn` prints the\n"
      "same plan first and refuses the same way. docs/performance.md.\n");
}

/* Parses [CONFIG] -s ... --quiet --resume --out (unlearn) or --stages
 * (train: stages non-NULL); loads the experiment. */
static int load(const char *cmd, int argc, char **argv, int want_out, experiment *e,
                const char **out, int *stages) {
  const char *config = NULL, *v;
  const char **over = lethe_calloc((size_t)argc + 1, sizeof *over);
  int n_over = 0, quiet = 0, resume = 0;
  *out = NULL;
  cli_args a = {cmd, argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "-s", &v)) over[n_over++] = v;
    else if (want_out && cli_opt(&a, "--out", &v)) *out = v;
    else if (stages && cli_opt(&a, "--stages", &v)) {
      if ((*stages = stage_set_parse(v)) < 0) {
        free(over);
        return cli_usage_error(cmd, "--stages must be all, base, target, retain or replica, not '%s'", v);
      }
    }
    else if (!strcmp(argv[a.i], "--quiet")) quiet = 1;
    else if (want_out && !strcmp(argv[a.i], "--resume")) resume = 1;
    else if (argv[a.i][0] != '-' && !config) config = argv[a.i];
    else {
      free(over);
      return cli_unknown(&a);
    }
  }
  if (want_out && !*out) {
    free(over);
    return cli_usage_error(cmd, "--out DIR is required");
  }
  lethe_err err = {0};
  int rc = experiment_load(e, config, over, n_over, &err);
  free(over);
  if (rc != 0) {
    fprintf(stderr, "lethe %s: %s\n", cmd, err.msg);
    return 1;
  }
  e->quiet = quiet;
  e->resume = resume;
  if (quiet) lethe_log_set_level(LETHE_LOG_WARN);
  return 0;
}

int cmd_train(int argc, char **argv) {
  experiment e;
  const char *out;
  int stages = STAGES_ALL;
  int rc = load("train", argc, argv, 0, &e, &out, &stages);
  if (rc) return rc;
  lethe_err err = {0};
  rc = experiment_check(&e, NULL, experiment_check_stages((stage_set)stages), &err);
  if (rc == 0) rc = run_prepare(&e, (stage_set)stages, &err);
  if (rc != 0) fprintf(stderr, "lethe train: %s\n", err.msg);
  experiment_free(&e);
  return rc ? 1 : 0;
}

int cmd_muse(int argc, char **argv) {
  experiment e;
  const char *out;
  int rc = load("muse", argc, argv, 1, &e, &out, NULL);
  if (rc) return rc;
  lethe_err err = {0};
  rc = muse_check(&e, &err) || experiment_check(&e, out, EXPERIMENT_CHECK_UNLEARN, &err) ||
       run_muse(&e, out, &err);
  if (rc != 0) fprintf(stderr, "lethe muse: %s\n", err.msg);
  else if (!e.quiet) printf("results in %s\n", out);
  experiment_free(&e);
  return rc ? 1 : 0;
}

int cmd_unlearn(int argc, char **argv) {
  experiment e;
  const char *out;
  int rc = load("unlearn", argc, argv, 1, &e, &out, NULL);
  if (rc) return rc;
  lethe_err err = {0};
  rc = experiment_check(&e, out, EXPERIMENT_CHECK_UNLEARN, &err);
  if (rc == 0) rc = run_unlearn(&e, out, &err);
  if (rc != 0) fprintf(stderr, "lethe unlearn: %s\n", err.msg);
  else if (!e.quiet) printf("results in %s\n", out);
  experiment_free(&e);
  return rc ? 1 : 0;
}

int cmd_plan(int argc, char **argv) {
  experiment e;
  const char *out;
  int rc = load("plan", argc, argv, 0, &e, &out, NULL);
  if (rc) return rc;
  lethe_err err = {0};
  rc = experiment_check(&e, NULL, EXPERIMENT_CHECK_UNLEARN, &err);
  if (rc == 0) rc = run_plan(&e, stdout, &err);
  if (rc != 0) fprintf(stderr, "lethe plan: %s\n", err.msg);
  experiment_free(&e);
  return rc ? 1 : 0;
}
