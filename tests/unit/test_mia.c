/* test_mia — membership-inference scores, the exact ROC AUC, PrivLeak,
 * exact memorisation and extraction strength on cases small enough to
 * count by hand (every expected value below is worked out in its comment).
 * The comparison with sklearn and Python's zlib on random inputs is the
 * mia_oracle test (tests/mia/). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/memorization.h"
#include "metrics/mia.h"

static double roc_auc(const double *pos, size_t n_pos, const double *neg, size_t n_neg) {
  double auc = NAN;
  lethe_err err = {0};
  ck_assert_msg(mia_roc_auc(pos, n_pos, neg, n_neg, &auc, &err) == 0, "%s", err.msg);
  return auc;
}

START_TEST(test_auc_by_hand) {
  /* perfect separation, both ways */
  const double low[] = {0, 1, 2}, high[] = {3, 4, 5};
  ck_assert_double_eq(roc_auc(high, 3, low, 3), 1.0);
  ck_assert_double_eq(roc_auc(low, 3, high, 3), 0.0);
  /* all equal: every pair a tie */
  const double ones2[] = {1, 1}, ones3[] = {1, 1, 1};
  ck_assert_double_eq(roc_auc(ones2, 2, ones3, 3), 0.5);
  /* ties: pairs (1,2)=0 (1,0)=1 (2,2)=1/2 (2,0)=1 (3,2)=1 (3,0)=1 -> 4.5/6 */
  const double pos[] = {1, 2, 3}, neg[] = {2, 0};
  ck_assert_double_eq(roc_auc(pos, 3, neg, 2), 0.75);
  /* the order of the inputs does not matter; one of each */
  const double pos_shuffled[] = {3, 1, 2}, neg_shuffled[] = {0, 2};
  ck_assert_double_eq(roc_auc(pos_shuffled, 3, neg_shuffled, 2), 0.75);
  const double one[] = {1}, two[] = {2};
  ck_assert_double_eq(roc_auc(one, 1, two, 1), 0.0);
  /* -0 and +0 tie; infinities rank like any value */
  const double zero[] = {0.0}, minus_zero[] = {-0.0};
  ck_assert_double_eq(roc_auc(zero, 1, minus_zero, 1), 0.5);
  const double inf[] = {INFINITY}, big[] = {1e308}, inf2[] = {INFINITY, -INFINITY};
  ck_assert_double_eq(roc_auc(inf, 1, big, 1), 1.0);
  /* inf vs {inf, -inf}: 1/2 + 1 over 2 pairs */
  ck_assert_double_eq(roc_auc(inf, 1, inf2, 2), 0.75);
  /* mixed: pos {0.5, 0.5, 2}, neg {0.5, 1, 1, 3}: 0.5 beats nothing and ties
   * one (1/2 each, twice: 1); 2 beats 0.5, 1, 1 (3). U = 4 of 12 pairs. */
  const double pos2[] = {0.5, 2, 0.5}, neg2[] = {1, 0.5, 3, 1};
  ck_assert_double_eq_tol(roc_auc(pos2, 3, neg2, 4), 4.0 / 12.0, 1e-15);
}
END_TEST

START_TEST(test_auc_refuses) {
  const double x[] = {1, 2}, with_nan[] = {1, NAN};
  double auc = 7;
  lethe_err err = {0};
  ck_assert_int_eq(mia_roc_auc(x, 0, x, 2, &auc, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "at least one of each"));
  ck_assert_int_eq(mia_roc_auc(x, 2, x, 0, &auc, &err), -1);
  ck_assert_int_eq(mia_roc_auc(with_nan, 2, x, 2, &auc, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "positive score 1 is NaN"));
  ck_assert_int_eq(mia_roc_auc(x, 2, with_nan, 2, &auc, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "negative score 1 is NaN"));
  ck_assert_int_eq(mia_auc(x, 2, x, 0, &auc, &err), -1);
  ck_assert_double_eq(auc, 7); /* untouched on failure */
}
END_TEST

