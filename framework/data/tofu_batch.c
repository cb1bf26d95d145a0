/* tofu_batch — padded batches in the Hugging Face convention, epoch orders,
 * and the forget/retain/idk pairing of the NPO code (the prompt format and
 * its encoding are in prompt_format.c). Nothing here reads files. */
#include <stdlib.h>
#include <string.h>

#include "data/data.h"

/* ---- batches ------------------------------------------------------------------ */
void tofu_batch_fill(tofu_batch *b, const tofu_example *ex, const int *idx, int B,
                     const tofu_format *fmt, int32_t pad_id, int32_t end_id) {
  int T = 1;
  for (int k = 0; k < B; k++)
    if (ex[idx[k]].len + 1 > T) T = ex[idx[k]].len + 1;
  if (fmt->pad_to_max_length || T > fmt->max_length) T = fmt->max_length;
  if (B * T > b->cap || !b->example) {
    b->cap = B * T > b->cap ? B * T : b->cap;
    b->input_ids = lethe_realloc(b->input_ids, (size_t)b->cap * sizeof *b->input_ids);
    b->attention_mask = lethe_realloc(b->attention_mask, (size_t)b->cap * sizeof(int32_t));
    b->labels = lethe_realloc(b->labels, (size_t)b->cap * sizeof *b->labels);
    b->example = lethe_realloc(b->example, (size_t)(b->cap ? b->cap : 1) * sizeof *b->example);
  }
  b->B = B;
  b->T = T;
  for (int k = 0; k < B; k++) {
    const tofu_example *e = &ex[idx[k]];
    int32_t *in = b->input_ids + (size_t)k * T, *mask = b->attention_mask + (size_t)k * T,
            *lab = b->labels + (size_t)k * T;
    b->example[k] = idx[k];
    for (int t = 0; t < T; t++) {
      int real = t < e->len;
      in[t] = real ? e->ids[t] : pad_id;
      mask[t] = real;
      lab[t] = t < e->n_prompt ? TOFU_IGNORE
               : real          ? e->ids[t]
               : t == e->len   ? end_id
                               : TOFU_IGNORE;
    }
  }
}

void tofu_batch_free(tofu_batch *b) {
  free(b->input_ids);
  free(b->attention_mask);
  free(b->labels);
  free(b->example);
  memset(b, 0, sizeof *b);
}

