/* test_method — the host side of the plugin ABI: search path, loading and
 * refusals (each with its expected message), parameter filling from libconfig
 * and overrides, resolved specs, descriptions, and checked instance steps.
 * The plugins' math is tested in test_method_plugins.c. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "method/method_host.h"

#define ck_assert_msg_has(haystack, needle) \
  ck_assert_msg(strstr((haystack), (needle)) != NULL, "expected '%s' in: %s", (needle), (haystack))

static char *bad_path(const char *kind) {
  char file[128];
  snprintf(file, sizeof file, "lethe_bad_%s.so", kind);
  return lethe_path_join(METHOD_BAD_DIR, file);
}

static void open_real(method_plugin *p, const char *name) {
  method_search s;
  method_search_init(&s);
  method_search_add(&s, METHOD_PLUGIN_DIR);
  lethe_err err = {0};
  int rc = method_plugin_find(p, &s, name, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  method_search_free(&s);
}

/* Expects opening lethe_bad_KIND.so to fail with `needle` in the message. */
static void expect_refused(const char *kind, const char *needle) {
  char *path = bad_path(kind);
  method_plugin p;
  lethe_err err = {0};
  ck_assert_int_eq(method_plugin_open(&p, path, &err), -1);
  ck_assert_int_eq(err.code, LETHE_E_PLUGIN);
  ck_assert_msg_has(err.msg, needle);
  ck_assert_msg_has(err.msg, path);
  free(path);
}

/* ---- search path and loading ---------------------------------------------------- */
START_TEST(test_search_path) {
  method_search s;
  method_search_init(&s);
  method_search_add(&s, "::" METHOD_PLUGIN_DIR ":/nonexistent/dir:" METHOD_PLUGIN_DIR "/.:");
  ck_assert_int_eq(s.n_dirs, 2); /* canonical duplicates and empty entries dropped */
  ck_assert_str_eq(s.dirs[1], "/nonexistent/dir");
  setenv(METHOD_PATH_ENV, METHOD_BAD_DIR, 1);
  method_search_add_defaults(&s); /* then only the build's plugins, already dirs[0] */
  ck_assert_int_eq(s.n_dirs, 3);
  char bad_canon[4096];
  ck_assert_ptr_nonnull(realpath(METHOD_BAD_DIR, bad_canon));
  ck_assert_str_eq(s.dirs[2], bad_canon);
  method_search_free(&s);
  ck_assert_int_eq(s.n_dirs, 0);
}
END_TEST

START_TEST(test_find_every_plugin) {
  static const char *const names[] = {"ga",     "grad_diff", "kl",     "dpo",    "npo",
                                      "npo_rt", "npo_kl",    "idk",    "simnpo", "undial",
                                      "npo_l2", "rmu",       "gru"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    method_plugin p;
    open_real(&p, names[i]);
    ck_assert_str_eq(p.desc->name, names[i]);
    ck_assert_uint_eq(p.desc->abi_major, LETHE_METHOD_ABI_MAJOR);
    method_plugin_close(&p);
  }
  method_search s;
  method_search_init(&s);
  method_search_add(&s, METHOD_PLUGIN_DIR);
  method_plugin p;
  lethe_err err = {0};
  ck_assert_int_eq(method_plugin_find(&p, &s, "no_such_method", &err), -1);
  ck_assert_msg_has(err.msg, "lethe_no_such_method.so not found");
  ck_assert_int_eq(method_plugin_find(&p, &s, "../ga", &err), -1);
  ck_assert_msg_has(err.msg, "not a valid method name");
  method_search_free(&s);
}
END_TEST

START_TEST(test_refuse_wrong_abi) {
  expect_refused("abi", "built for method ABI 99, this host expects ABI 1");
}
END_TEST

START_TEST(test_refuse_missing_symbol) {
  expect_refused("nosym", "has no symbol 'lethe_method_entry'");
}
END_TEST

START_TEST(test_refuse_unknown_caps) {
  expect_refused("caps", "unknown capability bits 0x1000; this host knows 0x3ff (retain, idk, "
                         "reference log-probs, logits, reference logits, example ids, "
                         "parameters, hidden states, reference hidden states, forget and "
                         "retain gradients)");
}
END_TEST

