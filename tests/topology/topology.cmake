#  Distributed tests: real topologies started with `zinfer up` on
#  127.0.0.1, each case on its own ports (see topotest.py)

#  Ports: tests/ports.cmake

#  One ctest entry PREFIX_CASE per case a script lists (--list), each case
#  on ports from PORT_BASE + 100 * its index; more than MAX_CASES would
#  run into the next test's ports
function (zi_add_case_tests script prefix port_base max_cases)
    execute_process (
        COMMAND ${ZI_PYTHON} ${script} --list
        OUTPUT_VARIABLE cases
        RESULT_VARIABLE listed
        ERROR_VARIABLE problem)
    if (NOT listed EQUAL 0)
        message (FATAL_ERROR "cannot list the cases of ${script}: ${problem}")
    endif ()
    string (REPLACE "\n" ";" cases "${cases}")
    list (FILTER cases EXCLUDE REGEX "^$")
    list (LENGTH cases count)
    if (count GREATER max_cases)
        message (FATAL_ERROR "${script} lists ${count} cases, but tests/ports.cmake gives it "
                 "ports for ${max_cases}")
    endif ()
    foreach (case ${cases})
        add_test (NAME ${prefix}_${case}
                  COMMAND ${ZI_PYTHON} ${script} --zinfer $<TARGET_FILE:zinfer>
                          --models ${ZI_MODEL_DIR} --case ${case} --port-base ${port_base})
        set_tests_properties (${prefix}_${case} PROPERTIES FIXTURES_REQUIRED models TIMEOUT 600)
    endforeach ()
endfunction ()

zi_add_case_tests (${CMAKE_SOURCE_DIR}/tests/topology/topotest.py topology
                   ${ZI_TOPOTEST_PORT_BASE} ${ZI_TOPOTEST_MAX_CASES})

#  Bad input to the command line: one clear error line each, never a crash
add_test (NAME cli_errors COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/cli_errors.py
                                  $<TARGET_FILE:zinfer>)

#  The MACs `zinfer info` lists per node (each op's zi_op_t.macs), against
#  the count from the ONNX shapes: resnet18 and every op that counts
add_test (NAME macs COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/macs_test.py
                            $<TARGET_FILE:zinfer> ${ZI_MODEL_DIR})
set_tests_properties (macs PROPERTIES FIXTURES_REQUIRED models)

#  No zinfer process keeps a thread it does not need (OpenBLAS's own)
add_test (NAME process_threads COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/threads_test.py
                                       $<TARGET_FILE:zinfer> ${ZI_MODEL_DIR})
set_tests_properties (process_threads PROPERTIES FIXTURES_REQUIRED models)

#  Three hosts in network namespaces (needs root; skipped where forbidden)
add_test (NAME topology_multi_host_netns
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/topology/netns_test.py
                  $<TARGET_FILE:zinfer> ${ZI_MODEL_DIR})
set_tests_properties (topology_multi_host_netns PROPERTIES
    FIXTURES_REQUIRED models TIMEOUT 600 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

#  The engine's folders as layers: no source uses a folder above its own
#  (tests/layers_test.py; engine/README.md)
add_test (NAME layers COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/layers_test.py
                              ${CMAKE_SOURCE_DIR})

#  CURVE between two hosts on loopback: keys, refusals, rogue peers
add_test (NAME topology_curve
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/topology/curve_test.py
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR}
                  --port-base ${ZI_CURVE_PORT_BASE})
set_tests_properties (topology_curve PROPERTIES FIXTURES_REQUIRED models TIMEOUT 600)

#  A local session's shared buffers (nested Concat elision, lifetimes)
#  against numpy and PyTorch, fused and not; and import and planning
#  staying near linear on a 100,000-node chain
add_test (NAME session_aliasing
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/session_aliasing_test.py
                  $<TARGET_FILE:zinfer>)
set_tests_properties (session_aliasing PROPERTIES TIMEOUT 300)
add_test (NAME session_chain_scale
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/session_aliasing_test.py
                  $<TARGET_FILE:zinfer> --scale)
set_tests_properties (session_chain_scale PROPERTIES TIMEOUT 300)

#  Other local users and a launcher's own files and workers: a runtime
#  folder planted, opened or symlinked, unsafe names, stale sockets, a
#  second launcher, hung and orphaned workers (tests/topology/local_users_test.py)
add_test (NAME topology_local_users
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/topology/local_users_test.py
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR}
                  --port-base ${ZI_LOCAL_USERS_PORT_BASE})
set_tests_properties (topology_local_users PROPERTIES
    FIXTURES_REQUIRED models TIMEOUT 600 SKIP_RETURN_CODE 77)

