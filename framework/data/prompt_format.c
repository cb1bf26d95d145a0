/* prompt_format — the prompt format's presets, the ids it needs from a
 * tokenizer, and the two-segment encoding of a question and its answer
 * (data.h, "prompt format and masking"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"

/* The chat formats are written out in /work/shared/notes/real-checkpoints.md
 * §7.3 and docs/configuration.md; "%s" in `system` is the system prompt. */
const tofu_format_preset tofu_format_presets[] = {
    {"tofu-llama2", "[INST] ", " [/INST]", "", "", NULL,
     "TOFU's config/model_config.yaml (llama2-7b); the default"},
    {"tofu-phi", "Question: ", "\n", "Answer: ", "", NULL, "TOFU's config/model_config.yaml (phi)"},
    {"llama2-chat", "[INST] ", " [/INST]", " ", "", "<<SYS>>\n%s\n<</SYS>>\n\n",
     "Llama-2-chat's dialog format: [INST] user [/INST] answer </s>"},
    {"llama3-chat", "<|start_header_id|>user<|end_header_id|>\n\n",
     "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", "", "<|eot_id|>",
     "<|start_header_id|>system<|end_header_id|>\n\n%s<|eot_id|>",
     "Llama-3 Instruct headers (BOS from the tokenizer; open-unlearning's Llama-3.2 tags)"},
    {"chatml", "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n", "", "<|im_end|>",
     "<|im_start|>system\n%s<|im_end|>\n", "ChatML (Qwen2, Qwen2.5, SmolLM2-Instruct)"},
    {"qwen3-chat", "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
     "", "<|im_end|>", "<|im_start|>system\n%s<|im_end|>\n",
     "Qwen3's ChatML with thinking off (enable_thinking = false)"},
    {"zephyr", "<|user|>\n", "</s>\n<|assistant|>\n", "", "</s>", "<|system|>\n%s</s>\n",
     "TinyLlama-Chat / Zephyr"},
};
const size_t tofu_format_n_presets = sizeof tofu_format_presets / sizeof tofu_format_presets[0];

static const tofu_format_preset *find_preset(const char *name) {
  for (size_t i = 0; i < tofu_format_n_presets; i++)
    if (!strcmp(tofu_format_presets[i].name, name)) return &tofu_format_presets[i];
  return NULL;
}

/* The strings a preset fills, with their names and defaults. */
typedef struct format_string {
  const char *key;
  char *field;
  const char *preset_value;
} format_string;

static void list_presets(char *buf, size_t cap) {
  size_t k = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < tofu_format_n_presets && k < cap; i++)
    k += (size_t)snprintf(buf + k, cap - k, "%s\"%s\"", i ? ", " : "", tofu_format_presets[i].name);
}

int tofu_format_resolve(tofu_format *f, lethe_err *err) {
  if (!f->format[0]) {
    if (f->system_prompt[0])
      return lethe_errf(err, LETHE_E_CONFIG,
                        "data.system_prompt needs a chat preset in data.format (without one, put "
                        "the system text into data.question_start)");
    return 0;
  }
  const tofu_format_preset *p = find_preset(f->format);
  if (!p) {
    char names[512];
    list_presets(names, sizeof names);
    return lethe_errf(err, LETHE_E_CONFIG, "data.format: unknown preset \"%s\" (known: %s, or \"\")",
                      f->format, names);
  }
  tofu_format defaults;
  tofu_format_default(&defaults);
  format_string strings[] = {
      {"question_start", f->question_start, p->question_start},
      {"question_end", f->question_end, p->question_end},
      {"answer_tag", f->answer_tag, p->answer_tag},
      {"answer_end", f->answer_end, p->answer_end},
  };
  const char *def[] = {defaults.question_start, defaults.question_end, defaults.answer_tag,
                       defaults.answer_end};
  char start[2 * DATA_SETTING_STRLEN];
  if (f->system_prompt[0] && !p->system)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "data.system_prompt: the format \"%s\" has no system prompt", p->name);
  int n = 0;
  if (f->system_prompt[0]) n = snprintf(start, sizeof start, p->system, f->system_prompt);
  snprintf(start + n, sizeof start - (size_t)n, "%s", p->question_start);
  if (strlen(start) >= DATA_SETTING_STRLEN)
    return lethe_errf(err, LETHE_E_CONFIG, "data.system_prompt: too long for the format (at most "
                      "%d bytes with the question start)", DATA_SETTING_STRLEN - 1);
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
    const char *want = i == 0 ? start : strings[i].preset_value;
    if (!strcmp(strings[i].field, want)) continue; /* already resolved */
    if (strcmp(strings[i].field, def[i]))
      return lethe_errf(err, LETHE_E_CONFIG,
                        "data.%s is set next to data.format = \"%s\", which sets it: use one or "
                        "the other",
                        strings[i].key, p->name);
  }
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
    snprintf(strings[i].field, DATA_SETTING_STRLEN, "%s", i == 0 ? start : strings[i].preset_value);
  return 0;
}