START_TEST(test_mia_auc_orientation) {
  /* Loss-like scores: members (forget) {0.5, 1}, non-members (holdout)
   * {2, 1}. P(non-member > member): 0.5 < 2, 0.5 < 1, 1 < 2 (3 pairs),
   * 1 = 1 (half) -> 3.5 / 4. */
  const double member[] = {0.5, 1.0}, nonmember[] = {2.0, 1.0};
  double auc;
  lethe_err err = {0};
  ck_assert_int_eq(mia_auc(member, 2, nonmember, 2, &auc, &err), 0);
  ck_assert_double_eq(auc, 0.875);
  ck_assert_double_eq(roc_auc(nonmember, 2, member, 2), 0.875);
  /* a model that memorised its members: their loss is lower -> AUC 1 */
  const double memorised[] = {0.1, 0.2}, unseen[] = {3.0, 4.0};
  ck_assert_int_eq(mia_auc(memorised, 2, unseen, 2, &auc, &err), 0);
  ck_assert_double_eq(auc, 1.0);
}
END_TEST

START_TEST(test_loss_zlib_reference) {
  const float logp[] = {-1, -2, -3}, ref_logp[] = {-2, -4, -6};
  double score;
  lethe_err err = {0};
  ck_assert_int_eq(mia_loss_score(logp, 3, &score, &err), 0);
  ck_assert_double_eq(score, 2.0); /* (1 + 2 + 3) / 3 */
  /* reference: mean NLL 2 minus the reference's 4 */
  ck_assert_int_eq(mia_reference_score(logp, ref_logp, 3, &score, &err), 0);
  ck_assert_double_eq(score, -2.0);
  /* zlib.compress(b"hello") is 13 bytes: 2-byte header, 5 literals in a
   * fixed-Huffman block (7 bytes with its end code), 4-byte Adler-32 */
  size_t len;
  ck_assert_int_eq(mia_zlib_length("hello", 5, &len, &err), 0);
  ck_assert_uint_eq(len, 13);
  ck_assert_int_eq(mia_zlib_length("", 0, &len, &err), 0);
  ck_assert_uint_eq(len, 8); /* header, an empty final block, Adler-32 of nothing */
  /* 100 'a': a literal and back-references (len(zlib.compress(b"a" * 100))) */
  char as[100];
  memset(as, 'a', sizeof as);
  ck_assert_int_eq(mia_zlib_length(as, sizeof as, &len, &err), 0);
  ck_assert_uint_eq(len, 12);
  ck_assert_int_eq(mia_zlib_score(logp, 3, "hello", 5, &score, &err), 0);
  ck_assert_double_eq(score, 2.0 / 13.0);
}
END_TEST

START_TEST(test_min_k_count_rounding) {
  /* max(1, floor(n * k)) with the product in double, as OU's Python */
  ck_assert_uint_eq(mia_min_k_count(10, 0.2), 2);
  ck_assert_uint_eq(mia_min_k_count(5, 0.4), 2);   /* 5 * 0.4 rounds to exactly 2 */
  ck_assert_uint_eq(mia_min_k_count(4, 0.2), 1);   /* floor(0.8) = 0 -> the guard */
  ck_assert_uint_eq(mia_min_k_count(7, 0.1), 1);   /* 0.7000000000000001 */
  ck_assert_uint_eq(mia_min_k_count(1, 0.4), 1);
  ck_assert_uint_eq(mia_min_k_count(3, 0.7), 2);   /* 2.0999999999999996 */
  ck_assert_uint_eq(mia_min_k_count(100, 0.29), 28); /* 28.999999999999996, not 29 */
  ck_assert_uint_eq(mia_min_k_count(100, 0.57), 56); /* 56.99999999999999 */
  ck_assert_uint_eq(mia_min_k_count(1000, 0.29), 290);
  ck_assert_uint_eq(mia_min_k_count(10, 1.0), 10);
}
END_TEST