#  Clients and peers that break the rules: a gateway restarted under
#  requests of its earlier epoch, a client that never reads, resend floods,
#  oversized frames (tests/topology/hostile_clients_test.py)
zi_add_case_tests (${CMAKE_SOURCE_DIR}/tests/topology/hostile_clients_test.py hostile
                   ${ZI_HOSTILE_PORT_BASE} ${ZI_HOSTILE_MAX_CASES})

#  Dynamic shapes and batching: requests sized as the model allows through
#  split topologies, the gateway's batches (tests/topology/dynamic_test.py)
zi_add_case_tests (${CMAKE_SOURCE_DIR}/tests/topology/dynamic_test.py dynamic
                   ${ZI_DYNAMIC_PORT_BASE} ${ZI_DYNAMIC_MAX_CASES})

#  NaN in, NaN out: activations, pools, reductions and Softmax fused and
#  unfused against PyTorch on inputs with NaN and infinities
add_test (NAME nan_propagation COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/nan_test.py
                                       $<TARGET_FILE:zinfer>)

#  LSTM, GRU and RNN exported by PyTorch at opsets 9 to 17, and written by
#  hand for sequence_lens, layout and activations, against PyTorch
add_test (NAME rnn_models COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/rnn_test.py
                                  $<TARGET_FILE:zinfer>)
set_tests_properties (rnn_models PROPERTIES TIMEOUT 300)

#  TopK, ArgMax, GatherElements, scatters, CumSum, Trilu, Einsum,
#  DepthToSpace, OneHot, Mod, the norms... as PyTorch exports them at
#  opsets 9 to 17, against PyTorch
add_test (NAME ops_export COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/ops_export_test.py
                                  $<TARGET_FILE:zinfer>)
set_tests_properties (ops_export PROPERTIES TIMEOUT 300)

#  Resize's tf_crop_and_resize (crops inside and across the border, every
#  mode, opsets 11 to 19) against numpy and, when installed, ONNX Runtime
add_test (NAME ops_resize_crop COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/ops_resize_crop.py
                                       $<TARGET_FILE:zinfer>)
set_tests_properties (ops_resize_crop PROPERTIES TIMEOUT 300)

#  Every dtype end to end: Cast between all of them, int32 shape
#  arithmetic, float16 and 8-bit models, .npy in and out, against numpy
add_test (NAME dtypes COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/dtypes_test.py
                              $<TARGET_FILE:zinfer>)

#  Quantized models (QDQ, QLinearConv / QLinearMatMul, dynamic) against
#  numpy's integer and float arithmetic
add_test (NAME quantized_models COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/quant_test.py
                                        $<TARGET_FILE:zinfer>)

#  zinfer split and zinfer plan end to end: mobilenet split into 2 and 3
#  processes, planned, started and answering bit for bit as zinfer run
#  does (tests/split_test.py)
add_test (NAME topology_split
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/split_test.py
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR}
                  --port-base ${ZI_SPLIT_PORT_BASE})
set_tests_properties (topology_split PROPERTIES FIXTURES_REQUIRED models TIMEOUT 600)

#  What zinfer shows on a terminal: progress lines, the cores warning of
#  up, and zinfer top fitted to the terminal, through pseudo-terminals
#  (tests/terminal_test.py)
add_test (NAME terminal
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/terminal_test.py
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR}
                  --port-base ${ZI_TERMINAL_PORT_BASE})
set_tests_properties (terminal PROPERTIES FIXTURES_REQUIRED models TIMEOUT 600)

#  A Prometheus server scrapes a running topology's /metrics and answers
#  queries over its series (tests/topology/prometheus_test.py; skipped
#  where Debian's prometheus is not installed)
add_test (NAME topology_prometheus
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/topology/prometheus_test.py
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR}
                  --port-base ${ZI_PROMETHEUS_PORT_BASE})
set_tests_properties (topology_prometheus PROPERTIES
    FIXTURES_REQUIRED models TIMEOUT 600 SKIP_RETURN_CODE 77)

#  The live web view in Debian's headless Chromium: the placement drawn
#  with every process, actor and edge, live numbers that move with load,
#  a screenshot, and markup in node names shown as text
#  (tests/topology/webview_test.py; skipped where chromium is not installed)
add_test (NAME topology_webview
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/topology/webview_test.py
                  --zinfer $<TARGET_FILE:zinfer> --models ${ZI_MODEL_DIR}
                  --port-base ${ZI_WEBVIEW_PORT_BASE})
set_tests_properties (topology_webview PROPERTIES
    FIXTURES_REQUIRED models TIMEOUT 600 SKIP_RETURN_CODE 77)