START_TEST(test_refuse_bad_descriptor_fields) {
  expect_refused("param_range", "parameter 'scale' has default 5 outside its own range");
  expect_refused("null_callback", "callback 'loss_and_grad' is NULL");
  expect_refused("no_resolve", "asks for hidden states but has no resolve() to name the layer");
  expect_refused("no_combine", "asks for the forget and retain gradients but has no combine() "
                               "to use them");
}
END_TEST

/* resolve() may only narrow the declared caps; a plugin without one keeps them. */
START_TEST(test_resolve_needs) {
  method_plugin p;
  lethe_err err = {0};
  char *path = bad_path("resolve_extra");
  ck_assert_msg(method_plugin_open(&p, path, &err) == 0, "%s", err.msg);
  void *params = method_params_new(p.desc);
  lethe_method_needs needs;
  ck_assert_int_ne(method_needs_resolve(p.desc, params, &needs, &err), 0);
  ck_assert_msg(strstr(err.msg, "resolve() asks for parameters, which its descriptor does not "
                                "declare") != NULL, "%s", err.msg);
  method_instance mi;
  ck_assert_int_ne(method_instance_create(&mi, &p, params, NULL, &err), 0);
  free(params);
  method_plugin_close(&p);
  free(path);
  path = bad_path("ids");
  ck_assert_msg(method_plugin_open(&p, path, &err) == 0, "%s", err.msg);
  params = method_params_new(p.desc);
  ck_assert_int_eq(method_needs_resolve(p.desc, params, &needs, &err), 0);
  ck_assert_uint_eq(needs.caps, LETHE_CAP_EXAMPLE_IDS);
  ck_assert_int_eq(needs.hidden_layer, -1);
  free(params);
  method_plugin_close(&p);
  free(path);
}
END_TEST

START_TEST(test_refuse_bad_style) {
  expect_refused("colour", "(method 'bad_colour'): colour \"red\" is not a \"#rrggbb\" colour");
  expect_refused("title", "(method 'bad_title'): title \"a title longer than thirty-one bytes\" "
                          "is not 1 to 31 printable bytes");
}
END_TEST

/* A plugin built before title and colour existed: its struct_size stops
 * short of them, so the host neither reads nor checks them (its colour is
 * "red", which a newer plugin would be refused for). */
START_TEST(test_old_descriptor_without_style) {
  char *path = bad_path("old_size");
  method_plugin p;
  lethe_err err = {0};
  ck_assert_msg(method_plugin_open(&p, path, &err) == 0, "%s", err.msg);
  ck_assert_ptr_null(method_desc_title(p.desc));
  ck_assert_ptr_null(method_desc_colour(p.desc));
  method_plugin_close(&p);
  free(path);
}
END_TEST

/* Every shipped plugin has the paper's title and a colour of one palette. */
START_TEST(test_plugin_titles_and_colours) {
  static const char *const expected[][3] = {
      {"ga", "GA", "#d55e00"},         {"grad_diff", "GA+RT", "#e69f00"},
      {"kl", "GA+KL", "#cc79a7"},      {"idk", "IDK+RT", "#56b4e9"},
      {"dpo", "DPO", "#0072b2"},       {"npo", "NPO", "#7b4ea3"},
      {"npo_rt", "NPO+RT", "#117733"}, {"npo_kl", "NPO+KL", "#999933"},
      {"simnpo", "SimNPO", "#882255"},
  };
  for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
    method_plugin p;
    open_real(&p, expected[i][0]);
    ck_assert_str_eq(method_desc_title(p.desc), expected[i][1]);
    ck_assert_str_eq(method_desc_colour(p.desc), expected[i][2]);
    method_plugin_close(&p);
  }
}
END_TEST

START_TEST(test_dlerror_passed_on) {
  expect_refused("undefined", "undefined symbol: bad_symbol_nobody_defines");
  method_plugin p;
  lethe_err err = {0};
  ck_assert_int_eq(method_plugin_open(&p, "/nonexistent/lethe_x.so", &err), -1);
  ck_assert_msg_has(err.msg, "cannot load plugin /nonexistent/lethe_x.so: ");
  ck_assert_msg_has(err.msg, "No such file");
}
END_TEST

