/* fuzz_config_common — see fuzz_config_common.h. */
#include "fuzz_config_common.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "method/method_host.h"

void fuzz_split_input(const uint8_t *data, size_t size, int max_overrides, fuzz_split *out) {
  memset(out, 0, sizeof *out);
  const uint8_t *nul = memchr(data, 0, size);
  size_t file_len = nul ? (size_t)(nul - data) : size;
  out->file = fuzz_string(data, file_len);
  out->overrides = calloc((size_t)max_overrides + 1, sizeof *out->overrides);
  if (!nul) return;
  const uint8_t *p = nul + 1, *end = data + size;
  while (p < end && out->n_overrides < max_overrides) {
    const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *stop = nl ? nl : end;
    char *line = fuzz_string(p, (size_t)(stop - p));
    char *zero = memchr(line, 0, (size_t)(stop - p)); /* argv strings end at a NUL */
    if (zero) *zero = '\0';
    out->overrides[out->n_overrides++] = line;
    p = stop + 1;
  }
}

void fuzz_split_free(fuzz_split *s) {
  for (int i = 0; i < s->n_overrides; i++) free(s->overrides[i]);
  free(s->overrides);
  free(s->file);
  memset(s, 0, sizeof *s);
}

/* ---- a stand-in method: one parameter of each type ----------------------------- */
typedef struct fake_params {
  double beta;
  int32_t steps;
  int32_t flag;
} fake_params;

static const lethe_param fake_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(fake_params, beta), 0.1, 0.0, 1e6, "a double",
     LETHE_PARAM_MIN_EXCLUSIVE},
    {"steps", LETHE_PARAM_INT, offsetof(fake_params, steps), 3, 1, 1000, "an int", 0},
    {"flag", LETHE_PARAM_BOOL, offsetof(fake_params, flag), 0, 0, 1, "a bool", 0},
};

static const lethe_method_desc fake_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "fake",
    .version = "1",
    .summary = "stand-in for the fuzzer",
    .params = fake_table,
    .n_params = sizeof fake_table / sizeof fake_table[0],
    .params_size = sizeof(fake_params),
};

static void check_method_params(experiment *e) {
  fake_params *p = method_params_new(&fake_desc);
  lethe_err err = {0};
  config_setting_t *group = lcfg_setting(&e->cfg, "method.params");
  if (method_params_from_config(&fake_desc, p, group, &err) != 0)
    FUZZ_CHECK(err.msg[0] != '\0', "refused method params have a message");
  for (int i = 0; i < e->n_method_overrides; i++) {
    lethe_err oerr = {0};
    if (method_params_override(&fake_desc, p, e->method_overrides[i], &oerr) != 0)
      FUZZ_CHECK(oerr.msg[0] != '\0', "a refused method override has a message");
  }
  FUZZ_CHECK(p->beta > 0 && p->beta <= 1e6 && p->steps >= 1 && p->steps <= 1000 &&
                 (p->flag == 0 || p->flag == 1),
             "method parameters stay inside their ranges");
  free(p);
}

void fuzz_check_experiment(experiment *e) {
  check_method_params(e);
  char *text = lcfg_to_string(&e->cfg);
  FUZZ_CHECK(text != NULL, "the resolved configuration prints");
  char *path = fuzz_write("resolved.cfg", text, strlen(text));
  experiment again;
  lethe_err err = {0};
  if (experiment_load(&again, path, NULL, 0, &err) != 0) {
    fprintf(stderr, "resolved configuration does not load: %s\n---\n%s---\n", err.msg, text);
    FUZZ_CHECK(0, "the resolved configuration loads again");
  }
  char *text2 = lcfg_to_string(&again.cfg);
  if (strcmp(text, text2))
    fprintf(stderr, "--- first\n%s--- reloaded\n%s---\n", text, text2);
  FUZZ_CHECK(!strcmp(text, text2), "the resolved configuration is a fixed point");
  free(text2);
  experiment_free(&again);
  free(path);
  free(text);
}
