lethe_test(test_config unit/test_config.c lethe_run)
lethe_test(test_pipeline unit/test_pipeline.c lethe_run)
add_dependencies(test_pipeline lethe plugin_npo_rt)
lethe_test(test_trainer unit/test_trainer.c lethe_train)
