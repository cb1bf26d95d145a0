/* method — the host side of the method plugin ABI (include/lethe/method.h):
 * finding and loading plugins, filling their hyper-parameters from libconfig
 * and `-s method.KEY=VALUE` overrides, and running an instance with every
 * input and output checked.
 *
 * Not here: the model forward/backward, the reference log-prob cache and the
 * training loop (they build the lethe_method_batch this module checks), nor
 * any loss math (that lives in the plugins).
 *
 * Ownership: a method_plugin owns its path and its dlopen handle; descriptors
 * and their strings stay valid until method_plugin_close (which is a no-op
 * unload under AddressSanitizer, so leak reports keep plugin symbols). A
 * method_instance borrows its plugin: close the plugin only after destroying
 * every instance of it. All errors go to a caller-owned lethe_err.
 */
#ifndef LETHE_METHOD_HOST_H
#define LETHE_METHOD_HOST_H

#include <libconfig.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"
#include "lethe/method.h"

/* A plugin for method NAME is the file "lethe_NAME.so" in a search directory. */
#define METHOD_FILE_PREFIX "lethe_"
#define METHOD_FILE_SUFFIX ".so"
/* The environment variable holding extra plugin directories (colon list). */
#define METHOD_PATH_ENV "LETHE_PLUGIN_PATH"

/* ---- search path ------------------------------------------------------------
 * An ordered list of directories; the first match wins. Directories are stored
 * canonicalised when they exist, and a directory is listed only once. */
typedef struct method_search {
  char **dirs;
  int n_dirs;
} method_search;

void method_search_init(method_search *s);
/* Appends each entry of a colon-separated list (empty entries are skipped). */
void method_search_add(method_search *s, const char *dir_list);
/* Appends $LETHE_PLUGIN_PATH, then the plugins that came with the running
 * program: an installed lethe's <bindir>/../lib/lethe/plugins, found from its
 * executable wherever the prefix was moved, or for a program of the build
 * tree the build's plugins/ (never both). Callers add config-given
 * directories first. */
void method_search_add_defaults(method_search *s);
void method_search_free(method_search *s);

/* ---- one loaded plugin ------------------------------------------------------ */
typedef struct method_plugin {
  char *path;                    /* the file it was loaded from (owned) */
  void *handle;                  /* dlopen handle */
  const lethe_method_desc *desc; /* validated descriptor (plugin memory) */
} method_plugin;

/* dlopen(path, RTLD_NOW | RTLD_LOCAL), resolve the entry symbol and validate
 * every descriptor field. The error says which check failed and what this
 * host expects (ABI, capability bits, callbacks, parameter table, dlerror()). */
int method_plugin_open(method_plugin *p, const char *path, lethe_err *err);
/* Opens "lethe_NAME.so" from the first search directory that has it and
 * checks that its descriptor is called NAME. */
int method_plugin_find(method_plugin *p, const method_search *s, const char *name,
                       lethe_err *err);
void method_plugin_close(method_plugin *p);
/* The descriptor's optional title and colour (method.h), or NULL when the
 * plugin leaves them unset or was built before they existed (its
 * struct_size does not cover them). The loader has checked them. */
const char *method_desc_title(const lethe_method_desc *d);
const char *method_desc_colour(const lethe_method_desc *d);
/* What the plugin needs with these parameters (lethe_method_needs): its
 * resolve() when it has one (ABI 1.2), else desc->caps and no hidden layer.
 * Refuses bits outside desc->caps and hidden states without a layer; the
 * plugin's own refusal (a parameter combination) is a config error. */
int method_needs_resolve(const lethe_method_desc *d, const void *params, lethe_method_needs *needs,
                         lethe_err *err);
/* "retain, idk, reference log-probs, ..." for caps (or "none"); returns buf. */
const char *method_caps_string(uint32_t caps, char *buf, size_t n);

/* ---- a set of plugins with distinct names ------------------------------------ */
typedef struct method_set {
  method_plugin *items;
  int n, cap;
} method_set;

void method_set_init(method_set *set);
/* Opens path and adds it; refuses a plugin whose name is already in the set
 * (the message names both files). */
int method_set_add(method_set *set, const char *path, lethe_err *err);
/* Adds every lethe_*.so of every search directory (each directory in name
 * order). A file that is refused is reported through `refused` (may be NULL)
 * and skipped. Returns the number of refused files. */
