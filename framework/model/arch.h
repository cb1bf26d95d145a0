/* arch — the per-family part of config.json (internal to the model room;
 * see arch.c). The public face is config.h and llama.h. */
#ifndef LETHE_MODEL_ARCH_H
#define LETHE_MODEL_ARCH_H

#include <jansson.h>
#include <stdio.h>

#include "model/config.h"

/* Reads model_type, architectures, the rope rule and the family's own keys
 * into cfg; head_dim must already be set. */
int arch_read(llama_config *cfg, json_t *root, const char *path, lethe_err *err);
/* The family fields' own checks (rope factors, rotary dims, ...). */
int arch_validate(const llama_config *cfg, const char *where, lethe_err *err);
/* Writes architectures, model_type, the family's keys and the rope keys
 * (theta: rope_theta already formatted) as lines of a JSON object. */
void arch_write(const llama_config *cfg, FILE *fp, const char *theta);

#endif
