/* instance — runs a loaded plugin: create, one checked loss_and_grad per
 * step, destroy. Inputs are checked against the plugin's capabilities before
 * the call and outputs are checked for NaN/Inf after it, so a bad batch or a
 * misbehaving method stops the run with the method and the step named.
 * Not here: building the batch (the trainer and `lethe grad` do that).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method/method_host.h"

int method_instance_create(method_instance *mi, const method_plugin *p, const void *params,
                           const lethe_host_api *host, lethe_err *err) {
  memset(mi, 0, sizeof *mi);
  const lethe_method_desc *d = p->desc;
  if (method_needs_resolve(d, params, &mi->needs, err)) return -1;
  mi->plugin = p;
  mi->host = lethe_calloc(1, sizeof *mi->host);
  if (host) *mi->host = *host;
  mi->host->struct_size = sizeof *mi->host;
  lethe_method_error perr = {0, ""};
  if (!d->create) { /* ABI 1.2: the parameters are the state, the host's to keep */
    if (d->params_size) {
      mi->own_params = lethe_malloc(d->params_size);
      memcpy(mi->own_params, params, d->params_size);
    }
    mi->state = mi->own_params;
    return 0;
  }
  if (d->create(params, mi->host, &mi->state, &perr)) {
    lethe_errf(err, LETHE_E_PLUGIN, "method '%s' (%s): create failed: %s", d->name, p->path,
               perr.msg[0] ? perr.msg : "no message");
    free(mi->host);
    memset(mi, 0, sizeof *mi);
    return -1;
  }
  return 0;
}

void method_instance_destroy(method_instance *mi) {
  if (!mi || !mi->plugin) return;
  if (mi->plugin->desc->destroy) mi->plugin->desc->destroy(mi->state);
  free(mi->own_params);
  free(mi->host);
  memset(mi, 0, sizeof *mi);
}

/* Segments lie inside [0, B), in the order forget, retain, idk, without overlap. */
static int check_segments(const lethe_method_batch *b, char *why, size_t n) {
  static const char *const seg_names[] = {"forget", "retain", "idk"};
  int32_t next = 0;
  for (int k = 0; k < LETHE_SEG_COUNT; k++) {
    lethe_segment s = b->seg[k];
    if (s.nrows < 0 || s.row0 < 0 || s.row0 > b->B || s.nrows > b->B - s.row0) {
      snprintf(why, n, "%s segment rows [%d, %d+%d) outside the batch's %d rows", seg_names[k],
               s.row0, s.row0, s.nrows, b->B);
      return -1;
    }
    if (!s.nrows) continue;
    if (s.row0 < next) {
      snprintf(why, n, "%s segment starts at row %d, before the end of the previous one (%d)",
               seg_names[k], s.row0, next);
      return -1;
    }
    next = s.row0 + s.nrows;
  }
  return 0;
}

/* The ABI 1.2 inputs the resolved caps ask for (shapes checked by the caller). */
static const char *missing_v12(uint32_t caps, const lethe_method_batch *b,
                               const lethe_method_grad *out) {
  if ((caps & LETHE_CAP_EXAMPLE_IDS) && !b->example_id) return "example_id";
  if ((caps & (LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN)) && b->C <= 0) return "hidden size C";
  if ((caps & LETHE_CAP_HIDDEN) && (!b->hidden || !out->dhidden)) return "hidden/dhidden";
  if ((caps & LETHE_CAP_REF_HIDDEN) && !b->ref_hidden) return "ref_hidden";
  if ((caps & LETHE_CAP_PARAMS) && (b->n_params < 0 || (b->n_params && (!b->params || !out->dparams))))
    return "params/dparams";
  return NULL;
}

static int check_batch(uint32_t caps, const lethe_method_batch *b,
                       const lethe_method_grad *out, char *why, size_t n) {
  const char *missing = NULL;
  if (b->struct_size != sizeof *b || out->struct_size != sizeof *out) {
    snprintf(why, n, "batch/grad struct_size not set (%u/%u, expected %zu/%zu)", b->struct_size,
             out->struct_size, sizeof *b, sizeof *out);
    return -1;
  }
  if (b->B <= 0 || b->T <= 0 || ((caps & (LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS)) && b->V <= 0)) {
    snprintf(why, n, "bad shape B=%d T=%d V=%d", b->B, b->T, b->V);
    return -1;
  }
  if (check_segments(b, why, n)) return -1;
  if (!b->target) missing = "target";
  else if (!b->mask) missing = "mask";
  else if (!b->attn) missing = "attn";
  else if (!b->logp) missing = "logp";
  else if (!out->dlogp) missing = "dlogp";
  else if ((caps & LETHE_CAP_REF_LOGP) && !b->ref_logp)
    missing = "ref_logp (method needs reference log-probs)";
  else if ((caps & LETHE_CAP_LOGITS) && !b->logits) missing = "logits (method needs logits)";
  else if ((caps & LETHE_CAP_LOGITS) && !out->dlogits) missing = "dlogits (method needs logits)";
  else if ((caps & LETHE_CAP_REF_LOGITS) && !b->ref_logits)
    missing = "ref_logits (method needs reference logits)";
  else missing = missing_v12(caps, b, out);
  if (missing) {
    snprintf(why, n, "batch has no %s", missing);
    return -1;
  }
  if ((caps & LETHE_CAP_IDK) && b->seg[LETHE_SEG_IDK].nrows != b->seg[LETHE_SEG_FORGET].nrows) {
    snprintf(why, n, "%d idk rows for %d forget rows (idk row k pairs with forget row k)",
             b->seg[LETHE_SEG_IDK].nrows, b->seg[LETHE_SEG_FORGET].nrows);
    return -1;
  }
  return 0;
}

