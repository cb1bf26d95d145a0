# data — TOFU loader, prompt format and batching, the embedded world.
lethe_module(data lethe_tokenizer lethe_core PkgConfig::JANSSON)
list(APPEND LETHE_CLI_LIBS lethe_data)
