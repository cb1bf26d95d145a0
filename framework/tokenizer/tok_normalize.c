/* tok_normalize — Hugging Face normalizers on one text segment: the Unicode
 * forms and Lowercase through utf8proc, Prepend, Replace, Strip. Sequences
 * are flattened into the list when the JSON is read (tok_json_hf.c). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_hf.h"

static void unicode_form(tok_norm_kind kind, tok_buf *b) {
  static const int options[] = {
      [TOK_NORM_NFC] = UTF8PROC_COMPOSE,
      [TOK_NORM_NFD] = UTF8PROC_DECOMPOSE,
      [TOK_NORM_NFKC] = UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
      [TOK_NORM_NFKD] = UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT,
  };
  size_t i = 0;
  while (i < b->n && !(b->s[i] & 0x80)) i++;
  if (i == b->n) return; /* ASCII is the same in every form */
  utf8proc_uint8_t *out = NULL;
  utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)b->s, (utf8proc_ssize_t)b->n, &out,
                                    (utf8proc_option_t)(UTF8PROC_STABLE | options[kind]));
  if (n < 0) return; /* the text is valid UTF-8 (checked by the caller) */
  b->n = 0;
  tok_buf_put(b, (const char *)out, (size_t)n);
  free(out);
}

static void lowercase(tok_buf *b, tok_buf *work) {
  work->n = 0;
  const unsigned char *u = (const unsigned char *)b->s;
  for (size_t i = 0; i < b->n;) {
    uint32_t cp;
    int len = tok_utf8_next(u + i, b->n - i, &cp);
    char enc[4];
    tok_buf_put(work, enc, tok_utf8_put((uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), enc));
    i += (size_t)len;
  }
  b->n = 0;
  tok_buf_put(b, work->s ? work->s : "", work->n);
}

static void replace(const tok_normalizer *nz, tok_buf *b, tok_buf *work) {
  work->n = 0;
  size_t at = 0, ms, me;
  while (at <= b->n && tok_pattern_find(&nz->pattern, b->s, b->n, at, &ms, &me)) {
    tok_buf_put(work, b->s + at, ms - at);
    tok_buf_put(work, nz->text, strlen(nz->text));
    if (me == ms) { /* an empty match: keep one character and go on */
      uint32_t cp;
      int len = ms < b->n ? tok_utf8_next((const unsigned char *)b->s + ms, b->n - ms, &cp) : 1;
      tok_buf_put(work, b->s + ms, ms < b->n ? (size_t)len : 0);
      me = ms + (size_t)len;
    }
    at = me;
  }
  if (at < b->n) tok_buf_put(work, b->s + at, b->n - at);
  b->n = 0;
  tok_buf_put(b, work->s ? work->s : "", work->n);
}

static void strip(const tok_normalizer *nz, tok_buf *b) {
  const unsigned char *u = (const unsigned char *)b->s;
  size_t lo = 0, hi = b->n;
  while (nz->left && lo < hi) {
    uint32_t cp;
    int len = tok_utf8_next(u + lo, hi - lo, &cp);
    if (!tok_is_space(cp)) break;
    lo += (size_t)len;
  }
  while (nz->right && hi > lo) {
    size_t k = hi - 1;
    while (k > lo && (u[k] & 0xC0) == 0x80) k--;
    uint32_t cp;
    tok_utf8_next(u + k, hi - k, &cp);
    if (!tok_is_space(cp)) break;
    hi = k;
  }
  memmove(b->s, b->s + lo, hi - lo);
  b->n = hi - lo;
  if (b->s) b->s[b->n] = '\0';
}

void tok_normalize(const tok_normalizer *v, int n_norm, const char *s, size_t n, int skip_prepend,
                   tok_buf *out) {
  out->n = 0;
  tok_buf_put(out, s, n);
  tok_buf work = {0};
  for (int i = 0; i < n_norm; i++) {
    const tok_normalizer *nz = &v[i];
    switch (nz->kind) {
    case TOK_NORM_NFC:
    case TOK_NORM_NFD:
    case TOK_NORM_NFKC:
    case TOK_NORM_NFKD:
      if (out->n) unicode_form(nz->kind, out);
      break;
    case TOK_NORM_LOWERCASE: lowercase(out, &work); break;
    case TOK_NORM_PREPEND:
      if (out->n && !skip_prepend) {
        work.n = 0;
        tok_buf_put(&work, nz->text, strlen(nz->text));
        tok_buf_put(&work, out->s, out->n);
        out->n = 0;
        tok_buf_put(out, work.s, work.n);
      }
      break;
    case TOK_NORM_REPLACE: replace(nz, out, &work); break;
    case TOK_NORM_STRIP: strip(nz, out); break;
    }
  }
  tok_buf_free(&work);
}
