/* test_dist — the process group (core/dist.h). Run alone it checks the
 * single-process versions; run under mpirun (ctest registers both when MPI
 * is found) every rank checks the collectives against values it can
 * compute itself: shares cover every item once in rank order, gathers put
 * every rank's items in place, sums, broadcast, agreement (of bytes and of a
 * status), rotation of the remainder with `turn`. Check runs without fork under MPI (MPI does not
 * survive a fork), so a failure ends the process and the launcher the job. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"

/* Every rank's share of n items, as the others compute it: gathered. */
static void all_shares(long n, long turn, long *first, long *count) {
  int size = dist_size();
  long *pairs = calloc((size_t)size * 2, sizeof(long));
  dist_share(n, turn, &pairs[2 * dist_rank()], &pairs[2 * dist_rank() + 1]);
  /* each rank's pair is one item of a list of `size` items shared one each */
  long f, c;
  dist_share(size, 0, &f, &c);
  ck_assert_int_eq(f, dist_rank());
  ck_assert_int_eq(c, 1);
  dist_allgather_shares(pairs, 2 * sizeof(long), size, 0);
  for (int r = 0; r < size; r++) first[r] = pairs[2 * r], count[r] = pairs[2 * r + 1];
  free(pairs);
}

START_TEST(test_shares_cover_every_item_once) {
  int size = dist_size();
  long first[64], count[64];
  ck_assert_int_le(size, 64);
  for (long n = 0; n < 3 * size + 2; n++)
    for (long turn = 0; turn < size + 1; turn++) {
      all_shares(n, turn, first, count);
      long at = 0, lo = n, hi = 0;
      for (int r = 0; r < size; r++) {
        ck_assert_int_eq(first[r], at); /* contiguous, in rank order */
        at += count[r];
        lo = count[r] < lo ? count[r] : lo;
        hi = count[r] > hi ? count[r] : hi;
      }
      ck_assert_int_eq(at, n);
      ck_assert_int_le(hi - lo, 1); /* balanced */
      if (n % size == 1) ck_assert_int_eq(count[turn % size], hi); /* turn picks who gets more */
    }
}
END_TEST

START_TEST(test_gather_puts_every_item_in_place) {
  for (long n = 1; n < 40; n += 7) {
    for (long turn = 0; turn < 3; turn++) {
      double *items = calloc((size_t)n * 3, sizeof(double)); /* items of 3 doubles */
      long first, count;
      dist_share(n, turn, &first, &count);
      for (long i = first; i < first + count; i++)
        for (int k = 0; k < 3; k++) items[3 * i + k] = 1000.0 * (double)i + k;
      dist_allgather_shares(items, 3 * sizeof(double), n, turn);
      for (long i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) ck_assert_double_eq(items[3 * i + k], 1000.0 * (double)i + k);
      free(items);
    }
  }
}
END_TEST

START_TEST(test_sums_broadcast_agreement) {
  int size = dist_size(), rank = dist_rank();
  float f[5];
  double d[3];
  for (int i = 0; i < 5; i++) f[i] = (float)(rank + 1) * (float)(i + 1);
  for (int i = 0; i < 3; i++) d[i] = (rank + 1) * 0.5 + i;
  dist_allreduce_sum_f32(f, 5);
  dist_allreduce_sum_f64(d, 3);
  double ranks_sum = size * (size + 1) / 2.0;
  for (int i = 0; i < 5; i++) ck_assert_float_eq(f[i], (float)(ranks_sum * (i + 1)));
  for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(d[i], ranks_sum * 0.5 + size * i, 1e-12);
  long value = rank == size - 1 ? 424242 : -1;
  dist_bcast(&value, sizeof value, size - 1);
  ck_assert_int_eq(value, 424242);
  ck_assert(dist_agree(&value, sizeof value));
  ck_assert_int_eq(dist_agree(&rank, sizeof rank), size == 1); /* ranks differ */
  dist_barrier();
  ck_assert_int_ge(dist_local_size(), 1);
  ck_assert_int_le(dist_local_size(), size);
  ck_assert_int_eq(dist_is_root(), rank == 0);
  if (size == 1) dist_fail(1); /* alone there is no job to end: returns */
}
END_TEST

START_TEST(test_status_is_agreed) {
  int size = dist_size(), rank = dist_rank(), first = size > 1 ? 1 : 0;
  lethe_err err = {0};
  ck_assert_int_eq(dist_status(0, &err), 0);
  ck_assert_int_eq(err.code, 0);
  /* ranks from `first` on fail, each with its own message: all get first's */
  int rc = rank >= first ? lethe_errf(&err, LETHE_E_NUMERIC, "rank %d broke", rank) : 0;
  ck_assert_int_eq(dist_status(rc, &err), -1);
  char want[32];
  snprintf(want, sizeof want, "rank %d broke", first);
  ck_assert_str_eq(err.msg, want);
  ck_assert_int_eq(err.code, LETHE_E_NUMERIC);
  /* the last rank fails without a message (alone: err stays as it is);
   * NULL err on the others */
  lethe_err none = {0};
  ck_assert_int_eq(dist_status(rank == size - 1 ? -1 : 0, rank == size - 1 ? &none : NULL), -1);
  if (size > 1 && rank == size - 1) ck_assert_ptr_nonnull(strstr(none.msg, "without a message"));
}
END_TEST

int main(int argc, char **argv) {
  lethe_err err = {0};
  if (dist_init(&argc, &argv, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return EXIT_FAILURE;
  }
  Suite *s = suite_create("dist");
  TCase *tc = tcase_create("collectives");
  tcase_add_test(tc, test_shares_cover_every_item_once);
  tcase_add_test(tc, test_gather_puts_every_item_in_place);
  tcase_add_test(tc, test_sums_broadcast_agreement);
  tcase_add_test(tc, test_status_is_agreed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  if (dist_size() > 1) srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, dist_is_root() ? CK_NORMAL : CK_SILENT);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  dist_finalize();
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
