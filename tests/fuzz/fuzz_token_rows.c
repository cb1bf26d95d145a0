/* fuzz_token_rows — Hugging Face token rows in JSON lines
 * (model/token_batch.c) on arbitrary bytes. An accepted file gives a batch
 * whose targets are its shifted labels; a refused one has a message. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "model/token_batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("rows.jsonl", data, size);
  token_batch tb;
  lethe_err err = {0};
  if (token_batch_read_jsonl(&tb, path, 0, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused file has a message");
  } else {
    FUZZ_CHECK(tb.B > 0 && tb.T > 0, "an accepted file has rows");
    for (int b = 0; b < tb.B; b++) {
      FUZZ_CHECK(tb.row_len[b] >= 1 && tb.row_len[b] <= tb.T, "row lengths inside T");
      for (int t = 0; t + 1 < tb.T; t++) {
        int32_t lab = tb.labels[b * tb.T + t + 1];
        FUZZ_CHECK(tb.targets[b * tb.T + t] == (lab >= 0 ? lab : -1), "targets = shifted labels");
      }
    }
    FUZZ_CHECK(token_batch_n_targets(&tb) <= (long)tb.B * tb.T, "target count bounded");
    token_batch_free(&tb);
  }
  free(path);
  return 0;
}
