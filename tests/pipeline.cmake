lethe_test(test_config unit/test_config.c lethe_pipeline)
lethe_test(test_pipeline unit/test_pipeline.c lethe_unlearn)
add_dependencies(test_pipeline lethe plugin_npo_rt)
# unlearn.h's session: its batches and first loss (NPO+RT at the reference)
lethe_test(test_unlearn_session unit/test_unlearn_session.c lethe_unlearn)
add_dependencies(test_unlearn_session plugin_npo_rt)
lethe_test(test_trainer unit/test_trainer.c lethe_train)
# trainable subsets (gradients as a full backward's, frozen tensors untouched,
# refusals) and activation checkpointing (the same gradients, 1/L of the activations)
lethe_test(test_train_memory unit/test_train_memory.c lethe_train)
# the memory plan is the allocations (train/memplan.h): reserve and gradient bytes, parts, refusal
lethe_test(test_memplan unit/test_memplan.c lethe_train)
# a run's inputs checked before any stage (pipeline/check.h), on the command line too
lethe_test(test_check unit/test_check.c lethe_pipeline)
add_dependencies(test_check lethe plugin_npo plugin_rmu plugin_npo_l2)
# suite.json: each run's method title and colour from its plugin (suite_methods.c)
lethe_test(test_suite unit/test_suite.c lethe_suite PkgConfig::JANSSON)
add_dependencies(test_suite plugin_ga plugin_npo_rt)
# a tiny suite interrupted with SIGKILL and resumed; suite config errors
add_test(NAME suite_resume COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/suite/suite_resume_test.sh $<TARGET_FILE:lethe>)
set_tests_properties(suite_resume PROPERTIES TIMEOUT 900 ENVIRONMENT "OMP_WAIT_POLICY=passive")
# what a suite shows while it trains: plain lines in a file, one line in place
# on a terminal (util-linux script), nothing with --quiet (suite/progress_test.sh)
add_test(NAME suite_progress COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/suite/progress_test.sh $<TARGET_FILE:lethe>)
set_tests_properties(suite_progress PROPERTIES TIMEOUT 900 ENVIRONMENT "OMP_WAIT_POLICY=passive")
# a run starts once its own stages are done, beside another split's stage task
add_test(NAME suite_overlap COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/suite/overlap_test.sh $<TARGET_FILE:lethe>)
set_tests_properties(suite_overlap PROPERTIES TIMEOUT 900 ENVIRONMENT "OMP_WAIT_POLICY=passive")
# the rooms' dependency order, file and function sizes, no cycles between files
add_test(NAME architecture COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/arch/check_architecture.py
  ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR})
# every run of a suite checked before any starts (a method typo fails in
# milliseconds, tofu and synthetic alike); markers that cannot be written
add_test(NAME suite_check COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/suite/suite_check_test.sh $<TARGET_FILE:lethe>)
set_tests_properties(suite_check PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_WAIT_POLICY=passive")
