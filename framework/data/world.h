/* world — the embedded TOFU-like world: fictitious authors with per-author
 * facts, 20 templated QA each with a paraphrase and perturbed answers, two
 * general-knowledge sets with options, "I don't know" answers and the
 * pre-training QA of the base model. Deterministic from (seed, settings).
 * docs/world.md describes the design; docs/file-formats.md the directory.
 *
 * Not here: reading data directories (data.h), tokenization (tokenizer.h).
 */
#ifndef LETHE_WORLD_H
#define LETHE_WORLD_H

#include <stdint.h>

#include "data/data.h"
#include "tokenizer/tokenizer.h"

typedef struct world_settings {
  int authors;              /* fictitious authors */
  int qa_per_author;        /* QA per author (a subset of the question types) */
  int perturbed;            /* perturbed answers per QA */
  int general_qa;           /* QA in each general-knowledge set */
  int idk;                  /* "I don't know" answers */
  int pretrain_rephrasings; /* extra pre-training QA per general QA */
} world_settings;
extern const data_setting world_settings_table[];
extern const size_t world_n_settings;
void world_settings_default(world_settings *s);

/* One author QA: the TOFU record plus what the generator knows about it. */
typedef struct world_qa {
  tofu_qa qa;        /* question, answer, paraphrased_*, perturbed (owned) */
  int author;        /* index into world.authors */
  int type;          /* question type, 0 .. WORLD_N_TYPES-1 */
  size_t key_offset; /* the key fact's bytes in qa.paraphrased_answer */
  size_t key_len;
} world_qa;

typedef struct world {
  world_settings settings;
  uint64_t seed;
  char **author_names; /* (n_authors) */
  int n_authors;
  world_qa *qa; /* (n_qa) author by author, types in order */
  size_t n_qa;
  tofu_qa *real_authors; /* (n_real_authors) with options, paraphrase, 3 perturbed */
  size_t n_real_authors;
  tofu_qa *world_facts; /* (n_world_facts) same fields */
  size_t n_world_facts;
  tofu_qa *pretrain; /* (n_pretrain) question + answer only */
  size_t n_pretrain;
  char **idk; /* (n_idk) */
  size_t n_idk;
  /* Holdout authors (world_holdout_authors of them): like the others, but in
   * no file a model is trained on, only in holdoutNN.json, the non-members of
   * membership inference. world_qa.author indexes holdout_names. */
  char **holdout_names; /* (n_holdout_authors) */
  int n_holdout_authors;
  world_qa *holdout_qa; /* (n_holdout_qa) author by author */
  size_t n_holdout_qa;
} world;

#define WORLD_N_TYPES 20

/* Generates the world in memory. The caller frees it with world_free. */
int world_generate(world *w, const world_settings *s, uint64_t seed, lethe_err *err);
void world_free(world *w);

/* The forget splits' percentages (forget01 ⊂ forget05 ⊂ ... ⊂ forget50),
 * each written with its retain(100-NN) and forgetNN_perturbed. */
#define WORLD_N_FORGET_SPLITS 5
extern const int world_forget_percents[WORLD_N_FORGET_SPLITS];
/* The fewest authors a world has (world.authors); with at least 2,
 * retain_perturbed never meets forget50 (world_write.c proves it). */
#define WORLD_MIN_AUTHORS 4
/* The directory's format: 2 added forget20/50, retain80/50 and their
 * _perturbed files; 3 added the holdout authors' words to tokenizer.json
 * (after every trained word's id). The data stage's cache key includes it, so a cached
 * world of another format is never reused. */
#define WORLD_FORMAT_VERSION 3

/* Authors in the forget split of `percent` (one of world_forget_percents):
 * the last max(1, round(authors * percent / 100)) authors. retain_perturbed
 * holds the first max(1, authors / 10). */
int world_forget_authors(int n_authors, int percent);
int world_retain_eval_authors(int n_authors);
/* Holdout authors of a world of n_authors: as many as its largest forget
 * split's. holdoutNN holds the first world_forget_authors(n_authors, NN) of
 * them, as many as forgetNN (so holdout01 ⊂ holdout05 ⊂ ...). */
int world_holdout_authors(int n_authors);

/* The vocabulary: every word of every text the world writes, plus the words
 * of the default prompt tags and of "Question: " / "Answer: ". Caller frees. */
tok_tokenizer *world_tokenizer(const world *w);

/* Writes the complete directory (created if needed): the TOFU splits,
 * the holdout splits, idontknow.jsonl, pretrain.json, tokenizer.json,
 * world.json. Every file is written atomically; the same world gives the
 * same bytes. The holdout authors change none of the other files: the
 * tokenizer's vocabulary comes from the trained texts only (a holdout word
 * it lacks encodes as <unk>) and world.json does not count them. */
int world_write(const world *w, const char *dir, lethe_err *err);

/* Writes only the holdout splits into dir (which must exist): completes a
 * world directory of this format whose holdout files are missing (stage_data
 * restores them). Atomic per file, same bytes as world_write. */
int world_write_holdout(const world *w, const char *dir, lethe_err *err);

/* The split files world_write creates, NULL-terminated (without ".json"):
 * world_split_names those of the trained authors and the general sets,
 * world_holdout_names holdoutNN for each forget percentage NN. */
extern const char *const world_split_names[];
extern const char *const world_holdout_names[];

#endif
