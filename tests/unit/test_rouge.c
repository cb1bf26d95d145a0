/* test_rouge — ROUGE-L and its NLTK-compatible stemming against values made
 * by tests/data/rouge/make_rouge_cases.py (rouge_score's tokenizer and LCS,
 * nltk's PorterStemmer). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/rouge.h"

#define CASES LETHE_TEST_DATA "/rouge/rouge_cases.json"

static json_t *load_cases(void) {
  json_error_t jerr;
  json_t *root = json_load_file(CASES, 0, &jerr);
  if (!root) ck_abort_msg("%s:%d: %s", CASES, jerr.line, jerr.text);
  return root;
}

static rouge_scorer *new_scorer(void) {
  lethe_err err = {0};
  rouge_scorer *s = rouge_scorer_new(&err);
  ck_assert_msg(s != NULL, "%s", err.msg);
  return s;
}

/* The tokens of text must be exactly the JSON array want. */
static void check_tokens(rouge_scorer *s, const char *text, const json_t *want) {
  size_t n;
  lethe_err err = {0};
  ck_assert_int_eq(rouge_tokenize(s, text, &n, &err), 0);
  ck_assert_msg(n == json_array_size(want), "\"%s\": %zu tokens, rouge_score %zu", text, n,
                json_array_size(want));
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(strcmp(rouge_token(s, i), json_string_value(json_array_get(want, i))) == 0,
                  "\"%s\": token %zu is \"%s\", rouge_score \"%s\"", text, i, rouge_token(s, i),
                  json_string_value(json_array_get(want, i)));
}

START_TEST(test_pairs_match_rouge_score) {
  json_t *root = load_cases();
  const json_t *pairs = json_object_get(root, "pairs");
  ck_assert_int_ge((int)json_array_size(pairs), 20);
  rouge_scorer *s = new_scorer();
  for (size_t i = 0; i < json_array_size(pairs); i++) {
    const json_t *pair = json_array_get(pairs, i);
    const char *ref = json_string_value(json_object_get(pair, "reference"));
    const char *pred = json_string_value(json_object_get(pair, "prediction"));
    check_tokens(s, ref, json_object_get(pair, "reference_tokens"));
    check_tokens(s, pred, json_object_get(pair, "prediction_tokens"));
    rouge_score score;
    lethe_err err = {0};
    ck_assert_int_eq(rouge_l(s, ref, pred, &score, &err), 0);
    /* Same integer ratios, same IEEE operations: equal to the last bit. */
    ck_assert_msg(score.recall == json_number_value(json_object_get(pair, "recall")),
                  "pair %zu: recall %.17g, rouge_score %.17g", i, score.recall,
                  json_number_value(json_object_get(pair, "recall")));
    ck_assert_double_eq(score.precision, json_number_value(json_object_get(pair, "precision")));
    ck_assert_double_eq(score.fmeasure, json_number_value(json_object_get(pair, "fmeasure")));
  }
  printf("rouge: %zu sentence pairs match rouge_score\n", json_array_size(pairs));
  rouge_scorer_free(s);
  json_decref(root);
}
END_TEST

START_TEST(test_stems_match_nltk) {
  json_t *root = load_cases();
  const json_t *stems = json_object_get(root, "stems");
  ck_assert_int_gt((int)json_array_size(stems), 1000);
  rouge_scorer *s = new_scorer();
  size_t wrong = 0;
  for (size_t i = 0; i < json_array_size(stems); i++) {
    const char *word = json_string_value(json_array_get(json_array_get(stems, i), 0));
    const char *want = json_string_value(json_array_get(json_array_get(stems, i), 1));
    const char *got;
    size_t len;
    lethe_err err = {0};
    ck_assert_int_eq(rouge_stem(s, word, strlen(word), &got, &len, &err), 0);
    if (len != strlen(want) || memcmp(got, want, len) != 0) {
      if (wrong < 20) fprintf(stderr, "stem(%s) = %.*s, nltk %s\n", word, (int)len, got, want);
      wrong++;
    }
  }
  printf("rouge: %zu words stemmed as nltk does, %zu differ\n", json_array_size(stems) - wrong,
         wrong);
  ck_assert_uint_eq(wrong, 0);
  rouge_scorer_free(s);
  json_decref(root);
}
END_TEST

START_TEST(test_scorer_reuse_and_edges) {
  rouge_scorer *s = new_scorer();
  rouge_score score;
  lethe_err err = {0};
  /* Words of 3 characters or fewer are not stemmed; longer ones are. */
  size_t n;
  ck_assert_int_eq(rouge_tokenize(s, "Was IS dies cats ran", &n, &err), 0);
  ck_assert_uint_eq(n, 5);
  ck_assert_str_eq(rouge_token(s, 0), "was");
  ck_assert_str_eq(rouge_token(s, 1), "is");
  ck_assert_str_eq(rouge_token(s, 2), "die");
  ck_assert_str_eq(rouge_token(s, 3), "cat");
  ck_assert_str_eq(rouge_token(s, 4), "ran");
  /* A long text and many calls on one scorer (buffers grow and are reused). */
  size_t big = 20000;
  char *text = malloc(big * 8 + 1);
  for (size_t i = 0; i < big; i++) memcpy(text + 8 * i, "Running ", 8);
  text[big * 8] = '\0';
  ck_assert_int_eq(rouge_tokenize(s, text, &n, &err), 0);
  ck_assert_uint_eq(n, big);
  ck_assert_str_eq(rouge_token(s, big - 1), "run");
  for (int rep = 0; rep < 1000; rep++) {
    ck_assert_int_eq(rouge_l(s, "the cat sat", "a cat sat down", &score, &err), 0);
    ck_assert_double_eq(score.recall, 2.0 / 3.0);
  }
  /* Recall is against the reference (first argument). */
  ck_assert_int_eq(rouge_l(s, "a b", "a b c d", &score, &err), 0);
  ck_assert_double_eq(score.recall, 1.0);
  ck_assert_double_eq(score.precision, 0.5);
  /* Invalid UTF-8 bytes separate words, as any other non-alphanumeric. */
  ck_assert_int_eq(rouge_tokenize(s, "ab\xff\xfe" "cd\xc3", &n, &err), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(rouge_token(s, 1), "cd");
  free(text);
  rouge_scorer_free(s);
  rouge_scorer_free(NULL);
}
END_TEST

int main(void) {
  Suite *suite = suite_create("rouge");
  TCase *tc = tcase_create("rouge_score");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_pairs_match_rouge_score);
  tcase_add_test(tc, test_stems_match_nltk);
  tcase_add_test(tc, test_scorer_reuse_and_edges);
  suite_add_tcase(suite, tc);
  SRunner *sr = srunner_create(suite);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
