/* tok_config — tok_load_dir: a model directory's tokenizer.json and, when
 * present, its tokenizer_config.json (special tokens, add_bos_token /
 * add_eos_token). Nothing else of transformers' config is read. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/json_file.h"
#include "tokenizer/tok_json_hf.h"

#define TOK_MAX_CONFIG_BYTES ((size_t)16 << 20)

/* A special token of the config: a string, an AddedToken object, or null. */
static int config_token(tok_json_ctx *c, json_t *cfg, const char *key, int32_t *id) {
  json_t *v = json_object_get(cfg, key);
  if (!v) return 0; /* absent: the tokenizer.json's guess stays */
  if (json_is_null(v)) return *id = -1, 0;
  if (json_is_object(v)) v = json_object_get(v, "content");
  if (!json_is_string(v)) return tok_jerr(c, key, "must be a string, an AddedToken or null");
  *id = tok_id(c->t, json_string_value(v), json_string_length(v));
  if (*id < 0)
    return tok_jerr(c, key, "'%s' is not a token of tokenizer.json", json_string_value(v));
  return 0;
}

static int read_config(const char *path, tok_tokenizer *t, lethe_err *err) {
  char *text;
  size_t len;
  if (lethe_read_file(path, TOK_MAX_CONFIG_BYTES, &text, &len, err)) return -1;
  json_error_t jerr;
  json_t *cfg = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, &jerr); /* model_max_length: 1e30 */
  free(text);
  if (!cfg)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d:%d: invalid JSON: %s", path, jerr.line,
                      jerr.column, jerr.text);
  if (!json_is_object(cfg)) {
    json_decref(cfg);
    return lethe_errf(err, LETHE_E_FORMAT, "%s: the top level must be a JSON object", path);
  }
  tok_json_ctx c = {path, err, t, t->hf, 0};
  tok_special_ids *s = &t->special;
  int add_bos = -1, add_eos = -1;
  int rc =
      config_token(&c, cfg, "bos_token", &s->bos) || config_token(&c, cfg, "eos_token", &s->eos) ||
      config_token(&c, cfg, "pad_token", &s->pad) || config_token(&c, cfg, "unk_token", &s->unk) ||
      tok_jbool(&c, cfg, "add_bos_token", "add_bos_token", -1, &add_bos) || /* -1: absent, null */
      tok_jbool(&c, cfg, "add_eos_token", "add_eos_token", -1, &add_eos);
  if (!rc && (add_bos >= 0 || add_eos >= 0)) { /* LlamaTokenizerFast rebuilds the template */
    if ((add_bos == 1 && s->bos < 0) || (add_eos == 1 && s->eos < 0))
      rc = tok_jerr(&c, add_bos == 1 && s->bos < 0 ? "add_bos_token" : "add_eos_token",
                    "is true but the token is missing");
    t->n_prefix = add_bos == 1 && !rc, t->n_suffix = add_eos == 1 && !rc;
    t->prefix[0] = s->bos, t->suffix[0] = s->eos;
  }
  json_decref(cfg);
  return rc ? -1 : 0;
}

int tok_load_dir(const char *dir, tok_tokenizer **out, lethe_err *err) {
  char path[4096];
  *out = NULL;
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  tok_tokenizer *t;
  if (tok_load(path, &t, err)) return -1;
  snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
  FILE *f = fopen(path, "rb");
  if (f) {
    fclose(f);
    if (read_config(path, t, err)) {
      tok_free(t);
      return -1;
    }
  }
  *out = t;
  return 0;
}
