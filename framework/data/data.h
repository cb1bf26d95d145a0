/* data — TOFU-format data: the JSON loader and validator, the prompt format
 * and label masking, and the batches the trainer consumes (plain shuffled
 * batches for fine-tuning; forget/retain/idk batches for unlearning).
 * The embedded world generator has its own header, data/world.h.
 *
 * Not here: tokenization itself (tokenizer/), training loops, evaluation.
 */
#ifndef LETHE_DATA_H
#define LETHE_DATA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"
#include "tokenizer/tokenizer.h"

/* ---- settings tables ------------------------------------------------------
 * A struct's settings described by a table of (name, type, offset, default,
 * min, max, doc); used for the world's settings and the prompt format, so the
 * `-s group.KEY=VALUE` overrides share one parser and unknown keys are errors. */
typedef enum { DATA_SETTING_INT, DATA_SETTING_STRING } data_setting_type;
#define DATA_SETTING_STRLEN 512 /* string settings are char[DATA_SETTING_STRLEN] */

typedef struct data_setting {
  const char *name;
  data_setting_type type;
  size_t offset;       /* of the int or char[] field in the struct */
  long def, min, max;  /* DATA_SETTING_INT */
  const char *def_str; /* DATA_SETTING_STRING */
  const char *doc;
} data_setting;

void data_settings_defaults(const data_setting *table, size_t n, void *obj);
/* Checks every integer setting of obj against its range; the error names
 * group.name, the range and the value. */
int data_settings_check(const data_setting *table, size_t n, const void *obj, const char *group,
                        lethe_err *err);
/* Sets key to value ("10", or a string with C escapes \n \t \\ allowed);
 * errors name group.key and the allowed range; unknown keys are errors. */
int data_settings_set(const data_setting *table, size_t n, void *obj, const char *group,
                      const char *key, const char *value, lethe_err *err);
/* Applies "group.KEY=VALUE" (the argument of -s). */
int data_settings_override(const data_setting *table, size_t n, void *obj, const char *group,
                           const char *assignment, lethe_err *err);
/* Prints "group.name = value  # doc" lines. */
void data_settings_print(FILE *out, const data_setting *table, size_t n, const void *obj,
                         const char *group);

/* ---- TOFU records --------------------------------------------------------- */
/* Optional fields of a record (question and answer are always required). */
enum {
  TOFU_F_PARA_Q = 1u << 0,    /* paraphrased_question */
  TOFU_F_PARA_A = 1u << 1,    /* paraphrased_answer */
  TOFU_F_PERTURBED = 1u << 2, /* perturbed_answer (list of strings) */
  TOFU_F_OPTIONS = 1u << 3,   /* option1..option4 */
};
#define TOFU_N_OPTIONS 4
#define TOFU_MAX_PERTURBED 64

typedef struct tofu_qa {
  char *question, *answer;    /* always present, non-empty */
  char *paraphrased_question; /* NULL when absent */
  char *paraphrased_answer;   /* NULL when absent */
  char **perturbed;           /* n_perturbed strings, NULL when absent */
  int n_perturbed;
  char *options[TOFU_N_OPTIONS]; /* all NULL when absent */
} tofu_qa;

/* A split. Owns its rows and every string in them. */
typedef struct tofu_set {
  tofu_qa *rows;
  size_t n;
  unsigned fields; /* TOFU_F_* present in every row */
} tofu_set;

/* Loads a TOFU file: a JSON array of objects, or JSON lines (one object per
 * line; blank lines skipped). Every string must be valid UTF-8 and non-empty;
 * fields in `required` must be present in every record; optional fields that
 * are present are validated too; unknown fields are ignored. Errors read
 * "FILE:LINE: record N: field 'F': what is wrong" (LINE only for JSON lines).
 * On success *out owns the rows; free with tofu_set_free. */
int tofu_load(const char *path, unsigned required, tofu_set *out, lethe_err *err);
/* Loads DIR/NAME.json (e.g. "forget10", "retain_perturbed"). */
int tofu_load_split(const char *dir, const char *name, unsigned required, tofu_set *out,
                    lethe_err *err);
/* Writes rows as JSON lines with question, answer and the `fields` given
 * (in TOFU's key order), atomically. */
int tofu_save(const char *path, const tofu_qa *rows, size_t n, unsigned fields, lethe_err *err);
void tofu_set_free(tofu_set *s);
void tofu_qa_free(tofu_qa *qa); /* frees the strings of one record */

