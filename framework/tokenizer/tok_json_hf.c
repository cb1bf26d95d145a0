/* tok_json_hf — reading the components of a BPE tokenizer.json into the
 * pipeline of tok_hf.h: normalizers, pre-tokenizers, post-processor and
 * decoders, each through a table of {type name, reader}. Sequences are
 * flattened. Anything not in a table is refused with an error naming the
 * field path. The model and added tokens are read in tok_json_bpe.c. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_hf.h"
#include "tokenizer/tok_json_hf.h"

#define GPT2_REGEX \
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define WHITESPACE_REGEX "\\w+|[^\\w\\s]+"

int tok_jerr(tok_json_ctx *c, const char *field, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return lethe_errf(c->err, LETHE_E_FORMAT, "%s: %s %s", c->path, field, msg);
}

int tok_jbool(tok_json_ctx *c, json_t *obj, const char *field, const char *key, int dflt,
              int *out) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return *out = dflt, 0;
  if (!json_is_boolean(v)) return tok_jerr(c, field, "(%s) must be true or false", key);
  *out = json_is_true(v);
  return 0;
}

int tok_jstring(tok_json_ctx *c, json_t *obj, const char *field, const char *key,
                const char **out) {
  json_t *v = json_object_get(obj, key);
  if (!json_is_string(v)) return tok_jerr(c, field, "(%s) must be a string", key);
  *out = json_string_value(v);
  return 0;
}

/* {"String": s} or {"Regex": r}. */
static int read_pattern(tok_json_ctx *c, json_t *obj, const char *field, tok_pattern *p) {
  json_t *pat = json_object_get(obj, "pattern");
  json_t *str = json_object_get(pat, "String"), *re = json_object_get(pat, "Regex");
  if (json_is_string(str)) {
    p->n_literal = json_string_length(str);
    p->literal = lethe_malloc(p->n_literal + 1);
    memcpy(p->literal, json_string_value(str), p->n_literal + 1);
    return 0;
  }
  if (!json_is_string(re))
    return tok_jerr(c, field, "(pattern) must be {\"String\": s} or {\"Regex\": r}");
  if (!(p->regex = tok_regex_new(json_string_value(re), json_string_length(re), c->err)))
    return lethe_err_prefix(c->err, "%s: %s.pattern.Regex", c->path, field);
  return 0;
}

static int compile_fixed(tok_json_ctx *c, const char *field, const char *regex, tok_pattern *p) {
  if (!(p->regex = tok_regex_new(regex, strlen(regex), c->err)))
    return lethe_err_prefix(c->err, "%s: %s", c->path, field);
  return 0;
}

/* Walks a component (or a Sequence of them, under list_key) and calls the
 * reader of its "type" from the table. */
typedef int (*component_reader)(tok_json_ctx *c, json_t *obj, const char *field);
typedef struct component {
  const char *type;
  component_reader read;
  int kind; /* for a reader shared by several types: what to make (c->kind) */
} component;

static int read_component(tok_json_ctx *c, json_t *obj, const char *field, const component *table,
                          const char *list_key, const char *supported, int depth) {
  char sub[160];
  snprintf(sub, sizeof sub, "%s.type", field);
  json_t *type = json_object_get(obj, "type");
  if (!json_is_object(obj) || !json_is_string(type))
    return tok_jerr(c, sub, "is missing or not a string");
  const char *name = json_string_value(type);
  if (!strcmp(name, "Sequence") && depth < 4) {
    json_t *list = json_object_get(obj, list_key);
    snprintf(sub, sizeof sub, "%s.%s", field, list_key);
    if (!json_is_array(list)) return tok_jerr(c, sub, "is missing or not an array");
    for (size_t i = 0; i < json_array_size(list); i++) {
      snprintf(sub, sizeof sub, "%s.%s[%zu]", field, list_key, i);
      if (read_component(c, json_array_get(list, i), sub, table, list_key, supported, depth + 1))
        return -1;
    }
    return 0;
  }
  for (const component *k = table; k->type; k++)
    if (!strcmp(k->type, name)) return c->kind = k->kind, k->read(c, obj, field);
  return tok_jerr(c, sub, "\"%s\" is not supported (supported: %s)", name, supported);
}

/* ---- normalizers ------------------------------------------------------------ */
static tok_normalizer *new_norm(tok_json_ctx *c, const char *field, tok_norm_kind kind) {
  if (c->h->n_norm == TOK_MAX_STAGES) {
    tok_jerr(c, field, "makes more than %d normalizers", TOK_MAX_STAGES);
    return NULL;
  }
  tok_normalizer *nz = &c->h->norm[c->h->n_norm++];
  nz->kind = kind;
  return nz;
}