int method_set_scan(method_set *set, const method_search *s,
                    void (*refused)(void *ctx, const char *path, const lethe_err *why),
                    void *ctx);
void method_set_free(method_set *set); /* closes every plugin */

/* ---- hyper-parameters -----------------------------------------------------------
 * params buffers are desc->params_size bytes (at least 1), malloc'd, free(). */
void *method_params_new(const lethe_method_desc *d); /* filled with the defaults */
/* Reads a `params = { ... };` group (NULL = nothing to read). Unknown names,
 * wrong types and out-of-range values are errors with file:line. Integers are
 * accepted for DOUBLE parameters. */
int method_params_from_config(const lethe_method_desc *d, void *params,
                              const config_setting_t *group, lethe_err *err);
/* Sets one parameter from text ("0.5", "3", "true"); origin names where the
 * text came from in error messages. */
int method_params_set(const lethe_method_desc *d, void *params, const char *name,
                      const char *text, const char *origin, lethe_err *err);
/* Applies "method.KEY=VALUE" or "method.params.KEY=VALUE". */
int method_params_override(const lethe_method_desc *d, void *params, const char *assignment,
                           lethe_err *err);
/* 1 when v is finite and inside p's range (BOOL: 0 or 1). */
int method_param_in_range(const lethe_param *p, double v);
/* The value of parameter i as a double (BOOL/INT converted). */
double method_param_value(const lethe_method_desc *d, const void *params, uint32_t i);
/* Writes `params = { a = 1.0; ... };` (libconfig syntax, values as set) on one line. */
void method_params_write(FILE *out, const lethe_method_desc *d, const void *params);
/* The human description for `lethe methods NAME`: header, needs, and every
 * parameter with type, default, range and doc, then an example config. */
void method_describe(FILE *out, const method_plugin *p);

/* ---- a resolved method choice: plugin + filled parameters ---------------------- */
typedef struct method_spec {
  method_plugin plugin;
  void *params; /* desc->params_size bytes, owned */
  lethe_method_needs needs; /* resolved from params (method_needs_resolve) */
} method_spec;

/* From a libconfig `method = { name = "npo"; plugin = "x.so"; plugin_path =
 * "dir:dir"; params = { ... }; };` group (every key optional except that a
 * name or a plugin is needed), then overrides. Overrides are "-s" strings;
 * those that do not start with "method." are ignored here; "method.name",
 * "method.plugin" and "method.plugin_path" select the plugin, any other
 * "method.[params.]KEY=VALUE" sets a parameter. */
int method_spec_from_config(method_spec *ms, const config_setting_t *method_group,
                            const char *const *overrides, int n_overrides, lethe_err *err);
/* The same without a config file (`lethe grad --method NAME -s ...`);
 * plugin_dirs is an optional colon list searched first. */
int method_spec_from_name(method_spec *ms, const char *name, const char *plugin_dirs,
                          const char *const *overrides, int n_overrides, lethe_err *err);
void method_spec_free(method_spec *ms);

/* ---- an instance ------------------------------------------------------------- */
typedef struct method_instance {
  const method_plugin *plugin; /* borrowed */
  void *state;                 /* the plugin's */
  lethe_host_api *host;        /* owned copy of the caller's service table */
  lethe_method_needs needs;    /* what it needs with its parameters: plan from needs.caps */
  void *own_params;            /* a plugin without create(): its state, the params copy */
} method_instance;

/* Resolves the needs of params (method_needs_resolve), then calls the
 * plugin's create with params and a copy of host (NULL = no services). */
int method_instance_create(method_instance *mi, const method_plugin *p, const void *params,
                           const lethe_host_api *host, lethe_err *err);
/* Checks the batch against the instance's resolved needs (shapes, segments,
 * pairing, required arrays), calls loss_and_grad, then checks that the loss,
 * dlogp and (when asked for) dlogits, dhidden and dparams are finite. Every error names the method
 * and the step. out's buffers must be zeroed by the caller. */
int method_instance_step(method_instance *mi, const lethe_method_batch *batch,
                         lethe_method_grad *out, lethe_err *err);
/* Calls the plugin's combine() (LETHE_CAP_PART_GRADS; parts->out zeroed by
 * the caller) and checks that every combined value is finite; errors name
 * the method, the step and the tensor. */
int method_instance_combine(method_instance *mi, const lethe_method_parts *parts, lethe_err *err);
void method_instance_destroy(method_instance *mi);

#endif
