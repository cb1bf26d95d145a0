# Data: tokenizer, TOFU loader and batching, the embedded world.
lethe_test(test_tokenizer unit/test_tokenizer.c lethe_tokenizer)
lethe_test(test_data unit/test_data.c lethe_data lethe_tokenizer)
lethe_test(test_world unit/test_world.c lethe_data lethe_tokenizer)
lethe_test(test_muse_data unit/test_muse_data.c lethe_data lethe_tokenizer)
