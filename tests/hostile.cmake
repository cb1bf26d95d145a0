# Hostile inputs: model directories, data files and plugins made to hurt are
# refused with a message, in bounded memory (docs/security.md).
lethe_test(test_hostile unit/test_hostile.c lethe_suite lethe_method lethe_data lethe_tokenizer
           lethe_model)
