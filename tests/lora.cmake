# LoRA adapters (model/lora.h): gradients against the float64 reference
# (golden/make_golden_lora.py), merge, adapter files, dropout, config errors.
# lethe merge is run as a program.
lethe_test(test_lora unit/test_lora.c lethe_model PkgConfig::JANSSON)
add_dependencies(test_lora lethe)
