/* config — layered experiment configuration on libconfig.
 *
 * libconfig has no defaults or overrides, so lethe layers them: a schema
 * (libconfig text holding every known setting with its default) ← the user's
 * file (with @include, resolved relative to the file's directory) ← `-s
 * path=value` overrides. Every setting of the file or an override must exist
 * in the schema with a compatible type (an integer is accepted where a float
 * is expected), except inside "open" groups whose keys another component
 * validates (a method's parameters, the world's settings). Errors give
 * file:line and the setting path. The resolved tree can be written out, so
 * every run keeps the exact configuration it ran with.
 */
#ifndef LETHE_RUN_CONFIG_H
#define LETHE_RUN_CONFIG_H

#include <libconfig.h>

#include "core/core.h"
#include "method/method_host.h"

typedef struct lcfg {
  config_t tree;        /* the resolved configuration */
  char *path;           /* the user's file, or NULL */
  const char *const *open_groups; /* NULL-terminated paths, borrowed */
} lcfg;

/* Loads schema_text (defaults), then path (may be NULL), then overrides
 * ("a.b.c=value": value in libconfig syntax; a bare word is taken as a string
 * where the schema expects one). open_groups lists group paths whose content
 * is not checked against the schema. */
int lcfg_load(lcfg *c, const char *schema_text, const char *const *open_groups, const char *path,
              const char *const *overrides, int n_overrides, lethe_err *err);
void lcfg_free(lcfg *c);
/* Applies one more override to a loaded configuration (same rules). */
int lcfg_override(lcfg *c, const char *schema_text, const char *assignment, lethe_err *err);

/* Typed reads of settings the schema guarantees (abort on a missing path:
 * that is a schema bug, not a user error). */
long lcfg_int(const lcfg *c, const char *path);
double lcfg_float(const lcfg *c, const char *path);
int lcfg_bool(const lcfg *c, const char *path);
const char *lcfg_string(const lcfg *c, const char *path); /* valid until lcfg_free */
config_setting_t *lcfg_setting(const lcfg *c, const char *path); /* NULL if absent */
/* "file:line" of a setting for error messages ("command line" / "default"). */
void lcfg_where(const config_setting_t *s, char *buf, size_t n);

/* Records a resolved method in the configuration: method.name and every
 * parameter of its table with the value it has in ms (defaults and -s
 * overrides included), so that the written file reproduces the run. The
 * settings are applied as overrides against schema_text. */
int lcfg_record_method(lcfg *c, const char *schema_text, const method_spec *ms, lethe_err *err);

/* Writes the resolved configuration (atomically). */
int lcfg_write(const lcfg *c, const char *path, lethe_err *err);
/* The resolved configuration as text (malloc'd). */
char *lcfg_to_string(const lcfg *c);

#endif