static int norm_form(tok_json_ctx *c, json_t *obj, const char *field) {
  (void)obj;
  return new_norm(c, field, (tok_norm_kind)c->kind) ? 0 : -1;
}

static int norm_prepend(tok_json_ctx *c, json_t *obj, const char *field) {
  const char *s;
  tok_normalizer *nz;
  if (tok_jstring(c, obj, field, "prepend", &s) || !(nz = new_norm(c, field, TOK_NORM_PREPEND)))
    return -1;
  nz->text = lethe_strdup(s);
  return 0;
}

static int norm_replace(tok_json_ctx *c, json_t *obj, const char *field) {
  const char *s;
  tok_normalizer *nz;
  if (tok_jstring(c, obj, field, "content", &s) || !(nz = new_norm(c, field, TOK_NORM_REPLACE)))
    return -1;
  nz->text = lethe_strdup(s);
  return read_pattern(c, obj, field, &nz->pattern);
}

static int norm_strip(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_normalizer *nz = new_norm(c, field, TOK_NORM_STRIP);
  if (!nz) return -1;
  return tok_jbool(c, obj, field, "strip_left", 1, &nz->left) ||
         tok_jbool(c, obj, field, "strip_right", 1, &nz->right);
}

static const component normalizers[] = {
    {"NFC", norm_form, TOK_NORM_NFC},
    {"NFD", norm_form, TOK_NORM_NFD},
    {"NFKC", norm_form, TOK_NORM_NFKC},
    {"NFKD", norm_form, TOK_NORM_NFKD},
    {"Lowercase", norm_form, TOK_NORM_LOWERCASE},
    {"Prepend", norm_prepend, TOK_NORM_PREPEND},
    {"Replace", norm_replace, TOK_NORM_REPLACE},
    {"Strip", norm_strip, TOK_NORM_STRIP},
    {NULL, NULL, 0},
};

/* ---- pre-tokenizers ---------------------------------------------------------- */
static tok_pretok *new_pre(tok_json_ctx *c, const char *field, tok_pre_kind kind) {
  if (c->h->n_pre == TOK_MAX_STAGES) {
    tok_jerr(c, field, "makes more than %d pre-tokenizers", TOK_MAX_STAGES);
    return NULL;
  }
  tok_pretok *p = &c->h->pre[c->h->n_pre++];
  p->kind = kind;
  p->behavior = TOK_SPLIT_ISOLATED;
  return p;
}

static int read_behavior(tok_json_ctx *c, json_t *obj, const char *field, tok_split_behavior *b) {
  static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                      "MergedWithNext", "Contiguous"};
  json_t *v = json_object_get(obj, "behavior");
  if (!v) return 0; /* keeps the default */
  for (int i = 0; i < 5; i++)
    if (json_is_string(v) && !strcmp(json_string_value(v), names[i]))
      return *b = (tok_split_behavior)i, 0;
  return tok_jerr(c, field, "(behavior) must be one of Removed, Isolated, MergedWithPrevious, "
                            "MergedWithNext, Contiguous");
}

static int pre_split(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_pretok *p = new_pre(c, field, TOK_PRE_SPLIT);
  if (!p || read_pattern(c, obj, field, &p->pattern)) return -1;
  if (!json_object_get(obj, "behavior"))
    return tok_jerr(c, field, "(behavior) is missing");
  return read_behavior(c, obj, field, &p->behavior) ||
         tok_jbool(c, obj, field, "invert", 0, &p->invert);
}

static int pre_byte_level(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_pretok *p = new_pre(c, field, TOK_PRE_BYTELEVEL);
  if (!p || tok_jbool(c, obj, field, "add_prefix_space", 1, &p->add_prefix_space) ||
      tok_jbool(c, obj, field, "use_regex", 1, &p->use_regex))
    return -1;
  return p->use_regex ? compile_fixed(c, field, GPT2_REGEX, &p->pattern) : 0;
}

