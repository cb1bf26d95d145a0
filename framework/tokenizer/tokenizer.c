/* tokenizer — word-level pre-tokenization, the builder, encode and decode
 * (see tokenizer.h); a BPE tokenizer's pipeline runs in tok_encode_hf.c. The
 * word table lives in tok_vocab.c, tokenizer.json in tok_json*.c. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"

/* ---- pre-tokenization ----------------------------------------------------- */
int tok_pretokenize_with(const char *text, size_t len, int split_space, int split_punct,
                         tok_piece_fn fn, void *user) {
  const unsigned char *u = (const unsigned char *)text;
  size_t start = 0, i = 0;
  int rc;
  while (i < len) {
    uint32_t cp;
    int n = tok_utf8_next(u + i, len - i, &cp);
    if (!n) n = 1, cp = 0xFFFD; /* callers validate; never split inside junk */
    int space = split_space && tok_is_space(cp);
    int punct = !space && split_punct && tok_is_punct(cp);
    if (space || punct) {
      if (i > start && (rc = fn(text + start, i - start, user))) return rc;
      if (punct && (rc = fn(text + i, (size_t)n, user))) return rc;
      start = i + (size_t)n;
    }
    i += (size_t)n;
  }
  if (len > start && (rc = fn(text + start, len - start, user))) return rc;
  return 0;
}

int tok_pretokenize(const char *text, tok_piece_fn fn, void *user) {
  return tok_pretokenize_with(text, strlen(text), 1, 1, fn, user);
}

/* ---- builder ---------------------------------------------------------------- */
struct tok_builder {
  char **words;
  long *counts;
  int *tiers; /* the tier each piece was first seen in */
  int tier;
  size_t n, cap;
  int32_t *slots;
  uint32_t n_slots;
};

tok_builder *tok_builder_new(void) {
  tok_builder *b = lethe_calloc(1, sizeof *b);
  b->n_slots = 1024;
  b->slots = lethe_malloc(b->n_slots * sizeof *b->slots);
  memset(b->slots, 0xFF, b->n_slots * sizeof *b->slots);
  return b;
}

static void builder_grow(tok_builder *b) {
  b->n_slots *= 2;
  free(b->slots);
  b->slots = lethe_malloc(b->n_slots * sizeof *b->slots);
  memset(b->slots, 0xFF, b->n_slots * sizeof *b->slots);
  for (size_t i = 0; i < b->n; i++)
    b->slots[tok_find_slot(b->slots, b->n_slots, b->words, b->words[i], strlen(b->words[i]))] =
        (int32_t)i;
}

static int builder_count_piece(const char *piece, size_t len, void *user) {
  tok_builder *b = user;
  uint32_t s = tok_find_slot(b->slots, b->n_slots, b->words, piece, len);
  if (b->slots[s] >= 0) {
    if (b->tiers[b->slots[s]] == b->tier) b->counts[b->slots[s]]++;
    return 0;
  }
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 256;
    b->words = lethe_realloc(b->words, b->cap * sizeof *b->words);
    b->counts = lethe_realloc(b->counts, b->cap * sizeof *b->counts);
    b->tiers = lethe_realloc(b->tiers, b->cap * sizeof *b->tiers);
  }
  char *w = lethe_malloc(len + 1);
  memcpy(w, piece, len);
  w[len] = '\0';
  b->words[b->n] = w;
  b->counts[b->n] = 1;
  b->tiers[b->n] = b->tier;
  b->slots[s] = (int32_t)b->n++;
  if (2 * b->n > b->n_slots) builder_grow(b);
  return 0;
}

int tok_builder_add(tok_builder *b, const char *text, lethe_err *err) {
  size_t bad, len = strlen(text);
  if (!tok_utf8_valid(text, len, &bad))
    return lethe_errf(err, LETHE_E_FORMAT, "text is not valid UTF-8 (byte %zu)", bad);
  tok_pretokenize_with(text, len, 1, 1, builder_count_piece, b);
  return 0;
}

size_t tok_builder_distinct(const tok_builder *b) { return b->n; }

void tok_builder_next_tier(tok_builder *b) { b->tier++; }

typedef struct counted_word {
  int tier;
  long count;
  const char *word;
} counted_word;

static int by_tier_count_bytes(const void *pa, const void *pb) {
  const counted_word *a = pa, *b = pb;
  if (a->tier != b->tier) return a->tier < b->tier ? -1 : 1;
  if (a->count != b->count) return a->count > b->count ? -1 : 1;
  return strcmp(a->word, b->word);
}

tok_tokenizer *tok_builder_finish(const tok_builder *b) {
  static const char *const specials[TOK_N_SPECIAL] = {TOK_PAD, TOK_BOS, TOK_EOS, TOK_UNK};
  counted_word *order = lethe_malloc((b->n ? b->n : 1) * sizeof *order);
  for (size_t i = 0; i < b->n; i++) order[i] = (counted_word){b->tiers[i], b->counts[i], b->words[i]};
  qsort(order, b->n, sizeof *order, by_tier_count_bytes);
  const char **words = lethe_malloc((b->n + TOK_N_SPECIAL) * sizeof *words);
  int n = 0;
  for (int i = 0; i < TOK_N_SPECIAL; i++) words[n++] = specials[i];
  for (size_t i = 0; i < b->n; i++) {
    const char *w = order[i].word;
    int special = 0;
    for (int s = 0; s < TOK_N_SPECIAL; s++) special |= !strcmp(w, specials[s]);
    if (!special) words[n++] = w;
  }
  tok_tokenizer *t = tok_new_from_words(words, n, NULL); /* words are distinct */
  free(words);
  free(order);
  t->special = (tok_special_ids){TOK_PAD_ID, TOK_BOS_ID, TOK_EOS_ID, TOK_UNK_ID};
  t->n_added = TOK_N_SPECIAL;
  t->added = lethe_malloc(TOK_N_SPECIAL * sizeof *t->added);
  for (int i = 0; i < TOK_N_SPECIAL; i++) t->added[i] = i;
  t->prefix[0] = TOK_BOS_ID;
  t->n_prefix = 1;
  return t;
}

