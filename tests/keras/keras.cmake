#  Keras import tests. keras_models builds small Keras models with tfjs
#  (tests/keras/make_keras_models.js; needs node and
#  `npm install --prefix ${ZI_TFJS_DIR} @tensorflow/tfjs`, else it skips)
#  and compares zinfer run with tfjs's predict; keras_bad checks the error
#  line of each broken model.json in tests/bad/keras. The self test
#  `zi_selftest keras` needs neither.

set (ZI_TFJS_DIR /tmp/tfjs CACHE PATH "where npm install --prefix put @tensorflow/tfjs")

add_test (NAME keras_models
          COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/keras_test.py models
                  $<TARGET_FILE:zinfer> ${ZI_TFJS_DIR} ${CMAKE_BINARY_DIR}/keras_models)
set_tests_properties (keras_models PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

add_test (NAME keras_bad
          COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/keras_test.py bad
                  $<TARGET_FILE:zinfer>)
set_tests_properties (keras_bad PROPERTIES TIMEOUT 120)
