#  The test suite's port plan: every test that listens takes its ports from
#  here, so that tests running at the same time (ctest -j) never share one.
#
#  All of it stays below 32768, where Linux starts handing out ephemeral
#  ports for outgoing connections: a test port up there can be taken by any
#  client's connect() a moment before the test binds it. A second build
#  tree testing at the same time needs a base at least 9,900 away.
#
#    base - 3000 .. base        the benchmarks' smoke runs (bench/bench.cmake)
#    base + 0                   topotest.py, 100 per case, at most 32 cases
#    base + 3200                dynamic_test.py, 100 per case, at most 6
#    base + 3800                curve_test.py, 400
#    base + 4200                install_test.py, 100
#    base + 4300                hostile_clients_test.py, 100 per case, at most 10
#    base + 5300                local_users_test.py, 80 per case, at most 12
#    base + 6300                split_test.py, 100
#    base + 6400                terminal_test.py, 100
#    base + 6500                prometheus_test.py, 100
#    base + 6600                keras_split_test.py, 50; packed_once_test.py from + 50
#    base + 6700                webview_test.py, 100
#    base + 6800                the runtime selftest (zi_selftest runtime), 100
#    base + 6900                (end)
#
#  The defaults: 24000 for README's suite (21000 to 30900), 17000 for the
#  AddressSanitizer build (.ci/run), 20000 for ThreadSanitizer's cases

set (ZI_TEST_PORT_BASE 24000 CACHE STRING "first port of the distributed tests")
if (ZI_TEST_PORT_BASE LESS 4000 OR ZI_TEST_PORT_BASE GREATER 58000)
    message (FATAL_ERROR "ZI_TEST_PORT_BASE = ${ZI_TEST_PORT_BASE}: the plan in "
             "tests/ports.cmake needs 3000 ports below it and 6900 above")
elseif (ZI_TEST_PORT_BASE GREATER 26000)
    message (WARNING "ZI_TEST_PORT_BASE = ${ZI_TEST_PORT_BASE}: some test ports lie above "
             "32767, where an outgoing connection may take one first")
endif ()

#  zi_test_ports (VARIABLE OFFSET): VARIABLE = base + OFFSET
function (zi_test_ports variable offset)
    math (EXPR port "${ZI_TEST_PORT_BASE} + ${offset}")
    set (${variable} ${port} PARENT_SCOPE)
endfunction ()

zi_test_ports (ZI_TOPOTEST_PORT_BASE 0)
set (ZI_TOPOTEST_MAX_CASES 32)
zi_test_ports (ZI_DYNAMIC_PORT_BASE 3200)
set (ZI_DYNAMIC_MAX_CASES 6)
zi_test_ports (ZI_CURVE_PORT_BASE 3800)
zi_test_ports (ZI_INSTALL_PORT_BASE 4200)
zi_test_ports (ZI_HOSTILE_PORT_BASE 4300)
set (ZI_HOSTILE_MAX_CASES 10)
zi_test_ports (ZI_LOCAL_USERS_PORT_BASE 5300)
zi_test_ports (ZI_SPLIT_PORT_BASE 6300)
zi_test_ports (ZI_TERMINAL_PORT_BASE 6400)
zi_test_ports (ZI_PROMETHEUS_PORT_BASE 6500)
zi_test_ports (ZI_KERAS_SPLIT_PORT_BASE 6600)
zi_test_ports (ZI_WEBVIEW_PORT_BASE 6700)
zi_test_ports (ZI_RUNTIME_PORT_BASE 6800)
math (EXPR ZI_BENCH_PORT_BASE "${ZI_TEST_PORT_BASE} - 3000")
