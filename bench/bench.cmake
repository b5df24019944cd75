#  Benchmarks: the programs they need, and a short smoke run of each
#  benchmark script so a broken script is noticed before anyone waits
#  for its full run

add_executable (zi_bench_transport bench/zi_bench_transport.c)
target_link_libraries (zi_bench_transport zinfer_core)

#  zinfer as a long-lived worker for bench/peers, as ONNX Runtime is
add_executable (zi_bench_peer bench/zi_bench_peer.c)
target_link_libraries (zi_bench_peer zinfer_core m)

add_executable (zi_bench_floor bench/zi_bench_floor.c)
target_link_libraries (zi_bench_floor PkgConfig::ZMQ pthread)
#  The vCPU probe the benchmarks print: rates for every CPU allowed, a
#  round trip where there are two, nothing else
add_test (NAME bench_floor_cores COMMAND zi_bench_floor cores)
set_tests_properties (bench_floor_cores PROPERTIES TIMEOUT 30
    PASS_REGULAR_EXPRESSION "^(cpu [0-9]+: alone [1-9][0-9]* together [1-9][0-9]* memory_gbs alone [0-9]+\\.[0-9] together [0-9]+\\.[0-9]\n)+(round trip cpu [0-9]+ cpu [0-9]+: [1-9][0-9]* ns\n)?$")

#  A split model's requests and its floor's, taking turns from one client
#  (bench/split-latency); the floor's stages stay zi_bench_floor, with
#  nothing of zinfer in them
add_executable (zi_bench_twins bench/zi_bench_twins.c)
target_link_libraries (zi_bench_twins zinfer_core)

#  A preload library that caps the instruction set a whole process sees
#  (CPUID faulting, x86-64 Linux only), so that bench/peers and
#  bench/op-gap can run ONNX Runtime at each ISA cap next to zinfer
#  Not in sanitizer builds: a preloaded library would come before the
#  sanitizer's runtime, which must be the first library a process loads
if (CMAKE_SYSTEM_NAME STREQUAL "Linux" AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64"
    AND NOT ZI_SANITIZE AND NOT ZI_TSAN)
    add_library (zi_isa_mask MODULE bench/zi_isa_mask.c)
    set_target_properties (zi_isa_mask PROPERTIES PREFIX "")
    target_link_libraries (zi_isa_mask ${CMAKE_DL_LIBS})
    #  Its constructor first, before any library's that asks CPUID (OpenBLAS)
    target_link_options (zi_isa_mask PRIVATE "LINKER:-z,initfirst")
    #  A library that asks CPUID as it loads, and a program linking it
    add_library (zi_isa_probe SHARED tests/isa_mask_probe.c)
    add_executable (zi_isa_probe_main tests/isa_mask_probe.c)
    target_compile_definitions (zi_isa_probe_main PRIVATE ZI_ISA_PROBE_MAIN)
    target_link_libraries (zi_isa_probe_main zi_isa_probe)
    #  zinfer (and ONNX Runtime and PyTorch, where installed) see the cap
    add_test (NAME isa_mask
              COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/isa_mask_test.py
                      $<TARGET_FILE:zinfer> $<TARGET_FILE:zi_isa_mask> ${ZI_MODEL_DIR}
                      $<TARGET_FILE:zi_isa_probe_main>)
    set_tests_properties (isa_mask PROPERTIES
        FIXTURES_REQUIRED models TIMEOUT 300 SKIP_RETURN_CODE 77)
endif ()

#  The smoke tests' ports: the 3000 below the test port base
#  (tests/ports.cmake)
math (EXPR ZI_BENCH_SPLIT_PORT "${ZI_BENCH_PORT_BASE} + 0")          # 1000 ports
math (EXPR ZI_BENCH_PIPELINE_PORT "${ZI_BENCH_PORT_BASE} + 1000")    # 600 ports
math (EXPR ZI_BENCH_MONITOR_PORT "${ZI_BENCH_PORT_BASE} + 1600")     # 300 ports
math (EXPR ZI_BENCH_CURVE_PORT "${ZI_BENCH_PORT_BASE} + 2000")       # 500 ports
math (EXPR ZI_BENCH_SPLIT_AB_PORT "${ZI_BENCH_PORT_BASE} + 2500")    # 450 ports
math (EXPR ZI_BENCH_TRANSPORT_PORT "${ZI_BENCH_PORT_BASE} + 2990")   # 2 ports

