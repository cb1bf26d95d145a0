# Method plugins: the loader and parameter tables (test_method), every
# plugin's math (test_method_plugins), the losses against the HF reference
# vectors (test_method_golden), and the out-of-tree SDK (method_out_of_tree).

# Broken plugins for the refusal tests, one variant of plugins_bad/bad.c each,
# built into their own directory so they never reach the real plugin path.
set(METHOD_BAD_DIR ${CMAKE_BINARY_DIR}/tests/plugins_bad)
set(method_bad_targets)
foreach(kind abi nosym caps dup param_range null_callback nan_loss nan_grad wrong_grad
    undefined colour title old_size ids no_resolve resolve_extra stopgrad stopgrad_bare
    no_combine combine_nan)
  string(TOUPPER ${kind} KIND)
  add_library(bad_${kind} MODULE ${CMAKE_CURRENT_SOURCE_DIR}/plugins_bad/bad.c)
  set_target_properties(bad_${kind} PROPERTIES PREFIX "" OUTPUT_NAME lethe_bad_${kind}
    LIBRARY_OUTPUT_DIRECTORY ${METHOD_BAD_DIR} C_VISIBILITY_PRESET hidden)
  target_include_directories(bad_${kind} PRIVATE ${CMAKE_SOURCE_DIR}/include)
  target_compile_definitions(bad_${kind} PRIVATE BAD_${KIND} BAD_NAME="bad_${kind}")
  target_link_libraries(bad_${kind} PRIVATE m)
  if(NOT kind STREQUAL "undefined")  # that one must reach dlopen with a missing symbol
    target_link_options(bad_${kind} PRIVATE -Wl,--no-undefined)
  endif()
  list(APPEND method_bad_targets bad_${kind})
endforeach()

# The nine plugins of ABI 1.1 built from their 1.1 sources against that
# release's lethe/method.h (tests/abi/v1_1, a copy kept unchanged): the ABI
# compatibility test loads them in today's host. A plugin whose source has
# changed since (resolve() added) builds from its frozen 1.1 copy in
# tests/abi/v1_1/plugins, the others from plugins/.
set(METHOD_ABI_V1_1_DIR ${CMAKE_BINARY_DIR}/tests/plugins_abi_v1_1)
foreach(name ga grad_diff kl npo npo_rt npo_kl dpo idk simnpo)
  set(src ${CMAKE_CURRENT_SOURCE_DIR}/abi/v1_1/plugins/${name}.c)
  if(NOT EXISTS ${src})
    set(src ${CMAKE_SOURCE_DIR}/plugins/${name}/${name}.c)
  endif()
  add_library(abi_v1_1_${name} MODULE ${src} ${CMAKE_SOURCE_DIR}/plugins/common/loss_terms.c)
  set_target_properties(abi_v1_1_${name} PROPERTIES PREFIX "" OUTPUT_NAME lethe_${name}
    LIBRARY_OUTPUT_DIRECTORY ${METHOD_ABI_V1_1_DIR} C_VISIBILITY_PRESET hidden)
  target_include_directories(abi_v1_1_${name} BEFORE PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/abi/v1_1
    ${CMAKE_SOURCE_DIR}/plugins/common)
  target_link_options(abi_v1_1_${name} PRIVATE -Wl,--no-undefined)
  target_link_libraries(abi_v1_1_${name} PRIVATE m)
  list(APPEND method_bad_targets abi_v1_1_${name})
endforeach()

get_property(method_plugin_targets GLOBAL PROPERTY LETHE_PLUGIN_TARGETS)
foreach(t test_method test_method_plugins test_method_golden)
  set(src unit/${t}.c)
  if(t STREQUAL "test_method_golden")
    lethe_test(${t} ${src} lethe_method lethe_model PkgConfig::JANSSON)
  else()
    lethe_test(${t} ${src} lethe_method)
  endif()
  target_compile_definitions(${t} PRIVATE METHOD_BAD_DIR="${METHOD_BAD_DIR}"
    METHOD_PLUGIN_DIR="${LETHE_PLUGIN_BUILD_DIR}" METHOD_ABI_V1_1_DIR="${METHOD_ABI_V1_1_DIR}")
  add_dependencies(${t} ${method_plugin_targets} ${method_bad_targets})
endforeach()

# ABI 1.2 through the host on a model: RMU trains only its layer's MLP, needs
# resolved from parameters, example ids.
lethe_test(test_method_abi unit/test_method_abi.c lethe_train lethe_method lethe_model)
target_compile_definitions(test_method_abi PRIVATE METHOD_BAD_DIR="${METHOD_BAD_DIR}"
  METHOD_PLUGIN_DIR="${LETHE_PLUGIN_BUILD_DIR}" METHOD_ABI_V1_1_DIR="${METHOD_ABI_V1_1_DIR}")
add_dependencies(test_method_abi ${method_plugin_targets} ${method_bad_targets})

# `lethe grad` refuses rows a method does not take with its parameters, and
# runs the ABI 1.2 methods; `lethe check-method` passes and fails what it should.
add_test(NAME method_grad_cli COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/method_grad_cli.sh
         $<TARGET_FILE:lethe> ${LETHE_TEST_DATA} ${METHOD_BAD_DIR})
set_tests_properties(method_grad_cli PROPERTIES TIMEOUT 120)

# Installs the SDK to a temporary prefix, builds contrib/example_method with
# nothing but `pkg-config --cflags --libs lethe`, then loads and runs it.
add_test(NAME method_out_of_tree
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/method_out_of_tree.sh ${CMAKE_BINARY_DIR}
          ${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER} $<TARGET_FILE:test_method_plugins>)
set_tests_properties(method_out_of_tree PROPERTIES TIMEOUT 300 RESOURCE_LOCK lethe_install)
