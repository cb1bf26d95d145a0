# Crash safety: a tiny suite killed with SIGKILL five times at random moments
# (some mid-run, holding a checkpoint) resumes to results identical to an
# uninterrupted suite, and no file it wrote is ever half-written
# (suite/crash_test.sh). Not registered under the sanitizers (too slow there).
if(NOT LETHE_SANITIZE)
  add_test(NAME suite_crash
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/suite/crash_test.sh $<TARGET_FILE:lethe> 5)
  set_tests_properties(suite_crash PROPERTIES TIMEOUT 600 ENVIRONMENT "OMP_WAIT_POLICY=passive")
endif()
