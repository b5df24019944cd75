/*  =========================================================================
    zi_onnx.h - importing ONNX models

    Private to the engine; zi_classes.h includes every such header.
    =========================================================================
*/

#ifndef ZI_ONNX_H_INCLUDED
#define ZI_ONNX_H_INCLUDED

#include "zinfer.h"
#include "zi_graph.h"

//  Import an ONNX model from protobuf bytes; source names the file
zi_graph_t *
    zi_onnx_import (const void *data, size_t size, const char *source);
//  The same, taking the bytes over (a malloc'd buffer): freed once decoded
zi_graph_t *
    zi_onnx_import_owned (void *data, size_t size, const char *source);

#endif
