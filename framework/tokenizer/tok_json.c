/* tok_json — Hugging Face tokenizer.json for word-level tokenizers: writing
 * the kind this module builds, reading it back, refusing other kinds with an
 * error that names the field. tokenizer_config.json for transformers. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "tokenizer/tok_json_hf.h"

#define TOK_MAX_JSON_BYTES ((size_t)256 << 20)

/* ---- writing ---------------------------------------------------------------- */
static json_t *pre_tokenizer_json(const tok_tokenizer *t) {
  json_t *space = json_pack("{s:s}", "type", "WhitespaceSplit");
  json_t *punct = json_pack("{s:s, s:s}", "type", "Punctuation", "behavior", "Isolated");
  if (t->split_space && t->split_punct)
    return json_pack("{s:s, s:[o,o]}", "type", "Sequence", "pretokenizers", space, punct);
  if (!t->split_punct) json_decref(punct);
  if (!t->split_space) json_decref(space);
  return t->split_space ? space : t->split_punct ? punct : json_null();
}

static void template_append(json_t *list, const tok_tokenizer *t, const int32_t *ids, int n,
                            int type_id) {
  for (int i = 0; i < n; i++)
    json_array_append_new(list, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", t->words[ids[i]],
                                          "type_id", type_id));
}

static json_t *post_processor_json(const tok_tokenizer *t) {
  if (!t->n_prefix && !t->n_suffix) return json_null();
  json_t *single = json_array(), *pair = json_array(), *specials = json_object();
  const char *seq[2] = {"A", "B"};
  for (int part = 0; part < 2; part++) {
    json_t *lists[2] = {single, pair};
    for (int l = part; l < 2; l++) {
      template_append(lists[l], t, t->prefix, t->n_prefix, part);
      json_array_append_new(
          lists[l], json_pack("{s:{s:s, s:i}}", "Sequence", "id", seq[part], "type_id", part));
      template_append(lists[l], t, t->suffix, t->n_suffix, part);
    }
  }
  for (int i = 0; i < t->n_prefix + t->n_suffix; i++) {
    int32_t id = i < t->n_prefix ? t->prefix[i] : t->suffix[i - t->n_prefix];
    const char *w = t->words[id];
    json_object_set_new(specials, w,
                        json_pack("{s:s, s:[i], s:[s]}", "id", w, "ids", (int)id, "tokens", w));
  }
  return json_pack("{s:s, s:o, s:o, s:o}", "type", "TemplateProcessing", "single", single, "pair",
                   pair, "special_tokens", specials);
}

static int write_json(const char *path, json_t *root, lethe_err *err) {
  int rc = lethe_json_write_atomic(path, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER,
                                   LETHE_JSON_NEWLINE, err);
  json_decref(root);
  return rc;
}

int tok_save(const tok_tokenizer *t, const char *path, lethe_err *err) {
  if (t->hf)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: only word-level tokenizers are written (this one is BPE)", path);
  json_t *added = json_array(), *vocab = json_object();
  for (int i = 0; i < t->n_added; i++)
    json_array_append_new(
        added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", (int)t->added[i], "content",
                         t->words[t->added[i]], "single_word", 0, "lstrip", 0, "rstrip", 0,
                         "normalized", 0, "special", 1));
  for (int id = 0; id < t->n_vocab; id++)
    json_object_set_new(vocab, t->words[id], json_integer(id));
  json_t *model = json_pack("{s:s, s:o}", "type", "WordLevel", "vocab", vocab);
  const char *unk = tok_word(t, t->special.unk);
  json_object_set_new(model, "unk_token", unk ? json_string(unk) : json_null());
  json_t *root = json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:n, s:o}", "version", "1.0",
                           "truncation", "padding", "added_tokens", added, "normalizer",
                           "pre_tokenizer", pre_tokenizer_json(t), "post_processor",
                           post_processor_json(t), "decoder", "model", model);
  return write_json(path, root, err);
}

int tok_save_config(const tok_tokenizer *t, const char *path, int model_max_length,
                    lethe_err *err) {
  json_t *root =
      json_pack("{s:s, s:i, s:b, s:b, s:b}", "tokenizer_class", "PreTrainedTokenizerFast",
                "model_max_length", model_max_length, "clean_up_tokenization_spaces", 0,
                "add_bos_token", t->n_prefix > 0, "add_eos_token", t->n_suffix > 0);
  const char *keys[4] = {"pad_token", "bos_token", "eos_token", "unk_token"};
  int32_t ids[4] = {t->special.pad, t->special.bos, t->special.eos, t->special.unk};
  for (int i = 0; i < 4; i++)
    if (tok_word(t, ids[i])) json_object_set_new(root, keys[i], json_string(tok_word(t, ids[i])));
  return write_json(path, root, err);
}

