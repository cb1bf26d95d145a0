/* fuzz_safetensors — the safetensors reader (model/safetensors.c) on
 * arbitrary bytes. A file it accepts must describe tensors inside the data
 * section that convert to float32 without a fault (BF16 and F16 exactly: each
 * narrows back to its bits); a file it refuses must come with a message. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("model.safetensors", data, size);
  st_file f;
  lethe_err err = {0};
  if (st_open(&f, path, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused file has a message");
    free(path);
    return 0;
  }
  for (int i = 0; i < f.n_tensors; i++) {
    const st_tensor *t = &f.tensors[i];
    FUZZ_CHECK(t->begin <= t->end && t->end <= f.data_len, "tensor inside the data section");
    FUZZ_CHECK(st_find(&f, t->name) != NULL, "every tensor can be found by name");
    /* numel x dtype size == end - begin <= data_len, so this is bounded */
    float *dst = malloc((size_t)t->numel * sizeof(float) + 1);
    lethe_err rerr = {0};
    if (st_read_f32(&f, t, dst, t->numel, &rerr) != 0)
      FUZZ_CHECK(rerr.msg[0] != '\0', "a refused read has a message");
    else if (t->dtype == ST_BF16 || t->dtype == ST_F16) /* widening is exact: narrowing undoes it */
      for (uint64_t k = 0; k < t->numel; k++) {
        const uint8_t *raw = data + f.data_offset + t->begin + 2 * k;
        uint16_t bits = (uint16_t)(raw[0] | raw[1] << 8);
        FUZZ_CHECK(bits == (t->dtype == ST_BF16 ? st_f32_to_bf16(dst[k]) : st_f32_to_f16(dst[k])),
                   "16-bit floats survive a trip through float32");
      }
    free(dst);
  }
  st_close(&f);
  free(path);
  return 0;
}
