# eval — TOFU metrics: KS test and means (stats.h), ROUGE-L (rouge.h),
# per-example and aggregate formulas (tofu_metrics.h).
lethe_module(eval lethe_core ${STEMMER_LIBRARY})
target_include_directories(lethe_eval PUBLIC ${STEMMER_INCLUDE_DIR})
list(APPEND LETHE_CLI_LIBS lethe_eval)
