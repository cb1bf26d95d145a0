/* tok_bpe — the BPE model on one pre-token: characters to ids (with byte
 * fallback, unk and fuse_unk), then merges lowest rank first, leftmost on
 * ties, until no adjacent pair has a merge. Merge ranks live in an
 * open-addressing table keyed by the pair of ids. A word's symbols sit in
 * stack arrays and are merged by scanning for the lowest rank; words longer
 * than that use a min-heap of candidate pairs instead (heap memory). Short
 * words' results are kept in a direct-mapped cache. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"

#define STACK_SYMBOLS 256

static uint32_t pair_slot(const tok_bpe *m, uint64_t key) {
  return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & (m->n_slots - 1);
}

void tok_bpe_add_merge(tok_bpe *m, int32_t left, int32_t right, int32_t rank, int32_t merged) {
  uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
  uint32_t i = pair_slot(m, key);
  while (m->merges[i].key && m->merges[i].key != key) i = (i + 1) & (m->n_slots - 1);
  if (m->merges[i].key) return; /* a repeated merge keeps its first (lowest) rank */
  m->merges[i] = (tok_merge_slot){key, rank, merged};
}

static const tok_merge_slot *find_merge(const tok_bpe *m, int32_t left, int32_t right) {
  if (!m->n_slots) return NULL;
  uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
  for (uint32_t i = pair_slot(m, key);; i = (i + 1) & (m->n_slots - 1)) {
    if (m->merges[i].key == key) return &m->merges[i];
    if (!m->merges[i].key) return NULL;
  }
}

static void push(int32_t **ids, int *n, int *cap, int32_t id) {
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    *ids = lethe_realloc(*ids, (size_t)*cap * sizeof **ids);
  }
  (*ids)[(*n)++] = id;
}

/* Id of one character (its UTF-8 bytes), through the small table when the
 * code point is below 0x800. */
static int32_t char_id(const tok_tokenizer *t, const tok_bpe *m, const char *c, size_t len,
                       uint32_t cp) {
  if (cp < TOK_SMALL_CHARS) return m->small_ids[cp];
  return tok_id(t, c, len);
}

/* The word's characters as symbols; returns how many (sym must hold n + 1
 * entries per byte of the word, which bytes-per-character never exceeds). */
static int initial_symbols(const tok_tokenizer *t, const tok_bpe *m, const char *s, size_t n,
                           int32_t *sym) {
  const unsigned char *u = (const unsigned char *)s;
  int k = 0, last_unk = 0;
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    int len = tok_utf8_next(u + i, n - i, &cp);
    if (!len) len = 1, cp = 0xFFFD;
    int32_t id = char_id(t, m, s + i, (size_t)len, cp);
    if (id >= 0) {
      sym[k++] = id, last_unk = 0;
    } else {
      int all = m->byte_fallback;
      for (int b = 0; all && b < len; b++) all = m->byte_ids[u[i + b]] >= 0;
      if (all) {
        for (int b = 0; b < len; b++) sym[k++] = m->byte_ids[u[i + b]];
        last_unk = 0;
      } else if (m->unk >= 0 && !(m->fuse_unk && last_unk)) {
        sym[k++] = m->unk, last_unk = 1;
      }
    }
    i += (size_t)len;
  }
  return k;
}

static int32_t pair_rank(const tok_bpe *m, int32_t a, int32_t b) {
  const tok_merge_slot *s = find_merge(m, a, b);
  return s ? s->rank : INT32_MAX;
}

/* Merges in place; returns the number of symbols left. */
static int merge_all(const tok_bpe *m, int32_t *sym, int32_t *rank, int k) {
  for (int i = 0; i + 1 < k; i++) rank[i] = pair_rank(m, sym[i], sym[i + 1]);
  while (k > 1) {
    int best = -1;
    int32_t best_rank = INT32_MAX;
    for (int i = 0; i + 1 < k; i++)
      if (rank[i] < best_rank) best_rank = rank[i], best = i;
    if (best < 0) break;
    sym[best] = find_merge(m, sym[best], sym[best + 1])->merged;
    memmove(sym + best + 1, sym + best + 2, (size_t)(k - best - 2) * sizeof *sym);
    memmove(rank + best + 1, rank + best + 2,
            (size_t)(k > best + 3 ? k - best - 3 : 0) * sizeof *rank);
    k--;
    if (best > 0) rank[best - 1] = pair_rank(m, sym[best - 1], sym[best]);
    if (best + 1 < k) rank[best] = pair_rank(m, sym[best], sym[best + 1]);
  }
  return k;
}

/* ---- long words: a min-heap of candidate pairs ------------------------------ */
/* A candidate merge of the symbols at pos and next[pos]; stale once either
 * has changed (checked against left / right when it is popped). */
typedef struct pair_entry {
  int32_t rank, pos, left, right;
} pair_entry;
typedef struct pair_heap {
  pair_entry *v;
  int n;
} pair_heap;