/* ---- reading ------------------------------------------------------------------ */
/* A field that must be JSON null or absent (a feature lethe does not run). */
static int want_null(json_t *root, const char *path, const char *field, lethe_err *err) {
  json_t *v = json_object_get(root, field);
  if (!v || json_is_null(v)) return 0;
  json_t *type = json_is_object(v) ? json_object_get(v, "type") : NULL;
  return tok_field_error(err, path, field, "'%s' is not supported (only null)",
                     json_is_string(type) ? json_string_value(type) : "non-null value");
}

/* Adds one pre-tokenizer object's splitting to *space / *punct. */
static int read_pre_tokenizer(json_t *pt, const char *path, const char *field, int depth,
                              int *space, int *punct, lethe_err *err) {
  char sub[128];
  snprintf(sub, sizeof sub, "%s.type", field);
  json_t *type = json_object_get(pt, "type");
  if (!json_is_object(pt) || !json_is_string(type))
    return tok_field_error(err, path, sub, "%s", "missing or not a string");
  const char *name = json_string_value(type);
  if (!strcmp(name, "WhitespaceSplit")) {
    *space = 1;
  } else if (!strcmp(name, "Punctuation")) {
    json_t *behavior = json_object_get(pt, "behavior");
    if (behavior &&
        !(json_is_string(behavior) && !strcmp(json_string_value(behavior), "Isolated"))) {
      snprintf(sub, sizeof sub, "%s.behavior", field);
      return tok_field_error(err, path, sub, "%s", "only \"Isolated\" is supported");
    }
    *punct = 1;
  } else if (!strcmp(name, "BertPreTokenizer")) {
    *space = *punct = 1;
  } else if (!strcmp(name, "Sequence") && depth < 4) {
    json_t *list = json_object_get(pt, "pretokenizers");
    if (!json_is_array(list)) {
      snprintf(sub, sizeof sub, "%s.pretokenizers", field);
      return tok_field_error(err, path, sub, "%s", "missing or not an array");
    }
    for (size_t i = 0; i < json_array_size(list); i++) {
      snprintf(sub, sizeof sub, "%s.pretokenizers[%zu]", field, i);
      if (read_pre_tokenizer(json_array_get(list, i), path, sub, depth + 1, space, punct, err))
        return -1;
    }
  } else {
    return tok_field_error(err, path, sub,
                       "'%s' is not supported (supported: WhitespaceSplit, Punctuation, "
                       "BertPreTokenizer, Sequence of them)",
                       name);
  }
  return 0;
}

static int read_vocab(json_t *root, const char *path, tok_tokenizer **out, lethe_err *err) {
  json_t *model = json_object_get(root, "model");
  if (!json_is_object(model))
    return tok_field_error(err, path, "model", "%s", "missing or not an object");
  json_t *type = json_object_get(model, "type");
  if (!json_is_string(type))
    return tok_field_error(err, path, "model.type", "%s", "missing or not a string");
  if (strcmp(json_string_value(type), "WordLevel"))
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: model.type \"%s\" is not supported (supported: BPE, WordLevel)", path,
                      json_string_value(type));
  json_t *vocab = json_object_get(model, "vocab");
  if (!json_is_object(vocab) || json_object_size(vocab) == 0)
    return tok_field_error(err, path, "model.vocab", "%s", "missing, empty or not an object");
  size_t n = json_object_size(vocab);
  if (n > TOK_MAX_VOCAB) return tok_field_error(err, path, "model.vocab", "%s", "too many entries");
  const char **words = lethe_calloc(n, sizeof *words);
  const char *key;
  json_t *value;
  int rc = 0;
  json_object_foreach(vocab, key, value) {
    json_int_t id = json_is_integer(value) ? json_integer_value(value) : -1;
    if (id < 0 || (size_t)id >= n || words[id]) {
      rc = lethe_errf(err, LETHE_E_FORMAT,
                      "%s: model.vocab: id of '%s' must be a distinct integer in [0, %zu)", path,
                      key, n);
      break;
    }
    words[id] = key;
  }
  if (!rc && !(*out = tok_new_from_words(words, (int)n, err)))
    rc = lethe_err_prefix(err, "%s: model.vocab", path);
  free(words);
  if (rc) return -1;
  json_t *unk = json_object_get(model, "unk_token");
  if (!json_is_string(unk) || tok_id(*out, json_string_value(unk), json_string_length(unk)) < 0)
    return tok_field_error(err, path, "model.unk_token", "%s", "missing or not in model.vocab");
  (*out)->special.unk = tok_id(*out, json_string_value(unk), json_string_length(unk));
  return 0;
}