/* Index of the first non-finite value, or -1. */
static long first_non_finite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return (long)i;
  return -1;
}

/* dhidden and dparams finite (when asked for). */
static int check_v12_outputs(const method_instance *mi, const lethe_method_batch *b,
                             const lethe_method_grad *out, lethe_err *err) {
  const lethe_method_desc *d = mi->plugin->desc;
  if (mi->needs.caps & LETHE_CAP_HIDDEN) {
    long at = first_non_finite(out->dhidden, (size_t)b->B * b->T * (size_t)b->C);
    if (at >= 0) {
      long pos = at / b->C;
      return lethe_errf(err, LETHE_E_NUMERIC,
                        "method '%s' (%s): step %lld: dhidden[b=%ld, t=%ld, c=%ld] is %g",
                        d->name, mi->plugin->path, (long long)b->step, pos / b->T, pos % b->T,
                        at % b->C, out->dhidden[at]);
    }
  }
  for (int32_t i = 0; (mi->needs.caps & LETHE_CAP_PARAMS) && i < b->n_params; i++) {
    long at = first_non_finite(out->dparams[i], (size_t)b->params[i].numel);
    if (at >= 0)
      return lethe_errf(err, LETHE_E_NUMERIC, "method '%s' (%s): step %lld: dparams of %s[%ld] is %g",
                        d->name, mi->plugin->path, (long long)b->step, b->params[i].name, at,
                        out->dparams[i][at]);
  }
  return 0;
}

int method_instance_step(method_instance *mi, const lethe_method_batch *b, lethe_method_grad *out,
                         lethe_err *err) {
  const lethe_method_desc *d = mi->plugin->desc;
  char why[256];
  if (check_batch(mi->needs.caps, b, out, why, sizeof why))
    return lethe_errf(err, LETHE_E_USAGE, "method '%s': step %lld: %s", d->name,
                      (long long)b->step, why);
  lethe_method_error perr = {0, ""};
  lethe_method_batch view = *b;
  view.host = mi->host;
  if (d->loss_and_grad(mi->state, &view, out, &perr))
    return lethe_errf(err, LETHE_E_PLUGIN, "method '%s' (%s): step %lld: %s", d->name,
                      mi->plugin->path, (long long)b->step,
                      perr.msg[0] ? perr.msg : "failed, no message");
  if (!isfinite(out->loss))
    return lethe_errf(err, LETHE_E_NUMERIC, "method '%s' (%s): step %lld: loss is %g", d->name,
                      mi->plugin->path, (long long)b->step, out->loss);
  size_t bt = (size_t)b->B * (size_t)b->T;
  long at = first_non_finite(out->dlogp, bt);
  if (at >= 0)
    return lethe_errf(err, LETHE_E_NUMERIC,
                      "method '%s' (%s): step %lld: dlogp[b=%ld, t=%ld] is %g", d->name,
                      mi->plugin->path, (long long)b->step, at / b->T, at % b->T, out->dlogp[at]);
  if (mi->needs.caps & LETHE_CAP_LOGITS) {
    at = first_non_finite(out->dlogits, bt * (size_t)b->V);
    if (at >= 0) {
      long pos = at / b->V;
      return lethe_errf(err, LETHE_E_NUMERIC,
                        "method '%s' (%s): step %lld: dlogits[b=%ld, t=%ld, v=%ld] is %g", d->name,
                        mi->plugin->path, (long long)b->step, pos / b->T, pos % b->T, at % b->V,
                        out->dlogits[at]);
    }
  }
  return check_v12_outputs(mi, b, out, err);
}

int method_instance_combine(method_instance *mi, const lethe_method_parts *parts, lethe_err *err) {
  const lethe_method_desc *d = mi->plugin->desc;
  lethe_method_error perr = {0, ""};
  lethe_method_parts view = *parts;
  view.struct_size = sizeof view;
  view.host = mi->host;
  if (d->combine(mi->state, &view, &perr))
    return lethe_errf(err, LETHE_E_PLUGIN, "method '%s' (%s): step %lld: combine: %s", d->name,
                      mi->plugin->path, (long long)parts->step,
                      perr.msg[0] ? perr.msg : "failed, no message");
  for (int32_t i = 0; i < parts->n_params; i++) {
    long at = first_non_finite(parts->out[i], (size_t)parts->params[i].numel);
    if (at >= 0)
      return lethe_errf(err, LETHE_E_NUMERIC,
                        "method '%s' (%s): step %lld: combined gradient of %s[%ld] is %g", d->name,
                        mi->plugin->path, (long long)parts->step, parts->params[i].name, at,
                        parts->out[i][at]);
  }
  return 0;
}
