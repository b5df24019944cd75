#  Fuzzing. Two parts:
#
#  Always: zi_fuzz_replay runs every committed corpus input through the
#  harnesses (ctest fuzz_corpus), and check_bad_models.py checks the
#  catalogue of malformed models (ctest bad_models). Both use the normal
#  compiler and follow ZI_SANITIZE.
#
#  With -DZI_FUZZ=ON (clang only, in a build tree of its own):
#      CC=clang cmake -S . -B build-fuzz -DZI_FUZZ=ON
#  builds one libFuzzer program per harness, fuzz_msg, fuzz_topology,
#  fuzz_onnx, fuzz_npy and fuzz_keras, against a copy of the library compiled with
#  coverage instrumentation. scripts/fuzz.sh configures, builds and runs them.

option (ZI_FUZZ "Build libFuzzer harnesses (needs clang)" OFF)

set (ZI_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
set (ZI_FUZZ_HARNESSES msg topology onnx npy keras)

#  The replay build renames each harness's entry point so that they all
#  link into one program
set (ZI_FUZZ_REPLAY_OBJECTS)
foreach (name ${ZI_FUZZ_HARNESSES})
    add_library (zi_fuzz_${name}_replay OBJECT ${ZI_FUZZ_DIR}/fuzz_${name}.c)
    target_compile_definitions (zi_fuzz_${name}_replay PRIVATE
                                LLVMFuzzerTestOneInput=zi_fuzz_${name})
    target_link_libraries (zi_fuzz_${name}_replay PRIVATE zinfer_core)
    list (APPEND ZI_FUZZ_REPLAY_OBJECTS $<TARGET_OBJECTS:zi_fuzz_${name}_replay>)
endforeach ()
add_executable (zi_fuzz_replay ${ZI_FUZZ_DIR}/replay.c ${ZI_FUZZ_REPLAY_OBJECTS})
target_link_libraries (zi_fuzz_replay zinfer_core)

add_test (NAME fuzz_corpus COMMAND zi_fuzz_replay ${ZI_FUZZ_DIR}/corpus)
set_tests_properties (fuzz_corpus PROPERTIES TIMEOUT 300)

add_test (NAME bad_models
          COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/bad/models/check_bad_models.py
                  $<TARGET_FILE:zinfer>)
set_tests_properties (bad_models PROPERTIES TIMEOUT 300)

if (ZI_FUZZ)
    if (NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message (FATAL_ERROR "ZI_FUZZ needs clang for libFuzzer; configure a separate build "
                             "tree with: CC=clang cmake -S . -B build-fuzz -DZI_FUZZ=ON")
    endif ()
    #  UBSan must stop the run, not just print, or the fuzzer would not
    #  notice it
    set (ZI_FUZZ_SANITIZERS address,undefined)
    set (ZI_FUZZ_FLAGS -fno-sanitize-recover=all -fno-omit-frame-pointer -g)

    #  The library again, instrumented for coverage but without libFuzzer's
    #  main; the generated sources come from zinfer_core's custom commands,
    #  so it waits for that target rather than running them a second time
    add_library (zinfer_fuzz STATIC
        ${ENGINE_SOURCES} ${ACTOR_SOURCES} ${TOPOLOGY_SOURCES} ${GEN_DIR}/onnx/onnx.pb-c.c)
    add_dependencies (zinfer_fuzz zinfer_core)
    target_compile_options (zinfer_fuzz PRIVATE
        -fsanitize=fuzzer-no-link,${ZI_FUZZ_SANITIZERS} ${ZI_FUZZ_FLAGS})
    target_include_directories (zinfer_fuzz PUBLIC
        ${ENGINE_INCLUDES} ${CMAKE_SOURCE_DIR}/actors ${CMAKE_SOURCE_DIR}/topology ${GEN_DIR})
    target_link_libraries (zinfer_fuzz PUBLIC ${ZI_DEPENDENCIES})
    #  act_conv_depthwise.c holds kernels only, which the harnesses do not
    #  run (they import and plan; folding a Conv whose inputs are all
    #  constant is the one way in). clang's ASan and UBSan instrumentation
    #  of its fully unrolled loops took 12 of CI's 32 minutes to compile,
    #  where the file takes 10 s without; README's suite runs it under both
    #  sanitizers (build-asan) on every level the CPU has
    set_source_files_properties (${CMAKE_SOURCE_DIR}/actors/act_conv_depthwise.c
        PROPERTIES COMPILE_OPTIONS -fno-sanitize=address,undefined)

    foreach (name ${ZI_FUZZ_HARNESSES})
        add_executable (fuzz_${name} ${ZI_FUZZ_DIR}/fuzz_${name}.c)
        target_compile_options (fuzz_${name} PRIVATE
            -fsanitize=fuzzer,${ZI_FUZZ_SANITIZERS} ${ZI_FUZZ_FLAGS})
        target_link_options (fuzz_${name} PRIVATE -fsanitize=fuzzer,${ZI_FUZZ_SANITIZERS})
        target_link_libraries (fuzz_${name} zinfer_fuzz)
    endforeach ()
endif ()
