/* kind — the names of the experiment kinds (an experiment file's `kind`,
 * suite.json's and summary.json's "kind"), spelled here and nowhere else.
 * Rooms that only recognise a kind in a file use this; what a kind does
 * (how its runs are checked, run and reported) is the suite room's kind
 * table (suite/suite.h), which is built on these names. */
#ifndef LETHE_KIND_H
#define LETHE_KIND_H

typedef enum lethe_kind {
  LETHE_KIND_UNKNOWN = -1,
  LETHE_KIND_TOFU = 0,   /* unlearning a Llama model on TOFU (the default) */
  LETHE_KIND_SYNTHETIC,  /* the NPO paper's synthetic experiment (§4) */
  LETHE_KIND_MUSE,       /* MUSE's metrics on the embedded MUSE-like corpus */
  LETHE_N_KINDS
} lethe_kind;

/* The name of kind k ("tofu", ...); NULL for LETHE_KIND_UNKNOWN. Static. */
const char *lethe_kind_name(lethe_kind k);
/* The kind called `name`; LETHE_KIND_UNKNOWN for NULL or another name. */
lethe_kind lethe_kind_parse(const char *name);

#endif
