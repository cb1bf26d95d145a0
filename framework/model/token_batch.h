/* token_batch — a padded batch of token rows in the Hugging Face convention
 * (input_ids, attention_mask, labels with -100 = not a target), read from
 * JSON lines, and the shifted targets a causal LM trains on.
 * Not here: how rows are built from text (data/). */
#ifndef LETHE_TOKEN_BATCH_H
#define LETHE_TOKEN_BATCH_H

#include <stdint.h>

#include "core/core.h"

typedef struct token_batch {
  int B, T;           /* rows, padded length */
  int32_t *input_ids; /* (B,T) */
  int32_t *attn_mask; /* (B,T) 1 = real token */
  int32_t *labels;    /* (B,T) HF labels, -100 = not a target */
  int32_t *targets;   /* (B,T) targets[b,t] = labels[b,t+1] or -1; last column -1 */
  int *row_len;       /* (B) length of each row as given */
} token_batch;

/* Allocates an empty (all pad) batch: input_ids pad_id, mask 0, labels -100. */
void token_batch_alloc(token_batch *tb, int B, int T, int32_t pad_id);
/* Reads one row per line: {"input_ids": [...], "attention_mask": [...],
 * "labels": [...]} (attention_mask optional: all 1; labels optional: all
 * -100). Rows shorter than the longest are right-padded with pad_id. Errors
 * name the file, line and field. */
int token_batch_read_jsonl(token_batch *tb, const char *path, int32_t pad_id, lethe_err *err);
/* Copies HF-convention arrays (B,T) into a new batch (row lengths = T). */
void token_batch_from_arrays(token_batch *tb, int B, int T, const int32_t *input_ids,
                             const int32_t *attn_mask, const int32_t *labels, int32_t pad_id);
/* Recomputes targets from labels (call after editing labels). */
void token_batch_shift_targets(token_batch *tb);
/* Number of target positions (targets >= 0). */
long token_batch_n_targets(const token_batch *tb);
void token_batch_free(token_batch *tb);
/* Stacks parts[0..n) (any may be NULL = no rows) into one batch padded to the
 * longest part (or to min_T if larger); row0[i]/nrows[i] get each part's rows. */
void token_batch_stack(token_batch *out, const token_batch *const *parts, int n, int min_T,
                       int32_t pad_id, int *row0, int *nrows);

#endif