START_TEST(test_refuse_duplicate_name) {
  method_set set;
  method_set_init(&set);
  lethe_err err = {0};
  char *ga = lethe_path_join(METHOD_PLUGIN_DIR, "lethe_ga.so"), *dup = bad_path("dup");
  ck_assert_int_eq(method_set_add(&set, ga, &err), 0);
  ck_assert_int_eq(method_set_add(&set, dup, &err), -1);
  ck_assert_msg_has(err.msg, "duplicate method name 'ga' (already provided by");
  ck_assert_msg_has(err.msg, ga);
  ck_assert_int_eq(set.n, 1);
  /* and looked up by its file name, it does not claim to be that method */
  method_search s;
  method_search_init(&s);
  method_search_add(&s, METHOD_BAD_DIR);
  method_plugin p;
  ck_assert_int_eq(method_plugin_find(&p, &s, "bad_dup", &err), -1);
  ck_assert_msg_has(err.msg, "declares method 'ga', expected 'bad_dup'");
  method_search_free(&s);
  method_set_free(&set);
  free(ga);
  free(dup);
}
END_TEST

typedef struct refusals {
  int n;
  char msgs[16][1024];
} refusals;

static void collect_refusal(void *ctx, const char *path, const lethe_err *why) {
  refusals *r = ctx;
  (void)path;
  if (r->n < 16) snprintf(r->msgs[r->n++], sizeof r->msgs[0], "%s", why->msg);
}

START_TEST(test_scan) {
  method_search s;
  method_search_init(&s);
  method_search_add(&s, METHOD_PLUGIN_DIR ":" METHOD_BAD_DIR);
  method_set set;
  method_set_init(&set);
  refusals r = {0};
  int refused = method_set_scan(&set, &s, collect_refusal, &r);
  /* abi, nosym, caps, param_range, null_callback, undefined, colour, title,
   * no_resolve, no_combine, and dup ('ga' again) */
  ck_assert_int_eq(refused, 11);
  ck_assert_int_eq(r.n, 11);
  int saw_dup = 0;
  for (int i = 0; i < r.n; i++) saw_dup |= strstr(r.msgs[i], "duplicate method name 'ga'") != NULL;
  ck_assert(saw_dup);
  /* thirteen real plugins plus the loadable test ones (nan_loss, nan_grad, wrong_grad,
   * old_size, ids, resolve_extra, stopgrad, stopgrad_bare, combine_nan) */
  ck_assert_int_eq(set.n, 22);
  for (int i = 1; i < 9; i++) /* one directory's files come in name order */
    ck_assert_int_lt(strcmp(set.items[i - 1].path, set.items[i].path), 0);
  method_set_free(&set);
  method_search_free(&s);
}
END_TEST

START_TEST(test_caps_string) {
  char buf[160];
  ck_assert_str_eq(method_caps_string(0, buf, sizeof buf), "none");
  ck_assert_str_eq(method_caps_string(LETHE_CAP_IDK | LETHE_CAP_REF_LOGP, buf, sizeof buf),
                   "idk, reference log-probs");
  ck_assert_str_eq(method_caps_string(LETHE_CAP_PART_GRADS, buf, sizeof buf),
                   "forget and retain gradients");
  ck_assert_str_eq(method_caps_string(1u << 10, buf, sizeof buf), "bit 10");
}
END_TEST

/* ---- parameters ----------------------------------------------------------------- */
/* Writes text to a temporary .cfg, reads it; returns the path (malloc'd). */
static char *read_cfg(config_t *cfg, const char *text) {
  char *path = strdup("/tmp/lethe_test_method_XXXXXX.cfg");
  int fd = mkstemps(path, 4);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  config_init(cfg);
  ck_assert_msg(config_read_file(cfg, path) == CONFIG_TRUE, "%s:%d %s", path,
                config_error_line(cfg), config_error_text(cfg));
  return path;
}

static double param(const method_plugin *p, const void *params, const char *name) {
  for (uint32_t i = 0; i < p->desc->n_params; i++)
    if (!strcmp(p->desc->params[i].name, name)) return method_param_value(p->desc, params, i);
  ck_abort_msg("no parameter %s", name);
  return NAN;
}

