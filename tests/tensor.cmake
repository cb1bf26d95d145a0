lethe_test(test_tensor unit/test_tensor.c lethe_tensor lethe_core)
add_dependencies(test_tensor lethe) # test_command_line runs the program