static int before(const pair_entry *a, const pair_entry *b) {
  return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos; /* leftmost on ties */
}

static void heap_push(pair_heap *h, pair_entry e) {
  int i = h->n++;
  while (i > 0 && before(&e, &h->v[(i - 1) / 2])) h->v[i] = h->v[(i - 1) / 2], i = (i - 1) / 2;
  h->v[i] = e;
}

static pair_entry heap_pop(pair_heap *h) {
  pair_entry top = h->v[0], last = h->v[--h->n];
  int i = 0;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && before(&h->v[c + 1], &h->v[c])) c++;
    if (!before(&h->v[c], &last)) break;
    h->v[i] = h->v[c], i = c;
  }
  if (h->n) h->v[i] = last;
  return top;
}

static void push_pair(const tok_bpe *m, pair_heap *h, const int32_t *sym, int32_t pos,
                      int32_t next) {
  if (pos < 0 || next < 0) return;
  const tok_merge_slot *ms = find_merge(m, sym[pos], sym[next]);
  if (ms) heap_push(h, (pair_entry){ms->rank, pos, sym[pos], sym[next]});
}

/* The same merges as merge_all in O(k log k): symbols stay at their first
 * index and are linked left to right; returns the number left, compacted. */
static int merge_long(const tok_bpe *m, int32_t *sym, int k) {
  int32_t *prev = lethe_malloc((size_t)k * sizeof *prev),
          *next = lethe_malloc((size_t)k * sizeof *next);
  pair_heap h = {lethe_malloc((size_t)(3 * k + 1) * sizeof *h.v), 0};
  for (int i = 0; i < k; i++) prev[i] = i - 1, next[i] = i + 1 < k ? i + 1 : -1;
  for (int i = 0; i + 1 < k; i++) push_pair(m, &h, sym, i, i + 1);
  while (h.n) {
    pair_entry e = heap_pop(&h);
    int32_t right = next[e.pos];
    if (sym[e.pos] != e.left || right < 0 || sym[right] != e.right || prev[e.pos] == -2) continue;
    sym[e.pos] = find_merge(m, e.left, e.right)->merged;
    next[e.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = e.pos;
    prev[right] = -2; /* gone */
    push_pair(m, &h, sym, prev[e.pos], e.pos);
    push_pair(m, &h, sym, e.pos, next[e.pos]);
  }
  int n = 0;
  for (int i = 0; i >= 0; i = next[i]) sym[n++] = sym[i];
  free(prev);
  free(next);
  free(h.v);
  return n;
}

/* ---- the word cache ------------------------------------------------------------ */
/* Direct-mapped: a short word's ids, found again by the word's bytes. The
 * tokenizer's owner uses it from one thread at a time (tok_hf.h). */
static uint32_t word_hash(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static tok_cached_word *cache_slot(const tok_bpe *m, const char *s, size_t n) {
  if (!m->cache || n > TOK_CACHE_WORD) return NULL;
  return &m->cache[word_hash(s, n) & (TOK_CACHE_SLOTS - 1)];
}

static int cache_get(const tok_cached_word *c, const char *s, size_t n, int32_t **ids,
                     int *n_ids, int *cap) {
  if (!c || c->len != n || !c->n_ids || memcmp(c->word, s, n)) return 0;
  for (int i = 0; i < c->n_ids; i++) push(ids, n_ids, cap, c->ids[i]);
  return 1;
}

static void cache_put(tok_cached_word *c, const char *s, size_t n, const int32_t *sym, int k) {
  if (!c || k < 1 || k > TOK_CACHE_IDS) return;
  c->len = (uint8_t)n, c->n_ids = (uint8_t)k;
  memcpy(c->word, s, n);
  memcpy(c->ids, sym, (size_t)k * sizeof *sym);
}

void tok_bpe_word(const tok_tokenizer *t, const tok_bpe *m, const char *s, size_t n,
                  int32_t **ids, int *n_ids, int *cap) {
  if (!n) return;
  if (m->ignore_merges) {
    int32_t whole = tok_id(t, s, n);
    if (whole >= 0) {
      push(ids, n_ids, cap, whole);
      return;
    }
  }
  tok_cached_word *cached = cache_slot(m, s, n);
  if (cache_get(cached, s, n, ids, n_ids, cap)) return;
  int32_t stack_sym[STACK_SYMBOLS], stack_rank[STACK_SYMBOLS];
  int32_t *sym = stack_sym, *rank = stack_rank;
  if (n > STACK_SYMBOLS) {
    sym = lethe_malloc(n * sizeof *sym);
    rank = lethe_malloc(n * sizeof *rank);
  }
  int k = initial_symbols(t, m, s, n, sym);
  k = k > STACK_SYMBOLS ? merge_long(m, sym, k) : merge_all(m, sym, rank, k);
  cache_put(cached, s, n, sym, k);
  for (int i = 0; i < k; i++) push(ids, n_ids, cap, sym[i]);
  if (sym != stack_sym) {
    free(sym);
    free(rank);
  }
}
