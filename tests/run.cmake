lethe_test(test_config unit/test_config.c lethe_run)
