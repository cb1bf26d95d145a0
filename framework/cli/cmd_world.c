/* cmd_world — `lethe world`: writes the embedded TOFU-like world to a
 * directory. The generator itself is in framework/data/world*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/world.h"

void help_world(void) {
  world_settings s;
  world_settings_default(&s);
  printf(
      "usage: lethe world --out DIR [--seed N] [-s world.KEY=VALUE]...\n\n"
      "Writes the embedded world: fictitious authors with 20 QA each (paraphrased\n"
      "and perturbed answers), TOFU's splits (full, forget01/05/10, retain99/95/90,\n"
      "*_perturbed, real_authors, world_facts) and forget20/50 with retain80/50,\n"
      "holdoutNN (as many unseen authors as forgetNN has: membership inference's\n"
      "non-members), idontknow.jsonl, pretrain.json, tokenizer.json and\n"
      "world.json. The same seed and settings give the same bytes.\n\n"
      "options:\n"
      "  --out DIR     directory to write (created if needed)\n"
      "  --seed N      world seed (default 0)\n"
      "  -s world.KEY=VALUE   change a setting; settings and defaults:\n");
  data_settings_print(stdout, world_settings_table, world_n_settings, &s, "world");
  printf("\nSee docs/world.md and docs/file-formats.md.\n");
}

int cmd_world(int argc, char **argv) {
  world_settings s;
  world_settings_default(&s);
  const char *out = NULL, *v;
  unsigned long long seed = 0;
  lethe_err err = {0};
  cli_args a = {"world", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--out", &v)) {
      out = v;
    } else if (cli_opt(&a, "--seed", &v)) {
      char *end;
      seed = strtoull(v, &end, 10);
      if (end == v || *end || v[0] == '-')
        return cli_usage_error("world", "--seed expects a non-negative integer, got '%s'", v);
    } else if (cli_opt(&a, "-s", &v)) {
      if (data_settings_override(world_settings_table, world_n_settings, &s, "world", v, &err))
        return cli_usage_error("world", "%s", err.msg);
    } else {
      return cli_unknown(&a);
    }
  }
  if (!out) return cli_usage_error("world", "--out DIR is required");
  world w;
  if (world_generate(&w, &s, seed, &err)) {
    fprintf(stderr, "lethe world: %s\n", err.msg);
    return 1;
  }
  int rc = world_write(&w, out, &err);
  if (rc)
    fprintf(stderr, "lethe world: %s\n", err.msg);
  else
    printf(
        "wrote %s: %d authors, %zu author QA, %zu real-author QA, %zu world-fact QA, "
        "%zu pre-training QA, %zu idk answers\n",
        out, w.n_authors, w.n_qa, w.n_real_authors, w.n_world_facts, w.n_pretrain, w.n_idk);
  world_free(&w);
  return rc ? 1 : 0;
}
