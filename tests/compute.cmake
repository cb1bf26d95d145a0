# The runtime's fast paths (causal blocks, bf16 compute, determinism).
lethe_test(test_llama_compute unit/test_llama_compute.c lethe_model)
# The chunked LM head against whole logits; its activation memory.
lethe_test(test_logits_chunked unit/test_logits_chunked.c lethe_model)
# Skipping padding (llama_set_skip_padding) against the full computation and
# against each row alone.
lethe_test(test_skip_padding unit/test_skip_padding.c lethe_model)
