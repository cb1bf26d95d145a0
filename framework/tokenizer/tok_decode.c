/* tok_decode — Hugging Face decoders on the list of token strings: ByteLevel
 * (the byte alphabet back to bytes, lossy UTF-8), Metaspace, ByteFallback
 * (<0xHH> runs to text), Fuse, Strip, Replace. Each stage reads one piece
 * list and writes the other; the last one's pieces are joined. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"

/* Length of the maximal prefix of an ill-formed sequence at s that could
 * start a valid one (at least 1): the unit that becomes one U+FFFD. */
static size_t bad_unit(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  unsigned lo = 0x80, hi = 0xBF;
  size_t need;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF)
    need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4)
    need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return 1;
  size_t k = 1;
  if (k < n && s[k] >= lo && s[k] <= hi) {
    k++;
    while (k <= need && k < n && (s[k] & 0xC0) == 0x80) k++;
  }
  return k;
}

/* Appends bytes to b as UTF-8, each ill-formed unit replaced by U+FFFD. */
static void put_lossy(tok_buf *b, const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int len = tok_utf8_next(s + i, n - i, &cp);
    if (len) {
      tok_buf_put(b, (const char *)s + i, (size_t)len);
      i += (size_t)len;
    } else {
      tok_buf_put(b, "\xEF\xBF\xBD", 3);
      i += bad_unit(s + i, n - i);
    }
  }
}

static void add_piece(tok_pieces *out, const char *s, size_t n) {
  tok_pieces_add(out, out->text.n, n, 0);
  tok_buf_put(&out->text, s, n);
}

static void byte_level(const tok_pieces *in, tok_pieces *out, tok_buf *bytes) {
  bytes->n = 0;
  for (int i = 0; i < in->n; i++) {
    const unsigned char *u = (const unsigned char *)in->text.s + in->v[i].off;
    size_t n = in->v[i].len;
    for (size_t k = 0; k < n;) {
      uint32_t cp;
      int len = tok_utf8_next(u + k, n - k, &cp);
      if (!len) len = 1;
      int b = len ? tok_char_byte(cp) : -1;
      char c = (char)b;
      tok_buf_put(bytes, b >= 0 ? &c : (const char *)u + k, b >= 0 ? 1 : (size_t)len);
      k += (size_t)len;
    }
  }
  tok_pieces_add(out, 0, 0, 0);
  put_lossy(&out->text, (const unsigned char *)(bytes->s ? bytes->s : ""), bytes->n);
  out->v[0].len = out->text.n;
}

/* Value of a "<0xHH>" token, or -1. */
static int fallback_byte(const char *s, size_t n) {
  if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; k++) {
    char c = s[k];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

static void flush_bytes(tok_pieces *out, tok_buf *bytes) {
  if (!bytes->n) return;
  if (tok_utf8_valid(bytes->s, bytes->n, NULL)) {
    add_piece(out, bytes->s, bytes->n);
  } else {
    tok_pieces_add(out, out->text.n, 3 * bytes->n, 0);
    for (size_t k = 0; k < bytes->n; k++) tok_buf_put(&out->text, "\xEF\xBF\xBD", 3);
  }
  bytes->n = 0;
}

static void byte_fallback(const tok_pieces *in, tok_pieces *out, tok_buf *bytes) {
  bytes->n = 0;
  for (int i = 0; i < in->n; i++) {
    const char *s = in->text.s + in->v[i].off;
    int b = fallback_byte(s, in->v[i].len);
    if (b >= 0) {
      char c = (char)b;
      tok_buf_put(bytes, &c, 1);
      continue;
    }
    flush_bytes(out, bytes);
    add_piece(out, s, in->v[i].len);
  }
  flush_bytes(out, bytes);
}

/* Per-token stages: Metaspace, Strip, Replace. */
static void per_token(const tok_decoder *d, int index, const char *s, size_t n, tok_pieces *out) {
  tok_pieces_add(out, out->text.n, 0, 0);
  size_t start = out->text.n;
  if (d->kind == TOK_DEC_STRIP) {
    size_t cl = strlen(d->text), lo = 0, hi = n;
    for (int k = 0; k < d->start && hi - lo >= cl && !memcmp(s + lo, d->text, cl); k++) lo += cl;
    for (int k = 0; k < d->stop && hi - lo >= cl && !memcmp(s + hi - cl, d->text, cl); k++)
      hi -= cl;
    tok_buf_put(&out->text, s + lo, hi - lo);
  } else {
    const tok_pattern *pat = &d->pattern;
    const char *with = d->kind == TOK_DEC_METASPACE ? " " : d->text;
    size_t at = 0, ms, me;
    if (d->kind == TOK_DEC_METASPACE && index == 0 && d->prepend_scheme != TOK_PREPEND_NEVER &&
        pat->n_literal && n >= pat->n_literal && !memcmp(s, pat->literal, pat->n_literal))
      at = pat->n_literal;
    while (at < n && tok_pattern_find(pat, s, n, at, &ms, &me) && me > ms) {
      tok_buf_put(&out->text, s + at, ms - at);
      tok_buf_put(&out->text, with, strlen(with));
      at = me;
    }
    if (at < n) tok_buf_put(&out->text, s + at, n - at);
  }
  tok_buf_put(&out->text, "", 0);
  out->v[out->n - 1].len = out->text.n - start;
}

static void run_decoder(const tok_decoder *d, const tok_pieces *in, tok_pieces *out,
                        tok_buf *bytes) {
  out->n = 0;
  out->text.n = 0;
  tok_buf_put(&out->text, "", 0);
  switch (d->kind) {
  case TOK_DEC_BYTELEVEL: byte_level(in, out, bytes); break;
  case TOK_DEC_BYTEFALLBACK: byte_fallback(in, out, bytes); break;
  case TOK_DEC_FUSE:
    tok_pieces_add(out, 0, 0, 0);
    for (int i = 0; i < in->n; i++)
      tok_buf_put(&out->text, in->text.s + in->v[i].off, in->v[i].len);
    out->v[0].len = out->text.n;
    break;
  case TOK_DEC_METASPACE:
  case TOK_DEC_STRIP:
  case TOK_DEC_REPLACE:
    for (int i = 0; i < in->n; i++) per_token(d, i, in->text.s + in->v[i].off, in->v[i].len, out);
    break;
  }
}

char *tok_decode_hf(const tok_decoder *v, int n_dec, tok_pieces *p, tok_pieces *work) {
  tok_buf bytes = {0};
  for (int i = 0; i < n_dec; i++) {
    run_decoder(&v[i], p, work, &bytes);
    tok_pieces tmp = *p;
    *p = *work;
    *work = tmp;
  }
  tok_buf out = {0};
  tok_buf_put(&out, "", 0);
  for (int i = 0; i < p->n; i++) tok_buf_put(&out, p->text.s + p->v[i].off, p->v[i].len);
  tok_buf_free(&bytes);
  return out.s;
}