int tofu_format_ids(const tok_tokenizer *tok, const tofu_format *fmt, tofu_ids *out, lethe_err *err) {
  tok_special_ids sp = tok_special(tok);
  out->pad = sp.pad >= 0 ? sp.pad : sp.eos >= 0 ? sp.eos : 0;
  out->end = sp.eos;
  if (fmt->answer_end[0]) {
    int32_t *ids = NULL;
    int n = 0;
    if (tok_encode(tok, fmt->answer_end, 0, &ids, &n, NULL, err) != 0)
      return lethe_err_prefix(err, "data.answer_end");
    out->end = n == 1 ? ids[0] : -1;
    free(ids);
    if (n != 1)
      return lethe_errf(err, LETHE_E_CONFIG,
                        "data.answer_end \"%s\" is %d tokens in this tokenizer; it must be exactly "
                        "one (a special token such as <|eot_id|>)",
                        fmt->answer_end, n);
  }
  if (out->end < 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "the tokenizer has no EOS token: set data.answer_end to the token that ends "
                      "an answer");
  return 0;
}

static char *concat3(const char *a, const char *b, const char *c) {
  size_t na = strlen(a), nb = strlen(b), nc = strlen(c);
  char *out = lethe_malloc(na + nb + nc + 1);
  memcpy(out, a, na);
  memcpy(out + na, b, nb);
  memcpy(out + na + nb, c, nc + 1);
  return out;
}

int tofu_encode(const tok_tokenizer *tok, const tofu_format *fmt, const char *question,
                const char *answer, tofu_example *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  char *prompt = concat3(fmt->question_start, question, fmt->question_end);
  char *reply = concat3(fmt->answer_tag, answer, "");
  int32_t *answer_ids = NULL;
  int n_answer = 0;
  int rc = tok_encode_segment(tok, prompt, TOK_SEG_FIRST, &out->ids, &out->len, err);
  if (!rc) rc = tok_encode_segment(tok, reply, TOK_SEG_CONTINUATION, &answer_ids, &n_answer, err);
  free(prompt);
  free(reply);
  if (rc) {
    free(answer_ids);
    tofu_example_free(out);
    return lethe_err_prefix(err, "question '%.60s'", question);
  }
  out->n_prompt = out->len;
  out->ids = lethe_realloc(out->ids, sizeof(int32_t) * ((size_t)out->len + (size_t)n_answer + 1));
  memcpy(out->ids + out->len, answer_ids, sizeof(int32_t) * (size_t)n_answer);
  out->len += n_answer;
  free(answer_ids);
  if (out->len > fmt->max_length) out->len = fmt->max_length;
  if (out->n_prompt > out->len) out->n_prompt = out->len;
  return 0;
}

int tofu_encode_text(const tok_tokenizer *tok, const tofu_format *fmt, const char *text,
                     tofu_example *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  if (tok_encode(tok, text, 1, &out->ids, &out->len, NULL, err))
    return lethe_err_prefix(err, "text '%.60s'", text);
  if (out->len > fmt->max_length) out->len = fmt->max_length;
  out->n_prompt = out->len < 1 ? out->len : 1;
  return 0;
}

/* ---- examples ---------------------------------------------------------------- */
void tofu_example_free(tofu_example *e) {
  free(e->ids);
  memset(e, 0, sizeof *e);
}

int tofu_encode_set(const tok_tokenizer *tok, const tofu_format *fmt, const tofu_set *set,
                    tofu_example **out, lethe_err *err) {
  tofu_example *ex = lethe_calloc(set->n ? set->n : 1, sizeof *ex);
  for (size_t i = 0; i < set->n; i++)
    if (tofu_encode(tok, fmt, set->rows[i].question, set->rows[i].answer, &ex[i], err)) {
      tofu_examples_free(ex, i);
      return lethe_err_prefix(err, "row %zu", i + 1);
    }
  *out = ex;
  return 0;
}

void tofu_examples_free(tofu_example *ex, size_t n) {
  if (!ex) return;
  for (size_t i = 0; i < n; i++) tofu_example_free(&ex[i]);
  free(ex);
}
