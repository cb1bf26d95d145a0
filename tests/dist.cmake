# The process group (core/dist.h) alone, and — when MPI is found — under
# mpirun: the collectives, the trainer when one rank fails alone, an
# unlearning run and stage training with 1 and 2 ranks (same losses and
# weights to 1e-5, identical evaluations), a suite spread over 2 ranks
# (docs/scaling.md), a MUSE run on 2 ranks.
lethe_test(test_dist unit/test_dist.c lethe_core)
lethe_test(test_dist_trainer unit/test_dist_trainer.c lethe_train)
if(MPI_C_FOUND AND MPIEXEC_EXECUTABLE)
  foreach(t test_dist test_dist_trainer)
    add_test(NAME ${t}_mpi COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root
             ${MPIEXEC_NUMPROC_FLAG} 3 $<TARGET_FILE:${t}>)
    set_tests_properties(${t}_mpi PROPERTIES TIMEOUT 300 ENVIRONMENT "OMP_NUM_THREADS=1")
  endforeach()
  lethe_test(test_dist_runs unit/test_dist_runs.c lethe_model)
  target_compile_definitions(test_dist_runs PRIVATE
    LETHE_MPIRUN="${MPIEXEC_EXECUTABLE} --oversubscribe --allow-run-as-root")
  add_dependencies(test_dist_runs lethe plugin_npo plugin_npo_kl plugin_ga plugin_npo_l2
    plugin_rmu plugin_gru)
  add_test(NAME suite_mpi COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/suite/suite_mpi_test.sh
           $<TARGET_FILE:lethe> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(suite_mpi PROPERTIES TIMEOUT 900 ENVIRONMENT "OMP_WAIT_POLICY=passive")
  # kind "muse" with 2 ranks: no rank left behind at a collective, one process's run
  add_test(NAME muse_mpi COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/muse/muse_check.py
           mpi $<TARGET_FILE:lethe> ${MPIEXEC_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/muse/tiny.cfg
           ${CMAKE_BINARY_DIR}/test-muse-mpi)
  set_tests_properties(muse_mpi PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "OMP_NUM_THREADS=1;OMP_WAIT_POLICY=passive")
else()
  # without MPI, a launcher's several processes must be refused, not run N times
  add_test(NAME dist_refuses_launcher COMMAND ${CMAKE_COMMAND} -E env OMPI_COMM_WORLD_SIZE=2
           OMPI_COMM_WORLD_RANK=1 $<TARGET_FILE:lethe> --version)
  set_tests_properties(dist_refuses_launcher PROPERTIES PASS_REGULAR_EXPRESSION "built without MPI")
endif()
