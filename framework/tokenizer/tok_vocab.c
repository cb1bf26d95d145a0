/* tok_vocab — the bottom of the tokenizer: UTF-8 checks, the table of words
 * (id <-> text) and the tokenizer's lifetime. Everything else builds on it. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"

/* ---- UTF-8 ---------------------------------------------------------------- */
/* Length of the valid UTF-8 sequence at s (n bytes left) and its code point,
 * or 0 when the bytes there are not valid UTF-8. */
int tok_utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  if (n == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, v = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, v = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, v = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if ((size_t)len > n) return 0;
  for (int i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = (v << 6) | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

int tok_utf8_valid(const char *s, size_t n, size_t *bad_offset) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    uint32_t cp;
    int len = tok_utf8_next(u + i, n - i, &cp);
    if (!len) {
      if (bad_offset) *bad_offset = i;
      return 0;
    }
    i += (size_t)len;
  }
  return 1;
}

/* ---- hash table of words --------------------------------------------------- */
static uint32_t hash_bytes(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

/* Slot holding word (or the empty slot where it would go). */
uint32_t tok_find_slot(int32_t *slots, uint32_t n_slots, char *const *words, const char *w,
                          size_t n) {
  uint32_t mask = n_slots - 1, i = hash_bytes(w, n) & mask;
  while (slots[i] >= 0) {
    const char *cand = words[slots[i]];
    if (strlen(cand) == n && !memcmp(cand, w, n)) break;
    i = (i + 1) & mask;
  }
  return i;
}

tok_tokenizer *tok_new_from_words(const char *const *words, int n, lethe_err *err) {
  tok_tokenizer *t = lethe_calloc(1, sizeof *t);
  t->n_vocab = n;
  t->words = lethe_calloc((size_t)n, sizeof *t->words);
  t->n_slots = 16;
  while (t->n_slots < 2u * (uint32_t)n) t->n_slots *= 2;
  t->slots = lethe_malloc(t->n_slots * sizeof *t->slots);
  memset(t->slots, 0xFF, t->n_slots * sizeof *t->slots);
  t->special = (tok_special_ids){-1, -1, -1, -1};
  t->split_space = t->split_punct = 1;
  for (int id = 0; id < n; id++) {
    if (!words[id]) continue;
    t->words[id] = lethe_strdup(words[id]);
    uint32_t s = tok_find_slot(t->slots, t->n_slots, t->words, words[id], strlen(words[id]));
    if (t->slots[s] >= 0) {
      lethe_errf(err, LETHE_E_FORMAT, "vocabulary entry '%s' appears twice (ids %d and %d)",
                 words[id], t->slots[s], id);
      tok_free(t);
      return NULL;
    }
    t->slots[s] = id;
  }
  return t;
}

void tok_free(tok_tokenizer *t) {
  if (!t) return;
  for (int i = 0; i < t->n_vocab; i++) free(t->words[i]);
  free(t->words);
  free(t->slots);
  free(t->added);
  if (t->hf) tok_hf_free(t->hf);
  free(t->hf);
  free(t);
}

int tok_vocab_size(const tok_tokenizer *t) { return t->n_vocab; }
tok_special_ids tok_special(const tok_tokenizer *t) { return t->special; }

int32_t tok_id(const tok_tokenizer *t, const char *word, size_t len) {
  return t->slots[tok_find_slot(t->slots, t->n_slots, t->words, word, len)];
}

const char *tok_word(const tok_tokenizer *t, int32_t id) {
  return id >= 0 && id < t->n_vocab ? t->words[id] : NULL;
}

