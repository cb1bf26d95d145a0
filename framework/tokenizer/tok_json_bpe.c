/* tok_json_bpe — the BPE model and added tokens of a tokenizer.json (vocab,
 * merges in both JSON forms, options). The other components are read in
 * tok_json_hf.c, tokenizer_config.json in tok_config.c. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_json_hf.h"

/* Largest id of model.vocab (every id checked), or -1 after an error. */
static int32_t vocab_top(tok_json_ctx *c, json_t *vocab) {
  int32_t top = -1;
  const char *key;
  json_t *v;
  json_object_foreach(vocab, key, v) {
    json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;
    if (id < 0 || id >= TOK_MAX_VOCAB)
      return tok_jerr(c, "model.vocab", "id of '%s' must be an integer in [0, %d)", key,
                      TOK_MAX_VOCAB);
    if (id > top) top = (int32_t)id;
  }
  return top;
}

/* The ids Hugging Face gives the added tokens, in file order: the model.vocab
 * id when the content is there; otherwise the next id after the vocabulary
 * (model.vocab's size) or after the largest added id when that is beyond it.
 * The file's own "id" matches this in published files and is only checked
 * for its type. Fills ids[] and returns the largest id, or -1 after an error. */
static int32_t assign_added_ids(tok_json_ctx *c, json_t *vocab, json_t *added, int32_t *ids) {
  int32_t n_vocab = (int32_t)json_object_size(vocab), top_added = -1;
  for (size_t i = 0; i < json_array_size(added); i++) {
    json_t *a = json_array_get(added, i), *content = json_object_get(a, "content");
    char field[64];
    snprintf(field, sizeof field, "added_tokens[%zu]", i);
    if (!json_is_integer(json_object_get(a, "id")) || !json_is_string(content) ||
        !json_string_length(content))
      return tok_jerr(c, field, "needs an integer id and a non-empty content string");
    json_t *in_vocab = json_object_get(vocab, json_string_value(content));
    int32_t next = top_added >= n_vocab ? top_added + 1 : n_vocab;
    ids[i] = in_vocab ? (int32_t)json_integer_value(in_vocab) : next;
    if (ids[i] >= TOK_MAX_VOCAB) return tok_jerr(c, field, "makes more than %d ids", TOK_MAX_VOCAB);
    if (ids[i] > top_added) top_added = ids[i];
  }
  return top_added;
}

/* The id -> text table of model.vocab and the added tokens (ids[] from
 * assign_added_ids). */
static int read_words(tok_json_ctx *c, json_t *model, json_t *added, int32_t *ids) {
  json_t *vocab = json_object_get(model, "vocab");
  if (!json_is_object(vocab) || !json_object_size(vocab))
    return tok_jerr(c, "model.vocab", "is missing, empty or not an object");
  int32_t top = vocab_top(c, vocab);
  if (top < 0) return -1;
  if (json_array_size(added)) {
    int32_t top_added = assign_added_ids(c, vocab, added, ids);
    if (top_added < 0) return -1;
    if (top_added > top) top = top_added;
  }
  const char **words = lethe_calloc((size_t)top + 1, sizeof *words);
  const char *key;
  json_t *v;
  int rc = 0;
  json_object_foreach(vocab, key, v) {
    if (words[json_integer_value(v)]) {
      rc = tok_jerr(c, "model.vocab", "id %d is used twice", (int)json_integer_value(v));
      break;
    }
    words[json_integer_value(v)] = key;
  }
  for (size_t i = 0; !rc && i < json_array_size(added); i++)
    words[ids[i]] = json_string_value(json_object_get(json_array_get(added, i), "content"));
  if (!rc && !(c->t = tok_new_from_words(words, top + 1, c->err)))
    rc = lethe_err_prefix(c->err, "%s: model.vocab and added_tokens", c->path);
  free(words);
  return rc;
}

