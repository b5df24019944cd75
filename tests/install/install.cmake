#  zinfer as its users get it (tests/install_test.py): cmake --install into
#  a fresh prefix, C programs built with pkg-config (shared and static) and
#  with find_package, the exported symbols, the Python package, the .deb.
#  A sanitizer build's libraries need the sanitizer's runtime linked first,
#  which a user's program does not do: there the test says so and skips
set (ZI_INSTALL_SANITIZED)
if (ZI_SANITIZE OR ZI_TSAN)
    set (ZI_INSTALL_SANITIZED --sanitized)
endif ()
add_test (NAME install
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/install_test.py
                  --build ${CMAKE_BINARY_DIR} --source ${CMAKE_SOURCE_DIR}
                  --port-base ${ZI_INSTALL_PORT_BASE} ${ZI_INSTALL_SANITIZED})
set_tests_properties (install PROPERTIES TIMEOUT 600 SKIP_RETURN_CODE 77)
