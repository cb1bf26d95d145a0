/* llama_rows — skipping padding (llama_set_skip_padding, llama.h): which
 * positions a forward computes, and the moves between their packed rows
 * and the (B,T) layout the attention and the callers use. */
#include <string.h>

#include "model/llama_ops.h"

void llama_rows_plan(llama_model *m, const int32_t *tokens, const int32_t *attn_mask) {
  int64_t BT = (int64_t)m->B * m->T, n = 0, real = 0;
  m->rows = BT;
  if (!m->skip_pad || !attn_mask) return;
  for (int64_t i = 0; i < BT; i++) real += attn_mask[i] != 0;
  if (real == 0 || real == BT) return; /* padding alone, or none: computed whole */
  /* fillers: the first padded positions, up to a multiple of the quantum,
   * and never all of them (the rows stay packed) */
  int64_t want = llama_rows_rounded(m, real);
  int64_t fillers = (want < BT ? want : BT - 1) - real;
  for (int64_t i = 0; i < BT; i++) {
    if (!attn_mask[i] && fillers-- <= 0) {
      m->row_of[i] = -1;
      continue;
    }
    m->row_of[i] = (int32_t)n;
    m->row_pos[n] = (int32_t)i;
    m->row_tokens[n++] = tokens[i];
  }
  m->rows = n;
}

void llama_rows_scatter(const llama_model *m, float *dst, const float *src, int64_t width) {
  int64_t BT = (int64_t)m->B * m->T;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < BT; i++) {
    int64_t r = m->row_of[i];
    if (r >= 0) memcpy(dst + i * width, src + r * width, sizeof(float) * width);
    else memset(dst + i * width, 0, sizeof(float) * width);
  }
}

void llama_rows_gather(const llama_model *m, float *dst, const float *src, int64_t width) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < m->rows; r++)
    memcpy(dst + r * width, src + (int64_t)m->row_pos[r] * width, sizeof(float) * width);
}

/* Row r moves to position row_pos[r] >= r: from the last row down, no row
 * is overwritten before it has moved. */
void llama_rows_expand(const llama_model *m, float *buf, int64_t width) {
  int64_t BT = (int64_t)m->B * m->T;
  for (int64_t r = m->rows - 1; r >= 0; r--)
    if (m->row_pos[r] != r) memmove(buf + (int64_t)m->row_pos[r] * width, buf + r * width,
                                    sizeof(float) * width);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < BT; i++)
    if (!m->attn_mask[i]) memset(buf + i * width, 0, sizeof(float) * width);
}

/* The reverse: from the first row up, each row moves down to r <= row_pos[r];
 * the fillers' rows become 0. */
void llama_rows_pack(const llama_model *m, float *buf, int64_t width) {
  for (int64_t r = 0; r < m->rows; r++) {
    int64_t at = m->row_pos[r];
    if (!m->attn_mask[at]) memset(buf + r * width, 0, sizeof(float) * width);
    else if (at != r) memmove(buf + r * width, buf + at * width, sizeof(float) * width);
  }
}
