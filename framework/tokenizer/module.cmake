# tokenizer — word-level tokenizer and Hugging Face tokenizer.json I/O.
lethe_module(tokenizer lethe_core PkgConfig::JANSSON)
list(APPEND LETHE_CLI_LIBS lethe_tokenizer)
