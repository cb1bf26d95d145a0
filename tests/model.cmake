lethe_test(test_llama_golden unit/test_llama_golden.c lethe_train lethe_model)
lethe_test(test_gradcheck unit/test_gradcheck.c lethe_model)
lethe_test(test_objective_golden unit/test_objective_golden.c lethe_train lethe_method lethe_model)
# plugins are MODULEs (never linked): build them before the test runs
foreach(p ga grad_diff kl npo npo_rt npo_kl dpo idk simnpo)
  if(TARGET plugin_${p})
    add_dependencies(test_objective_golden plugin_${p})
  endif()
endforeach()