/* "I don't know" answers: a text file, one answer per line (TOFU's
 * idontknow.jsonl holds plain lines, not JSON); lines are stripped, blank
 * lines skipped, invalid UTF-8 refused with its line. */
typedef struct tofu_idk {
  char **answers;
  size_t n;
} tofu_idk;
int tofu_idk_load(const char *path, tofu_idk *out, lethe_err *err);
int tofu_idk_save(const char *path, char *const *answers, size_t n, lethe_err *err);
void tofu_idk_free(tofu_idk *idk);

/* ---- prompt format and masking ---------------------------------------------
 * A row is two segments, each tokenized on its own so that the boundary
 * between them is always a token boundary:
 *   prompt = question_start + question + question_end   (the post-processor's
 *            leading special tokens, e.g. BOS, first; never targets)
 *   answer = answer_tag + answer                         (targets, encoded as
 *            a continuation: no BOS, no prefix space or leading ▁)
 * followed by one end token as the last target: answer_end's token, or the
 * tokenizer's EOS when answer_end is "". The prompt ids are exactly what
 * generation is fed at evaluation, and the target ids decode to exactly
 * answer_tag + answer: a tokenizer that would merge across the boundary in
 * the concatenated text (Llama-2's "[/INST]" + " Paris") cannot shift the
 * mask (docs/file-formats.md, "How rows become training rows").
 *
 * `format` names a preset (tofu_format_presets) that fills the four strings,
 * with `system_prompt` placed where the preset's chat format puts it; "" means
 * the strings as given. */
typedef struct tofu_format {
  char format[DATA_SETTING_STRLEN];         /* "" or a preset name */
  char system_prompt[DATA_SETTING_STRLEN];  /* "" = none; only with a chat preset */
  char question_start[DATA_SETTING_STRLEN]; /* "[INST] " */
  char question_end[DATA_SETTING_STRLEN];   /* " [/INST]" */
  char answer_tag[DATA_SETTING_STRLEN];     /* "" */
  char answer_end[DATA_SETTING_STRLEN];     /* "": the tokenizer's EOS */
  int max_length;                           /* 500: rows are truncated to it */
  int pad_to_max_length; /* 0: pad to the longest row of a batch; 1: to max_length (TOFU) */
} tofu_format;
extern const data_setting tofu_format_settings[];
extern const size_t tofu_format_n_settings;
void tofu_format_default(tofu_format *f);

/* A named prompt format: the strings of tofu_format, and where a system
 * prompt goes (system: a printf format with one %s inserted at the start of
 * question_start; NULL = the format has no system prompt). */
typedef struct tofu_format_preset {
  const char *name, *question_start, *question_end, *answer_tag, *answer_end, *system;
  const char *source; /* where the strings come from */
} tofu_format_preset;
extern const tofu_format_preset tofu_format_presets[];
extern const size_t tofu_format_n_presets;
/* Applies f->format (when not ""): fills the four strings from the preset.
 * Errors (naming data.KEY) for an unknown preset, a string set to something
 * other than its default next to a preset, a system prompt with a format
 * that has none, or strings that no longer fit. Idempotent. */
int tofu_format_resolve(tofu_format *f, lethe_err *err);

/* The ids a format needs from a tokenizer. pad: the tokenizer's pad token,
 * else its EOS, else 0 (pad positions are masked and never targets). end: the
 * target after the answer and the token that stops generation: answer_end's
 * single token, or the tokenizer's EOS. Errors when answer_end is not exactly
 * one token of this tokenizer, or there is no EOS and no answer_end. */
typedef struct tofu_ids {
  int32_t pad, end;
} tofu_ids;
int tofu_format_ids(const tok_tokenizer *tok, const tofu_format *fmt, tofu_ids *out, lethe_err *err);

/* One tokenized example. ids = prompt segment + answer segment (no end
 * token; batching adds its label), truncated to max_length. The n_prompt
 * tokens of the prompt segment are masked; n_prompt = 1 (only BOS) for
 * full-sequence language modelling. */
typedef struct tofu_example {
  int32_t *ids; /* owned */
  int len;
  int n_prompt;
} tofu_example;

int tofu_encode(const tok_tokenizer *tok, const tofu_format *fmt, const char *question,
                const char *answer, tofu_example *out, lethe_err *err);