START_TEST(test_min_k_by_hand) {
  double score;
  lethe_err err = {0};
  /* k = 0.4 of 5 tokens = 2 lowest: -4, -3 -> 3.5 */
  const float logp[] = {-0.5f, -4, -1, -3, -2};
  ck_assert_int_eq(mia_min_k_score(logp, 5, 0.4, &score, &err), 0);
  ck_assert_double_eq(score, 3.5);
  /* all tokens (k = 1): the mean NLL, 2.1 */
  ck_assert_int_eq(mia_min_k_score(logp, 5, 1.0, &score, &err), 0);
  ck_assert_double_eq_tol(score, (0.5 + 4 + 1 + 3 + 2) / 5.0, 1e-15);
  /* fewer tokens than 1/k: still the single lowest */
  ck_assert_int_eq(mia_min_k_score(logp, 2, 0.2, &score, &err), 0);
  ck_assert_double_eq(score, 4.0);
  /* ties: two of {-2, -2, -2, -1} */
  const float tied[] = {-2, -1, -2, -2};
  ck_assert_int_eq(mia_min_k_score(tied, 4, 0.5, &score, &err), 0);
  ck_assert_double_eq(score, 2.0);
  /* the input is not reordered */
  ck_assert(logp[0] == -0.5f && logp[1] == -4 && tied[1] == -1);
}
END_TEST

START_TEST(test_min_k_plus_plus_by_hand) {
  double score;
  lethe_err err = {0};
  /* s = ((-1 + 2) / 2, (-3 + 2) / sqrt(1e-6)) = (0.5, -1000): variance 0 is
   * floored at 1e-6; k = 0.5 of 2 takes the lowest -> 1000 */
  const float logp[] = {-1, -3};
  const double mu[] = {-2, -2}, var[] = {4, 0};
  ck_assert_int_eq(mia_min_k_plus_plus_score(logp, mu, var, 2, 0.5, &score, &err), 0);
  ck_assert_double_eq_tol(score, 1000.0, 1e-9);
  /* k = 1: -(0.5 - 1000) / 2 */
  ck_assert_int_eq(mia_min_k_plus_plus_score(logp, mu, var, 2, 1.0, &score, &err), 0);
  ck_assert_double_eq_tol(score, 499.75, 1e-9);
  /* standardised by sqrt(var) = 3: s = (-1, -3, 0) -> lowest 1 of 3 at k = 0.4 */
  const float three[] = {-4, -10, -1};
  const double mu3[] = {-1, -1, -1}, var3[] = {9, 9, 9};
  ck_assert_int_eq(mia_min_k_plus_plus_score(three, mu3, var3, 3, 0.4, &score, &err), 0);
  ck_assert_double_eq(score, 3.0);
}
END_TEST