START_TEST(test_params_defaults_and_config) {
  method_plugin p;
  open_real(&p, "npo_kl");
  void *params = method_params_new(p.desc);
  ck_assert_double_eq(param(&p, params, "beta"), 0.1);
  ck_assert_double_eq(param(&p, params, "retain_coeff"), 1.0);
  ck_assert_double_eq(param(&p, params, "kl_answer_only"), 0.0);
  config_t cfg;
  char *path = read_cfg(&cfg, "params = {\n  beta = 2;\n  retain_coeff = 0.5;\n"
                              "  kl_answer_only = true;\n};\n");
  lethe_err err = {0};
  int rc = method_params_from_config(p.desc, params, config_lookup(&cfg, "params"), &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  ck_assert_double_eq(param(&p, params, "beta"), 2.0); /* an int where a float is expected */
  ck_assert_double_eq(param(&p, params, "retain_coeff"), 0.5);
  ck_assert_double_eq(param(&p, params, "forget_coeff"), 1.0);
  ck_assert_double_eq(param(&p, params, "kl_answer_only"), 1.0);
  ck_assert_int_eq(method_params_from_config(p.desc, params, NULL, &err), 0);
  config_destroy(&cfg);
  unlink(path);
  free(path);
  free(params);
  method_plugin_close(&p);
}
END_TEST

/* Reads `text` into npo's params and expects an error containing needle and file:line. */
static void expect_config_error(const char *text, int line, const char *needle) {
  method_plugin p;
  open_real(&p, "npo");
  void *params = method_params_new(p.desc);
  config_t cfg;
  char *path = read_cfg(&cfg, text);
  lethe_err err = {0};
  ck_assert_int_eq(method_params_from_config(p.desc, params, config_lookup(&cfg, "params"), &err),
                   -1);
  ck_assert_int_eq(err.code, LETHE_E_CONFIG);
  char where[512];
  snprintf(where, sizeof where, "%s:%d: ", path, line);
  ck_assert_msg_has(err.msg, where);
  ck_assert_msg_has(err.msg, needle);
  config_destroy(&cfg);
  unlink(path);
  free(path);
  free(params);
  method_plugin_close(&p);
}

START_TEST(test_params_unknown_key) {
  expect_config_error("params = {\n  beta = 0.2;\n  bta = 0.5;\n};\n", 3,
                      "method 'npo' has no parameter 'bta' (parameters: beta, forget_coeff)");
}
END_TEST

START_TEST(test_params_out_of_range) {
  expect_config_error("params = {\n  beta = -0.5;\n};\n", 2,
                      "method 'npo' parameter 'beta' = -0.5 is out of range (0, 1000]");
  expect_config_error("params = {\n\n  beta = 0;\n};\n", 3, "is out of range (0, 1000]");
  expect_config_error("params = {\n  forget_coeff = -1;\n};\n", 2,
                      "'forget_coeff' = -1 is out of range [0, inf)");
}
END_TEST

START_TEST(test_params_wrong_type) {
  expect_config_error("params = {\n  beta = \"0.1\";\n};\n", 2,
                      "parameter 'beta' must be a number, got a string");
  expect_config_error("params = {\n  beta = true;\n};\n", 2, "must be a number, got a boolean");
  expect_config_error("params = 3;\n", 1, "method params must be a group");
}
END_TEST

START_TEST(test_params_override) {
  method_plugin p;
  open_real(&p, "kl");
  void *params = method_params_new(p.desc);
  lethe_err err = {0};
  ck_assert_int_eq(method_params_override(p.desc, params, "method.retain_coeff=0.5", &err), 0);
  ck_assert_double_eq(param(&p, params, "retain_coeff"), 0.5);
  ck_assert_int_eq(method_params_override(p.desc, params, "method.params.forget_coeff= 3 ", &err),
                   0);
  ck_assert_double_eq(param(&p, params, "forget_coeff"), 3.0);
  ck_assert_int_eq(method_params_override(p.desc, params, "method.kl_answer_only=true", &err), 0);
  ck_assert_double_eq(param(&p, params, "kl_answer_only"), 1.0);
  ck_assert_int_eq(method_params_override(p.desc, params, "method.kl_answer_only=0", &err), 0);
  ck_assert_double_eq(param(&p, params, "kl_answer_only"), 0.0);

  ck_assert_int_eq(method_params_override(p.desc, params, "method.retain_cof=1", &err), -1);
  ck_assert_str_eq(err.msg,
                   "override 'method.retain_cof=1': method 'kl' has no parameter "
                   "'retain_cof' (parameters: forget_coeff, retain_coeff, kl_answer_only)");
  ck_assert_int_eq(method_params_override(p.desc, params, "method.retain_coeff=-2", &err), -1);
  ck_assert_msg_has(err.msg, "'retain_coeff' = -2 is out of range [0, inf)");
  ck_assert_int_eq(method_params_override(p.desc, params, "method.retain_coeff=1x", &err), -1);
  ck_assert_msg_has(err.msg, "expects a finite number, got '1x'");
  ck_assert_int_eq(method_params_override(p.desc, params, "method.retain_coeff=nan", &err), -1);
  ck_assert_int_eq(method_params_override(p.desc, params, "method.kl_answer_only=maybe", &err), -1);
  ck_assert_msg_has(err.msg, "expects true or false, got 'maybe'");
  ck_assert_int_eq(method_params_override(p.desc, params, "train.lr=1", &err), -1);
  ck_assert_msg_has(err.msg, "expected method.KEY=VALUE");
  ck_assert_int_eq(method_params_override(p.desc, params, "method.retain_coeff", &err), -1);
  ck_assert_double_eq(param(&p, params, "retain_coeff"), 0.5); /* failures leave values alone */
  ck_assert_int_eq(method_params_set(p.desc, params, "retain_coeff", "2.5", "here", &err), 0);
  ck_assert_double_eq(param(&p, params, "retain_coeff"), 2.5);
  free(params);
  method_plugin_close(&p);
}
END_TEST

START_TEST(test_params_write_round_trip) {
  method_plugin p;
  open_real(&p, "simnpo");
  void *params = method_params_new(p.desc);
  lethe_err err = {0};
  ck_assert_int_eq(method_params_override(p.desc, params, "method.beta=0.1", &err), 0);
  ck_assert_int_eq(method_params_override(p.desc, params, "method.delta=3", &err), 0);
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  method_params_write(mem, p.desc, params);
  fclose(mem);
  ck_assert_str_eq(text, "params = { beta = 0.1; delta = 3.0; forget_coeff = 1.0; "
                         "retain_coeff = 0.0; };");
  config_t cfg;
  config_init(&cfg);
  ck_assert_int_eq(config_read_string(&cfg, text), CONFIG_TRUE);
  void *again = method_params_new(p.desc);
  ck_assert_int_eq(method_params_from_config(p.desc, again, config_lookup(&cfg, "params"), &err),
                   0);
  ck_assert_mem_eq(again, params, p.desc->params_size);
  config_destroy(&cfg);
  free(again);
  free(text);
  free(params);
  method_plugin_close(&p);
}
END_TEST

START_TEST(test_describe) {
  method_plugin p;
  open_real(&p, "dpo");
  char *text = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&text, &len);
  method_describe(mem, &p);
  fclose(mem);
  ck_assert_msg_has(text, "dpo 1.0.0 — ");
  ck_assert_msg_has(text, "  title: DPO\n  colour: #0072b2\n");
  ck_assert_msg_has(text, "needs: retain, idk, reference log-probs");
  ck_assert_msg_has(text, "beta          double  0.1        (0, 1000]");
  ck_assert_msg_has(text, "retain_coeff  double  0.0        [0, inf)");
  ck_assert_msg_has(text, "method = { name = \"dpo\"; params = { beta = 0.1; forget_coeff = 1.0; "
                          "retain_coeff = 0.0; }; };");
  free(text);
  method_plugin_close(&p);
}
END_TEST