/* Plain text (e.g. a pre-training document): BOS + text, every token a target. */
int tofu_encode_text(const tok_tokenizer *tok, const tofu_format *fmt, const char *text,
                     tofu_example *out, lethe_err *err);
void tofu_example_free(tofu_example *e);

/* Encodes every (question, answer) row of a set; *out is an array of
 * set->n examples (free with tofu_examples_free). */
int tofu_encode_set(const tok_tokenizer *tok, const tofu_format *fmt, const tofu_set *set,
                    tofu_example **out, lethe_err *err);
void tofu_examples_free(tofu_example *ex, size_t n);

/* ---- batches (Hugging Face convention) ---------------------------------------
 * Row b: input_ids = ids then pad_id; attention_mask 1 on ids, 0 on padding;
 * labels = -100 on the prompt, the ids on the answer, end_id (tofu_format_ids) at position len
 * (when it fits: not for a row truncated to T), -100 on the rest. Logits at
 * position t predict labels[t + 1]. T = longest row + 1 (capped at
 * max_length), or max_length with pad_to_max_length. */
#define TOFU_IGNORE (-100)

typedef struct tofu_batch {
  int B, T;
  int32_t *input_ids;      /* (B, T) */
  int32_t *attention_mask; /* (B, T) */
  int32_t *labels;         /* (B, T) */
  int *example;            /* (B) index of the example each row came from */
  int cap;                 /* allocated B*T; internal */
} tofu_batch;

/* Fills b with the examples ex[idx[0..B)]. Reuses b's buffers (grows them as
 * needed); start from a zeroed tofu_batch, free with tofu_batch_free. */
void tofu_batch_fill(tofu_batch *b, const tofu_example *ex, const int *idx, int B,
                     const tofu_format *fmt, int32_t pad_id, int32_t end_id);
void tofu_batch_free(tofu_batch *b);

/* A fresh permutation of 0..n-1 for one epoch: shuffled by a lethe_rng seeded
 * from (seed, epoch) (see tofu_mix_seed), so epochs differ and runs repeat. */
void tofu_epoch_order(int *order, int n, uint64_t seed, uint64_t epoch);
/* The seed of stream i under seed: splitmix64 of seed + golden-ratio * (i+1). */
uint64_t tofu_mix_seed(uint64_t seed, uint64_t i);

/* ---- forget / retain / idk pairing -------------------------------------------
 * As the NPO code: forget example i has a fixed retain partner
 * (i + r) mod n_retain and a fixed idk answer k, where r = below(n_retain)
 * and then k = below(n_idk) are the first two draws of a lethe_rng seeded
 * with tofu_mix_seed(seed, i). One epoch = the forget set. */
typedef struct tofu_forget_data {
  size_t n_forget, n_retain;
  tofu_example *forget; /* (n_forget) forget question + its answer */
  tofu_example *idk;    /* (n_forget) forget question + its idk answer */
  tofu_example *retain; /* (n_retain) */
  int *retain_partner;  /* (n_forget) index into retain */
  int *idk_answer;      /* (n_forget) index into the idk answers */
} tofu_forget_data;

void tofu_pair(uint64_t seed, size_t i, size_t n_retain, size_t n_idk, int *retain_partner,
               int *idk_answer);
int tofu_forget_data_init(tofu_forget_data *d, const tofu_set *forget, const tofu_set *retain,
                          const tofu_idk *idk, const tok_tokenizer *tok, const tofu_format *fmt,
                          uint64_t seed, lethe_err *err);
/* The same for raw documents (MUSE): forget and retain rows BOS + text,
 * every token a target (tofu_encode_text); retain partners paired as
 * above; no idk rows (every idk example empty: a method that needs them
 * cannot run on documents). */
int tofu_forget_data_texts(tofu_forget_data *d, char *const *forget, size_t n_forget,
                           char *const *retain, size_t n_retain, const tok_tokenizer *tok,
                           const tofu_format *fmt, uint64_t seed, lethe_err *err);
void tofu_forget_data_free(tofu_forget_data *d);
/* For forget rows idx[0..B): forget row k = forget example idx[k], idk row k =
 * its idk example, retain row k = its retain partner. Any batch may be NULL. */
void tofu_forget_batch(const tofu_forget_data *d, const tofu_format *fmt, const int *idx, int B,
                       int32_t pad_id, int32_t end_id, tofu_batch *forget, tofu_batch *retain,
                       tofu_batch *idk);

#endif
