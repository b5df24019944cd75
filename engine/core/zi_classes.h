/*  =========================================================================
    zi_classes.h - every private header of the engine and the op kernels

    Public API lives in zinfer.h; what the headers below declare may change
    between versions. Each class has its header next to its source; this
    one includes them all, for files that use many.
    =========================================================================
*/

#ifndef ZI_CLASSES_H_INCLUDED
#define ZI_CLASSES_H_INCLUDED

#include "zinfer.h"

//  What nearly every source file uses
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zi_error.h"
#include "zi_tensor.h"
#include "zi_act.h"
#include "zi_node.h"
#include "zi_op.h"
#include "zi_exec.h"
#include "zi_pool.h"
#include "zi_signals.h"
#include "zi_ids.h"
#include "zi_packed.h"
#include "zi_folded.h"
#include "zi_clock.h"
#include "zi_isa.h"
#include "zi_test.h"
#include "zi_graph.h"
#include "zi_onnx.h"
#include "zi_plan.h"
#include "zi_passes.h"
#include "zi_control.h"
#include "zi_test_graph.h"
#include "zi_session.h"

#endif
