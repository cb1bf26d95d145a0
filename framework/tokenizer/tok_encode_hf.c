/* tok_encode_hf — encoding with a Hugging Face pipeline: added tokens cut
 * out of the raw text, each remaining segment normalized, added tokens with
 * normalized: true cut out of that, pre-tokenization, BPE on every piece, the
 * post-processor's tokens around it all. Decoding maps ids to their strings
 * and runs the decoders (tok_decode.c). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"

/* ---- added tokens ------------------------------------------------------------ */
static int is_word_char(uint32_t cp) {
  return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
         cp == '_' || (cp >= 0x80 && !tok_is_space(cp) && !tok_is_punct(cp));
}

/* Code point that ends just before s[at] (at > 0). */
static uint32_t cp_before(const char *s, size_t at) {
  size_t k = at - 1;
  while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
  uint32_t cp = 0xFFFD;
  tok_utf8_next((const unsigned char *)s + k, at - k, &cp);
  return cp;
}

static int single_word_ok(const char *s, size_t n, size_t ms, size_t me) {
  uint32_t cp;
  if (ms > 0 && is_word_char(cp_before(s, ms))) return 0;
  if (me < n && tok_utf8_next((const unsigned char *)s + me, n - me, &cp) && is_word_char(cp))
    return 0;
  return 1;
}

/* Longest acceptable added token starting at s[i]; its index, or -1. */
static int longest_at(const tok_tokenizer *t, int normalized, const char *s, size_t n, size_t i,
                      size_t *len) {
  const struct tok_hf *h = t->hf;
  int best = -1;
  *len = 0;
  for (int k = 0; k < h->n_added; k++) {
    const tok_added_token *a = &h->added[k];
    if (a->normalized != normalized) continue;
    const char *w = a->match;
    size_t wl = strlen(w);
    if (!wl || wl <= *len || wl > n - i || memcmp(s + i, w, wl)) continue;
    if (a->single_word && !single_word_ok(s, n, i, i + wl)) continue;
    best = k, *len = wl;
  }
  return best;
}

int tok_added_find(const tok_tokenizer *t, int normalized, const char *s, size_t n, size_t start,
                   size_t *ms, size_t *me, int32_t *id) {
  const struct tok_hf *h = t->hf;
  for (size_t i = start; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!(h->added_first[c >> 5] >> (c & 31) & 1)) continue;
    size_t len;
    int k = longest_at(t, normalized, s, n, i, &len);
    if (k < 0) continue;
    const tok_added_token *a = &h->added[k];
    size_t lo = i, hi = i + len;
    while (a->lstrip && lo > start && tok_is_space(cp_before(s, lo))) {
      size_t k2 = lo - 1;
      while (k2 > start && ((unsigned char)s[k2] & 0xC0) == 0x80) k2--;
      lo = k2;
    }
    uint32_t cp;
    int cl;
    while (a->rstrip && hi < n &&
           (cl = tok_utf8_next((const unsigned char *)s + hi, n - hi, &cp)) && tok_is_space(cp))
      hi += (size_t)cl;
    *ms = lo, *me = hi, *id = a->id;
    return 1;
  }
  return 0;
}

/* ---- encoding ------------------------------------------------------------------ */
typedef struct encoder {
  const tok_tokenizer *t;
  int32_t *ids;
  int n, cap;
  tok_buf norm;
  tok_pieces a, b;
} encoder;

static void push_id(encoder *e, int32_t id) {
  if (e->n == e->cap) {
    e->cap = e->cap ? 2 * e->cap : 64;
    e->ids = lethe_realloc(e->ids, (size_t)e->cap * sizeof *e->ids);
  }
  e->ids[e->n++] = id;
}