static int read_added(json_t *root, const char *path, tok_tokenizer *t, lethe_err *err) {
  json_t *list = json_object_get(root, "added_tokens");
  if (!list || json_is_null(list)) return 0;
  if (!json_is_array(list)) return tok_field_error(err, path, "added_tokens", "%s", "not an array");
  t->added = lethe_malloc((json_array_size(list) + 1) * sizeof *t->added);
  for (size_t i = 0; i < json_array_size(list); i++) {
    char field[64];
    snprintf(field, sizeof field, "added_tokens[%zu]", i);
    json_t *tok = json_array_get(list, i), *id = json_object_get(tok, "id"),
           *content = json_object_get(tok, "content"), *special = json_object_get(tok, "special");
    if (!json_is_integer(id) || !json_is_string(content) ||
        json_integer_value(id) !=
            tok_id(t, json_string_value(content), json_string_length(content)))
      return tok_field_error(err, path, field, "%s",
                         "needs an integer id and a content string equal to its model.vocab entry");
    if (!json_is_true(special))
      return tok_field_error(err, path, field, "%s", "only special added tokens are supported");
    static const char *const flags[3] = {"single_word", "lstrip", "rstrip"};
    for (int f = 0; f < 3; f++)
      if (json_is_true(json_object_get(tok, flags[f])))
        return tok_field_error(err, path, field, "'%s' is not supported", flags[f]);
    t->added[t->n_added++] = (int32_t)json_integer_value(id);
  }
  return 0;
}

/* Reads the "single" template of a TemplateProcessing post-processor. */
static int read_post_processor(json_t *root, const char *path, tok_tokenizer *t, lethe_err *err) {
  json_t *pp = json_object_get(root, "post_processor");
  if (!pp || json_is_null(pp)) return 0;
  json_t *type = json_object_get(pp, "type");
  if (!json_is_string(type) || strcmp(json_string_value(type), "TemplateProcessing"))
    return tok_field_error(err, path, "post_processor.type",
                       "'%s' is not supported (only TemplateProcessing or null)",
                       json_is_string(type) ? json_string_value(type) : "(missing)");
  return tok_read_template(pp, path, t, err);
}

int tok_load(const char *path, tok_tokenizer **out, lethe_err *err) {
  char *text;
  size_t len;
  *out = NULL;
  if (lethe_read_file(path, TOK_MAX_JSON_BYTES, &text, &len, err)) return -1;
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!root)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
                      jerr.column, jerr.text);
  tok_tokenizer *t = NULL;
  int rc = -1;
  if (!json_is_object(root)) {
    lethe_errf(err, LETHE_E_FORMAT, "%s: the top level must be a JSON object", path);
    goto done;
  }
  json_t *type = json_object_get(json_object_get(root, "model"), "type");
  if (json_is_string(type) && !strcmp(json_string_value(type), "BPE")) {
    rc = tok_hf_read(root, path, &t, err) || want_null(root, path, "truncation", err) ||
                 want_null(root, path, "padding", err)
             ? -1
             : 0;
    goto done;
  }
  if (read_vocab(root, path, &t, err)) goto done;
  t->split_space = t->split_punct = 0;
  json_t *pt = json_object_get(root, "pre_tokenizer");
  if (pt && !json_is_null(pt) &&
      read_pre_tokenizer(pt, path, "pre_tokenizer", 0, &t->split_space, &t->split_punct, err))
    goto done;
  if (want_null(root, path, "normalizer", err) || want_null(root, path, "decoder", err) ||
      want_null(root, path, "truncation", err) || want_null(root, path, "padding", err) ||
      read_added(root, path, t, err) || read_post_processor(root, path, t, err))
    goto done;
  const char *names[3] = {TOK_PAD, TOK_BOS, TOK_EOS};
  int32_t *slots[3] = {&t->special.pad, &t->special.bos, &t->special.eos};
  for (int i = 0; i < 3; i++) *slots[i] = tok_id(t, names[i], strlen(names[i]));
  rc = 0;
done:
  json_decref(root);
  if (rc)
    tok_free(t);
  else
    *out = t;
  return rc;
}
