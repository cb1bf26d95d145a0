# The head-to-head report (`lethe report`): Check suite on fixture suites, and
# a rendering test in headless Chromium (skipped when chromium is missing).
lethe_test(test_report unit/test_report.c lethe_report)
target_sources(test_report PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit/report_fixture.c)
add_dependencies(test_report lethe)
add_test(NAME report_render
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/report/render_test.sh $<TARGET_FILE:lethe>
          $<TARGET_FILE:test_report> ${CMAKE_BINARY_DIR}/test-report/render)
set_tests_properties(report_render PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