/* Metaspace's replacement and prepend_scheme (pre-tokenizer and decoder). */
int tok_read_metaspace(tok_json_ctx *c, json_t *obj, const char *field, char *replacement,
                       int *scheme) {
  static const char *const schemes[] = {"always", "first", "never"};
  json_t *rep = json_object_get(obj, "replacement"), *ps = json_object_get(obj, "prepend_scheme");
  if (rep && !(json_is_string(rep) && json_string_length(rep) > 0 && json_string_length(rep) < 8))
    return tok_jerr(c, field, "(replacement) must be one character");
  strcpy(replacement, rep ? json_string_value(rep) : "\xE2\x96\x81");
  *scheme = TOK_PREPEND_ALWAYS;
  if (json_is_string(ps)) {
    for (int i = 0; i < 3; i++)
      if (!strcmp(json_string_value(ps), schemes[i])) return *scheme = i, 0;
    return tok_jerr(c, field, "(prepend_scheme) must be always, first or never");
  }
  int add_prefix;
  if (tok_jbool(c, obj, field, "add_prefix_space", 1, &add_prefix)) return -1;
  *scheme = add_prefix ? TOK_PREPEND_ALWAYS : TOK_PREPEND_NEVER;
  return 0;
}

static int pre_metaspace(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_pretok *p = new_pre(c, field, TOK_PRE_METASPACE);
  if (!p || tok_read_metaspace(c, obj, field, p->replacement, &p->prepend_scheme)) return -1;
  return tok_jbool(c, obj, field, "split", 1, &p->split);
}

static int pre_digits(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_pretok *p = new_pre(c, field, TOK_PRE_DIGITS);
  return !p || tok_jbool(c, obj, field, "individual_digits", 0, &p->individual_digits) ? -1 : 0;
}

static int pre_whitespace(tok_json_ctx *c, json_t *obj, const char *field) {
  (void)obj;
  tok_pretok *p = new_pre(c, field, TOK_PRE_SPLIT);
  if (!p) return -1;
  p->behavior = TOK_SPLIT_REMOVED, p->invert = 1;
  return compile_fixed(c, field, WHITESPACE_REGEX, &p->pattern);
}

static int pre_whitespace_split(tok_json_ctx *c, json_t *obj, const char *field) {
  (void)obj;
  return new_pre(c, field, TOK_PRE_WHITESPACE_SPLIT) ? 0 : -1;
}

static int pre_punctuation(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_pretok *p = new_pre(c, field, TOK_PRE_PUNCTUATION);
  return p ? read_behavior(c, obj, field, &p->behavior) : -1;
}

static int pre_bert(tok_json_ctx *c, json_t *obj, const char *field) {
  (void)obj;
  return pre_whitespace_split(c, obj, field) || pre_punctuation(c, NULL, field);
}

static const component pre_tokenizers[] = {
    {"Split", pre_split, 0},
    {"ByteLevel", pre_byte_level, 0},
    {"Metaspace", pre_metaspace, 0},
    {"Digits", pre_digits, 0},
    {"Whitespace", pre_whitespace, 0},
    {"WhitespaceSplit", pre_whitespace_split, 0},
    {"Punctuation", pre_punctuation, 0},
    {"BertPreTokenizer", pre_bert, 0},
    {NULL, NULL, 0},
};

/* ---- post-processors ------------------------------------------------------- */
static int post_byte_level(tok_json_ctx *c, json_t *obj, const char *field) {
  (void)c, (void)obj, (void)field;
  return 0; /* offsets only; the ids do not change */
}

static int post_template(tok_json_ctx *c, json_t *obj, const char *field) {
  (void)field;
  return tok_read_template(obj, c->path, c->t, c->err);
}

static const component post_processors[] = {
    {"TemplateProcessing", post_template, 0},
    {"ByteLevel", post_byte_level, 0},
    {NULL, NULL, 0},
};

/* ---- decoders ---------------------------------------------------------------- */
static tok_decoder *new_dec(tok_json_ctx *c, const char *field, tok_dec_kind kind) {
  if (c->h->n_dec == TOK_MAX_STAGES) {
    tok_jerr(c, field, "makes more than %d decoders", TOK_MAX_STAGES);
    return NULL;
  }
  tok_decoder *d = &c->h->dec[c->h->n_dec++];
  d->kind = kind;
  return d;
}

static int dec_plain(tok_json_ctx *c, json_t *obj, const char *field) {
  (void)obj;
  return new_dec(c, field, (tok_dec_kind)c->kind) ? 0 : -1;
}

static int dec_metaspace(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_decoder *d = new_dec(c, field, TOK_DEC_METASPACE);
  char rep[8];
  if (!d || tok_read_metaspace(c, obj, field, rep, &d->prepend_scheme)) return -1;
  d->pattern.literal = lethe_strdup(rep);
  d->pattern.n_literal = strlen(rep);
  return 0;
}

