/* test_rouge — ROUGE-L and the NLTK-compatible stemmer (being written). */
#include <check.h>
#include <stdlib.h>

#include "eval/rouge.h"

START_TEST(test_scorer_opens) {
  lethe_err err = {0};
  rouge_scorer *s = rouge_scorer_new(&err);
  ck_assert_ptr_nonnull(s);
  rouge_scorer_free(s);
}
END_TEST

int main(void) {
  Suite *s = suite_create("rouge");
  TCase *tc = tcase_create("rouge");
  tcase_add_test(tc, test_scorer_opens);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
