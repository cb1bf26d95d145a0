# Evaluation statistics and metric math: KS / hmean against SciPy, ROUGE-L
# against rouge_score's semantics (nltk stemmer), TOFU formulas.
lethe_test(test_stats unit/test_stats.c lethe_metrics PkgConfig::JANSSON)
lethe_test(test_rouge unit/test_rouge.c lethe_metrics PkgConfig::JANSSON)