/* Pre-tokenizes and runs the model on text that holds no added token. */
static void encode_words(encoder *e, const char *s, size_t n, int at_start) {
  if (!n) return;
  const struct tok_hf *h = e->t->hf;
  e->a.n = 0;
  e->a.text.n = 0;
  tok_buf_put(&e->a.text, s, n);
  tok_pieces_add(&e->a, 0, n, at_start);
  tok_pretokenize_hf(h->pre, h->n_pre, &e->a, &e->b);
  for (int i = 0; i < e->a.n; i++)
    tok_bpe_word(e->t, &h->bpe, e->a.text.s + e->a.v[i].off, e->a.v[i].len, &e->ids, &e->n,
                 &e->cap);
}

/* One segment of the raw text between added tokens. */
static void encode_segment(encoder *e, const char *s, size_t n, int at_start) {
  if (!n) return;
  const struct tok_hf *h = e->t->hf;
  tok_normalize(h->norm, h->n_norm, s, n, at_start == TOK_AT_CONTINUATION, &e->norm);
  char *ns = e->norm.s ? e->norm.s : "";
  size_t nn = e->norm.n, pos = 0, ms, me;
  int32_t id;
  while (pos < nn && tok_added_find(e->t, 1, ns, nn, pos, &ms, &me, &id)) {
    encode_words(e, ns + pos, ms - pos, pos == 0 ? at_start : 0);
    push_id(e, id);
    pos = me;
  }
  encode_words(e, ns + pos, nn - pos, pos == 0 ? at_start : 0);
}

int tok_encode_hf(const tok_tokenizer *t, const char *text, size_t len, unsigned flags,
                  int32_t **ids, int *n, int *n_unknown) {
  encoder e = {.t = t};
  int first = flags & TOK_HF_CONTINUATION ? TOK_AT_CONTINUATION : TOK_AT_START;
  if (flags & TOK_HF_PREFIX)
    for (int i = 0; i < t->n_prefix; i++) push_id(&e, t->prefix[i]);
  size_t pos = 0, ms, me;
  int32_t id;
  while (pos < len && tok_added_find(t, 0, text, len, pos, &ms, &me, &id)) {
    encode_segment(&e, text + pos, ms - pos, pos == 0 ? first : 0);
    push_id(&e, id);
    pos = me;
  }
  encode_segment(&e, text + pos, len - pos, pos == 0 ? first : 0);
  if (flags & TOK_HF_SUFFIX)
    for (int i = 0; i < t->n_suffix; i++) push_id(&e, t->suffix[i]);
  int unknown = 0;
  for (int i = 0; i < e.n; i++) unknown += t->hf->bpe.unk >= 0 && e.ids[i] == t->hf->bpe.unk;
  if (n_unknown) *n_unknown = unknown;
  if (!e.ids) e.ids = lethe_malloc(sizeof *e.ids);
  *ids = e.ids;
  *n = e.n;
  tok_buf_free(&e.norm);
  tok_pieces_free(&e.a);
  tok_pieces_free(&e.b);
  return 0;
}

/* ---- decoding ------------------------------------------------------------------- */
static int is_special(const struct tok_hf *h, int32_t id) {
  int lo = 0, hi = h->n_added;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (h->added[mid].id < id)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < h->n_added && h->added[lo].id == id && h->added[lo].special;
}

char *tok_decode_hf_ids(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special) {
  tok_pieces p = {0}, work = {0};
  for (int i = 0; i < n; i++) {
    const char *w = tok_word(t, ids[i]);
    if (!w || (skip_special && is_special(t->hf, ids[i]))) continue;
    tok_pieces_add(&p, p.text.n, strlen(w), 0);
    tok_buf_put(&p.text, w, strlen(w));
  }
  char *out;
  if (t->hf->has_decoder) {
    out = tok_decode_hf(t->hf->dec, t->hf->n_dec, &p, &work);
  } else { /* no decoder: the tokens joined by one space */
    tok_buf b = {0};
    tok_buf_put(&b, "", 0);
    for (int i = 0; i < p.n; i++) {
      if (i) tok_buf_put(&b, " ", 1);
      tok_buf_put(&b, p.text.s + p.v[i].off, p.v[i].len);
    }
    out = b.s;
  }
  tok_pieces_free(&p);
  tok_pieces_free(&work);
  return out;
}