static int by_id(const void *a, const void *b) {
  int32_t x = ((const tok_added_token *)a)->id, y = ((const tok_added_token *)b)->id;
  return (x > y) - (x < y);
}

static int read_added_tokens(tok_json_ctx *c, json_t *added, const int32_t *ids) {
  struct tok_hf *h = c->h;
  h->added = lethe_calloc(json_array_size(added) + 1, sizeof *h->added);
  for (size_t i = 0; i < json_array_size(added); i++) {
    json_t *a = json_array_get(added, i);
    char field[64];
    snprintf(field, sizeof field, "added_tokens[%zu]", i);
    tok_added_token *k = &h->added[h->n_added];
    k->id = ids[i];
    if (tok_jbool(c, a, field, "special", 0, &k->special) ||
        tok_jbool(c, a, field, "single_word", 0, &k->single_word) ||
        tok_jbool(c, a, field, "lstrip", 0, &k->lstrip) ||
        tok_jbool(c, a, field, "rstrip", 0, &k->rstrip) ||
        tok_jbool(c, a, field, "normalized", !k->special, &k->normalized))
      return -1;
    h->n_added++;
  }
  qsort(h->added, (size_t)h->n_added, sizeof *h->added, by_id); /* files list them in any order */
  return 0;
}

/* What each added token matches (normalized: true ones are matched as the
 * normalizer writes them, as Hugging Face does) and the first bytes of all;
 * after the normalizers are read. */
static void added_match_strings(struct tok_hf *h, const tok_tokenizer *t) {
  tok_buf b = {0};
  for (int i = 0; i < h->n_added; i++) {
    tok_added_token *k = &h->added[i];
    const char *w = t->words[k->id];
    tok_normalize(h->norm, k->normalized ? h->n_norm : 0, w, strlen(w), 0, &b);
    k->match = lethe_strdup(b.s ? b.s : "");
    if (k->match[0])
      h->added_first[(unsigned char)k->match[0] >> 5] |= 1u << ((unsigned char)k->match[0] & 31);
  }
  tok_buf_free(&b);
}

/* One merge: "a b" or ["a", "b"]; returns the two parts' ids and the merged id. */
static int read_merge(tok_json_ctx *c, json_t *m, size_t i, tok_buf *buf, int32_t ids[3]) {
  char field[64];
  snprintf(field, sizeof field, "model.merges[%zu]", i);
  const char *a, *b;
  size_t na, nb;
  if (json_is_string(m)) {
    a = json_string_value(m);
    const char *sp = strchr(a, ' ');
    if (!sp || strchr(sp + 1, ' ')) return tok_jerr(c, field, "must be two tokens and one space");
    na = (size_t)(sp - a), b = sp + 1, nb = strlen(b);
  } else if (json_is_array(m) && json_array_size(m) == 2 &&
             json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
    a = json_string_value(json_array_get(m, 0)), na = json_string_length(json_array_get(m, 0));
    b = json_string_value(json_array_get(m, 1)), nb = json_string_length(json_array_get(m, 1));
  } else {
    return tok_jerr(c, field, "must be \"a b\" or [\"a\", \"b\"]");
  }
  buf->n = 0;
  tok_buf_put(buf, a, na);
  tok_buf_put(buf, b, nb);
  ids[0] = tok_id(c->t, a, na), ids[1] = tok_id(c->t, b, nb), ids[2] = tok_id(c->t, buf->s, buf->n);
  if (ids[0] < 0 || ids[1] < 0 || ids[2] < 0)
    return tok_jerr(c, field, "has a part or a result that is not in model.vocab");
  return 0;
}