static int dec_strip(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_decoder *d = new_dec(c, field, TOK_DEC_STRIP);
  const char *content;
  json_t *start = json_object_get(obj, "start"), *stop = json_object_get(obj, "stop");
  if (!d || tok_jstring(c, obj, field, "content", &content)) return -1;
  if (!json_is_integer(start) || !json_is_integer(stop) || json_integer_value(start) < 0 ||
      json_integer_value(stop) < 0)
    return tok_jerr(c, field, "(start, stop) must be integers >= 0");
  d->text = lethe_strdup(content);
  d->start = (int)json_integer_value(start), d->stop = (int)json_integer_value(stop);
  return 0;
}

static int dec_replace(tok_json_ctx *c, json_t *obj, const char *field) {
  tok_decoder *d = new_dec(c, field, TOK_DEC_REPLACE);
  const char *content;
  if (!d || tok_jstring(c, obj, field, "content", &content)) return -1;
  d->text = lethe_strdup(content);
  return read_pattern(c, obj, field, &d->pattern);
}

static const component decoders[] = {
    {"ByteLevel", dec_plain, TOK_DEC_BYTELEVEL},
    {"ByteFallback", dec_plain, TOK_DEC_BYTEFALLBACK},
    {"Fuse", dec_plain, TOK_DEC_FUSE},
    {"Metaspace", dec_metaspace, TOK_DEC_METASPACE},
    {"Strip", dec_strip, TOK_DEC_STRIP},
    {"Replace", dec_replace, TOK_DEC_REPLACE},
    {NULL, NULL, 0},
};

int tok_field_error(lethe_err *err, const char *path, const char *field, const char *fmt,
                       const char *detail) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, detail);
  return lethe_errf(err, LETHE_E_FORMAT, "%s: %s: %s", path, field, msg);
}


int tok_read_template(json_t *pp, const char *path, tok_tokenizer *t, lethe_err *err) {
  json_t *single = json_object_get(pp, "single"), *specials = json_object_get(pp, "special_tokens");
  if (!json_is_array(single) || !json_is_object(specials))
    return tok_field_error(err, path, "post_processor", "%s",
                       "needs a 'single' array and 'special_tokens'");
  int seen_a = 0;
  for (size_t i = 0; i < json_array_size(single); i++) {
    json_t *item = json_array_get(single, i), *seq = json_object_get(item, "Sequence"),
           *sp = json_object_get(item, "SpecialToken");
    if (seq && !seen_a) {
      seen_a = 1;
      continue;
    }
    json_t *name = json_object_get(sp, "id");
    json_t *ids = json_object_get(json_object_get(specials, json_string_value(name)), "ids");
    if (!json_is_string(name) || !json_is_array(ids))
      return tok_field_error(err, path, "post_processor.single", "%s",
                         "each item must be the sequence A once or a special token listed in "
                         "special_tokens");
    for (size_t k = 0; k < json_array_size(ids); k++) {
      json_t *id = json_array_get(ids, k);
      int *count = seen_a ? &t->n_suffix : &t->n_prefix;
      if (!json_is_integer(id) || json_integer_value(id) < 0 ||
          json_integer_value(id) >= t->n_vocab || *count == TOK_MAX_TEMPLATE)
        return tok_field_error(err, path, "post_processor.special_tokens", "%s",
                           "ids must be vocabulary ids (at most 8 per side)");
      (seen_a ? t->suffix : t->prefix)[(*count)++] = (int32_t)json_integer_value(id);
    }
  }
  if (!seen_a)
    return tok_field_error(err, path, "post_processor.single", "%s", "has no Sequence item");
  return 0;
}

/* ---- the four component fields -------------------------------------------------- */
int tok_read_components(tok_json_ctx *c, json_t *root) {
  static const struct {
    const char *field, *list_key, *supported;
    const component *table;
  } parts[] = {
      {"normalizer", "normalizers", "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, "
                                    "Sequence", normalizers},
      {"pre_tokenizer", "pretokenizers", "Split, ByteLevel, Metaspace, Digits, Whitespace, "
       "WhitespaceSplit, Punctuation, BertPreTokenizer, Sequence", pre_tokenizers},
      {"post_processor", "processors", "TemplateProcessing, ByteLevel, Sequence",
       post_processors},
      {"decoder", "decoders", "ByteLevel, Metaspace, ByteFallback, Fuse, Strip, Replace, "
                              "Sequence", decoders},
  };
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    json_t *v = json_object_get(root, parts[i].field);
    if (!v || json_is_null(v)) continue;
    if (read_component(c, v, parts[i].field, parts[i].table, parts[i].list_key,
                       parts[i].supported, 0))
      return -1;
  }
  json_t *dec = json_object_get(root, "decoder");
  c->h->has_decoder = dec && !json_is_null(dec);
  return 0;
}
