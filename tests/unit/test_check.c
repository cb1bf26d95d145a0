/* test_check — a run's inputs are checked before any work: a method name
 * with a typo, a parameter out of range, a missing TOFU file, an output
 * directory that cannot be created each fail at once (experiment_check, and
 * `lethe unlearn` / `lethe train` / `lethe eval` on the command line) with a
 * message naming the culprit, and nothing is created in the stage cache.
 * Also: lcfg_record_method, the one writer of a run's resolved method, and
 * the command line's usage errors (a status, never an exit). */
#include <check.h>
#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/check.h"
#include "pipeline/prepare.h"

static char tmp[64];

static void setup(void) {
  snprintf(tmp, sizeof tmp, "/tmp/lethe-check-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  ck_assert_int_eq(system(cmd), 0);
}

/* tmp/name (malloc'd). */
static char *at(const char *name) { return lethe_path_join(tmp, name); }

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

/* An experiment with its stage cache at tmp/cache, plus the overrides. */
static void load(experiment *e, const char *const *extra, int n_extra) {
  char cache[128];
  snprintf(cache, sizeof cache, "cache_dir=\"%s/cache\"", tmp);
  const char *over[8] = {cache};
  for (int i = 0; i < n_extra; i++) over[1 + i] = extra[i];
  lethe_err err = {0};
  ck_assert_msg(experiment_load(e, NULL, over, 1 + n_extra, &err) == 0, "%s", err.msg);
}

/* experiment_check's verdict on the overrides; the message in err. */
static int check_with(const char *const *extra, int n_extra, const char *out, unsigned what,
                      lethe_err *err) {
  experiment e;
  load(&e, extra, n_extra);
  memset(err, 0, sizeof *err);
  int rc = experiment_check(&e, out, what, err);
  experiment_free(&e);
  return rc;
}

static void assert_no_cache(void) {
  char *cache = at("cache");
  ck_assert_msg(!lethe_file_exists(cache), "%s was created by a check that failed", cache);
  free(cache);
}

START_TEST(test_prompt_format_checked_at_load) {
  char *path = at("fmt.cfg");
  write_text(path, "data = {\n  format = \"chatlm\";\n};\n");
  experiment e;
  lethe_err err = {0};
  ck_assert_int_eq(experiment_load(&e, path, NULL, 0, &err), -1);
  ck_assert_msg(strstr(err.msg, "fmt.cfg:2") && strstr(err.msg, "unknown preset \"chatlm\""), "%s",
                err.msg);
  write_text(path, "data = {\n  format = \"tofu-phi\";\n  answer_tag = \"A: \";\n};\n");
  ck_assert_int_eq(experiment_load(&e, path, NULL, 0, &err), -1);
  ck_assert_msg(strstr(err.msg, "data.answer_tag is set next to data.format"), "%s", err.msg);
  write_text(path, "data = {\n  format = \"tofu-phi\";\n};\n");
  ck_assert_msg(experiment_load(&e, path, NULL, 0, &err) == 0, "%s", err.msg);
  tofu_format fmt;
  experiment_format(&e, &fmt);
  ck_assert_str_eq(fmt.answer_tag, "Answer: ");
  experiment_free(&e);
  free(path);
  assert_no_cache();
}
END_TEST

/* Every example experiment loads; the ones that start from a user's model
 * (configs/experiments/own) are refused by the check only for the paths
 * that do not exist here, naming the setting. */
START_TEST(test_example_configs_load) {
  glob_t g;
  ck_assert_int_eq(glob(LETHE_SOURCE_DIR "/configs/experiments/*.cfg", 0, NULL, &g), 0);
  ck_assert_int_eq(glob(LETHE_SOURCE_DIR "/configs/experiments/own/*.cfg", GLOB_APPEND, NULL, &g), 0);
  int own = 0;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    if (strstr(g.gl_pathv[i], "synthetic")) continue; /* kind "synthetic": its own schema */
    experiment e;
    lethe_err err = {0};
    ck_assert_msg(experiment_load(&e, g.gl_pathv[i], NULL, 0, &err) == 0, "%s", err.msg);
    if (strstr(g.gl_pathv[i], "/own/")) {
      own++;
      ck_assert_int_eq(experiment_check(&e, NULL, EXPERIMENT_CHECK_UNLEARN, &err), -1);
      ck_assert_msg(strstr(err.msg, ".path (") || strstr(err.msg, "retain.eval") ||
                        strstr(err.msg, "data.dir"),
                    "%s: %s", g.gl_pathv[i], err.msg);
    }
    experiment_free(&e);
  }
  ck_assert_int_ge(own, 5);
  globfree(&g);
}
END_TEST

