/* tok_internal — what the tokenizer's own files share; not part of the API. */
#ifndef LETHE_TOK_INTERNAL_H
#define LETHE_TOK_INTERNAL_H

#include <stdint.h>

#include "tokenizer/tokenizer.h"

#define TOK_MAX_VOCAB (1 << 22)
#define TOK_MAX_TEMPLATE 8 /* special tokens before or after the text */

struct tok_tokenizer {
  int n_vocab;
  char **words;     /* (n_vocab) id -> text, owned */
  int32_t *slots;   /* open-addressing table of ids, -1 = empty */
  uint32_t n_slots; /* power of two, >= 2 * n_vocab */
  tok_special_ids special;
  int split_space; /* pre-tokenizer: split on white space (dropped) */
  int split_punct; /* pre-tokenizer: isolate punctuation characters */
  int32_t *added;  /* ids cut out of the raw text before pre-tokenizing */
  int n_added;
  int32_t prefix[TOK_MAX_TEMPLATE], suffix[TOK_MAX_TEMPLATE]; /* post-processor */
  int n_prefix, n_suffix;
  struct tok_hf *hf; /* the Hugging Face pipeline of a BPE tokenizer.json, or NULL */
};

/* Slot of word in an open-addressing table of ids (or the empty slot where
 * it would go). */
uint32_t tok_find_slot(int32_t *slots, uint32_t n_slots, char *const *words, const char *w,
                       size_t n);
int tok_is_space(uint32_t cp);
int tok_is_punct(uint32_t cp);

/* Allocates a tokenizer with the given words (copied) and the default
 * pre-tokenizer; no special ids, no added tokens, no template. NULL words
 * are ids without text (tok_word gives NULL). Returns NULL and fills err when
 * a word repeats. */
tok_tokenizer *tok_new_from_words(const char *const *words, int n, lethe_err *err);
/* Pre-tokenizes with explicit flags (tok_pretokenize uses 1, 1). */
int tok_pretokenize_with(const char *text, size_t len, int split_space, int split_punct,
                         tok_piece_fn fn, void *user);

#endif