/* ---- seeds and orders ------------------------------------------------------------ */
uint64_t tofu_mix_seed(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (i + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void tofu_epoch_order(int *order, int n, uint64_t seed, uint64_t epoch) {
  lethe_rng r;
  lethe_rng_seed(&r, tofu_mix_seed(~seed, epoch));
  for (int i = 0; i < n; i++) order[i] = i;
  lethe_rng_shuffle(&r, order, (size_t)n);
}

/* ---- forget / retain / idk ----------------------------------------------------------- */
void tofu_pair(uint64_t seed, size_t i, size_t n_retain, size_t n_idk, int *retain_partner,
               int *idk_answer) {
  lethe_rng r;
  lethe_rng_seed(&r, tofu_mix_seed(seed, i));
  uint64_t offset = lethe_rng_below(&r, n_retain);
  *retain_partner = (int)((i + offset) % n_retain);
  *idk_answer = (int)lethe_rng_below(&r, n_idk);
}

/* d's pairs for n_forget forget and n_retain retain examples (n_idk
 * answers; with none, idk_answer is drawn from one so that the retain
 * partners are those of a TOFU run) and its empty idk examples. */
static void forget_data_alloc(tofu_forget_data *d, size_t n_forget, size_t n_retain, size_t n_idk,
                              uint64_t seed) {
  memset(d, 0, sizeof *d);
  d->n_forget = n_forget;
  d->n_retain = n_retain;
  d->retain_partner = lethe_malloc(n_forget * sizeof *d->retain_partner);
  d->idk_answer = lethe_malloc(n_forget * sizeof *d->idk_answer);
  d->idk = lethe_calloc(n_forget, sizeof *d->idk);
  for (size_t i = 0; i < n_forget; i++)
    tofu_pair(seed, i, n_retain, n_idk ? n_idk : 1, &d->retain_partner[i], &d->idk_answer[i]);
}

int tofu_forget_data_init(tofu_forget_data *d, const tofu_set *forget, const tofu_set *retain,
                          const tofu_idk *idk, const tok_tokenizer *tok, const tofu_format *fmt,
                          uint64_t seed, lethe_err *err) {
  memset(d, 0, sizeof *d);
  if (!forget->n || !retain->n || !idk->n)
    return lethe_errf(err, LETHE_E_USAGE,
                      "forget, retain and idk sets must be non-empty "
                      "(have %zu, %zu, %zu)",
                      forget->n, retain->n, idk->n);
  forget_data_alloc(d, forget->n, retain->n, idk->n, seed);
  if (tofu_encode_set(tok, fmt, forget, &d->forget, err)) {
    tofu_forget_data_free(d);
    return lethe_err_prefix(err, "forget set");
  }
  if (tofu_encode_set(tok, fmt, retain, &d->retain, err)) {
    tofu_forget_data_free(d);
    return lethe_err_prefix(err, "retain set");
  }
  for (size_t i = 0; i < forget->n; i++)
    if (tofu_encode(tok, fmt, forget->rows[i].question, idk->answers[d->idk_answer[i]], &d->idk[i],
                    err)) {
      tofu_forget_data_free(d);
      return lethe_err_prefix(err, "idk answer %d", d->idk_answer[i] + 1);
    }
  return 0;
}

int tofu_forget_data_texts(tofu_forget_data *d, char *const *forget, size_t n_forget,
                           char *const *retain, size_t n_retain, const tok_tokenizer *tok,
                           const tofu_format *fmt, uint64_t seed, lethe_err *err) {
  memset(d, 0, sizeof *d);
  if (!n_forget || !n_retain)
    return lethe_errf(err, LETHE_E_USAGE, "forget and retain documents must be non-empty "
                      "(have %zu, %zu)", n_forget, n_retain);
  forget_data_alloc(d, n_forget, n_retain, 0, seed);
  d->forget = lethe_calloc(n_forget, sizeof *d->forget);
  d->retain = lethe_calloc(n_retain, sizeof *d->retain);
  for (size_t i = 0; i < n_forget + n_retain; i++) {
    int is_forget = i < n_forget;
    size_t k = is_forget ? i : i - n_forget;
    if (tofu_encode_text(tok, fmt, is_forget ? forget[k] : retain[k],
                         is_forget ? &d->forget[k] : &d->retain[k], err)) {
      tofu_forget_data_free(d);
      return lethe_err_prefix(err, "%s document %zu", is_forget ? "forget" : "retain", k + 1);
    }
  }
  return 0;
}

void tofu_forget_data_free(tofu_forget_data *d) {
  tofu_examples_free(d->forget, d->forget ? d->n_forget : 0);
  tofu_examples_free(d->idk, d->n_forget);
  tofu_examples_free(d->retain, d->retain ? d->n_retain : 0);
  free(d->retain_partner);
  free(d->idk_answer);
  memset(d, 0, sizeof *d);
}

void tofu_forget_batch(const tofu_forget_data *d, const tofu_format *fmt, const int *idx, int B,
                       int32_t pad_id, int32_t end_id, tofu_batch *forget, tofu_batch *retain,
                       tofu_batch *idk) {
  if (forget) tofu_batch_fill(forget, d->forget, idx, B, fmt, pad_id, end_id);
  if (idk) tofu_batch_fill(idk, d->idk, idx, B, fmt, pad_id, end_id);
  if (retain) {
    int *partners = lethe_malloc((size_t)(B ? B : 1) * sizeof *partners);
    for (int k = 0; k < B; k++) partners[k] = d->retain_partner[idx[k]];
    tofu_batch_fill(retain, d->retain, partners, B, fmt, pad_id, end_id);
    free(partners);
  }
}
