/* bench_st_memory — peak memory of loading a model directory and saving it
 * back in its own layout (llama_load + llama_save), for checkpoints made by
 * tests/bench/st_memory.sh. Prints the resident set before, the peak while
 * loading and the peak while saving (Linux: VmHWM, reset between the two
 * through /proc/self/clear_refs), next to the float32 size of the parameters.
 * usage: bench_st_memory IN_DIR OUT_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/core.h"
#include "model/llama.h"
#include "model/safetensors.h"

static void reset_peak(void) {
  FILE *fp = fopen("/proc/self/clear_refs", "w");
  if (fp) {
    fputs("5", fp);
    fclose(fp);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IN_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  lethe_err err = {0};
  llama_model m;
  double before = bench_status_mib("VmRSS");
  double t0 = lethe_now();
  if (llama_load(&m, argv[1], &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  double t_load = lethe_now() - t0, load_peak = bench_status_mib("VmHWM");
  reset_peak();
  t0 = lethe_now();
  if (llama_save(&m, argv[2], &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  double t_save = lethe_now() - t0, save_peak = bench_status_mib("VmHWM");
  printf("parameters %zu (float32 %.0f MiB), stored as %s in %d shard(s)\n", m.n_params,
         m.n_params * 4.0 / (1 << 20), st_dtype_name((st_dtype)m.storage.dtype),
         m.storage.n_shards);
  printf("rss before load %.0f MiB; peak during load %.0f MiB (%.1f s); peak during save %.0f "
         "MiB (%.1f s)\n", before, load_peak, t_load, save_peak, t_save);
  llama_free(&m);
  return 0;
}
