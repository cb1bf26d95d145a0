/* tok_pretok — Hugging Face pre-tokenizers on lists of pieces: Split (regex
 * or string, five behaviours, invert), ByteLevel (prefix space, GPT-2 regex,
 * the byte-to-character alphabet), Metaspace, Digits, WhitespaceSplit and
 * Punctuation (Whitespace and BertPreTokenizer are built from these when the
 * JSON is read). Every splitter first marks spans as match / non-match, then
 * one function cuts them by behaviour. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"

typedef struct span {
  size_t lo, hi;
  int match;
} span;
typedef struct spans {
  span *v;
  int n, cap;
} spans;

static void span_add(spans *s, size_t lo, size_t hi, int match) {
  if (hi <= lo) return; /* empty spans never make pieces */
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 64;
    s->v = lethe_realloc(s->v, (size_t)s->cap * sizeof *s->v);
  }
  s->v[s->n++] = (span){lo, hi, match};
}

/* Appends src[lo..hi) as a new piece of out. */
static void emit(tok_pieces *out, const char *src, size_t lo, size_t hi, int at_start) {
  tok_pieces_add(out, out->text.n, hi - lo, at_start);
  tok_buf_put(&out->text, src + lo, hi - lo);
}

/* Cuts piece p (bytes src) at the spans according to the behaviour. */
static void cut(const spans *s, tok_split_behavior behavior, int invert, const char *src,
                const tok_piece *p, tok_pieces *out) {
  size_t lo = 0, hi = 0;
  int have = 0, have_match = 0; /* a pending piece [lo, hi); whether it is one lone match */
  for (int i = 0; i < s->n; i++) {
    span sp = s->v[i];
    int match = sp.match != invert;
    int join = 0;
    switch (behavior) {
    case TOK_SPLIT_REMOVED: join = 0; break;
    case TOK_SPLIT_ISOLATED: join = 0; break;
    case TOK_SPLIT_MERGED_PREV: join = have && match && !have_match; break;
    case TOK_SPLIT_MERGED_NEXT: join = have && have_match && !match; break;
    case TOK_SPLIT_CONTIGUOUS: join = have && match == have_match; break; /* runs of one kind */
    }
    if (join) {
      hi = sp.hi;
      if (behavior != TOK_SPLIT_CONTIGUOUS) { /* a merged piece takes no more */
        emit(out, src, p->off + lo, p->off + hi, lo == 0 ? p->at_start : 0);
        have = 0;
      }
      continue;
    }
    if (have) emit(out, src, p->off + lo, p->off + hi, lo == 0 ? p->at_start : 0);
    have = !(behavior == TOK_SPLIT_REMOVED && match);
    lo = sp.lo, hi = sp.hi, have_match = match;
  }
  if (have) emit(out, src, p->off + lo, p->off + hi, lo == 0 ? p->at_start : 0);
}

/* Spans of a pattern's matches and the gaps between them; empty matches
 * are stepped over and make no span. */
static void pattern_spans(const tok_pattern *pat, const char *s, size_t n, spans *out) {
  size_t gap = 0, at = 0, ms, me;
  while (at < n && tok_pattern_find(pat, s, n, at, &ms, &me)) {
    if (me == ms) {
      uint32_t cp;
      int len = ms < n ? tok_utf8_next((const unsigned char *)s + ms, n - ms, &cp) : 1;
      at = ms + (size_t)(len ? len : 1);
      continue;
    }
    span_add(out, gap, ms, 0);
    span_add(out, ms, me, 1);
    gap = at = me;
  }
  span_add(out, gap, n, 0);
}

typedef int (*char_class)(uint32_t cp);
static int is_ascii_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

/* Each character of the class is a match span; runs of the others one span. */
static void class_spans(char_class cls, const char *s, size_t n, spans *out) {
  const unsigned char *u = (const unsigned char *)s;
  size_t run = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int len = tok_utf8_next(u + i, n - i, &cp);
    if (!len) len = 1, cp = 0xFFFD;
    if (cls(cp)) {
      span_add(out, run, i, 0);
      span_add(out, i, i + (size_t)len, 1);
      run = i + (size_t)len;
    }
    i += (size_t)len;
  }
  span_add(out, run, n, 0);
}