START_TEST(test_valid_experiment_passes_and_creates_nothing) {
  lethe_err err;
  char *out = at("run/out");
  ck_assert_msg(check_with(NULL, 0, out, EXPERIMENT_CHECK_UNLEARN, &err) == 0, "%s", err.msg);
  assert_no_cache();
  ck_assert(!lethe_file_exists(out));
  free(out);
}
END_TEST

START_TEST(test_method_typo_fails_naming_it) {
  lethe_err err;
  const char *over[] = {"method.name=npx"};
  ck_assert_int_ne(check_with(over, 1, NULL, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(strstr(err.msg, "'npx'") != NULL, "%s", err.msg);
  /* lethe train does not need a method */
  ck_assert_msg(check_with(over, 1, NULL, EXPERIMENT_CHECK_TRAIN, &err) == 0, "%s", err.msg);
  assert_no_cache();
}
END_TEST

START_TEST(test_method_parameter_out_of_range) {
  lethe_err err;
  const char *over[] = {"method.name=npo", "method.beta=-1"};
  ck_assert_int_ne(check_with(over, 2, NULL, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(strstr(err.msg, "beta") != NULL && strstr(err.msg, "out of range") != NULL, "%s",
                err.msg);
  assert_no_cache();
}
END_TEST

/* Method ABI 1.2 needs checked against the model before any stage: a
 * hidden layer it lacks, parameters regularised under an adapter, and the
 * method's own trainable tensors (RMU: its layer's MLP) accepted. */
START_TEST(test_method_needs_checked) {
  lethe_err err;
  const char *deep[] = {"method.name=rmu", "method.layer=4"}; /* the default model has 4 */
  ck_assert_int_ne(check_with(deep, 2, NULL, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(strstr(err.msg, "method rmu reads the hidden states after layer 4, but the model "
                                "has 4 layers (0..3)") != NULL, "%s", err.msg);
  const char *lora[] = {"method.name=npo_l2", "unlearn.lora.rank=4"};
  ck_assert_int_ne(check_with(lora, 2, NULL, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(strstr(err.msg, "with an adapter") != NULL, "%s", err.msg);
  const char *last[] = {"method.name=rmu", "method.layer=3"};
  ck_assert_msg(check_with(last, 2, NULL, EXPERIMENT_CHECK_UNLEARN, &err) == 0, "%s", err.msg);
  assert_no_cache();
}
END_TEST

START_TEST(test_batch_settings) {
  lethe_err err;
  const char *base[] = {"base.batch_size=0"}, *unlearn[] = {"unlearn.batch_size=5000"};
  ck_assert_int_ne(check_with(base, 1, NULL, EXPERIMENT_CHECK_BASE, &err), 0);
  ck_assert_msg(strstr(err.msg, "base.batch_size") != NULL, "%s", err.msg);
  ck_assert_int_ne(check_with(unlearn, 1, NULL, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(strstr(err.msg, "unlearn.batch_size") != NULL, "%s", err.msg);
  ck_assert_msg(check_with(unlearn, 1, NULL, EXPERIMENT_CHECK_TRAIN, &err) == 0, "%s", err.msg);
}
END_TEST

/* finetune.params and unlearn.params: regexes over the model's tensor names,
 * refused up front when one does not compile or matches nothing. */
START_TEST(test_trainable_params) {
  lethe_err err;
  const char *good[] = {"finetune.params=[\"model\\\\.layers\\\\.(2|3)\\\\.mlp\\\\..*\"]",
                        "unlearn.params=[\"model\\\\.norm\\\\.weight\", \"lm_head\\\\.weight\"]"};
  ck_assert_msg(check_with(good, 2, NULL, EXPERIMENT_CHECK_UNLEARN, &err) == 0, "%s", err.msg);
  const char *bad[] = {"unlearn.params=[\"model\\\\.layers\\\\.[0-\"]"};
  ck_assert_int_ne(check_with(bad, 1, NULL, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(strstr(err.msg, "unlearn.params (command line") &&
                    strstr(err.msg, "model\\.layers\\.[0-") && strstr(err.msg, "offset"),
                "%s", err.msg);
  ck_assert_msg(check_with(bad, 1, NULL, EXPERIMENT_CHECK_TRAIN, &err) == 0, "%s", err.msg);
  const char *none[] = {"finetune.params=[\"model\\\\.layers\\\\.4\\\\..*\"]"}; /* 4 layers: 0..3 */
  ck_assert_int_ne(check_with(none, 1, NULL, EXPERIMENT_CHECK_TRAIN, &err), 0);
  ck_assert_msg(strstr(err.msg, "finetune.params") && strstr(err.msg, "matches no tensor"), "%s",
                err.msg);
  const char *not_string[] = {"finetune.params=[1]"};
  ck_assert_int_ne(check_with(not_string, 1, NULL, EXPERIMENT_CHECK_TRAIN, &err), 0);
  ck_assert_msg(strstr(err.msg, "must be a string"), "%s", err.msg);
}
END_TEST

/* unlearn.lora and finetune.lora are checked with the stage's settings,
 * each error naming the setting. */
START_TEST(test_lora_settings) {
  lethe_err err;
  static const struct {
    const char *over, *key;
    unsigned what;
  } bad[] = {
      {"unlearn.lora.rank=-1", "unlearn.lora.rank", EXPERIMENT_CHECK_UNLEARN},
      {"unlearn.lora.alpha=0", "unlearn.lora.alpha", EXPERIMENT_CHECK_UNLEARN},
      {"unlearn.lora.dropout=1.0", "unlearn.lora.dropout", EXPERIMENT_CHECK_UNLEARN},
      {"unlearn.lora.target_modules=[\"q_proj\", \"lm_head\"]", "unlearn.lora.target_modules",
       EXPERIMENT_CHECK_UNLEARN},
      {"unlearn.lora.target_modules=[]", "unlearn.lora.target_modules", EXPERIMENT_CHECK_UNLEARN},
      {"finetune.lora.dropout=-0.5", "finetune.lora.dropout", EXPERIMENT_CHECK_TRAIN},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_ne(check_with(&bad[i].over, 1, NULL, bad[i].what, &err), 0);
    ck_assert_msg(strstr(err.msg, bad[i].key) != NULL, "%s: %s", bad[i].over, err.msg);
  }
  const char *good[] = {"unlearn.lora.rank=8",
                        "unlearn.lora.target_modules=[\"q_proj\", \"o_proj\", \"down_proj\"]"};
  ck_assert_msg(check_with(good, 2, NULL, EXPERIMENT_CHECK_UNLEARN, &err) == 0, "%s", err.msg);
  assert_no_cache();
}
END_TEST

/* A data.dir with every file a run reads; `skip` (may be NULL) left out. */
static char *tofu_dir(const char *skip) {
  char *dir = at("tofu");
  ck_assert_int_eq(mkdir(dir, 0755), 0);
  const char *files[] = {"tokenizer.json", "pretrain.json", "full.json", "forget10.json",
                         "retain90.json", "idontknow.jsonl", "forget10_perturbed.json",
                         "retain_perturbed.json", "real_authors_perturbed.json",
                         "world_facts_perturbed.json"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    if (skip && !strcmp(files[i], skip)) continue;
    char *path = lethe_path_join(dir, files[i]);
    write_text(path, "[]\n");
    free(path);
  }
  return dir;
}

/* forgetNN names its retain split retain(100-NN), for any NN the world
 * writes (docs/world.md) and any other a data directory may have. */
START_TEST(test_forget_split_retain) {
  static const char *const cases[][2] = {{"forget01", "retain99"}, {"forget05", "retain95"},
                                         {"forget10", "retain90"}, {"forget20", "retain80"},
                                         {"forget50", "retain50"}, {"forget99", "retain01"},
                                         {"forget100", NULL},      {"forget0", NULL},
                                         {"forget", NULL},         {"forget10x", NULL}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[32];
    const char *got = forget_split_retain(cases[i][0], buf, sizeof buf);
    if (cases[i][1]) ck_assert_str_eq(got, cases[i][1]);
    else ck_assert_ptr_null(got);
  }
}
END_TEST

START_TEST(test_tofu_files) {
  static const struct {
    const char *missing;
    unsigned fails; /* the checks that need it */
  } cases[] = {{NULL, 0},
               {"pretrain.json", EXPERIMENT_CHECK_BASE},
               {"full.json", EXPERIMENT_CHECK_TARGET},
               {"retain90.json", EXPERIMENT_CHECK_RETAIN},
               {"world_facts_perturbed.json", EXPERIMENT_CHECK_RETAIN},
               {"forget10.json", EXPERIMENT_CHECK_METHOD},
               {"idontknow.jsonl", EXPERIMENT_CHECK_METHOD}};
  const unsigned checks[] = {EXPERIMENT_CHECK_BASE, experiment_check_stages(STAGES_TARGET),
                             experiment_check_stages(STAGES_RETAIN), EXPERIMENT_CHECK_UNLEARN};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    char *dir = tofu_dir(cases[c].missing), over[256];
    snprintf(over, sizeof over, "data.dir=\"%s\"", dir);
    const char *extra[] = {over};
    for (size_t k = 0; k < sizeof checks / sizeof checks[0]; k++) {
      lethe_err err;
      int rc = check_with(extra, 1, NULL, checks[k], &err);
      if (checks[k] & cases[c].fails) {
        ck_assert_msg(rc != 0, "without %s, check %#x passed", cases[c].missing, checks[k]);
        ck_assert_msg(strstr(err.msg, cases[c].missing) != NULL, "%s", err.msg);
      } else {
        ck_assert_msg(rc == 0, "without %s, check %#x: %s", cases[c].missing ? cases[c].missing : "nothing",
                      checks[k], err.msg);
      }
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
  }
  assert_no_cache();
}
END_TEST

START_TEST(test_output_directory) {
  lethe_err err;
  char *file = at("file"), *under_file = at("file/run"), *deep = at("a/b/c");
  write_text(file, "x");
  ck_assert_int_ne(check_with(NULL, 0, under_file, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(strstr(err.msg, under_file) != NULL && strstr(err.msg, "output directory"), "%s",
                err.msg);
  ck_assert_int_ne(check_with(NULL, 0, file, EXPERIMENT_CHECK_UNLEARN, &err), 0);
  ck_assert_msg(check_with(NULL, 0, deep, EXPERIMENT_CHECK_UNLEARN, &err) == 0, "%s", err.msg);
  ck_assert(!lethe_file_exists(deep));
  free(file);
  free(under_file);
  free(deep);
}
END_TEST

START_TEST(test_eval_inputs) {
  lethe_err err = {0};
  char *model = at("model"), *data = tofu_dir(NULL), *out = at("out"), *missing = at("nothing");
  ck_assert_int_eq(mkdir(model, 0755), 0);
  char *config = lethe_path_join(model, "config.json"), *weights = lethe_path_join(model, "model.safetensors");
  write_text(config, "{}");
  eval_inputs in = {model, NULL, data, "forget10", NULL, out};
  ck_assert_int_ne(eval_inputs_check(&in, &err), 0); /* no weights */
  ck_assert_msg(strstr(err.msg, "model.safetensors") != NULL, "%s", err.msg);
  write_text(weights, "");
  ck_assert_msg(eval_inputs_check(&in, &err) == 0, "%s", err.msg);
  in.ref_dir = missing;
  ck_assert_int_ne(eval_inputs_check(&in, &err), 0);
  ck_assert_msg(strstr(err.msg, missing) != NULL, "%s", err.msg);
  in.ref_dir = NULL, in.retain_eval = missing;
  ck_assert_int_ne(eval_inputs_check(&in, &err), 0);
  in.retain_eval = NULL, in.split = "forget05";
  ck_assert_int_ne(eval_inputs_check(&in, &err), 0);
  ck_assert_msg(strstr(err.msg, "forget05_perturbed.json") != NULL, "%s", err.msg);
  free(config);
  free(weights);
  free(model);
  free(data);
  free(out);
  free(missing);
}
END_TEST

/* Runs `lethe ARGS` with stderr captured; returns the exit status. */
static int run_lethe(const char *args, char *stderr_text, size_t n) {
  char cmd[1024], *log = at("stderr.txt");
  snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s/framework/lethe %s 2>%s >/dev/null",
           LETHE_BINARY_DIR, args, log);
  int status = system(cmd);
  FILE *f = fopen(log, "r");
  ck_assert_ptr_nonnull(f);
  size_t got = fread(stderr_text, 1, n - 1, f);
  stderr_text[got] = '\0';
  fclose(f);
  free(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_cli_fails_before_any_stage) {
  char msg[4096], args[768];
  snprintf(args, sizeof args,
           "unlearn -s 'cache_dir=\"%s/cache\"' -s world.authors=10 -s method.name=npx --out %s/run",
           tmp, tmp);
  ck_assert_int_eq(run_lethe(args, msg, sizeof msg), 1);
  ck_assert_msg(strstr(msg, "no plugin for method 'npx'") != NULL, "%s", msg);
  assert_no_cache();
  snprintf(args, sizeof args, "unlearn -s 'cache_dir=\"%s/cache\"' -s method.beta=0 --out %s/run",
           tmp, tmp);
  ck_assert_int_eq(run_lethe(args, msg, sizeof msg), 1);
  ck_assert_msg(strstr(msg, "beta") != NULL, "%s", msg);
  snprintf(args, sizeof args, "unlearn -s 'cache_dir=\"%s/cache\"' -s 'data.dir=\"%s/none\"' --out %s/run",
           tmp, tmp, tmp);
  ck_assert_int_eq(run_lethe(args, msg, sizeof msg), 1);
  ck_assert_msg(strstr(msg, "data.dir") != NULL, "%s", msg);
  snprintf(args, sizeof args, "train -s 'cache_dir=\"%s/cache\"' -s finetune.batch_size=0", tmp);
  ck_assert_int_eq(run_lethe(args, msg, sizeof msg), 1);
  ck_assert_msg(strstr(msg, "finetune.batch_size") != NULL, "%s", msg);
  assert_no_cache();
  char *run = at("run");
  ck_assert(!lethe_file_exists(run));
  free(run);
}
END_TEST

/* The argument helpers return a status (2, a usage error) instead of
 * exiting: a missing value, a bad integer, an unknown argument. */
START_TEST(test_cli_usage_errors) {
  static const struct {
    const char *args, *says;
  } cases[] = {{"eval --model", "option --model needs a value"},
               {"eval --max-rows x", "--max-rows expects an integer in [1, 1048576], got 'x'"},
               {"eval --max-rows=0", "got '0'"},
               {"unlearn --out", "option --out needs a value"},
               {"train --stages", "option --stages needs a value"},
               {"suite run x.cfg --threads 0", "--threads expects an integer"},
               {"methods --plugin-path", "option --plugin-path needs a value"},
               {"score --bogus", "unknown argument '--bogus'"},
               {"eval --model m --data d --split forget10 --out o --format chatlm",
                "unknown preset \"chatlm\""},
               {"eval --model m --data d --split forget10 --out o -s data.answer_tag=x "
                "--format tofu-phi",
                "data.answer_tag is set next to data.format"},
               {"eval -s data.nope=1", "unknown setting 'data.nope'"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char msg[4096];
    ck_assert_int_eq(run_lethe(cases[i].args, msg, sizeof msg), 2);
    ck_assert_msg(strstr(msg, cases[i].says) != NULL, "lethe %s: %s", cases[i].args, msg);
  }
}
END_TEST

START_TEST(test_record_method) {
  const char *over[] = {"method.name=npo", "method.beta=0.25", "method.params.forget_coeff=2"};
  experiment e;
  load(&e, over, 3);
  method_spec ms;
  lethe_err err = {0};
  ck_assert_msg(method_spec_from_config(&ms, lcfg_setting(&e.cfg, "method"),
                                        (const char *const *)e.method_overrides,
                                        e.n_method_overrides, &err) == 0, "%s", err.msg);
  ck_assert(lcfg_setting(&e.cfg, "method.params.beta") == NULL);
  ck_assert_msg(lcfg_record_method(&e.cfg, experiment_schema, &ms, &err) == 0, "%s", err.msg);
  ck_assert_str_eq(lcfg_string(&e.cfg, "method.name"), "npo");
  ck_assert_double_eq(lcfg_float(&e.cfg, "method.params.beta"), 0.25);
  ck_assert_double_eq(lcfg_float(&e.cfg, "method.params.forget_coeff"), 2.0);
  /* every parameter of the table, defaults included, written as floats */
  const lethe_method_desc *d = ms.plugin.desc;
  for (uint32_t i = 0; i < d->n_params; i++) {
    char key[160];
    snprintf(key, sizeof key, "method.params.%s", d->params[i].name);
    ck_assert_msg(lcfg_setting(&e.cfg, key) != NULL, "%s missing", key);
  }
  char *text = lcfg_to_string(&e.cfg);
  ck_assert_msg(strstr(text, "forget_coeff = 2.0;") != NULL, "%s", text);
  free(text);
  method_spec_free(&ms);
  experiment_free(&e);
}
END_TEST

int main(void) {
  Suite *s = suite_create("check");
  TCase *tc = tcase_create("check");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_valid_experiment_passes_and_creates_nothing);
  tcase_add_test(tc, test_trainable_params);
  tcase_add_test(tc, test_prompt_format_checked_at_load);
  tcase_add_test(tc, test_example_configs_load);
  tcase_add_test(tc, test_method_typo_fails_naming_it);
  tcase_add_test(tc, test_method_parameter_out_of_range);
  tcase_add_test(tc, test_method_needs_checked);
  tcase_add_test(tc, test_batch_settings);
  tcase_add_test(tc, test_lora_settings);
  tcase_add_test(tc, test_forget_split_retain);
  tcase_add_test(tc, test_tofu_files);
  tcase_add_test(tc, test_output_directory);
  tcase_add_test(tc, test_eval_inputs);
  tcase_add_test(tc, test_cli_fails_before_any_stage);
  tcase_add_test(tc, test_cli_usage_errors);
  tcase_add_test(tc, test_record_method);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
