lethe_test(test_llama_golden unit/test_llama_golden.c lethe_train lethe_model)
lethe_test(test_arch_golden unit/test_arch_golden.c lethe_model)
lethe_test(test_gradcheck unit/test_gradcheck.c lethe_model)
lethe_test(test_objective_golden unit/test_objective_golden.c lethe_train lethe_method lethe_model)
# plugins are MODULEs (never linked): build them before the test runs
foreach(p ga grad_diff kl npo npo_rt npo_kl dpo idk simnpo undial npo_l2 rmu gru)
  if(TARGET plugin_${p})
    add_dependencies(test_objective_golden plugin_${p})
  endif()
endforeach()
add_test(NAME lethe_init COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/model/init_test.sh
         $<TARGET_FILE:lethe> ${LETHE_TEST_DATA})