START_TEST(test_next_token_moments) {
  double mu, var;
  /* uniform over 2: log p = -ln 2 everywhere, no spread */
  const float uniform[] = {0, 0};
  mia_next_token_moments(uniform, 2, &mu, &var);
  ck_assert_double_eq_tol(mu, -log(2.0), 1e-15);
  ck_assert_double_eq_tol(var, 0.0, 1e-15);
  /* Two tokens with logits g apart: p = 1 / (1 + e^-g) for the larger, and
   * log p takes two values g apart, so var = p (1 - p) g^2 (a two-valued
   * variable); mu = p log p + (1 - p) log(1 - p). g = ln 3 gives p = 3/4,
   * var = 3/16 (ln 3)^2; g = 1.5, exact in float, also 1000 higher (the
   * maximum is subtracted first). */
  const float quarter[] = {0, (float)log(3.0)};
  mia_next_token_moments(quarter, 2, &mu, &var);
  ck_assert_double_eq_tol(mu, 0.75 * log(0.75) + 0.25 * log(0.25), 1e-7);
  ck_assert_double_eq_tol(var, 3.0 / 16.0 * log(3.0) * log(3.0), 1e-7);
  const float gap[] = {0, 1.5f}, shifted[] = {1000, 1001.5f};
  const double p = 1 / (1 + exp(-1.5));
  const float *rows[] = {gap, shifted};
  for (int r = 0; r < 2; r++) {
    mia_next_token_moments(rows[r], 2, &mu, &var);
    ck_assert_double_eq_tol(mu, p * log(p) + (1 - p) * log(1 - p), 1e-14);
    ck_assert_double_eq_tol(var, p * (1 - p) * 2.25, 1e-14);
  }
  /* near one-hot: mu ~ 0 and var ~ 0, never negative */
  const float peaked[] = {0, -1000, -1000};
  mia_next_token_moments(peaked, 3, &mu, &var);
  ck_assert_double_eq(mu, 0.0);
  ck_assert(var >= 0 && var < 1e-300);
  /* one token: p = 1 */
  const float single[] = {3.5f};
  mia_next_token_moments(single, 1, &mu, &var);
  ck_assert_double_eq(mu, 0.0);
  ck_assert_double_eq(var, 0.0);
  /* a non-finite logit poisons both, and Min-K%++ refuses the NaN */
  const float bad[] = {0, INFINITY};
  mia_next_token_moments(bad, 2, &mu, &var);
  ck_assert(isnan(mu) && isnan(var));
  const float logp[] = {-1};
  double score;
  lethe_err err = {0};
  ck_assert_int_eq(mia_min_k_plus_plus_score(logp, &mu, &var, 1, 0.4, &score, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "token 0"));
}
END_TEST

START_TEST(test_scores_refuse) {
  const float logp[] = {-1, NAN};
  const double mu[] = {0, 0}, var[] = {1, 1};
  double score = 7;
  lethe_err err = {0};
  ck_assert_int_eq(mia_loss_score(logp, 0, &score, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "LOSS score: no target tokens"));
  ck_assert_int_eq(mia_loss_score(logp, 2, &score, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "token 1 log-prob is NaN"));
  ck_assert_int_eq(mia_zlib_score(logp, 0, "x", 1, &score, &err), -1);
  ck_assert_int_eq(mia_reference_score(logp, logp, 1, &score, &err), 0);
  ck_assert_int_eq(mia_reference_score(logp, logp, 2, &score, &err), -1);
  ck_assert_int_eq(mia_min_k_score(logp, 0, 0.4, &score, &err), -1);
  ck_assert_int_eq(mia_min_k_score(logp, 2, 0.4, &score, &err), -1);
  ck_assert_int_eq(mia_min_k_score(logp, 1, 0.0, &score, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "k = 0 is not in (0, 1]"));
  ck_assert_int_eq(mia_min_k_score(logp, 1, 1.5, &score, &err), -1);
  ck_assert_int_eq(mia_min_k_score(logp, 1, NAN, &score, &err), -1);
  ck_assert_int_eq(mia_min_k_plus_plus_score(logp, mu, var, 0, 0.4, &score, &err), -1);
  ck_assert_int_eq(mia_min_k_plus_plus_score(logp, mu, var, 1, -0.1, &score, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "Min-K%++ score"));
  ck_assert_double_eq(score, 0.0); /* only the successful reference call wrote it */
}
END_TEST

START_TEST(test_privleak) {
  double leak;
  lethe_err err = {0};
  /* MUSE's AUCs are 1 - these: (0.25 - 0.5) / 0.5 = -50 % (under-unlearned) */
  ck_assert_int_eq(mia_privleak(0.75, 0.5, &leak, &err), 0);
  ck_assert_double_eq(leak, -50.0);
  ck_assert_int_eq(mia_privleak(0.25, 0.5, &leak, &err), 0);
  ck_assert_double_eq(leak, 50.0); /* over-unlearned */
  ck_assert_int_eq(mia_privleak(0.6, 0.6, &leak, &err), 0);
  ck_assert_double_eq(leak, 0.0); /* the retain model itself */
  /* a target that still knows its forget set: (0.001 - 0.5) / 0.5 = -99.8 % */
  ck_assert_int_eq(mia_privleak(0.999, 0.5, &leak, &err), 0);
  ck_assert_double_eq_tol(leak, -99.8, 1e-12);
  /* MUSE News' retain AUC 0.4772 is MUSE's; in ours 0.5228. An unlearned
   * model at MUSE AUC 0.2 (ours 0.8): (0.2 - 0.4772) / 0.4772 */
  ck_assert_int_eq(mia_privleak(0.8, 0.5228, &leak, &err), 0);
  ck_assert_double_eq_tol(leak, 100 * (0.2 - 0.4772) / 0.4772, 1e-9);
  ck_assert_int_eq(mia_privleak(0.5, 1.0, &leak, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "undefined"));
  ck_assert_int_eq(mia_privleak(1.2, 0.5, &leak, &err), -1);
  ck_assert_int_eq(mia_privleak(0.5, NAN, &leak, &err), -1);
  ck_assert_int_eq(mia_privleak(-0.1, 0.5, &leak, &err), -1);
}
END_TEST

