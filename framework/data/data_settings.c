/* data_settings — tables of named settings with defaults and ranges, the
 * `group.KEY=VALUE` override parser, and the prompt format's table. A later
 * config layer can drive the same tables; nothing here reads files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"

static char *field_ptr(void *obj, const data_setting *s) { return (char *)obj + s->offset; }

void data_settings_defaults(const data_setting *table, size_t n, void *obj) {
  for (size_t i = 0; i < n; i++) {
    char *p = field_ptr(obj, &table[i]);
    if (table[i].type == DATA_SETTING_INT)
      *(int *)p = (int)table[i].def;
    else
      snprintf(p, DATA_SETTING_STRLEN, "%s", table[i].def_str);
  }
}

/* Copies value into out, turning \n \t \\ into their characters. */
static int unescape(const char *value, char *out, size_t cap) {
  size_t k = 0;
  for (const char *c = value; *c; c++) {
    char ch = *c;
    if (ch == '\\') {
      c++;
      ch = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c == '\\' ? '\\' : 0;
      if (!ch) return -1;
    }
    if (k + 1 >= cap) return -1;
    out[k++] = ch;
  }
  out[k] = '\0';
  return 0;
}

int data_settings_check(const data_setting *table, size_t n, const void *obj, const char *group,
                        lethe_err *err) {
  for (size_t i = 0; i < n; i++) {
    const data_setting *d = &table[i];
    if (d->type != DATA_SETTING_INT) continue;
    int v = *(const int *)((const char *)obj + d->offset);
    if (v < d->min || v > d->max)
      return lethe_errf(err, LETHE_E_CONFIG, "%s.%s: expects an integer in [%ld, %ld], got %d",
                        group, d->name, d->min, d->max, v);
  }
  return 0;
}

int data_settings_set(const data_setting *table, size_t n, void *obj, const char *group,
                      const char *key, const char *value, lethe_err *err) {
  for (size_t i = 0; i < n; i++) {
    const data_setting *s = &table[i];
    if (strcmp(s->name, key)) continue;
    char *p = field_ptr(obj, s);
    if (s->type == DATA_SETTING_STRING) {
      char buf[DATA_SETTING_STRLEN];
      if (unescape(value, buf, sizeof buf))
        return lethe_errf(err, LETHE_E_CONFIG,
                          "%s.%s: expects a string of at most %d bytes (escapes \\n \\t \\\\)",
                          group, key, DATA_SETTING_STRLEN - 1);
      memcpy(p, buf, sizeof buf);
      return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (end == value || *end || errno || v < s->min || v > s->max)
      return lethe_errf(err, LETHE_E_CONFIG, "%s.%s: expects an integer in [%ld, %ld], got '%s'",
                        group, key, s->min, s->max, value);
    *(int *)p = (int)v;
    return 0;
  }
  char known[512] = "";
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(known);
    snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", table[i].name);
  }
  return lethe_errf(err, LETHE_E_CONFIG, "unknown setting '%s.%s' (known: %s)", group, key, known);
}

int data_settings_override(const data_setting *table, size_t n, void *obj, const char *group,
                           const char *assignment, lethe_err *err) {
  size_t glen = strlen(group);
  const char *eq = strchr(assignment, '=');
  if (!eq || strncmp(assignment, group, glen) || assignment[glen] != '.' ||
      eq == assignment + glen + 1)
    return lethe_errf(err, LETHE_E_CONFIG, "override '%s': expected %s.KEY=VALUE", assignment,
                      group);
  char key[128];
  size_t klen = (size_t)(eq - assignment) - glen - 1;
  if (klen >= sizeof key)
    return lethe_errf(err, LETHE_E_CONFIG, "override '%s': key too long", assignment);
  memcpy(key, assignment + glen + 1, klen);
  key[klen] = '\0';
  return data_settings_set(table, n, obj, group, key, eq + 1, err);
}

void data_settings_print(FILE *out, const data_setting *table, size_t n, const void *obj,
                         const char *group) {
  for (size_t i = 0; i < n; i++) {
    const char *p = (const char *)obj + table[i].offset;
    if (table[i].type == DATA_SETTING_INT) {
      fprintf(out, "  %s.%s = %d  # %s [%ld, %ld]\n", group, table[i].name, *(const int *)p,
              table[i].doc, table[i].min, table[i].max);
      continue;
    }
    fprintf(out, "  %s.%s = \"", group, table[i].name);
    for (const char *c = p; *c; c++) {
      if (*c == '\n' || *c == '\t' || *c == '\\')
        fprintf(out, "\\%c", *c == '\n' ? 'n' : *c == '\t' ? 't' : '\\');
      else
        fputc(*c, out);
    }
    fprintf(out, "\"  # %s\n", table[i].doc);
  }
}

/* ---- the prompt format --------------------------------------------------------- */
#define FMT_STR(field, def, doc) \
  { #field, DATA_SETTING_STRING, offsetof(tofu_format, field), 0, 0, 0, def, doc }
const data_setting tofu_format_settings[] = {
    FMT_STR(format, "", "a preset that sets the four strings below (\"\": use them as given)"),
    FMT_STR(system_prompt, "", "system prompt, placed where the preset's chat format puts it"),
    FMT_STR(question_start, "[INST] ", "text before the question"),
    FMT_STR(question_end, " [/INST]", "text after the question"),
    FMT_STR(answer_tag, "", "text before the answer (a target, as in TOFU)"),
    FMT_STR(answer_end, "", "the token after the answer (\"\": the tokenizer's EOS)"),
    {"max_length", DATA_SETTING_INT, offsetof(tofu_format, max_length), 500, 8, 1 << 20, NULL,
     "rows are truncated to this many tokens"},
    {"pad_to_max_length", DATA_SETTING_INT, offsetof(tofu_format, pad_to_max_length), 0, 0, 1, NULL,
     "1: pad every batch to max_length (TOFU); 0: to its longest row"},
};
const size_t tofu_format_n_settings = sizeof tofu_format_settings / sizeof tofu_format_settings[0];

void tofu_format_default(tofu_format *f) {
  memset(f, 0, sizeof *f);
  data_settings_defaults(tofu_format_settings, tofu_format_n_settings, f);
}
