/* lethe methods — lists the method plugins on the plugin path, or describes
 * one (parameters with defaults, ranges and docs). Loads descriptors only:
 * no method instance is created. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "method/method_host.h"

void help_methods(void) {
  printf(
      "usage: lethe methods [--plugin-path DIR[:DIR...]] [NAME]\n\n"
      "Without NAME, lists every method plugin found (name, version, summary, file).\n"
      "With NAME, prints what the method needs from the host and its parameters\n"
      "(type, default, range, description), set in a config as\n"
      "  method = { name = \"NAME\"; params = { KEY = VALUE; }; };\n"
      "or on the command line as -s method.KEY=VALUE.\n\n"
      "Plugins are the files lethe_NAME.so found, first match wins, in: --plugin-path,\n"
      "$%s (colon list), then the plugins that came with this lethe, found\n"
      "from where its executable is: PREFIX/lib/lethe/plugins for an installed lethe\n"
      "(wherever the prefix was moved), the build's plugins/ for the build tree's.\n"
      "A plugin that cannot be loaded or duplicates a name already found is reported\n"
      "on stderr with the reason and skipped.\n",
      METHOD_PATH_ENV);
}

static void report_refused(void *ctx, const char *path, const lethe_err *why) {
  (void)ctx;
  (void)path; /* the message names the file */
  fprintf(stderr, "lethe methods: skipped: %s\n", why->msg);
}

static int list_methods(const method_search *s) {
  method_set set;
  method_set_init(&set);
  method_set_scan(&set, s, report_refused, NULL);
  int wn = 4, wv = 7;
  for (int i = 0; i < set.n; i++) {
    int n = (int)strlen(set.items[i].desc->name), v = (int)strlen(set.items[i].desc->version);
    if (n > wn) wn = n;
    if (v > wv) wv = v;
  }
  printf("%-*s  %-*s  %s\n", wn, "name", wv, "version", "summary / file");
  for (int i = 0; i < set.n; i++) {
    const method_plugin *p = &set.items[i];
    printf("%-*s  %-*s  %s\n%-*s  %-*s  %s\n", wn, p->desc->name, wv, p->desc->version,
           p->desc->summary, wn, "", wv, "", p->path);
  }
  if (!set.n) fprintf(stderr, "lethe methods: no method plugins found\n");
  printf("\nplugin path:");
  for (int i = 0; i < s->n_dirs; i++) printf("%s%s", i ? ":" : " ", s->dirs[i]);
  printf("\n");
  int rc = set.n ? 0 : 1;
  method_set_free(&set);
  return rc;
}

int cmd_methods(int argc, char **argv) {
  const char *dirs = NULL, *name = NULL, *v;
  cli_args a = {"methods", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--plugin-path", &v)) dirs = v;
    else if (argv[a.i][0] == '-') return cli_unknown(&a);
    else if (name)
      return cli_usage_error("methods", "more than one NAME ('%s', '%s')", name, argv[a.i]);
    else name = argv[a.i];
  }
  method_search s;
  method_search_init(&s);
  method_search_add(&s, dirs);
  method_search_add_defaults(&s);
  int rc = 0;
  if (!name) {
    rc = list_methods(&s);
  } else {
    method_plugin p;
    lethe_err err = {0};
    if (method_plugin_find(&p, &s, name, &err)) {
      fprintf(stderr, "lethe methods: %s\n", err.msg);
      rc = 1;
    } else {
      method_describe(stdout, &p);
      method_plugin_close(&p);
    }
  }
  method_search_free(&s);
  return rc;
}
