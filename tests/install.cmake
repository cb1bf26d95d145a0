# The install: a prefix moved after `cmake --install` keeps working, finds
# only its own plugins (never the build tree's) and its lethe.pc follows it.
add_test(NAME install_relocated
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/install_relocated.sh ${CMAKE_BINARY_DIR}
          ${CMAKE_SOURCE_DIR} ${CMAKE_C_COMPILER})
# cmake --install writes the build's install_manifest.txt: one install at a time
set_tests_properties(install_relocated PROPERTIES TIMEOUT 120 RESOURCE_LOCK lethe_install)
