# method — plugin loader, parameter tables, checked instances (method_host.h).
lethe_module(method lethe_core PkgConfig::LIBCONFIG ${CMAKE_DL_LIBS})
target_compile_definitions(lethe_method PRIVATE
  LETHE_PLUGIN_BUILD_DIR="${LETHE_PLUGIN_BUILD_DIR}"
  LETHE_PLUGIN_INSTALL_DIR="${LETHE_PLUGIN_INSTALL_DIR}")
list(APPEND LETHE_CLI_LIBS lethe_method)