START_TEST(test_memorization) {
  double em;
  lethe_err err = {0};
  const int32_t label[] = {1, 2, 3, 4};
  /* wrong at position 1 only: EM 3/4; correct suffix (3, 4): ES 2/4 */
  const int32_t one_wrong[] = {1, 9, 3, 4};
  ck_assert_int_eq(memorization_exact(one_wrong, label, 4, &em, &err), 0);
  ck_assert_double_eq(em, 0.75);
  ck_assert_double_eq(memorization_extraction_strength(one_wrong, label, 4), 0.5);
  /* all right: both 1 (k = 0) */
  ck_assert_int_eq(memorization_exact(label, label, 4, &em, &err), 0);
  ck_assert_double_eq(em, 1.0);
  ck_assert_double_eq(memorization_extraction_strength(label, label, 4), 1.0);
  /* last token wrong: OU's loop stops at k = n - 1, ES = 1/4, not 0 */
  const int32_t last_wrong[] = {1, 2, 3, 0};
  ck_assert_double_eq(memorization_extraction_strength(last_wrong, label, 4), 0.25);
  ck_assert_int_eq(memorization_exact(last_wrong, label, 4, &em, &err), 0);
  ck_assert_double_eq(em, 0.75);
  /* nothing right: EM 0, ES still 1/4; and only the last right: 1/4 too */
  const int32_t none[] = {0, 0, 0, 0}, only_last[] = {0, 0, 0, 4};
  ck_assert_int_eq(memorization_exact(none, label, 4, &em, &err), 0);
  ck_assert_double_eq(em, 0.0);
  ck_assert_double_eq(memorization_extraction_strength(none, label, 4), 0.25);
  ck_assert_double_eq(memorization_extraction_strength(only_last, label, 4), 0.25);
  /* one token: ES is 1 whatever the prediction */
  ck_assert_double_eq(memorization_extraction_strength(none, label, 1), 1.0);
  /* no tokens: EM refuses (OU: None), ES is 0 (OU's value) */
  ck_assert_int_eq(memorization_exact(label, label, 0, &em, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "no target tokens"));
  ck_assert_double_eq(memorization_extraction_strength(label, label, 0), 0.0);
}
END_TEST

static Suite *mia_suite(void) {
  Suite *s = suite_create("mia");
  TCase *auc = tcase_create("auc");
  tcase_add_test(auc, test_auc_by_hand);
  tcase_add_test(auc, test_auc_refuses);
  tcase_add_test(auc, test_mia_auc_orientation);
  tcase_add_test(auc, test_privleak);
  suite_add_tcase(s, auc);
  TCase *scores = tcase_create("scores");
  tcase_add_test(scores, test_loss_zlib_reference);
  tcase_add_test(scores, test_min_k_count_rounding);
  tcase_add_test(scores, test_min_k_by_hand);
  tcase_add_test(scores, test_min_k_plus_plus_by_hand);
  tcase_add_test(scores, test_next_token_moments);
  tcase_add_test(scores, test_scores_refuse);
  tcase_add_test(scores, test_memorization);
  suite_add_tcase(s, scores);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(mia_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
