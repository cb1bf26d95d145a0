# Model directory I/O: safetensors and config.json.
lethe_test(test_safetensors unit/test_safetensors.c lethe_model)
lethe_test(test_st_shards unit/test_st_shards.c lethe_model)
