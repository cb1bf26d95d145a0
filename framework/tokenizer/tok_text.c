/* tok_text — the pipeline's text plumbing and its lifetime (tok_hf_free):
 * byte buffers, piece lists, UTF-8 output, the byte-level alphabet, and
 * patterns (literal strings, or regexes through PCRE2 with UTF
 * and Unicode properties, JIT-compiled where the platform has a JIT). Not
 * here: what the pieces mean (tok_pretok.c, tok_normalize.c). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"

void tok_buf_put(tok_buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    while (b->n + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 256;
    b->s = lethe_realloc(b->s, b->cap);
  }
  if (n) memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

void tok_buf_free(tok_buf *b) {
  free(b->s);
  *b = (tok_buf){0};
}

void tok_pieces_add(tok_pieces *p, size_t off, size_t len, int at_start) {
  if (p->n == p->cap) {
    p->cap = p->cap ? 2 * p->cap : 64;
    p->v = lethe_realloc(p->v, (size_t)p->cap * sizeof *p->v);
  }
  p->v[p->n++] = (tok_piece){off, len, at_start};
}

void tok_pieces_free(tok_pieces *p) {
  tok_buf_free(&p->text);
  free(p->v);
  *p = (tok_pieces){0};
}

size_t tok_utf8_put(uint32_t cp, char *out) {
  unsigned char *u = (unsigned char *)out;
  if (cp < 0x80) {
    u[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    u[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
  u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* ---- the byte-level alphabet (GPT-2's bytes_to_unicode) --------------------- */
/* Bytes that stand for themselves; the other 68 map to U+0100.. in order. */
static int byte_is_printable(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

const char *tok_byte_char(unsigned b, size_t *len) {
  static char table[256][3];
  static unsigned char lens[256];
  if (!lens[0]) { /* filled once; the same bytes on every call */
    unsigned next = 0x100;
    for (unsigned c = 0; c < 256; c++)
      lens[c] = (unsigned char)tok_utf8_put(byte_is_printable(c) ? c : next++, table[c]);
  }
  *len = lens[b];
  return table[b];
}

int tok_char_byte(uint32_t cp) {
  static unsigned char shifted[68]; /* U+0100 + k -> the k-th byte that is not printable */
  if (!shifted[67]) {
    int k = 0;
    for (unsigned c = 0; c < 256; c++)
      if (!byte_is_printable(c)) shifted[k++] = (unsigned char)c;
  }
  if (cp < 0x100) return byte_is_printable(cp) ? (int)cp : -1;
  return cp < 0x100 + 68 ? shifted[cp - 0x100] : -1;
}

/* ---- regexes ------------------------------------------------------------------ */
struct tok_regex {
  pcre2_code *code;
  pcre2_match_data *match;
};

/* Hugging Face's engine is Oniguruma, whose \s is Unicode White_Space (with
 * U+0085, which PCRE2's \s lacks) and whose \w is Unicode's word class
 * (letters, marks, numbers, connector punctuation, ZWNJ and ZWJ; PCRE2's \w
 * lacks the marks and the joiners). Rewrites \s \S \w \W to those sets. */
static const char *onig_class(char c, int in_class) {
  static const char *const sets[4][2] = {
      {"[\\s\\x{85}]", "\\s\\x{85}"},
      {"[^\\s\\x{85}]", NULL},
      {"[\\w\\p{M}\\p{Pc}\\x{200C}\\x{200D}]", "\\w\\p{M}\\p{Pc}\\x{200C}\\x{200D}"},
      {"[^\\w\\p{M}\\p{Pc}\\x{200C}\\x{200D}]", NULL},
  };
  const char *p = strchr("sSwW", c);
  return c && p ? sets[p - "sSwW"][in_class] : NULL;
}

static char *onig_classes(const char *p, size_t n, size_t *out_n) {
  tok_buf b = {0};
  int in_class = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\\' && i + 1 < n) {
      const char *rep = onig_class(p[i + 1], in_class);
      if (rep)
        tok_buf_put(&b, rep, strlen(rep));
      else
        tok_buf_put(&b, p + i, 2);
      i++;
      continue;
    }
    if (p[i] == '[' && !in_class) in_class = 1;
    else if (p[i] == ']' && in_class) in_class = 0;
    tok_buf_put(&b, p + i, 1);
  }
  tok_buf_put(&b, "", 0);
  *out_n = b.n;
  return b.s;
}

tok_regex *tok_regex_new(const char *pattern, size_t len, lethe_err *err) {
  size_t n;
  char *p = onig_classes(pattern, len, &n);
  int code;
  PCRE2_SIZE at;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, n, PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK,
                                 &code, &at, NULL);
  free(p);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    lethe_errf(err, LETHE_E_FORMAT, "regex does not compile at offset %zu: %s", (size_t)at,
               (const char *)msg);
    return NULL;
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
  tok_regex *r = lethe_calloc(1, sizeof *r);
  r->code = re;
  r->match = pcre2_match_data_create_from_pattern(re, NULL);
  return r;
}

int tok_regex_find(tok_regex *re, const char *s, size_t n, size_t start, size_t *mstart,
                   size_t *mend) {
  int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, re->match, NULL);
  if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* the interpreter keeps its backtracking on the heap */
    rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                     re->match, NULL);
  if (rc < 0) return 0;
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->match);
  *mstart = ov[0], *mend = ov[1];
  return 1;
}

void tok_regex_free(tok_regex *re) {
  if (!re) return;
  pcre2_match_data_free(re->match);
  pcre2_code_free(re->code);
  free(re);
}

int tok_pattern_find(const tok_pattern *p, const char *s, size_t n, size_t start, size_t *ms,
                     size_t *me) {
  if (p->regex) return tok_regex_find(p->regex, s, n, start, ms, me);
  if (!p->n_literal) return 0;
  for (size_t i = start; i + p->n_literal <= n; i++)
    if (s[i] == p->literal[0] && !memcmp(s + i, p->literal, p->n_literal)) {
      *ms = i, *me = i + p->n_literal;
      return 1;
    }
  return 0;
}

void tok_pattern_free(tok_pattern *p) {
  free(p->literal);
  tok_regex_free(p->regex);
  *p = (tok_pattern){0};
}

void tok_hf_free(struct tok_hf *h) {
  for (int i = 0; i < h->n_norm; i++) {
    tok_pattern_free(&h->norm[i].pattern);
    free(h->norm[i].text);
  }
  for (int i = 0; i < h->n_pre; i++) tok_pattern_free(&h->pre[i].pattern);
  for (int i = 0; i < h->n_dec; i++) {
    tok_pattern_free(&h->dec[i].pattern);
    free(h->dec[i].text);
  }
  free(h->bpe.merges);
  free(h->bpe.cache);
  for (int i = 0; i < h->n_added; i++) free(h->added[i].match);
  free(h->added);
}
