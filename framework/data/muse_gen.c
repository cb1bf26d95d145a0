/* muse_gen — the embedded MUSE-like corpus (muse.h) cut from a generated
 * world: biographies made of each author's QA answers, verbmem items cut
 * from the forget documents, knowmem QA whose answers are the key facts.
 * No randomness of its own: the world decides everything. Writing the
 * directory is muse_io.c's job. */
#include <stdlib.h>
#include <string.h>

#include "data/muse.h"

const data_setting muse_settings_table[] = {
#define INT_SETTING(field, def, min, max, doc) \
  { #field, DATA_SETTING_INT, offsetof(muse_settings, field), def, min, max, NULL, doc }
    INT_SETTING(doc_sentences, 4, 1, WORLD_N_TYPES, "sentences (author QA answers) per document"),
    INT_SETTING(items, 100, 1, 100000, "verbmem, knowmem and privleak items at most"),
    INT_SETTING(icl, 10, 0, 120, "in-context QA examples of the knowmem prompt"),
#undef INT_SETTING
    {"dir", DATA_SETTING_STRING, offsetof(muse_settings, dir), 0, 0, 0, "",
     "a corpus in MUSE's layout to read instead of generating one (\"\": the embedded corpus)"},
};
const size_t muse_n_settings = sizeof muse_settings_table / sizeof muse_settings_table[0];

void muse_settings_default(muse_settings *s) {
  memset(s, 0, sizeof *s);
  data_settings_defaults(muse_settings_table, muse_n_settings, s);
}

static void push_text(muse_texts *t, size_t *cap, char *text) {
  if (t->n == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    t->text = lethe_realloc(t->text, *cap * sizeof *t->text);
  }
  t->text[t->n++] = text;
}

/* The documents of authors [first, last) of qa[0..n_qa) (author by author):
 * each author's answers joined by spaces, doc_sentences at a time. */
static void author_docs(const world_qa *qa, size_t n_qa, int first, int last, int doc_sentences,
                        muse_texts *out) {
  memset(out, 0, sizeof *out);
  size_t cap = 0;
  for (size_t i = 0; i < n_qa;) {
    size_t end = i, len = 0;
    while (end < n_qa && qa[end].author == qa[i].author && end - i < (size_t)doc_sentences)
      len += strlen(qa[end++].qa.answer) + 1;
    if (qa[i].author >= first && qa[i].author < last) {
      char *doc = lethe_malloc(len), *p = doc;
      for (size_t k = i; k < end; k++) {
        size_t n = strlen(qa[k].qa.answer);
        memcpy(p, qa[k].qa.answer, n);
        p += n;
        *p++ = k + 1 < end ? ' ' : '\0';
      }
      push_text(out, &cap, doc);
    }
    i = end;
  }
}

static void copy_texts(const muse_texts *from, size_t n, muse_texts *to) {
  to->n = n < from->n ? n : from->n;
  to->text = lethe_calloc(to->n ? to->n : 1, sizeof *to->text);
  for (size_t i = 0; i < to->n; i++) to->text[i] = lethe_strdup(from->text[i]);
}

/* Each document cut after half of its words (rounded down, at least one). */
static void make_verbmem(const muse_texts *docs, size_t n, muse_verbmem_set *out) {
  out->n = n < docs->n ? n : docs->n;
  out->rows = lethe_calloc(out->n ? out->n : 1, sizeof *out->rows);
  for (size_t i = 0; i < out->n; i++) {
    const char *d = docs->text[i];
    size_t words = 1;
    for (const char *p = d; *p; p++) words += *p == ' ';
    size_t keep = words / 2 ? words / 2 : 1, seen = 0;
    const char *cut = d;
    while (*cut && seen < keep) seen += *cut++ == ' ';
    /* cut is just past the space that ends word `keep`; a one-word document
     * has no gt to cut and the world never writes one (answers are 10+ words) */
    out->rows[i].prompt = lethe_malloc((size_t)(cut - d));
    memcpy(out->rows[i].prompt, d, (size_t)(cut - d - 1));
    out->rows[i].prompt[cut - d - 1] = '\0';
    out->rows[i].gt = lethe_strdup(cut);
  }
}

/* The QA of authors [first, last), answered by their key fact. */
static void make_knowmem(const world_qa *qa, size_t n_qa, int first, int last, size_t n,
                         tofu_set *out) {
  memset(out, 0, sizeof *out);
  out->rows = lethe_calloc(n, sizeof *out->rows);
  for (size_t i = 0; i < n_qa && out->n < n; i++) {
    if (qa[i].author < first || qa[i].author >= last) continue;
    tofu_qa *row = &out->rows[out->n++];
    row->question = lethe_strdup(qa[i].qa.question);
    row->answer = lethe_malloc(qa[i].key_len + 1);
    memcpy(row->answer, qa[i].qa.paraphrased_answer + qa[i].key_offset, qa[i].key_len);
    row->answer[qa[i].key_len] = '\0';
  }
}

static void make_icl(const tofu_qa *rows, size_t n_rows, int n, tofu_set *out) {
  memset(out, 0, sizeof *out);
  out->n = (size_t)n < n_rows ? (size_t)n : n_rows;
  out->rows = lethe_calloc(out->n ? out->n : 1, sizeof *out->rows);
  for (size_t i = 0; i < out->n; i++) {
    out->rows[i].question = lethe_strdup(rows[i].question);
    out->rows[i].answer = lethe_strdup(rows[i].answer);
  }
}

int muse_generate(const world *w, int forget_percent, const muse_settings *s, muse_corpus *out,
                  lethe_err *err) {
  memset(out, 0, sizeof *out);
  int known = 0;
  for (int p = 0; p < WORLD_N_FORGET_SPLITS; p++) known |= world_forget_percents[p] == forget_percent;
  if (!known) return lethe_errf(err, LETHE_E_CONFIG, "muse: no forget split forget%02d", forget_percent);
  if (data_settings_check(muse_settings_table, muse_n_settings, s, "muse", err)) return -1;
  int n = w->n_authors, k = n - world_forget_authors(n, forget_percent), half = (k + 1) / 2;
  size_t items = (size_t)s->items;
  author_docs(w->qa, w->n_qa, k, n, s->doc_sentences, &out->forget);
  author_docs(w->qa, w->n_qa, 0, half, s->doc_sentences, &out->retain1);
  author_docs(w->qa, w->n_qa, half, k, s->doc_sentences, &out->retain2);
  author_docs(w->holdout_qa, w->n_holdout_qa, 0, w->n_holdout_authors, s->doc_sentences,
              &out->holdout);
  make_verbmem(&out->forget, items, &out->verbmem);
  make_knowmem(w->qa, w->n_qa, k, n, items, &out->knowmem_forget);
  make_knowmem(w->qa, w->n_qa, half, k, items, &out->knowmem_retain);
  make_icl(w->real_authors, w->n_real_authors, s->icl, &out->icl_forget);
  make_icl(w->world_facts, w->n_world_facts, s->icl, &out->icl_retain);
  size_t n_priv = out->forget.n < items ? out->forget.n : items;
  copy_texts(&out->forget, n_priv, &out->privleak_forget);
  copy_texts(&out->holdout, n_priv, &out->privleak_holdout);
  copy_texts(&out->retain1, n_priv, &out->privleak_retain);
  return 0;
}
