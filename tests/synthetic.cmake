# The paper's synthetic experiment: the random-feature backend (rf) and
# run/synthetic — gradients, the same plugin .so files on rf and on the tiny
# Llama, the paper's qualitative facts, determinism, configuration, report.
lethe_test(test_synthetic unit/test_synthetic.c lethe_synthetic lethe_report lethe_train lethe_method lethe_model)
target_compile_definitions(test_synthetic PRIVATE METHOD_PLUGIN_DIR="${LETHE_PLUGIN_BUILD_DIR}")
# plugins are MODULEs (never linked): build them before the test runs
foreach(p ga grad_diff kl npo npo_rt npo_kl dpo idk simnpo)
  add_dependencies(test_synthetic plugin_${p})
endforeach()
