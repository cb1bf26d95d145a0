/* muse — MUSE's data (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way
 * Evaluation"; the layout of swj0419/muse_bench's data/{corpus}/ after its
 * load_data.py): a corpus directory read and validated, and the embedded
 * MUSE-like corpus generated from the world and written in the same layout,
 * so one reader reads both. docs/file-formats.md ("MUSE") lists the files;
 * docs/world.md says how the embedded corpus is made.
 *
 *   raw/forget.json, raw/retain1.json, raw/holdout.json  lists of documents
 *   raw/retain2.json                                     (optional)
 *   verbmem/forget.json          [{"prompt": ..., "gt": ...}, ...]
 *   knowmem/forget_qa.json, knowmem/retain_qa.json   [{"question", "answer"}]
 *   knowmem/forget_qa_icl.json, knowmem/retain_qa_icl.json        (optional)
 *   privleak/forget.json, privleak/holdout.json          lists of documents
 *   privleak/retain.json                                 (optional)
 *
 * Not here: tokenization, training, the metrics (evaluate/eval_muse.c). */
#ifndef LETHE_MUSE_H
#define LETHE_MUSE_H

#include <stddef.h>

#include "data/data.h"
#include "data/world.h"

/* A list of documents (owned strings, each valid UTF-8 and not blank). */
typedef struct muse_texts {
  char **text;
  size_t n;
} muse_texts;

/* A verbatim-memorisation item: the model continues prompt; gt is what the
 * corpus says next. */
typedef struct muse_verbmem {
  char *prompt, *gt;
} muse_verbmem;
typedef struct muse_verbmem_set {
  muse_verbmem *rows;
  size_t n;
} muse_verbmem_set;

/* One corpus. Optional files that are absent leave their member empty (n 0). */
typedef struct muse_corpus {
  muse_texts forget, retain1, retain2, holdout;   /* raw/ */
  muse_verbmem_set verbmem;                       /* verbmem/forget.json */
  tofu_set knowmem_forget, knowmem_retain;        /* knowmem/{forget,retain}_qa.json */
  tofu_set icl_forget, icl_retain;                /* knowmem/{forget,retain}_qa_icl.json */
  muse_texts privleak_forget, privleak_holdout, privleak_retain; /* privleak/ */
} muse_corpus;

/* A JSON list of documents. Errors name the file and the item:
 * "FILE: item N: must be a string, got an object"; a file that is not valid
 * UTF-8 or not valid JSON names its line. An empty list is an error. */
int muse_texts_load(const char *path, muse_texts *out, lethe_err *err);
/* A JSON list of {"prompt", "gt"} objects (other fields ignored); errors
 * read "FILE: record N: field 'gt' is missing" and the like. */
int muse_verbmem_load(const char *path, muse_verbmem_set *out, lethe_err *err);
/* A JSON list of {"question", "answer"} objects: TOFU's loader (data.h),
 * which names file, record and field too. */
int muse_qa_load(const char *path, tofu_set *out, lethe_err *err);
/* Reads the corpus in dir; the first missing or bad file fails it. */
int muse_load(const char *dir, muse_corpus *out, lethe_err *err);

/* Writers of the same files (atomic; a JSON list, two-space indent). */
int muse_texts_save(const char *path, char *const *text, size_t n, lethe_err *err);
int muse_verbmem_save(const char *path, const muse_verbmem *rows, size_t n, lethe_err *err);
int muse_qa_save(const char *path, const tofu_qa *rows, size_t n, lethe_err *err);
/* Writes every member of c (the optional ones when not empty) into dir. */
int muse_write(const muse_corpus *c, const char *dir, lethe_err *err);

void muse_texts_free(muse_texts *t);
void muse_verbmem_free(muse_verbmem_set *v);
void muse_corpus_free(muse_corpus *c);

/* ---- the embedded corpus ---------------------------------------------------
 * Built from a generated world (world.h): every author's QA answers, in
 * question-type order, are the sentences of a biography, cut into documents
 * of doc_sentences sentences. forget = the documents of the authors of the
 * world's forget split forgetNN (forget_percent = NN); retain1 / retain2 =
 * the first / second half of the other authors; holdout = the holdout
 * authors' (never trained on). verbmem: each forget document cut after half
 * of its words (prompt, gt). knowmem: each QA of the forget authors
 * (retain2's for retain_qa) with its key fact as the answer; the ICL
 * examples are the world's general-knowledge QA (real authors for forget,
 * world facts for retain), which the base model learns. privleak: the first
 * forget, holdout and retain1 documents, as many of each as forget has.
 * Every list is cut to `items` entries (MUSE has 100). `dir` is not the
 * generator's: a run reads the corpus there instead (muse_load). */
typedef struct muse_settings {
  int doc_sentences; /* 4 */
  int items;         /* 100 */
  int icl;           /* 10 */
  char dir[DATA_SETTING_STRLEN]; /* "": generate; else read this corpus (muse_load) */
} muse_settings;
extern const data_setting muse_settings_table[];
extern const size_t muse_n_settings;
void muse_settings_default(muse_settings *s);

/* Fills *out (free with muse_corpus_free) from w. forget_percent must be
 * one of world_forget_percents. Deterministic: no randomness of its own. */
int muse_generate(const world *w, int forget_percent, const muse_settings *s, muse_corpus *out,
                  lethe_err *err);

#endif
