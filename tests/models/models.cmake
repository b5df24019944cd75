#  Model tests: zinfer against PyTorch on the models make_models.py builds.
#  The models are generated once per build tree by the models_generate
#  fixture (it skips models already there), then one ctest entry per model.

set (ZI_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with Debian's torch and onnx")
set (ZI_MODEL_DIR ${CMAKE_BINARY_DIR}/models)
set (ZI_MAKE_MODELS ${CMAKE_SOURCE_DIR}/tests/models/make_models.py)

add_executable (zi_modeltest tests/zi_modeltest.c)
target_link_libraries (zi_modeltest zinfer_core)

execute_process (
    COMMAND ${ZI_PYTHON} ${ZI_MAKE_MODELS} --list
    OUTPUT_VARIABLE ZI_MODEL_NAMES
    RESULT_VARIABLE ZI_MODEL_LIST_RC
    ERROR_VARIABLE ZI_MODEL_LIST_ERR)
if (NOT ZI_MODEL_LIST_RC EQUAL 0)
    message (FATAL_ERROR "cannot list the test models (scripts/install-deps.sh installs "
                         "what they need): ${ZI_MODEL_LIST_ERR}")
endif ()
string (REPLACE "\n" ";" ZI_MODEL_NAMES "${ZI_MODEL_NAMES}")
list (FILTER ZI_MODEL_NAMES EXCLUDE REGEX "^$")

add_test (NAME models_generate
          COMMAND ${ZI_PYTHON} ${ZI_MAKE_MODELS} --out ${ZI_MODEL_DIR})
set_tests_properties (models_generate PROPERTIES FIXTURES_SETUP models TIMEOUT 1200)

foreach (name ${ZI_MODEL_NAMES})
    add_test (NAME model_${name} COMMAND zi_modeltest ${ZI_MODEL_DIR} ${name})
    set_tests_properties (model_${name} PROPERTIES FIXTURES_REQUIRED models TIMEOUT 300)
endforeach ()
