/* fuzz_retain_eval — reading a retain model's eval.json (evaluate/eval_io.c,
 * eval_read_retain) on arbitrary bytes. What it accepts has forget examples
 * with truth ratios and, per attack, an AUC that is unknown or in [0, 1]
 * (the reference attack's, when known, exactly 0.5); what it refuses comes
 * with a message. */
#include <math.h>
#include <stdlib.h>

#include "evaluate/evaluate.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("eval.json", data, size);
  eval_retain ret;
  lethe_err err = {0};
  if (eval_read_retain(path, &ret, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused file has a message");
  } else {
    FUZZ_CHECK(ret.n_forget > 0 && ret.forget_tr && ret.forget, "accepted: forget examples");
    for (int a = 0; a < EVAL_N_MIA; a++)
      FUZZ_CHECK(isnan(ret.mia_auc[a]) || (ret.mia_auc[a] >= 0 && ret.mia_auc[a] <= 1),
                 "an AUC is unknown or in [0, 1]");
    FUZZ_CHECK(isnan(ret.mia_auc[EVAL_MIA_REFERENCE]) || ret.mia_auc[EVAL_MIA_REFERENCE] == 0.5,
               "the retain model against itself: AUC 1/2");
    eval_retain_free(&ret);
  }
  free(path);
  return 0;
}