#  Transport smoke test: tcp on two ports
add_test (NAME bench_transport_tiny
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/transport --tiny
                  --program $<TARGET_FILE:zi_bench_transport> --port ${ZI_BENCH_TRANSPORT_PORT})
set_tests_properties (bench_transport_tiny PROPERTIES TIMEOUT 60)

#  Peers smoke test: one small model; without the npm registry it still
#  checks zinfer and PyTorch and says why ONNX Runtime is missing
add_test (NAME bench_peers_tiny
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/peers --tiny
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR})
set_tests_properties (bench_peers_tiny PROPERTIES FIXTURES_REQUIRED models TIMEOUT 60)

#  Two builds side by side over the floor, the same build as both here
#  (ports above split-latency's, below pipeline-throughput's)
add_test (NAME bench_split-ab_tiny
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/split-ab --tiny
                  --zinfer $<TARGET_FILE:zinfer> --baseline $<TARGET_FILE:zinfer>
                  --models ${ZI_MODEL_DIR} --port ${ZI_BENCH_SPLIT_AB_PORT})
#  Each build over its floor, paired, with an interval: numbers, not NaN
set_tests_properties (bench_split-ab_tiny PROPERTIES FIXTURES_REQUIRED models TIMEOUT 120
    PASS_REGULAR_EXPRESSION "\\| 2ipc \\| [0-9.]+ \\| [0-9.]+ \\| [0-9.]+ \\([0-9.]+-[0-9.]+\\) \\| [0-9.]+ \\| [0-9.]+ \\([0-9.]+-[0-9.]+\\) \\|")

#  The other benchmark scripts, each in a quick mode so they cannot rot
foreach (script local-latency split-latency pipeline-throughput monitor-cost peak-memory op-gap)
    set (port_option)
    if (script STREQUAL "split-latency")
        set (port_option --port ${ZI_BENCH_SPLIT_PORT})
    elseif (script STREQUAL "pipeline-throughput")
        set (port_option --port ${ZI_BENCH_PIPELINE_PORT})
    elseif (script STREQUAL "monitor-cost")
        set (port_option --port ${ZI_BENCH_MONITOR_PORT})
    endif ()
    add_test (NAME bench_${script}_tiny
              COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/${script} --tiny
                      --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR} ${port_option})
    set_tests_properties (bench_${script}_tiny PROPERTIES FIXTURES_REQUIRED models TIMEOUT 120)
endforeach ()
#  split-latency's paired rows over both floors, pooled over its --tiny
#  run's two runs: a number and its interval in each of the five split
#  columns, the two rows one after the other (the pass expressions are
#  alternatives, so one expression checks both; CMake's regular
#  expressions have no {5})
set (s_cell "[0-9.]+ \\([0-9.]+-[0-9.]+\\) \\|")
set (s_cells " \\| 1.000 \\| ${s_cell} ${s_cell} ${s_cell} ${s_cell} ${s_cell}")
set_tests_properties (bench_split-latency_tiny PROPERTIES PASS_REGULAR_EXPRESSION
    "zinfer over floor, paired, 2 runs pooled \\(95 % interval\\)${s_cells}\n\\| zinfer over floor answering through its first stage, paired, 2 runs pooled \\(95 % interval\\)${s_cells}\n")

#  CURVE cost smoke test: the hop on its first two ports, the split from +200
add_test (NAME bench_curve-cost_tiny
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/curve-cost --tiny
                  --program $<TARGET_FILE:zi_bench_transport> --zinfer $<TARGET_FILE:zinfer>
                  --models ${ZI_MODEL_DIR} --port ${ZI_BENCH_CURVE_PORT})
set_tests_properties (bench_curve-cost_tiny PROPERTIES FIXTURES_REQUIRED models TIMEOUT 120)
