lethe_module(train lethe_method lethe_model lethe_core)
list(APPEND LETHE_CLI_LIBS lethe_train)
