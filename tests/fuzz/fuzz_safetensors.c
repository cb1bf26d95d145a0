/* fuzz_safetensors — the safetensors reader (model/safetensors.c) on
 * arbitrary bytes. A file it accepts must describe tensors inside the data
 * section that convert to float32 without a fault; a file it refuses must
 * come with a message. */
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
    free(dst);
  }
  st_close(&f);
  free(path);
  return 0;
}
