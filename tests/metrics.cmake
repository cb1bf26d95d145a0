# Evaluation statistics and metric math: KS / hmean against SciPy, ROUGE-L
# against rouge_score's semantics (nltk stemmer), TOFU formulas.
lethe_test(test_stats unit/test_stats.c lethe_metrics PkgConfig::JANSSON)
lethe_test(test_rouge unit/test_rouge.c lethe_metrics PkgConfig::JANSSON)
# Membership inference, PrivLeak, exact memorisation and extraction strength:
# hand-counted cases (test_mia), and random cases against sklearn's
# roc_auc_score, Python's zlib and NumPy (mia_oracle; skipped, exit 77, when
# Debian's python3-sklearn or python3-numpy is missing). /usr/bin/python3 on
# purpose: Debian's packages serve Debian's interpreter, not another python3
# that may come first on PATH.
lethe_test(test_mia unit/test_mia.c lethe_metrics)
add_executable(mia_oracle_dump ${CMAKE_CURRENT_SOURCE_DIR}/mia/mia_oracle_dump.c)
target_link_libraries(mia_oracle_dump PRIVATE lethe_metrics PkgConfig::JANSSON)
if(EXISTS /usr/bin/python3)
  add_test(NAME mia_oracle COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/mia/mia_oracle.py
    $<TARGET_FILE:mia_oracle_dump> ${CMAKE_BINARY_DIR}/test-mia/cases.json)
else()
  add_test(NAME mia_oracle COMMAND sh -c "echo 'SKIP: /usr/bin/python3 is missing'; exit 77")
endif()
set_tests_properties(mia_oracle PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
# Membership inference, PrivLeak, ES and EM in `lethe eval` (tiny world, two tiny models): the
# AUCs of summary.json against roc_auc_score on eval.json's per-example
# scores, LOSS / ZLib / Min-K% against `lethe score` and `lethe tokenize`, the reference attack
# and PrivLeak recomputed, ES/EM against a PyTorch forward (tests/bench/torch_llama.py)
# (tests/mia/eval_mia_check.py; skipped, exit 77, without python3-sklearn or python3-torch).
if(EXISTS /usr/bin/python3)
  add_test(NAME eval_mia COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/mia/eval_mia_check.py
    $<TARGET_FILE:lethe> ${CMAKE_BINARY_DIR}/test-eval-mia)
else()
  add_test(NAME eval_mia COMMAND sh -c "echo 'SKIP: /usr/bin/python3 is missing'; exit 77")
endif()
set_tests_properties(eval_mia PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "OMP_WAIT_POLICY=passive")
# MUSE's evaluation (tests/muse/): VerbMem, KnowMem and PrivLeak of two random
# tiny models on a tiny world's MUSE corpus, recomputed in Python (ROUGE-L F1
# from its definition, sklearn's roc_auc_score); skipped without sklearn.
add_executable(muse_eval_dump ${CMAKE_CURRENT_SOURCE_DIR}/muse/muse_eval_dump.c)
target_link_libraries(muse_eval_dump PRIVATE lethe_evaluate lethe_data PkgConfig::JANSSON)
if(EXISTS /usr/bin/python3)
  add_test(NAME muse_eval COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/muse/muse_check.py
    dump $<TARGET_FILE:muse_eval_dump> ${CMAKE_BINARY_DIR}/test-muse-eval)
  # kind "muse" end to end: a suite of `lethe muse` runs (GA, NPO) on tests/muse/tiny.cfg,
  # the same checks on every model, the report's rows, muse.dir
  add_test(NAME muse_run COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/muse/muse_check.py
    suite $<TARGET_FILE:lethe> ${CMAKE_CURRENT_SOURCE_DIR}/muse/tiny_suite.cfg ${CMAKE_BINARY_DIR}/test-muse-run)
else()
  add_test(NAME muse_eval COMMAND sh -c "echo 'SKIP: /usr/bin/python3 is missing'; exit 77")
  add_test(NAME muse_run COMMAND sh -c "echo 'SKIP: /usr/bin/python3 is missing'; exit 77")
endif()
set_tests_properties(muse_eval muse_run PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "OMP_NUM_THREADS=2;OMP_WAIT_POLICY=passive")
