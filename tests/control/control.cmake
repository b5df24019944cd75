#  Control flow end to end: control_models builds If, Loop and Scan models
#  with onnx.helper (expected outputs from numpy) and torch.jit.script
#  exports (PyTorch's outputs), and compares zinfer run with them. The
#  self tests `zi_selftest control` and `act_control` need neither.

add_test (NAME control_models
          COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/control_test.py
                  $<TARGET_FILE:zinfer> ${CMAKE_BINARY_DIR}/control_models)
set_tests_properties (control_models PROPERTIES TIMEOUT 300)
