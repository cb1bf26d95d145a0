lethe_test(test_llama_golden unit/test_llama_golden.c lethe_train lethe_model)
lethe_test(test_gradcheck unit/test_gradcheck.c lethe_model)
