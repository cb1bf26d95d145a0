# The runtime's fast paths (causal blocks, bf16 compute, determinism).
lethe_test(test_llama_compute unit/test_llama_compute.c lethe_model)
