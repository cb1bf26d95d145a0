lethe_module(run lethe_train lethe_data lethe_tokenizer lethe_eval lethe_core PkgConfig::LIBCONFIG)
list(APPEND LETHE_CLI_LIBS lethe_run)