void tok_builder_free(tok_builder *b) {
  if (!b) return;
  for (size_t i = 0; i < b->n; i++) free(b->words[i]);
  free(b->words);
  free(b->counts);
  free(b->tiers);
  free(b->slots);
  free(b);
}

/* ---- encode / decode ---------------------------------------------------------- */
typedef struct id_list {
  int32_t *v;
  int n, cap;
  int n_unknown;
  const tok_tokenizer *t;
} id_list;

static void push_id(id_list *l, int32_t id) {
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->v = lethe_realloc(l->v, (size_t)l->cap * sizeof *l->v);
  }
  l->v[l->n++] = id;
}

static int encode_piece(const char *piece, size_t len, void *user) {
  id_list *l = user;
  int32_t id = tok_id(l->t, piece, len);
  if (id < 0) {
    l->n_unknown++;
    id = l->t->special.unk;
  }
  if (id >= 0) push_id(l, id); /* tok_load requires an unk token; builders add one */
  return 0;
}

/* Length of the longest added token that starts at s, and its id. */
static size_t match_added(const tok_tokenizer *t, const char *s, size_t left, int32_t *id) {
  size_t best = 0;
  for (int i = 0; i < t->n_added; i++) {
    const char *w = t->words[t->added[i]];
    size_t n = strlen(w);
    if (n > best && n <= left && !memcmp(s, w, n)) best = n, *id = t->added[i];
  }
  return best;
}

int tok_encode(const tok_tokenizer *t, const char *text, int add_special, int32_t **ids, int *n,
               int *n_unknown, lethe_err *err) {
  size_t bad, len = strlen(text);
  if (!tok_utf8_valid(text, len, &bad))
    return lethe_errf(err, LETHE_E_FORMAT, "text is not valid UTF-8 (byte %zu)", bad);
  if (t->hf)
    return tok_encode_hf(t, text, len, add_special ? TOK_HF_PREFIX | TOK_HF_SUFFIX : 0, ids, n,
                         n_unknown);
  id_list l = {.t = t};
  if (add_special)
    for (int i = 0; i < t->n_prefix; i++) push_id(&l, t->prefix[i]);
  size_t seg = 0;
  for (size_t i = 0; i < len;) {
    int32_t id;
    size_t m = t->n_added ? match_added(t, text + i, len - i, &id) : 0;
    if (!m) {
      i++;
      continue;
    }
    tok_pretokenize_with(text + seg, i - seg, t->split_space, t->split_punct, encode_piece, &l);
    push_id(&l, id);
    i += m;
    seg = i;
  }
  tok_pretokenize_with(text + seg, len - seg, t->split_space, t->split_punct, encode_piece, &l);
  if (add_special)
    for (int i = 0; i < t->n_suffix; i++) push_id(&l, t->suffix[i]);
  if (!l.v) l.v = lethe_malloc(sizeof *l.v);
  *ids = l.v;
  *n = l.n;
  if (n_unknown) *n_unknown = l.n_unknown;
  return 0;
}

int tok_encode_segment(const tok_tokenizer *t, const char *text, int segment, int32_t **ids, int *n,
                       lethe_err *err) {
  int32_t *body;
  int n_body;
  if (t->hf) {
    size_t bad, len = strlen(text);
    if (!tok_utf8_valid(text, len, &bad))
      return lethe_errf(err, LETHE_E_FORMAT, "text is not valid UTF-8 (byte %zu)", bad);
    unsigned flags = segment == TOK_SEG_FIRST ? TOK_HF_PREFIX : TOK_HF_CONTINUATION;
    return tok_encode_hf(t, text, len, flags, ids, n, NULL);
  }
  if (tok_encode(t, text, 0, &body, &n_body, NULL, err) != 0) return -1;
  int n_pre = segment == TOK_SEG_FIRST ? t->n_prefix : 0;
  int32_t *v = lethe_malloc(sizeof *v * ((size_t)n_pre + (size_t)n_body + 1));
  memcpy(v, t->prefix, sizeof *v * (size_t)n_pre);
  memcpy(v + n_pre, body, sizeof *v * (size_t)n_body);
  free(body);
  *ids = v;
  *n = n_pre + n_body;
  return 0;
}

static int is_added(const tok_tokenizer *t, int32_t id) {
  for (int i = 0; i < t->n_added; i++)
    if (t->added[i] == id) return 1;
  return 0;
}

char *tok_decode(const tok_tokenizer *t, const int32_t *ids, int n, int skip_special) {
  if (t->hf) return tok_decode_hf_ids(t, ids, n, skip_special);
  size_t cap = 64, len = 0;
  char *out = lethe_malloc(cap);
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (skip_special && is_added(t, ids[i])) continue;
    const char *w = tok_word(t, ids[i]);
    if (!w) w = tok_word(t, t->special.unk);
    if (!w) continue;
    size_t wl = strlen(w);
    while (len + wl + 2 > cap) cap *= 2;
    out = lethe_realloc(out, cap);
    if (len) out[len++] = ' ';
    memcpy(out + len, w, wl + 1);
    len += wl;
  }
  return out;
}
