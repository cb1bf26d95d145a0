# lethe_plugin(NAME) — builds plugins/NAME/NAME.c (plus the shared loss terms)
# as the self-contained module ${LETHE_PLUGIN_BUILD_DIR}/lethe_NAME.so:
# hidden visibility (only lethe_method_entry is exported), no undefined
# symbols (plugins never link the host), installed to the plugin directory.
# Every plugin target is listed in the global property LETHE_PLUGIN_TARGETS
# (tests depend on them: MODULE libraries are never linked, so CMake needs
# the edge spelled out).
function(lethe_plugin name)
  set(common ${CMAKE_SOURCE_DIR}/plugins/common)
  add_library(plugin_${name} MODULE ${CMAKE_CURRENT_SOURCE_DIR}/${name}.c ${common}/loss_terms.c)
  set_target_properties(plugin_${name} PROPERTIES
    PREFIX "" OUTPUT_NAME lethe_${name}
    LIBRARY_OUTPUT_DIRECTORY ${LETHE_PLUGIN_BUILD_DIR}
    C_VISIBILITY_PRESET hidden)
  target_include_directories(plugin_${name} PRIVATE ${CMAKE_SOURCE_DIR}/include ${common})
  target_link_options(plugin_${name} PRIVATE -Wl,--no-undefined)
  target_link_libraries(plugin_${name} PRIVATE m)
  set_property(GLOBAL APPEND PROPERTY LETHE_PLUGIN_TARGETS plugin_${name})
  install(TARGETS plugin_${name} LIBRARY DESTINATION ${LETHE_PLUGIN_INSTALL_DIR})
endfunction()