/* ---- specs ------------------------------------------------------------------------ */
START_TEST(test_spec_from_config) {
  config_t cfg;
  char *path =
      read_cfg(&cfg, "method = {\n  name = \"npo_rt\";\n  plugin_path = \"" METHOD_PLUGIN_DIR
                     "\";\n  params = { beta = 0.2; retain_coeff = 2; };\n};\n");
  const char *ov[] = {"train.lr=1e-5", "method.beta=0.5", "method.params.forget_coeff=0.25"};
  method_spec ms;
  lethe_err err = {0};
  int rc = method_spec_from_config(&ms, config_lookup(&cfg, "method"), ov, 3, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  ck_assert_str_eq(ms.plugin.desc->name, "npo_rt");
  ck_assert_double_eq(param(&ms.plugin, ms.params, "beta"), 0.5); /* override wins */
  ck_assert_double_eq(param(&ms.plugin, ms.params, "retain_coeff"), 2.0);
  ck_assert_double_eq(param(&ms.plugin, ms.params, "forget_coeff"), 0.25);
  method_spec_free(&ms);
  /* method.name on the command line picks another method; the config's params must fit it */
  const char *ov2[] = {"method.name=ga"};
  ck_assert_int_eq(method_spec_from_config(&ms, config_lookup(&cfg, "method"), ov2, 1, &err), -1);
  ck_assert_msg_has(err.msg, "method 'ga' has no parameter 'beta'");
  config_destroy(&cfg);
  unlink(path);
  free(path);

  path = read_cfg(&cfg, "method = {\n  name = \"npo\";\n  paramz = { };\n};\n");
  ck_assert_int_eq(method_spec_from_config(&ms, config_lookup(&cfg, "method"), NULL, 0, &err), -1);
  ck_assert_msg_has(err.msg,
                    ":3: unknown setting method.paramz (known: name, plugin, plugin_path, params)");
  config_destroy(&cfg);
  unlink(path);
  free(path);

  path = read_cfg(&cfg, "method = {\n  plugin = \"" METHOD_PLUGIN_DIR "/lethe_dpo.so\";\n};\n");
  rc = method_spec_from_config(&ms, config_lookup(&cfg, "method"), NULL, 0, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  ck_assert_str_eq(ms.plugin.desc->name, "dpo");
  method_spec_free(&ms);
  const char *ov3[] = {"method.name=npo"};
  ck_assert_int_eq(method_spec_from_config(&ms, config_lookup(&cfg, "method"), ov3, 1, &err), -1);
  ck_assert_msg_has(err.msg, "provides method 'dpo', but method.name is 'npo'");
  config_destroy(&cfg);
  unlink(path);
  free(path);
}
END_TEST

START_TEST(test_spec_from_name) {
  method_spec ms;
  lethe_err err = {0};
  const char *ov[] = {"method.beta=0.5"};
  int rc = method_spec_from_name(&ms, "simnpo", METHOD_PLUGIN_DIR, ov, 1, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  ck_assert_double_eq(param(&ms.plugin, ms.params, "beta"), 0.5);
  method_spec_free(&ms);
  ck_assert_int_eq(method_spec_from_name(&ms, "simnpo", NULL, (const char *[]){"method.gamma=1"},
                                         1, &err), -1);
  ck_assert_msg_has(err.msg, "override 'method.gamma=1': method 'simnpo' has no parameter 'gamma'");
}
END_TEST

START_TEST(test_default_configs_match_tables) {
  /* configs/methods/NAME.cfg load cleanly and restate each plugin's defaults */
  static const char *const names[] = {"ga",     "grad_diff", "kl",     "dpo",    "npo",
                                      "npo_rt", "npo_kl",    "idk",    "simnpo", "undial",
                                      "npo_l2", "rmu",       "gru"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/configs/methods/%s.cfg", LETHE_SOURCE_DIR, names[i]);
    config_t cfg;
    config_init(&cfg);
    ck_assert_msg(config_read_file(&cfg, path) == CONFIG_TRUE, "%s:%d: %s", path,
                  config_error_line(&cfg), config_error_text(&cfg));
    method_spec ms;
    lethe_err err = {0};
    int rc = method_spec_from_config(&ms, config_lookup(&cfg, "method"), NULL, 0, &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert_str_eq(ms.plugin.desc->name, names[i]);
    void *defaults = method_params_new(ms.plugin.desc);
    for (uint32_t k = 0; k < ms.plugin.desc->n_params; k++)
      ck_assert_msg(method_param_value(ms.plugin.desc, ms.params, k) ==
                        method_param_value(ms.plugin.desc, defaults, k),
                    "%s: %s differs from the plugin's default", path,
                    ms.plugin.desc->params[k].name);
    free(defaults);
    method_spec_free(&ms);
    config_destroy(&cfg);
  }
}
END_TEST

START_TEST(test_param_in_range) {
  lethe_param beta = {"beta", LETHE_PARAM_DOUBLE, 0, 0.1, 0.0, 1.0, "b", LETHE_PARAM_MIN_EXCLUSIVE};
  ck_assert(!method_param_in_range(&beta, 0.0));
  ck_assert(method_param_in_range(&beta, 1e-9));
  ck_assert(method_param_in_range(&beta, 1.0));
  beta.flags |= LETHE_PARAM_MAX_EXCLUSIVE;
  ck_assert(!method_param_in_range(&beta, 1.0));
  ck_assert(!method_param_in_range(&beta, NAN));
  lethe_param flag = {"flag", LETHE_PARAM_BOOL, 0, 0.0, 0.0, 0.0, "f", 0};
  ck_assert(method_param_in_range(&flag, 1.0));
  ck_assert(!method_param_in_range(&flag, 0.5));
}
END_TEST

/* ---- instances ------------------------------------------------------------------- */
typedef struct metric_log {
  int n;
  char name[8][64];
  double value[8];
} metric_log;

static void record_metric(void *ctx, const char *name, double value) {
  metric_log *m = ctx;
  if (m->n < 8) {
    snprintf(m->name[m->n], sizeof m->name[0], "%s", name);
    m->value[m->n++] = value;
  }
}

/* A 2-row batch: forget row 0, idk row 1 (or retain), T = 3, every position a target. */
typedef struct tiny_batch {
  int32_t target[6];
  float mask[6], logp[6], ref_logp[6], dlogp[6];
  int32_t attn[6];
  lethe_method_batch b;
  lethe_method_grad g;
} tiny_batch;

static void tiny_init(tiny_batch *tb) {
  memset(tb, 0, sizeof *tb);
  for (int i = 0; i < 6; i++) {
    tb->target[i] = i % 3;
    tb->mask[i] = 1.0f;
    tb->attn[i] = 1;
    tb->logp[i] = -1.0f - 0.1f * i;
    tb->ref_logp[i] = -1.2f;
  }
  tb->b = (lethe_method_batch){.struct_size = sizeof(lethe_method_batch), .B = 2, .T = 3, .V = 4,
                               .seg = {{0, 1}, {0, 0}, {1, 1}}, .target = tb->target,
                               .mask = tb->mask, .attn = tb->attn, .logp = tb->logp,
                               .ref_logp = tb->ref_logp, .step = 7, .total_steps = 10};
  tb->g = (lethe_method_grad){.struct_size = sizeof(lethe_method_grad), .dlogp = tb->dlogp};
}

START_TEST(test_instance_step_and_metric) {
  method_plugin p;
  open_real(&p, "npo");
  void *params = method_params_new(p.desc);
  metric_log log = {0};
  lethe_host_api host = {.ctx = &log, .metric = record_metric};
  method_instance mi;
  lethe_err err = {0};
  ck_assert_int_eq(method_instance_create(&mi, &p, params, &host, &err), 0);
  tiny_batch tb;
  tiny_init(&tb);
  int rc = method_instance_step(&mi, &tb.b, &tb.g, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  /* ℓ = Σ(logp − ref) = (−3.3) − (−3.6) = 0.3 */
  double lr = 0.3, beta = 0.1;
  ck_assert_double_eq_tol(tb.g.loss, (2 / beta) * log1p(exp(beta * lr)), 1e-5);
  ck_assert_int_eq(log.n, 1);
  ck_assert_str_eq(log.name[0], "npo_weight_mean");
  ck_assert_double_eq_tol(log.value[0], 2.0 / (1.0 + exp(-beta * lr)), 1e-6);

  /* a batch without what the method declared it needs is refused before the call */
  tb.b.ref_logp = NULL;
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_str_eq(err.msg, "method 'npo': step 7: batch has no ref_logp (method needs reference "
                            "log-probs)");
  tiny_init(&tb);
  tb.b.seg[LETHE_SEG_FORGET] = (lethe_segment){1, 2};
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_msg_has(err.msg, "forget segment rows [1, 1+2) outside the batch's 2 rows");
  tiny_init(&tb);
  tb.b.seg[LETHE_SEG_RETAIN] = (lethe_segment){0, 1};
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_msg_has(err.msg, "retain segment starts at row 0, before the end of the previous one");
  tiny_init(&tb);
  tb.b.struct_size = 0;
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_msg_has(err.msg, "struct_size not set");
  method_instance_destroy(&mi);
  free(params);
  method_plugin_close(&p);
}
END_TEST

START_TEST(test_instance_idk_pairing) {
  method_plugin p;
  open_real(&p, "dpo");
  void *params = method_params_new(p.desc);
  method_instance mi;
  lethe_err err = {0};
  ck_assert_int_eq(method_instance_create(&mi, &p, params, NULL, &err), 0);
  tiny_batch tb;
  tiny_init(&tb);
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), 0);
  tb.b.seg[LETHE_SEG_IDK].nrows = 0;
  memset(tb.dlogp, 0, sizeof tb.dlogp);
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_msg_has(err.msg, "0 idk rows for 1 forget rows (idk row k pairs with forget row k)");
  method_instance_destroy(&mi);
  free(params);
  method_plugin_close(&p);
}
END_TEST

START_TEST(test_instance_non_finite) {
  char *path = bad_path("nan_loss");
  method_plugin p;
  lethe_err err = {0};
  ck_assert_int_eq(method_plugin_open(&p, path, &err), 0);
  void *params = method_params_new(p.desc);
  method_instance mi;
  ck_assert_int_eq(method_instance_create(&mi, &p, params, NULL, &err), 0);
  tiny_batch tb;
  tiny_init(&tb);
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_int_eq(err.code, LETHE_E_NUMERIC);
  ck_assert_msg_has(err.msg, "method 'bad_nan_loss' (");
  ck_assert_msg_has(err.msg, "): step 7: loss is nan");
  method_instance_destroy(&mi);
  free(params);
  method_plugin_close(&p);

  /* a plugin-reported error comes back with the method and the step */
  open_real(&p, "ga");
  params = method_params_new(p.desc);
  ck_assert_int_eq(method_instance_create(&mi, &p, params, NULL, &err), 0);
  tiny_init(&tb);
  memset(tb.mask, 0, sizeof tb.mask);
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_int_eq(err.code, LETHE_E_PLUGIN);
  ck_assert_msg_has(err.msg, "step 7: no counted target tokens in the forget rows");
  method_instance_destroy(&mi);
  free(params);
  method_plugin_close(&p);
  free(path);

  /* a finite loss with a non-finite gradient is caught too, with its position */
  path = bad_path("nan_grad");
  ck_assert_int_eq(method_plugin_open(&p, path, &err), 0);
  params = method_params_new(p.desc);
  ck_assert_int_eq(method_instance_create(&mi, &p, params, NULL, &err), 0);
  tiny_init(&tb);
  ck_assert_int_eq(method_instance_step(&mi, &tb.b, &tb.g, &err), -1);
  ck_assert_msg_has(err.msg, "method 'bad_nan_grad' (");
  ck_assert_msg_has(err.msg, "): step 7: dlogp[b=0, t=1] is inf");
  method_instance_destroy(&mi);
  free(params);
  method_plugin_close(&p);
  free(path);
}
END_TEST

static Suite *method_suite(void) {
  Suite *s = suite_create("method");
  TCase *load = tcase_create("load");
  tcase_add_test(load, test_search_path);
  tcase_add_test(load, test_find_every_plugin);
  tcase_add_test(load, test_refuse_wrong_abi);
  tcase_add_test(load, test_refuse_missing_symbol);
  tcase_add_test(load, test_refuse_unknown_caps);
  tcase_add_test(load, test_refuse_bad_descriptor_fields);
  tcase_add_test(load, test_resolve_needs);
  tcase_add_test(load, test_refuse_bad_style);
  tcase_add_test(load, test_old_descriptor_without_style);
  tcase_add_test(load, test_plugin_titles_and_colours);
  tcase_add_test(load, test_dlerror_passed_on);
  tcase_add_test(load, test_refuse_duplicate_name);
  tcase_add_test(load, test_scan);
  tcase_add_test(load, test_caps_string);
  suite_add_tcase(s, load);
  TCase *params = tcase_create("params");
  tcase_add_test(params, test_params_defaults_and_config);
  tcase_add_test(params, test_params_unknown_key);
  tcase_add_test(params, test_params_out_of_range);
  tcase_add_test(params, test_params_wrong_type);
  tcase_add_test(params, test_params_override);
  tcase_add_test(params, test_params_write_round_trip);
  tcase_add_test(params, test_describe);
  tcase_add_test(params, test_spec_from_config);
  tcase_add_test(params, test_spec_from_name);
  tcase_add_test(params, test_default_configs_match_tables);
  tcase_add_test(params, test_param_in_range);
  suite_add_tcase(s, params);
  TCase *inst = tcase_create("instance");
  tcase_add_test(inst, test_instance_step_and_metric);
  tcase_add_test(inst, test_instance_idk_pairing);
  tcase_add_test(inst, test_instance_non_finite);
  suite_add_tcase(s, inst);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(method_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