static int read_merges(tok_json_ctx *c, json_t *model) {
  json_t *merges = json_object_get(model, "merges");
  if (!json_is_array(merges)) return tok_jerr(c, "model.merges", "is missing or not an array");
  tok_bpe *m = &c->h->bpe;
  m->n_slots = 16;
  while (m->n_slots < 2 * json_array_size(merges) + 2) m->n_slots *= 2;
  m->merges = lethe_calloc(m->n_slots, sizeof *m->merges);
  m->cache = lethe_calloc(TOK_CACHE_SLOTS, sizeof *m->cache);
  tok_buf buf = {0};
  int rc = 0;
  for (size_t i = 0; !rc && i < json_array_size(merges); i++) {
    json_t *e = json_array_get(merges, i);
    int32_t ids[3] = {-1, -1, -1};
    if (json_is_string(e) && !strncmp(json_string_value(e), "#version", 8)) continue;
    if (!(rc = read_merge(c, e, i, &buf, ids)))
      tok_bpe_add_merge(m, ids[0], ids[1], (int32_t)i, ids[2]);
  }
  tok_buf_free(&buf);
  return rc;
}

/* The model's options; what lethe does not run is refused. */
static int read_bpe_options(tok_json_ctx *c, json_t *model) {
  tok_bpe *m = &c->h->bpe;
  json_t *dropout = json_object_get(model, "dropout"), *unk = json_object_get(model, "unk_token");
  if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0)
    return tok_jerr(c, "model.dropout", "is not supported (only null or 0)");
  static const char *const affixes[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
  for (int i = 0; i < 2; i++) {
    json_t *v = json_object_get(model, affixes[i]);
    if (v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v)))
      return tok_jerr(c, affixes[i], "is not supported (only null or \"\")");
  }
  m->unk = -1;
  if (unk && !json_is_null(unk)) {
    if (!json_is_string(unk) || (m->unk = tok_id(c->t, json_string_value(unk),
                                                 json_string_length(unk))) < 0)
      return tok_jerr(c, "model.unk_token", "must be null or a token of model.vocab");
  }
  c->t->special.unk = m->unk;
  if (tok_jbool(c, model, "model", "fuse_unk", 0, &m->fuse_unk) ||
      tok_jbool(c, model, "model", "byte_fallback", 0, &m->byte_fallback) ||
      tok_jbool(c, model, "model", "ignore_merges", 0, &m->ignore_merges))
    return -1;
  for (int b = 0; b < 256; b++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    m->byte_ids[b] = tok_id(c->t, name, 6);
  }
  for (uint32_t cp = 0; cp < TOK_SMALL_CHARS; cp++) {
    char enc[4];
    m->small_ids[cp] = tok_id(c->t, enc, tok_utf8_put(cp, enc));
  }
  return 0;
}

int tok_hf_read(void *root_json, const char *path, tok_tokenizer **out, lethe_err *err) {
  json_t *root = root_json, *model = json_object_get(root, "model");
  json_t *added = json_object_get(root, "added_tokens");
  tok_json_ctx c = {path, err, NULL, lethe_calloc(1, sizeof(struct tok_hf)), 0};
  int rc = -1;
  int32_t *ids = lethe_calloc(json_array_size(added) + 1, sizeof *ids); /* their ids */
  if (added && !json_is_null(added) && !json_is_array(added)) {
    tok_jerr(&c, "added_tokens", "is not an array");
    goto done;
  }
  if (read_words(&c, model, added, ids)) goto done;
  c.t->hf = c.h;
  c.t->split_space = c.t->split_punct = 0;
  if (read_added_tokens(&c, added, ids) || read_bpe_options(&c, model) ||
      read_merges(&c, model) || tok_read_components(&c, root))
    goto done;
  added_match_strings(c.h, c.t);
  const char *names[3] = {TOK_PAD, TOK_BOS, TOK_EOS};
  int32_t *slots[3] = {&c.t->special.pad, &c.t->special.bos, &c.t->special.eos};
  for (int i = 0; i < 3; i++) *slots[i] = tok_id(c.t, names[i], strlen(names[i]));
  rc = 0;
done:
  free(ids);
  if (rc) {
    if (c.t)
      tok_free(c.t);
    else
      tok_hf_free(c.h), free(c.h);
    c.t = NULL;
  }
  *out = c.t;
  return rc;
}