/* ByteLevel: optional prefix space, optional GPT-2 split, byte mapping. */
static void byte_level(const tok_pretok *pt, const char *src, const tok_piece *p,
                       tok_pieces *out, spans *sp, tok_buf *work) {
  work->n = 0;
  if (pt->add_prefix_space && p->at_start != TOK_AT_CONTINUATION && (p->len == 0 || src[p->off] != ' '))
    tok_buf_put(work, " ", 1);
  tok_buf_put(work, src + p->off, p->len);
  sp->n = 0;
  if (pt->use_regex)
    pattern_spans(&pt->pattern, work->s, work->n, sp);
  else
    span_add(sp, 0, work->n, 0);
  for (int i = 0; i < sp->n; i++) {
    tok_pieces_add(out, out->text.n, 0, sp->v[i].lo == 0 ? p->at_start : 0);
    for (size_t k = sp->v[i].lo; k < sp->v[i].hi; k++) {
      size_t len;
      const char *c = tok_byte_char((unsigned char)work->s[k], &len);
      tok_buf_put(&out->text, c, len);
    }
    out->v[out->n - 1].len = out->text.n - out->v[out->n - 1].off;
  }
}

/* Metaspace: the prefix, spaces become the replacement, then the cuts. */
static void metaspace(const tok_pretok *pt, const char *src, const tok_piece *p, tok_pieces *out,
                      spans *sp, tok_buf *work) {
  const char *in = src + p->off;
  size_t rl = strlen(pt->replacement);
  int starts = (p->len && in[0] == ' ') || (p->len >= rl && !memcmp(in, pt->replacement, rl));
  int prepend = p->at_start != TOK_AT_CONTINUATION &&
                (pt->prepend_scheme == TOK_PREPEND_ALWAYS ||
                 (pt->prepend_scheme == TOK_PREPEND_FIRST && p->at_start == TOK_AT_START));
  work->n = 0;
  tok_buf_put(work, pt->replacement, prepend && !starts ? rl : 0);
  for (size_t k = 0; k < p->len; k++)
    tok_buf_put(work, in[k] == ' ' ? pt->replacement : in + k, in[k] == ' ' ? rl : 1);
  tok_piece whole = {0, work->n, p->at_start};
  sp->n = 0;
  if (pt->split) {
    tok_pattern pat = {.literal = (char *)pt->replacement, .n_literal = rl};
    pattern_spans(&pat, work->s, work->n, sp);
    cut(sp, TOK_SPLIT_MERGED_NEXT, 0, work->s, &whole, out);
  } else if (work->n) {
    emit(out, work->s, 0, work->n, p->at_start);
  }
}

static void run_stage(const tok_pretok *pt, const tok_pieces *in, tok_pieces *out, spans *sp,
                      tok_buf *work) {
  out->n = 0;
  out->text.n = 0;
  for (int i = 0; i < in->n; i++) {
    const tok_piece *p = &in->v[i];
    const char *src = in->text.s;
    sp->n = 0;
    switch (pt->kind) {
    case TOK_PRE_SPLIT:
      pattern_spans(&pt->pattern, src + p->off, p->len, sp);
      cut(sp, pt->behavior, pt->invert, src, p, out);
      break;
    case TOK_PRE_BYTELEVEL: byte_level(pt, src, p, out, sp, work); break;
    case TOK_PRE_METASPACE: metaspace(pt, src, p, out, sp, work); break;
    case TOK_PRE_DIGITS:
      class_spans(is_ascii_digit, src + p->off, p->len, sp);
      cut(sp, pt->individual_digits ? TOK_SPLIT_ISOLATED : TOK_SPLIT_CONTIGUOUS, 0, src, p, out);
      break;
    case TOK_PRE_WHITESPACE_SPLIT:
      class_spans(tok_is_space, src + p->off, p->len, sp);
      cut(sp, TOK_SPLIT_REMOVED, 0, src, p, out);
      break;
    case TOK_PRE_PUNCTUATION:
      class_spans(tok_is_punct, src + p->off, p->len, sp);
      cut(sp, pt->behavior, 0, src, p, out);
      break;
    }
  }
}

void tok_pretokenize_hf(const tok_pretok *v, int n_pre, tok_pieces *in, tok_pieces *out) {
  spans sp = {0};
  tok_buf work = {0};
  for (int i = 0; i < n_pre; i++) {
    run_stage(&v[i], in, out, &sp, &work);
    tok_pieces tmp = *in;
    *in = *out;
    *out = tmp;
  }
  free(sp.v);
  tok_buf_free(&work);
}
