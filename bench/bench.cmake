#  Benchmarks: the programs they need, and a short smoke run of each
#  benchmark script so a broken script is noticed before anyone waits
#  for its full run

add_executable (zi_bench_transport bench/zi_bench_transport.c)
target_link_libraries (zi_bench_transport zinfer_core)

add_executable (zi_bench_floor bench/zi_bench_floor.c)
target_link_libraries (zi_bench_floor PkgConfig::ZMQ)

#  Transport smoke test: tcp on ports 26700-26701, clear of the other
#  tests and of the script's default (26500)
add_test (NAME bench_transport_tiny
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/transport --tiny
                  --program $<TARGET_FILE:zi_bench_transport> --port 26700)
set_tests_properties (bench_transport_tiny PROPERTIES TIMEOUT 60)

#  Peers smoke test: one small model; without the npm registry it still
#  checks zinfer and PyTorch and says why ONNX Runtime is missing
add_test (NAME bench_peers_tiny
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/peers --tiny
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR})
set_tests_properties (bench_peers_tiny PROPERTIES FIXTURES_REQUIRED models TIMEOUT 60)

#  The other benchmark scripts, each in a quick mode so they cannot rot
foreach (script local-latency split-latency pipeline-throughput monitor-cost peak-memory op-gap)
    add_test (NAME bench_${script}_tiny
              COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/${script} --tiny
                      --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR})
    set_tests_properties (bench_${script}_tiny PROPERTIES FIXTURES_REQUIRED models TIMEOUT 120)
endforeach ()

#  CURVE cost smoke test: the hop on 26000-26001, the split from 26200
add_test (NAME bench_curve-cost_tiny
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/curve-cost --tiny
                  --program $<TARGET_FILE:zi_bench_transport> --zinfer $<TARGET_FILE:zinfer>
                  --models ${ZI_MODEL_DIR} --port 26000)
set_tests_properties (bench_curve-cost_tiny PROPERTIES FIXTURES_REQUIRED models TIMEOUT 120)
