"""zinfer: the Python client of a topology started with `zinfer up`.

    import numpy as np
    import zinfer

    client = zinfer.Client("tcp://127.0.0.1:7100")      # printed by `zinfer up`
    (probabilities,) = client.infer([np.zeros((1, 1, 8, 8), np.float32)])

The client itself is the module zinfer_client (engine/client/zinfer_client.py
in the source tree), installed beside this package; its docstring tells the
rest: many requests in flight, CURVE, shared memory. Every public function
and method is annotated (numpy.typing for arrays); `Inputs` is the type of
what send() and infer() take.
"""

from zinfer_client import (VERSION as PROTOCOL_VERSION, Client, Inputs,  # noqa: F401
                           Outputs, ZinferError, check_listening, model_names, read_key)

__version__ = "0.1.0"
__all__ = ["Client", "Inputs", "Outputs", "ZinferError", "check_listening", "model_names",
           "read_key", "PROTOCOL_VERSION"]
