/* kind — the experiment kinds' names (see kind.h). */
#include "core/kind.h"

#include <string.h>

static const char *const kind_names[LETHE_N_KINDS] = {
    [LETHE_KIND_TOFU] = "tofu",
    [LETHE_KIND_SYNTHETIC] = "synthetic",
    [LETHE_KIND_MUSE] = "muse",
};

const char *lethe_kind_name(lethe_kind k) {
  return k >= 0 && k < LETHE_N_KINDS ? kind_names[k] : NULL;
}

lethe_kind lethe_kind_parse(const char *name) {
  for (int k = 0; name && k < LETHE_N_KINDS; k++)
    if (!strcmp(name, kind_names[k])) return (lethe_kind)k;
  return LETHE_KIND_UNKNOWN;
}
