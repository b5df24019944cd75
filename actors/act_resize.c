/*  =========================================================================
    act_resize - Resize (opsets 10..21) and Upsample (opsets 7, 9)

    Each output coordinate is mapped back to the input axis by axis
    (coordinate_transformation_mode), then either rounded to the nearest
    input element (nearest_mode) or interpolated between its two
    neighbours (linear). That mapping depends only on shapes and scales,
    so prepare turns it into per-axis tables and run only gathers:

    - nearest: one gather per output row through the innermost table; an
      output row whose source row equals the previous row's (upsampling)
      is a memcpy of that row instead.
    - linear: an image ([N, C, H, W] or [H, W]) resized in height and
      width takes one pass that sums each output's four corners, weighed
      and added in the order ONNX Runtime adds them, so that both give
      the same bits (a quantized model turns an ulp into a whole step).
      Other shapes use that N-linear interpolation is separable: one 1-d
      pass per resized axis, innermost first. The innermost pass gathers
      pairs; every outer pass blends whole input rows, which vectorises.
      Any axis may be resized, N and C included.
    - cubic, and linear with antialias where an axis shrinks: each output
      position is a weighed sum of the input positions under a filter
      centred on its source coordinate (Keys' cubic with cubic_coeff_a,
      or the triangle of linear). antialias stretches the filter by
      1 / scale on a shrinking axis so that every input contributes, and
      divides the weights by their sum; positions beyond the input take
      the edge value, or weigh nothing with exclude_outside (then the
      weights are divided by their sum too). One pass per resized axis,
      the most shrinking first, each output a sum over its axis' taps.

    Opset 10 Resize and Upsample have no transformation or rounding
    attributes: they use asymmetric coordinates and, for nearest, floor
    when an axis grows and ceil when it shrinks, as ONNX Runtime and the
    ONNX opset-10 test data do.

    tf_crop_and_resize maps each axis' output onto the crop its 'roi'
    input gives; the tables clamp positions beyond the input to its edge
    like any mode, and a last pass writes extrapolation_value into every
    output that has such a position on some axis. Other modes skip it.

    Opset 18's 'axes' gives scales or sizes for some axes only (the others
    keep their extent); opset 19's half_pixel_symmetric is half_pixel with
    the grid centred; opset 18's keep_aspect_ratio_policy gives the axes
    of sizes one scale; opset 18's antialias filters linear and cubic
    downscaling as above (PyTorch's antialias=True is exclude_outside=1,
    with cubic_coeff_a -0.5 for bicubic).
    =========================================================================
*/

#include "zi_classes.h"

typedef enum {
    S_MODE_NEAREST,
    S_MODE_LINEAR,
    S_MODE_CUBIC
} s_mode_t;

typedef enum {
    S_COORD_HALF_PIXEL,
    S_COORD_PYTORCH_HALF_PIXEL,
    S_COORD_ALIGN_CORNERS,
    S_COORD_ASYMMETRIC,
    S_COORD_TF_HALF_PIXEL_FOR_NN,
    S_COORD_HALF_PIXEL_SYMMETRIC,
    S_COORD_TF_CROP_AND_RESIZE
} s_coord_t;

typedef enum {
    S_ROUND_PREFER_FLOOR,
    S_ROUND_PREFER_CEIL,
    S_ROUND_FLOOR,
    S_ROUND_CEIL,
    S_ROUND_LEGACY              //  opset 10: floor growing, ceil shrinking
} s_rounding_t;

//  The 1-d mapping of one axis
typedef struct {
    int64_t *source;            //  nearest: input index per output position
    int64_t *low;               //  linear: lower neighbour per output position
    int64_t *high;              //  linear: upper neighbour
    float *weight_low;          //  linear: weight of the lower neighbour
    float *weight_high;         //  linear: weight of the upper neighbour
    int64_t n_taps;             //  filtered: input positions per output position
    int64_t *tap_index;         //  filtered: n_taps input indexes per output position
    float *tap_weight;          //  filtered: their weights
    bool identity;              //  output position i reads input i only
    bool *outside;              //  tf_crop_and_resize: position maps beyond the input
    int64_t n_lead;             //  tf_crop_and_resize: outside positions at the start
    int64_t n_trail;            //  and at the end (there are none between)
} s_axis_t;

typedef struct {
    s_mode_t mode;              //  nearest or linear
    s_coord_t coord;            //  coordinate_transformation_mode
    s_rounding_t rounding;      //  nearest_mode
    bool legacy_inputs;         //  input 1 is scales (Resize 10, Upsample 9)
    int n_attr_scales;          //  Upsample 7 'scales' attribute, 0: none
    float attr_scales [ZI_MAX_DIMS];
    int policy;                 //  keep_aspect_ratio_policy: 0 stretch, 1 not_larger,
                                //  2 not_smaller
    int n_only;                 //  opset 18 'axes': how many, -1 when absent
    int64_t only [ZI_MAX_DIMS]; //  the axes scales or sizes are given for
    float cubic_a;              //  cubic_coeff_a: Keys' a
    bool exclude_outside;       //  positions beyond the input weigh nothing
    bool antialias;             //  stretch the filter when an axis shrinks
    float extrapolation;        //  tf_crop_and_resize: value of outputs beyond the input
    //  Tables made by prepare for one input shape
    int ndim;                   //  rank the tables are for, 0: none yet
    bool filtered;              //  tap tables (cubic, antialiased linear)
    int64_t in_dims [ZI_MAX_DIMS];  //  input shape the tables are for
    int64_t out_dims [ZI_MAX_DIMS]; //  output shape
    s_axis_t axes [ZI_MAX_DIMS];    //  per-axis mappings
    void *tables;               //  one block holding every axis' arrays
    float roi_start [ZI_MAX_DIMS];  //  tf_crop_and_resize: crop start per axis, normalised
    float roi_end [ZI_MAX_DIMS];    //  and its end
    bool *outside_flags;        //  one block holding every axis' outside flags
    bool any_outside;           //  some output takes the extrapolation value
} s_resize_t;

//  --------------------------------------------------------------------------
//  Attributes

static void
s_resize_destroy (zi_node_t *node)
{
    s_resize_t *params = node->params;
    free (params->tables);
    free (params->outside_flags);
    free (params);
}

static int
s_parse_mode (const zi_node_t *node, s_resize_t *params)
{
    const char *mode = zi_node_attr_string (node, "mode", "nearest");
    if (strcmp (mode, "nearest") == 0)
        params->mode = S_MODE_NEAREST;
    else
    if (strcmp (mode, "linear") == 0 || strcmp (mode, "bilinear") == 0)
        params->mode = S_MODE_LINEAR;
    else
    if (strcmp (mode, "cubic") == 0 && !params->legacy_inputs)
        params->mode = S_MODE_CUBIC;
    else
        return zi_error ("attribute 'mode' = '%s' is not supported (supported: nearest, linear%s)",
                         mode, params->legacy_inputs? "": ", cubic");
    return 0;
}

static int
s_resize_parse (zi_node_t *node, s_resize_t *params)
{
    params->n_only = -1;
    if (s_parse_mode (node, params))
        return -1;
    if (params->legacy_inputs) {
        params->coord = S_COORD_ASYMMETRIC;
        params->rounding = S_ROUND_LEGACY;
        return 0;
    }
    const char *coord = zi_node_attr_string (node, "coordinate_transformation_mode",
                                             "half_pixel");
    static const struct {
        const char *name;
        s_coord_t coord;
    } coords [] = {
        {"half_pixel", S_COORD_HALF_PIXEL},
        {"pytorch_half_pixel", S_COORD_PYTORCH_HALF_PIXEL},
        {"align_corners", S_COORD_ALIGN_CORNERS},
        {"asymmetric", S_COORD_ASYMMETRIC},
        {"tf_half_pixel_for_nn", S_COORD_TF_HALF_PIXEL_FOR_NN},
        {"half_pixel_symmetric", S_COORD_HALF_PIXEL_SYMMETRIC},
        {"tf_crop_and_resize", S_COORD_TF_CROP_AND_RESIZE}
    };
    size_t index;
    for (index = 0; index < sizeof coords / sizeof coords [0]; index++)
        if (strcmp (coord, coords [index].name) == 0)
            break;
    if (index == sizeof coords / sizeof coords [0])
        return zi_error ("attribute 'coordinate_transformation_mode' = '%s' is not supported "
                         "(supported: half_pixel, pytorch_half_pixel, align_corners, "
                         "asymmetric, tf_half_pixel_for_nn, half_pixel_symmetric, "
                         "tf_crop_and_resize)", coord);
    params->coord = coords [index].coord;
    if (params->coord == S_COORD_HALF_PIXEL_SYMMETRIC && node->opset < 19)
        return zi_error ("attribute 'coordinate_transformation_mode' = 'half_pixel_symmetric' "
                         "exists from opset 19; the model imports opset %d", node->opset);

    const char *rounding = zi_node_attr_string (node, "nearest_mode", "round_prefer_floor");
    if (strcmp (rounding, "round_prefer_floor") == 0)
        params->rounding = S_ROUND_PREFER_FLOOR;
    else
    if (strcmp (rounding, "round_prefer_ceil") == 0)
        params->rounding = S_ROUND_PREFER_CEIL;
    else
    if (strcmp (rounding, "floor") == 0)
        params->rounding = S_ROUND_FLOOR;
    else
    if (strcmp (rounding, "ceil") == 0)
        params->rounding = S_ROUND_CEIL;
    else
        return zi_error ("attribute 'nearest_mode' = '%s' is not supported (supported: "
                         "round_prefer_floor, round_prefer_ceil, floor, ceil)", rounding);

    params->cubic_a = zi_node_attr_float (node, "cubic_coeff_a", -0.75f);
    int64_t exclude = zi_node_attr_int (node, "exclude_outside", 0);
    int64_t antialias = zi_node_attr_int (node, "antialias", 0);
    if (exclude != 0 && exclude != 1)
        return zi_error ("attribute 'exclude_outside' = %lld; expected 0 or 1",
                         (long long) exclude);
    if (antialias != 0 && antialias != 1)
        return zi_error ("attribute 'antialias' = %lld; expected 0 or 1", (long long) antialias);
    if (antialias && node->opset < 18)
        return zi_error ("attribute 'antialias' exists from opset 18; the model imports opset %d",
                         node->opset);
    if (!isfinite (params->cubic_a))
        return zi_error ("attribute 'cubic_coeff_a' = %g; expected a finite value",
                         (double) params->cubic_a);
    params->exclude_outside = exclude == 1;
    params->antialias = antialias == 1;
    params->extrapolation = zi_node_attr_float (node, "extrapolation_value", 0);
    //  The antialiasing filter's width follows the scale, which a crop
    //  changes; no exporter writes the two together
    if (params->antialias && params->coord == S_COORD_TF_CROP_AND_RESIZE)
        return zi_error ("attribute 'antialias' = 1 with coordinate_transformation_mode "
                         "'tf_crop_and_resize' is not supported");
    if (zi_node_attr (node, "axes")) {
        if (node->opset < 18)
            return zi_error ("attribute 'axes' exists from opset 18; the model imports opset %d",
                             node->opset);
        params->n_only = zi_node_attr_ints (node, "axes", params->only, ZI_MAX_DIMS);
        if (params->n_only < 0)
            return -1;
    }
    const char *policy = zi_node_attr_string (node, "keep_aspect_ratio_policy", "stretch");
    static const char *policies [] = {"stretch", "not_larger", "not_smaller"};
    for (params->policy = 0; params->policy < 3; params->policy++)
        if (strcmp (policy, policies [params->policy]) == 0)
            break;
    if (params->policy == 3)
        return zi_error ("attribute 'keep_aspect_ratio_policy' = '%s' is not supported "
                         "(supported: stretch, not_larger, not_smaller)", policy);
    if (params->policy && node->opset < 18)
        return zi_error ("attribute 'keep_aspect_ratio_policy' exists from opset 18; the "
                         "model imports opset %d", node->opset);
    return 0;
}

static int
s_resize_init (zi_node_t *node)
{
    s_resize_t *params = calloc (1, sizeof (s_resize_t));
    if (!params)
        return zi_error ("out of memory");
    params->legacy_inputs = node->opset < 11;
    if (s_resize_parse (node, params)) {
        free (params);
        return -1;
    }
    node->params = params;
    return 0;
}

static int
s_upsample_init (zi_node_t *node)
{
    s_resize_t *params = calloc (1, sizeof (s_resize_t));
    if (!params)
        return zi_error ("out of memory");
    params->legacy_inputs = true;
    if (zi_node_attr (node, "scales"))
        params->n_attr_scales = zi_node_attr_floats (node, "scales", params->attr_scales,
                                                     ZI_MAX_DIMS);
    if (params->n_attr_scales < 0 || s_resize_parse (node, params)) {
        free (params);
        return -1;
    }
    node->params = params;
    return 0;
}

//  --------------------------------------------------------------------------
//  Output shape

//  True when an optional input is absent: omitted, or an empty tensor
static bool
s_absent (const zi_node_t *node, const zi_tensor_t *const *in, int slot)
{
    return slot >= node->n_inputs || !in [slot]
        || zi_shape_count (in [slot]->ndim, in [slot]->dims) == 0;
}

//  Opset 18's 'axes': scales or sizes are given for those axes only, and
//  the others keep their extent. Spreads count values given for the axes
//  over all rank axes, fill [axis] elsewhere; what: for errors
static int
s_spread_axes (const s_resize_t *params, int rank, double *values, int count,
               const double *fill, const char *what)
{
    if (count != params->n_only)
        return zi_error ("%s has %d values; expected %d (one per entry of attribute 'axes')",
                         what, count, params->n_only);
    double given [ZI_MAX_DIMS];
    memcpy (given, values, count * sizeof (double));
    bool seen [ZI_MAX_DIMS] = {false};
    for (int axis = 0; axis < rank; axis++)
        values [axis] = fill [axis];
    for (int index = 0; index < count; index++) {
        int64_t axis = params->only [index] < 0? params->only [index] + rank: params->only [index];
        if (axis < 0 || axis >= rank || seen [axis])
            return zi_error ("attribute 'axes' [%d] = %lld is %s for a %d-d input", index,
                             (long long) params->only [index],
                             axis < 0 || axis >= rank? "out of range": "repeated", rank);
        seen [axis] = true;
        values [axis] = given [index];
    }
    return 0;
}

//  tf_crop_and_resize's crop: input 1 (roi) holds the starts, then the
//  ends, of every axis (or of those of opset 18's 'axes'; the others
//  take all of the input), as fractions of the input's extent. Fills
//  start and end for every axis of a rank-d input.
static int
s_roi (const zi_node_t *node, const zi_tensor_t *const *in, int rank, float *start,
       float *end)
{
    const s_resize_t *params = node->params;
    if (s_absent (node, in, 1))
        return zi_error ("coordinate_transformation_mode 'tf_crop_and_resize' needs input 1 "
                         "(roi); it is absent or empty");
    const zi_tensor_t *roi = in [1];
    if (roi->dtype != ZI_F32)
        return zi_error ("input 1 (roi): expected float32, got %s", zi_dtype_name (roi->dtype));
    if (!roi->data)
        return zi_error ("input 1 (roi) must be a constant known before the run");
    int64_t count = zi_shape_count (roi->ndim, roi->dims);
    int n_axes = params->n_only >= 0? params->n_only: rank;
    if (count != 2 * n_axes)
        return zi_error ("input 1 (roi) has %lld values; expected %d (a start and an end "
                         "for each of %d %s)", (long long) count, 2 * n_axes, n_axes,
                         params->n_only >= 0? "entries of attribute 'axes'": "axes");
    const float *values = roi->data;
    for (int index = 0; index < 2 * n_axes; index++)
        if (!isfinite (values [index]))
            return zi_error ("input 1 (roi) [%d] = %g; expected a finite value",
                             index, (double) values [index]);
    for (int axis = 0; axis < rank; axis++) {
        start [axis] = 0;
        end [axis] = 1;
    }
    for (int index = 0; index < n_axes; index++) {
        int64_t axis = index;
        if (params->n_only >= 0) {
            axis = params->only [index] < 0? params->only [index] + rank: params->only [index];
            if (axis < 0 || axis >= rank)
                return zi_error ("attribute 'axes' [%d] = %lld is out of range for a %d-d "
                                 "input", index, (long long) params->only [index], rank);
        }
        start [axis] = values [index];
        end [axis] = values [n_axes + index];
    }
    return 0;
}

//  Opset 18's keep_aspect_ratio_policy: the axes sizes are given for (all,
//  or those of 'axes') take one scale, the smallest of their size / extent
//  ratios (not_larger) or the largest (not_smaller), and extents of that
//  scale times theirs, rounded half up. scales holds the ratios.
static int
s_keep_aspect_ratio (const s_resize_t *params, const zi_tensor_t *x, float *scales,
                     int64_t *out_dims)
{
    int rank = x->ndim;
    bool listed [ZI_MAX_DIMS];
    for (int axis = 0; axis < rank; axis++)
        listed [axis] = params->n_only < 0;
    for (int index = 0; index < params->n_only; index++)
        listed [params->only [index] < 0? params->only [index] + rank: params->only [index]] = true;
    float scale = 0;
    bool first = true;
    for (int axis = 0; axis < rank; axis++) {
        if (!listed [axis])
            continue;
        if (x->dims [axis] == 0)
            return zi_error ("keep_aspect_ratio_policy: axis %d of the input is empty", axis);
        if (first || (params->policy == 1? scales [axis] < scale: scales [axis] > scale))
            scale = scales [axis];
        first = false;
    }
    for (int axis = 0; axis < rank; axis++)
        if (listed [axis]) {
            scales [axis] = scale;
            out_dims [axis] = (int64_t) floorf (scale * (float) x->dims [axis] + 0.5f);
        }
    return 0;
}

//  The scale and output extent of every axis; scales [axis] is what the
//  coordinate transform divides by
static int
s_geometry (const zi_node_t *node, const zi_tensor_t *const *in, float *scales,
            int64_t *out_dims)
{
    const s_resize_t *params = node->params;
    const zi_tensor_t *x = in [0];
    int rank = x->ndim;
    int scales_slot = params->legacy_inputs? 1: 2;
    int sizes_slot = params->legacy_inputs? -1: 3;
    bool have_scales = params->n_attr_scales > 0 || !s_absent (node, in, scales_slot);
    bool have_sizes = sizes_slot > 0 && !s_absent (node, in, sizes_slot);
    char shape [128];

    if (rank == 0)
        return zi_error ("input 0: expected a tensor of rank 1 or more, got a scalar");
    if (have_scales && have_sizes)
        return zi_error ("inputs 2 (scales) and 3 (sizes) are both given; expected exactly one "
                         "(the other omitted or empty)");
    if (!have_scales && !have_sizes)
        return zi_error (params->legacy_inputs? "scales are required (input 1 or attribute)"
                         : "input 2 (scales) or input 3 (sizes) is required");
    if (have_sizes) {
        int64_t sizes [ZI_MAX_DIMS];
        int count = zi_input_ints (in [sizes_slot], sizes, ZI_MAX_DIMS, "input 3 (sizes)");
        if (count < 0)
            return -1;
        if (params->n_only >= 0) {
            double spread [ZI_MAX_DIMS], fill [ZI_MAX_DIMS] = {0};
            for (int index = 0; index < count; index++)
                spread [index] = (double) sizes [index];
            for (int axis = 0; axis < rank; axis++)
                fill [axis] = (double) x->dims [axis];
            if (s_spread_axes (params, rank, spread, count, fill, "input 3 (sizes)"))
                return -1;
            for (int axis = 0; axis < rank; axis++)
                sizes [axis] = (int64_t) spread [axis];
            count = rank;
        }
        if (count != rank)
            return zi_error ("input 3 (sizes) has %d values; expected %d (one per axis of %s)",
                             count, rank, zi_shape_str (rank, x->dims, shape, sizeof shape));
        for (int axis = 0; axis < rank; axis++) {
            if (sizes [axis] < 0)
                return zi_error ("input 3 (sizes) [%d] = %lld; expected >= 0",
                                 axis, (long long) sizes [axis]);
            out_dims [axis] = sizes [axis];
            scales [axis] = x->dims [axis]? (float) sizes [axis] / (float) x->dims [axis]: 1;
        }
        if (params->policy)
            return s_keep_aspect_ratio (params, x, scales, out_dims);
        return 0;
    }
    int count = params->n_attr_scales;
    if (count > 0)
        memcpy (scales, params->attr_scales, count * sizeof (float));
    else {
        const zi_tensor_t *tensor = in [scales_slot];
        if (tensor->dtype != ZI_F32)
            return zi_error ("input %d (scales): expected float32, got %s",
                             scales_slot, zi_dtype_name (tensor->dtype));
        if (!tensor->data)
            return zi_error ("input %d (scales) must be a constant known before the run",
                             scales_slot);
        int64_t total = zi_shape_count (tensor->ndim, tensor->dims);
        if (total > ZI_MAX_DIMS)
            return zi_error ("input %d (scales) has %lld values; expected %d (one per axis)",
                             scales_slot, (long long) total, rank);
        count = (int) total;
        memcpy (scales, tensor->data, count * sizeof (float));
    }
    if (params->n_only >= 0) {
        double spread [ZI_MAX_DIMS], ones [ZI_MAX_DIMS];
        for (int index = 0; index < count; index++)
            spread [index] = scales [index];
        for (int axis = 0; axis < ZI_MAX_DIMS; axis++)
            ones [axis] = 1;
        if (s_spread_axes (params, rank, spread, count, ones, "scales"))
            return -1;
        for (int axis = 0; axis < rank; axis++)
            scales [axis] = (float) spread [axis];
        count = rank;
    }
    if (count != rank)
        return zi_error ("scales has %d values; expected %d (one per axis of %s)",
                         count, rank, zi_shape_str (rank, x->dims, shape, sizeof shape));
    for (int axis = 0; axis < rank; axis++) {
        if (!(scales [axis] > 0) || isinf (scales [axis]))
            return zi_error ("scales [%d] = %g; expected a finite value > 0",
                             axis, (double) scales [axis]);
        double extent = floor ((double) x->dims [axis] * (double) scales [axis]);
        if (extent > (double) (INT64_C (1) << 40))
            return zi_error ("scales [%d] = %g makes axis %d absurdly large",
                             axis, (double) scales [axis], axis);
        out_dims [axis] = (int64_t) extent;
    }
    return 0;
}

static int
s_resize_infer (zi_node_t *node, const zi_tensor_t *const *in, zi_tensor_t *const *out)
{
    const zi_tensor_t *x = in [0];
    if (x->dtype != ZI_F32)
        return zi_error ("input 0: expected float32, got %s", zi_dtype_name (x->dtype));
    float scales [ZI_MAX_DIMS];
    int64_t dims [ZI_MAX_DIMS];
    if (s_geometry (node, in, scales, dims))
        return -1;
    const s_resize_t *params = node->params;
    float start [ZI_MAX_DIMS], end [ZI_MAX_DIMS];
    if (params->coord == S_COORD_TF_CROP_AND_RESIZE && s_roi (node, in, x->ndim, start, end))
        return -1;
    zi_tensor_set_shape (out [0], ZI_F32, x->ndim, dims);
    return 0;
}

//  --------------------------------------------------------------------------
//  Tables

//  tf_crop_and_resize: where output position `position` of an axis lies
//  on the input axis, its crop going from start to end. In float and in
//  this order, as ONNX Runtime computes it, so that nearest rounds the
//  same ties the same way. A huge crop may give an infinity, or NaN.
static float
s_crop_coordinate (int64_t position, int64_t in_extent, int64_t out_extent, float start,
                   float end)
{
    if (out_extent > 1)
        return start * (float) (in_extent - 1)
             + (float) position * (end - start) * (float) (in_extent - 1)
             / (float) (out_extent - 1);
    return (float) (0.5 * (double) (start + end) * (double) (in_extent - 1));
}

//  Where output position `position` of an axis lies on the input axis;
//  start and end: the axis' crop (tf_crop_and_resize only)
static float
s_source_coordinate (s_coord_t coord, int64_t position, float scale, int64_t in_extent,
                     int64_t out_extent, float start, float end)
{
    float x = (float) position;
    switch (coord) {
        case S_COORD_TF_CROP_AND_RESIZE: {
            //  Positions beyond the input take extrapolation_value after
            //  the tables are used, so they may read anything inside;
            //  the edge keeps the tables' indexes in range, NaN included
            float limit = (float) (in_extent > 0? in_extent - 1: 0);
            float source = s_crop_coordinate (position, in_extent, out_extent, start, end);
            return source >= 0 && source <= limit? source: source > limit? limit: 0;
        }
        case S_COORD_HALF_PIXEL:
            return (x + 0.5f) / scale - 0.5f;
        case S_COORD_PYTORCH_HALF_PIXEL:
            return out_extent > 1? (x + 0.5f) / scale - 0.5f: 0;
        case S_COORD_ALIGN_CORNERS:
            return out_extent > 1? x * (float) (in_extent - 1) / (float) (out_extent - 1): 0;
        case S_COORD_ASYMMETRIC:
            return x / scale;
        case S_COORD_TF_HALF_PIXEL_FOR_NN:
            return (x + 0.5f) / scale;
        case S_COORD_HALF_PIXEL_SYMMETRIC: {
            //  Opset 19: half_pixel, shifted so that the output, whose
            //  extent was rounded down from scale * in, stays centred on
            //  the input
            float adjustment = (float) out_extent / (scale * (float) in_extent);
            float offset = (float) in_extent / 2 * (1 - adjustment);
            return offset + (x + 0.5f) / scale - 0.5f;
        }
    }
    return x;
}

static int64_t
s_nearest (s_rounding_t rounding, float x, float scale, int64_t in_extent)
{
    float rounded;
    switch (rounding) {
        case S_ROUND_PREFER_FLOOR: rounded = ceilf (x - 0.5f); break;
        case S_ROUND_PREFER_CEIL:  rounded = floorf (x + 0.5f); break;
        case S_ROUND_FLOOR:        rounded = floorf (x); break;
        case S_ROUND_CEIL:         rounded = ceilf (x); break;
        default:                   rounded = scale < 1? ceilf (x): floorf (x); break;
    }
    int64_t index = (int64_t) rounded;
    return index < 0? 0: (index >= in_extent? in_extent - 1: index);
}

//  The filter's weight at distance t (in its own units) from the centre:
//  the triangle of linear, or Keys' cubic with parameter a
static double
s_filter (s_mode_t mode, double a, double t)
{
    t = fabs (t);
    if (mode == S_MODE_LINEAR)
        return t < 1? 1 - t: 0;
    if (t <= 1)
        return ((a + 2) * t - (a + 3)) * t * t + 1;
    if (t < 2)
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
    return 0;
}

//  Tap tables for cubic and antialiased linear: output position i of an
//  axis reads the input positions j within the filter's reach of its
//  source coordinate c, weighed filter ((j - c) * s), where s is the
//  axis' scale when antialias shrinks it and 1 otherwise. The reach of a
//  shrinking axis is at most (in / out) * 4 + 1, so each axis' table
//  holds at most about four times its input.
static int
s_filter_tables (s_resize_t *params, const float *scales)
{
    int rank = params->ndim;
    double reach [ZI_MAX_DIMS], stretch [ZI_MAX_DIMS];
    size_t taps = 0;
    for (int axis = 0; axis < rank; axis++) {
        double scale = scales [axis];
        stretch [axis] = params->antialias && scale < 1? scale: 1;
        reach [axis] = (params->mode == S_MODE_CUBIC? 2: 1) / stretch [axis];
        double n_taps = params->out_dims [axis] > 0? ceil (2 * reach [axis]) + 1: 1;
        if (n_taps > (double) (params->in_dims [axis] * 4 + 8))
            return zi_error ("scale %g of axis %d: the filter would span %g inputs of %lld",
                             scale, axis, n_taps, (long long) params->in_dims [axis]);
        params->axes [axis].n_taps = (int64_t) n_taps;
        taps += (size_t) n_taps * (size_t) params->out_dims [axis];
    }
    int64_t most = 0;
    for (int axis = 0; axis < rank; axis++)
        most = params->axes [axis].n_taps > most? params->axes [axis].n_taps: most;
    double *raw = malloc ((size_t) most * sizeof (double));
    params->tables = malloc (taps * (sizeof (int64_t) + sizeof (float)) + 64);
    if (!params->tables || !raw) {
        free (raw);
        return zi_error ("out of memory for resize tables");
    }
    int64_t *indexes = params->tables;
    float *weights = (float *) (indexes + taps);
    for (int axis = 0; axis < rank; axis++) {
        s_axis_t *self = &params->axes [axis];
        int64_t in_extent = params->in_dims [axis], out_extent = params->out_dims [axis];
        self->tap_index = indexes;
        self->tap_weight = weights;
        indexes += self->n_taps * out_extent;
        weights += self->n_taps * out_extent;
        self->identity = in_extent == out_extent;
        for (int64_t position = 0; position < out_extent; position++) {
            double source = s_source_coordinate (params->coord, position, scales [axis],
                                                 in_extent, out_extent, params->roi_start [axis],
                                                 params->roi_end [axis]);
            int64_t first = (int64_t) floor (source - reach [axis]) + 1;
            int64_t *index = self->tap_index + position * self->n_taps;
            float *weight = self->tap_weight + position * self->n_taps;
            double total = 0, inside = 0;
            for (int64_t tap = 0; tap < self->n_taps; tap++) {
                int64_t at = first + tap;
                raw [tap] = s_filter (params->mode, params->cubic_a,
                                      ((double) at - source) * stretch [axis]);
                total += raw [tap];
                if (at < 0 || at >= in_extent) {
                    if (params->exclude_outside)
                        raw [tap] = 0;
                    at = at < 0? 0: in_extent - 1;
                }
                inside += raw [tap];
                index [tap] = at;
            }
            //  antialias: the weights sum to 1; exclude_outside: those left do
            double divisor = params->exclude_outside? inside: params->antialias? total: 1;
            if (divisor == 0)
                divisor = 1;
            //  An axis is the identity when each output takes all of its
            //  own input and nothing of any other
            double own = 0;
            for (int64_t tap = 0; tap < self->n_taps; tap++) {
                weight [tap] = (float) (raw [tap] / divisor);
                if (index [tap] == position)
                    own += weight [tap];
                else
                if (weight [tap] != 0)
                    self->identity = false;
            }
            if (own != 1)
                self->identity = false;
        }
    }
    free (raw);
    return 0;
}

static int
s_prepare_tables (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_resize_t *params = node->params;
    const zi_tensor_t *x = in [0];
    int rank = x->ndim;
    float scales [ZI_MAX_DIMS];
    free (params->tables);
    params->tables = NULL;
    params->ndim = 0;
    if (s_geometry (node, in, scales, params->out_dims))
        return -1;
    //  Cubic always, linear with antialias only where an axis shrinks:
    //  elsewhere it is the plain linear below, which keeps its bits
    params->filtered = params->mode == S_MODE_CUBIC;
    for (int axis = 0; axis < rank; axis++)
        if (params->mode == S_MODE_LINEAR && params->antialias && scales [axis] < 1
        &&  x->dims [axis] != params->out_dims [axis])
            params->filtered = true;
    if (params->filtered) {
        memcpy (params->in_dims, x->dims, rank * sizeof (int64_t));
        params->ndim = rank;
        if (s_filter_tables (params, scales)) {
            free (params->tables);
            params->tables = NULL;
            params->ndim = 0;
            return -1;
        }
        return 0;
    }

    //  One block: per axis, int64 arrays then float arrays
    size_t positions = 0;
    for (int axis = 0; axis < rank; axis++)
        positions += params->out_dims [axis];
    size_t per_position = params->mode == S_MODE_NEAREST? sizeof (int64_t)
                        : 2 * sizeof (int64_t) + 2 * sizeof (float);
    params->tables = malloc (positions * per_position + 64);
    if (!params->tables)
        return zi_error ("out of memory for resize tables");
    int64_t *ints = params->tables;
    float *floats = (float *) (ints + (params->mode == S_MODE_NEAREST? 1: 2) * positions);

    for (int axis = 0; axis < rank; axis++) {
        s_axis_t *self = &params->axes [axis];
        int64_t in_extent = x->dims [axis];
        int64_t out_extent = params->out_dims [axis];
        params->in_dims [axis] = in_extent;
        memset (self, 0, sizeof *self);
        self->identity = in_extent == out_extent;
        if (params->mode == S_MODE_NEAREST) {
            self->source = ints;
            ints += out_extent;
        }
        else {
            self->low = ints;
            self->high = ints + out_extent;
            ints += 2 * out_extent;
            self->weight_low = floats;
            self->weight_high = floats + out_extent;
            floats += 2 * out_extent;
        }
        for (int64_t position = 0; position < out_extent; position++) {
            float source = s_source_coordinate (params->coord, position, scales [axis],
                                                in_extent, out_extent, params->roi_start [axis],
                                                params->roi_end [axis]);
            if (params->mode == S_MODE_NEAREST) {
                self->source [position] = in_extent?
                    s_nearest (params->rounding, source, scales [axis], in_extent): 0;
                if (self->source [position] != position)
                    self->identity = false;
                continue;
            }
            //  Linear: clamping the coordinate to the input is the same as
            //  padding the input with its edge values, as the spec does
            float limit = (float) (in_extent > 0? in_extent - 1: 0);
            source = source < 0? 0: (source > limit? limit: source);
            int64_t low = (int64_t) source;
            if (low > in_extent - 1)
                low = in_extent > 0? in_extent - 1: 0;
            int64_t high = low + 1 < in_extent? low + 1: low;
            float fraction = source - (float) low;
            self->low [position] = low;
            self->high [position] = high;
            self->weight_low [position] = 1.0f - fraction;
            self->weight_high [position] = fraction;
            //  At the last input element both neighbours are that element:
            //  half of it twice, as ONNX Runtime weighs it (exact either way
            //  in one pass, but not in the bilinear sum below)
            if (low == high)
                self->weight_low [position] = self->weight_high [position] = 0.5f;
            if (low != position || fraction != 0)
                self->identity = false;
        }
    }
    params->ndim = rank;
    return 0;
}

//  tf_crop_and_resize: which positions of each axis map beyond the input.
//  The tables above read the edge there, as other modes do; run then
//  overwrites every output with such a position on some axis with
//  extrapolation_value, since each output reads only its own positions.
static int
s_outside_tables (s_resize_t *params)
{
    int rank = params->ndim;
    size_t positions = 0;
    for (int axis = 0; axis < rank; axis++)
        positions += (size_t) params->out_dims [axis];
    params->outside_flags = calloc (positions + 1, sizeof (bool));
    if (!params->outside_flags)
        return zi_error ("out of memory for resize tables");
    bool *flags = params->outside_flags;
    for (int axis = 0; axis < rank; axis++) {
        s_axis_t *self = &params->axes [axis];
        int64_t in_extent = params->in_dims [axis], out_extent = params->out_dims [axis];
        float limit = (float) (in_extent - 1);
        self->outside = flags;
        flags += out_extent;
        for (int64_t position = 0; position < out_extent; position++) {
            float source = s_crop_coordinate (position, in_extent, out_extent,
                                              params->roi_start [axis], params->roi_end [axis]);
            self->outside [position] = !(source >= 0 && source <= limit);
            if (self->outside [position])
                params->any_outside = true;
        }
        //  The coordinate is monotonic in the position (float products
        //  and quotients by one constant keep order), so the positions
        //  outside are a run at each end
        for (self->n_lead = 0; self->n_lead < out_extent; self->n_lead++)
            if (!self->outside [self->n_lead])
                break;
        for (self->n_trail = 0; self->n_trail < out_extent - self->n_lead; self->n_trail++)
            if (!self->outside [out_extent - 1 - self->n_trail])
                break;
    }
    return 0;
}

static int
s_resize_prepare (zi_node_t *node, const zi_tensor_t *const *in)
{
    s_resize_t *params = node->params;
    free (params->outside_flags);
    params->outside_flags = NULL;
    params->any_outside = false;
    bool cropping = params->coord == S_COORD_TF_CROP_AND_RESIZE;
    if ((cropping && s_roi (node, in, in [0]->ndim, params->roi_start, params->roi_end))
    ||  s_prepare_tables (node, in)
    ||  (cropping && s_outside_tables (params))) {
        free (params->tables);
        params->tables = NULL;
        params->ndim = 0;
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Run

//  tf_crop_and_resize: extrapolation_value wherever some axis' position
//  lies beyond the input, row by row over the innermost axis
static void
s_run_extrapolate (const s_resize_t *params, float *y)
{
    int rank = params->ndim;
    int64_t width = params->out_dims [rank - 1];
    int64_t n_lead = params->axes [rank - 1].n_lead;
    int64_t n_trail = params->axes [rank - 1].n_trail;
    int64_t rows = zi_shape_count (rank - 1, params->out_dims);
    int64_t index [ZI_MAX_DIMS] = {0};
    float value = params->extrapolation;
    for (int64_t row = 0; row < rows; row++) {
        bool whole = false;
        for (int axis = 0; axis < rank - 1; axis++)
            whole = whole || params->axes [axis].outside [index [axis]];
        float *target = y + row * width;
        if (whole)
            for (int64_t column = 0; column < width; column++)
                target [column] = value;
        else {
            for (int64_t column = 0; column < n_lead; column++)
                target [column] = value;
            for (int64_t column = width - n_trail; column < width; column++)
                target [column] = value;
        }
        for (int axis = rank - 2; axis >= 0; axis--) {
            if (++index [axis] < params->out_dims [axis])
                break;
            index [axis] = 0;
        }
    }
}

static void
s_run_nearest (const s_resize_t *params, const float *x, float *y)
{
    int rank = params->ndim;
    int64_t in_strides [ZI_MAX_DIMS];
    zi_shape_strides (rank, params->in_dims, in_strides);
    int64_t width = params->out_dims [rank - 1];
    const int64_t *columns = params->axes [rank - 1].source;
    int64_t rows = zi_shape_count (rank - 1, params->out_dims);
    int64_t index [ZI_MAX_DIMS] = {0};
    int64_t previous = -1;
    for (int64_t row = 0; row < rows; row++) {
        int64_t offset = 0;
        for (int axis = 0; axis < rank - 1; axis++)
            offset += params->axes [axis].source [index [axis]] * in_strides [axis];
        float *target = y + row * width;
        if (offset == previous)
            memcpy (target, target - width, width * sizeof (float));
        else
        if (params->axes [rank - 1].identity)
            memcpy (target, x + offset, width * sizeof (float));
        else {
            const float *source = x + offset;
            for (int64_t column = 0; column < width; column++)
                target [column] = source [columns [column]];
        }
        previous = offset;
        for (int axis = rank - 2; axis >= 0; axis--) {
            if (++index [axis] < params->out_dims [axis])
                break;
            index [axis] = 0;
        }
    }
}

//  One linear pass along an axis: [outer, in_extent, inner] to
//  [outer, out_extent, inner]
static void
s_linear_pass (const s_axis_t *axis, const float *x, float *y, int64_t outer,
               int64_t in_extent, int64_t out_extent, int64_t inner)
{
    const int64_t *low = axis->low, *high = axis->high;
    const float *weight_low = axis->weight_low, *weight_high = axis->weight_high;
    for (int64_t block = 0; block < outer; block++) {
        const float *source = x + block * in_extent * inner;
        float *target = y + block * out_extent * inner;
        if (inner == 1) {
            for (int64_t position = 0; position < out_extent; position++)
                target [position] = weight_low [position] * source [low [position]]
                                  + weight_high [position] * source [high [position]];
            continue;
        }
        for (int64_t position = 0; position < out_extent; position++) {
            const float *a = source + low [position] * inner;
            const float *b = source + high [position] * inner;
            float *row = target + position * inner;
            float wa = weight_low [position], wb = weight_high [position];
            if (wb == 0)
                memcpy (row, a, inner * sizeof (float));
            else
                for (int64_t lane = 0; lane < inner; lane++)
                    row [lane] = wa * a [lane] + wb * b [lane];
        }
    }
}

//  Bilinear over the last two axes in one pass, each output the sum of its
//  four corners weighed by products of the two axes' weights, added in
//  ONNX Runtime's order. Separable passes round differently (by an ulp
//  here and there), which a quantized model turns into whole steps of
//  its next DynamicQuantizeLinear: ISNet's dynamically quantized export
//  drifted 10 % from ONNX Runtime until its upsampling took this path.
static void
s_run_bilinear (const s_resize_t *params, const float *x, float *y)
{
    int rank = params->ndim;
    const s_axis_t *rows = &params->axes [rank - 2], *cols = &params->axes [rank - 1];
    int64_t in_h = params->in_dims [rank - 2], in_w = params->in_dims [rank - 1];
    int64_t out_h = params->out_dims [rank - 2], out_w = params->out_dims [rank - 1];
    int64_t planes = zi_shape_count (rank - 2, params->in_dims);
    for (int64_t plane = 0; plane < planes; plane++) {
        const float *source = x + plane * in_h * in_w;
        float *target = y + plane * out_h * out_w;
        for (int64_t row = 0; row < out_h; row++) {
            const float *top = source + rows->low [row] * in_w;
            const float *bottom = source + rows->high [row] * in_w;
            float dy_top = rows->weight_low [row], dy_bottom = rows->weight_high [row];
            float *out = target + row * out_w;
            for (int64_t col = 0; col < out_w; col++) {
                int64_t left = cols->low [col], right = cols->high [col];
                float dx_left = cols->weight_low [col], dx_right = cols->weight_high [col];
                out [col] = dx_left * dy_top * top [left] + dx_right * dy_top * top [right]
                          + dx_left * dy_bottom * bottom [left]
                          + dx_right * dy_bottom * bottom [right];
            }
        }
    }
}

//  One filtered pass along an axis: [outer, in_extent, inner] to
//  [outer, out_extent, inner], each output the weighed sum of its taps
static void
s_filter_pass (const s_axis_t *axis, const float *x, float *y, int64_t outer,
               int64_t in_extent, int64_t out_extent, int64_t inner)
{
    int64_t n_taps = axis->n_taps;
    for (int64_t block = 0; block < outer; block++) {
        const float *source = x + block * in_extent * inner;
        float *target = y + block * out_extent * inner;
        for (int64_t position = 0; position < out_extent; position++) {
            const int64_t *index = axis->tap_index + position * n_taps;
            const float *weight = axis->tap_weight + position * n_taps;
            if (inner == 1) {
                float sum = 0;
                for (int64_t tap = 0; tap < n_taps; tap++)
                    sum += weight [tap] * source [index [tap]];
                target [position] = sum;
                continue;
            }
            float *row = target + position * inner;
            memset (row, 0, inner * sizeof (float));
            for (int64_t tap = 0; tap < n_taps; tap++) {
                const float *from = source + index [tap] * inner;
                float w = weight [tap];
                if (w != 0)
                    for (int64_t lane = 0; lane < inner; lane++)
                        row [lane] += w * from [lane];
            }
        }
    }
}

static int
s_run_interpolate (const s_resize_t *params, zi_exec_t *exec, const float *x, float *y)
{
    int rank = params->ndim;
    int active [ZI_MAX_DIMS], n_active = 0;
    for (int axis = rank - 1; axis >= 0; axis--)
        if (!params->axes [axis].identity)
            active [n_active++] = axis;
    if (n_active == 0) {
        memcpy (y, x, zi_shape_count (rank, params->in_dims) * sizeof (float));
        return 0;
    }
    //  Plain linear of an image (or a matrix) resized in height and
    //  width, or either: the one-pass bilinear sum. Other shapes, cubic
    //  and antialiased linear take one pass per axis.
    if (!params->filtered && (rank == 2 || rank == 4) && active [n_active - 1] >= rank - 2) {
        s_run_bilinear (params, x, y);
        return 0;
    }
    //  Filtered passes cost a sum over the taps per output, and the
    //  innermost axis' sums gather where the outer axes' run along whole
    //  rows: the axes that shrink most go first, so that the later
    //  passes, the innermost among them, see less data
    if (params->filtered)
        for (int pass = 1; pass < n_active; pass++)
            for (int at = pass; at > 0; at--) {
                int this = active [at], before = active [at - 1];
                double ratio = (double) params->out_dims [this] / (double) params->in_dims [this];
                double previous = (double) params->out_dims [before]
                                / (double) params->in_dims [before];
                if (ratio >= previous)
                    break;
                active [at] = before;
                active [at - 1] = this;
            }
    //  Current shape: input extents, resized one pass after another
    int64_t dims [ZI_MAX_DIMS];
    memcpy (dims, params->in_dims, rank * sizeof (int64_t));
    const float *source = x;
    for (int pass = 0; pass < n_active; pass++) {
        int axis = active [pass];
        int64_t outer = zi_shape_count (axis, dims);
        int64_t inner = zi_shape_count (rank - axis - 1, dims + axis + 1);
        float *target = y;
        if (pass < n_active - 1) {
            size_t size = (size_t) (outer * params->out_dims [axis] * inner) * sizeof (float);
            target = zi_exec_scratch (exec, pass % 2, size? size: sizeof (float));
            if (!target)
                return -1;
        }
        if (params->filtered)
            s_filter_pass (&params->axes [axis], source, target, outer, dims [axis],
                           params->out_dims [axis], inner);
        else
            s_linear_pass (&params->axes [axis], source, target, outer, dims [axis],
                           params->out_dims [axis], inner);
        dims [axis] = params->out_dims [axis];
        source = target;
    }
    return 0;
}

static int
s_resize_run (zi_node_t *node, zi_exec_t *exec, const zi_tensor_t *const *in,
              zi_tensor_t *const *out)
{
    const s_resize_t *params = node->params;
    const zi_tensor_t *x = in [0];
    bool prepared = params->ndim == x->ndim && params->tables;
    for (int axis = 0; prepared && axis < x->ndim; axis++)
        prepared = params->in_dims [axis] == x->dims [axis]
                && params->out_dims [axis] == out [0]->dims [axis];
    if (!prepared) {
        char shape [128];
        return zi_error ("no resize tables for input %s; prepare must run after infer",
                         zi_shape_str (x->ndim, x->dims, shape, sizeof shape));
    }
    if (zi_shape_count (out [0]->ndim, out [0]->dims) == 0)
        return 0;
    if (zi_shape_count (x->ndim, x->dims) == 0)
        return zi_error ("input 0 is empty but the output is not");
    if (params->mode == S_MODE_NEAREST)
        s_run_nearest (params, zi_tensor_f32 (x), zi_tensor_f32 (out [0]));
    else
    if (s_run_interpolate (params, exec, zi_tensor_f32 (x), zi_tensor_f32 (out [0])))
        return -1;
    if (params->any_outside)
        s_run_extrapolate (params, zi_tensor_f32 (out [0]));
    return 0;
}

const zi_op_t zi_op_Resize = {
    .name = "Resize", .min_inputs = 1, .max_inputs = 4, .max_outputs = 1,
    .batch = ZI_BATCH_RESIZE,
    .init = s_resize_init, .infer = s_resize_infer, .prepare = s_resize_prepare,
    .run = s_resize_run, .destroy = s_resize_destroy
};

const zi_op_t zi_op_Upsample = {
    .name = "Upsample", .min_inputs = 1, .max_inputs = 2, .max_outputs = 1,
    .batch = ZI_BATCH_UPSAMPLE,
    .init = s_upsample_init, .infer = s_resize_infer, .prepare = s_resize_prepare,
    .run = s_resize_run, .destroy = s_resize_destroy
};

//  --------------------------------------------------------------------------
//  Self test: a naive reference applies the spec per output element: map
//  each coordinate back, then round it or interpolate over all 2^rank
//  corners at once (not separably, unlike the kernel)

typedef struct {
    const char *op;             //  Resize or Upsample
    int opset;
    const char *mode;           //  NULL: attribute absent
    const char *coord;          //  NULL: attribute absent
    const char *nearest;        //  NULL: attribute absent
    int rank;
    int64_t dims [5];
    bool use_sizes;             //  give sizes rather than scales
    float scales [5];
    int64_t sizes [5];
    bool attr_scales;           //  Upsample 7: scales as an attribute
} s_case_t;

static float
s_ref_coordinate (const char *coord, int64_t x_resized, float scale, int64_t length_original,
                  int64_t length_resized)
{
    float x = (float) x_resized;
    if (strcmp (coord, "half_pixel") == 0)
        return (x + 0.5f) / scale - 0.5f;
    if (strcmp (coord, "pytorch_half_pixel") == 0)
        return length_resized > 1? (x + 0.5f) / scale - 0.5f: 0;
    if (strcmp (coord, "align_corners") == 0)
        return length_resized == 1? 0
             : x * (float) (length_original - 1) / (float) (length_resized - 1);
    if (strcmp (coord, "tf_half_pixel_for_nn") == 0)
        return (x + 0.5f) / scale;
    if (strcmp (coord, "half_pixel_symmetric") == 0) {
        double output_width = (double) scale * (double) length_original;
        double adjustment = (double) length_resized / output_width;
        double center = (double) length_original / 2;
        return (float) (center * (1 - adjustment) + (x + 0.5) / scale - 0.5);
    }
    return x / scale;           //  asymmetric
}

static int64_t
s_ref_round (const char *nearest, float x, float scale)
{
    double whole = floor (x), fraction = x - whole;
    if (strcmp (nearest, "round_prefer_floor") == 0)
        return (int64_t) (fraction <= 0.5? whole: whole + 1);
    if (strcmp (nearest, "round_prefer_ceil") == 0)
        return (int64_t) (fraction < 0.5? whole: whole + 1);
    if (strcmp (nearest, "floor") == 0)
        return (int64_t) whole;
    if (strcmp (nearest, "ceil") == 0)
        return (int64_t) ceil (x);
    //  legacy (opset 10 Resize, Upsample)
    return (int64_t) (scale < 1? ceil (x): whole);
}

static void
s_reference (const s_case_t *c, const float *x, const int64_t *out_dims, const float *scales,
             float *y)
{
    bool legacy = strcmp (c->op, "Upsample") == 0 || c->opset < 11;
    const char *coord = legacy? "asymmetric": (c->coord? c->coord: "half_pixel");
    const char *nearest = legacy? "legacy": (c->nearest? c->nearest: "round_prefer_floor");
    bool linear = c->mode && strcmp (c->mode, "linear") == 0;
    int rank = c->rank;
    int64_t in_strides [5];
    zi_shape_strides (rank, c->dims, in_strides);
    int64_t count = zi_shape_count (rank, out_dims);
    for (int64_t item = 0; item < count; item++) {
        int64_t rest = item, coords [5];
        for (int axis = rank - 1; axis >= 0; axis--) {
            coords [axis] = rest % out_dims [axis];
            rest /= out_dims [axis];
        }
        int64_t low [5], high [5];
        double weight [5];
        for (int axis = 0; axis < rank; axis++) {
            float original = s_ref_coordinate (coord, coords [axis], scales [axis],
                                               c->dims [axis], out_dims [axis]);
            if (!linear) {
                int64_t index = s_ref_round (nearest, original, scales [axis]);
                if (index < 0)
                    index = 0;
                if (index > c->dims [axis] - 1)
                    index = c->dims [axis] - 1;
                low [axis] = high [axis] = index;
                weight [axis] = 0;
                continue;
            }
            //  Edge padding: a coordinate outside the input reads the edge
            double clamped = fmin (fmax (original, 0), (double) (c->dims [axis] - 1));
            low [axis] = (int64_t) floor (clamped);
            high [axis] = low [axis] + 1 < c->dims [axis]? low [axis] + 1: low [axis];
            weight [axis] = clamped - (double) low [axis];
        }
        double sum = 0;
        for (int corner = 0; corner < (1 << rank); corner++) {
            double w = 1;
            int64_t offset = 0;
            for (int axis = 0; axis < rank; axis++) {
                bool upper = corner & (1 << axis);
                w *= upper? weight [axis]: 1 - weight [axis];
                offset += (upper? high [axis]: low [axis]) * in_strides [axis];
            }
            if (w != 0)
                sum += w * x [offset];
        }
        y [item] = (float) sum;
    }
}

static void
s_check_case (zi_test_t *t, const s_case_t *c, uint32_t seed)
{
    char what [256];
    int used = snprintf (what, sizeof what, "%s-%d %s %s %s in", c->op, c->opset,
                         c->mode? c->mode: "(nearest)", c->coord? c->coord: "(default)",
                         c->nearest? c->nearest: "(default)");
    for (int axis = 0; axis < c->rank; axis++)
        used += snprintf (what + used, sizeof what - used, " %lld", (long long) c->dims [axis]);
    used += snprintf (what + used, sizeof what - used, c->use_sizes? " sizes": " scales");
    for (int axis = 0; axis < c->rank; axis++)
        used += c->use_sizes
            ? snprintf (what + used, sizeof what - used, " %lld", (long long) c->sizes [axis])
            : snprintf (what + used, sizeof what - used, " %g", (double) c->scales [axis]);

    zi_node_t *node = zi_node_new (c->op, "test");
    node->opset = c->opset;
    if (c->mode)
        zi_node_set_string (node, "mode", c->mode);
    if (c->coord)
        zi_node_set_string (node, "coordinate_transformation_mode", c->coord);
    if (c->nearest)
        zi_node_set_string (node, "nearest_mode", c->nearest);
    zi_tensor_t *inputs [4] = {NULL, NULL, NULL, NULL};
    int n_inputs = 1;
    inputs [0] = zi_test_random (c->rank, c->dims, seed);
    int64_t rank = c->rank, zero = 0;
    bool legacy = strcmp (c->op, "Upsample") == 0 || c->opset < 11;
    if (c->attr_scales)
        zi_node_set_floats (node, "scales", c->rank, c->scales);
    else
    if (legacy) {
        inputs [1] = zi_test_tensor (1, &rank, c->scales);
        n_inputs = 2;
    }
    else
    if (c->use_sizes) {
        //  As exporters write it: empty roi and scales, then sizes
        inputs [1] = zi_tensor_new (ZI_F32, 1, &zero);
        inputs [2] = zi_tensor_new (ZI_F32, 1, &zero);
        inputs [3] = zi_test_ints (c->rank, c->sizes);
        n_inputs = 4;
    }
    else {
        inputs [2] = zi_test_tensor (1, &rank, c->scales);
        n_inputs = 3;
    }
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, &y);
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        int64_t out_dims [5];
        float scales [5];
        for (int axis = 0; axis < c->rank; axis++) {
            if (c->use_sizes) {
                out_dims [axis] = c->sizes [axis];
                scales [axis] = (float) c->sizes [axis] / (float) c->dims [axis];
            }
            else {
                out_dims [axis] = (int64_t) floor ((double) c->dims [axis] * c->scales [axis]);
                scales [axis] = c->scales [axis];
            }
        }
        bool shape_ok = y->ndim == c->rank;
        for (int axis = 0; shape_ok && axis < c->rank; axis++)
            shape_ok = y->dims [axis] == out_dims [axis];
        char got [64], want_shape [64];
        ZI_CHECK (t, shape_ok, "%s: shape %s, want %s", what,
                  zi_shape_str (y->ndim, y->dims, got, sizeof got),
                  zi_shape_str (c->rank, out_dims, want_shape, sizeof want_shape));
        if (shape_ok) {
            int64_t count = zi_shape_count (c->rank, out_dims);
            float *want = malloc ((count + 1) * sizeof (float));
            s_reference (c, zi_tensor_f32 (inputs [0]), out_dims, scales, want);
            ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, count, 1e-5f, 1e-5f);
            free (want);
        }
    }
    zi_tensor_destroy (&y);
    for (int slot = 0; slot < 4; slot++)
        zi_tensor_destroy (&inputs [slot]);
    zi_node_destroy (&node);
}

//  Runs a node that must fail and checks the message names the problem
static void
s_check_error (zi_test_t *t, zi_node_t *node, int n_inputs, zi_tensor_t **inputs,
               const char *needle)
{
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, n_inputs, inputs, 1, &y);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), needle) != NULL,
              "%s rejected with '%s': %s", node->op_type, needle, zi_error_text ());
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
    for (int slot = 0; slot < n_inputs; slot++)
        zi_tensor_destroy (&inputs [slot]);
}

//  Cubic and antialiased linear against the spec's definition, applied
//  per output element over the whole 2-d neighbourhood at once: each
//  axis gives every input index a weight (the filter, stretched by
//  1 / scale when antialias shrinks the axis, at the distance to the
//  source coordinate; beyond the input the edge's index, or nothing with
//  exclude_outside; normalised by the sum when antialias or
//  exclude_outside asks), and the output is the double sum of products
static void
s_ref_filter_axis (const char *mode, double a, bool antialias, bool exclude, int64_t in,
                   int64_t out, double *weights)
{
    double scale = (double) ((float) out / (float) in);
    double stretch = antialias && scale < 1? scale: 1;
    double reach = (strcmp (mode, "cubic") == 0? 2: 1) / stretch;
    for (int64_t position = 0; position < out; position++) {
        double *row = weights + position * in;
        double source = (double) (((float) position + 0.5f) / (float) scale - 0.5f);
        double total = 0, kept = 0;
        memset (row, 0, in * sizeof (double));
        for (int64_t at = (int64_t) floor (source - reach) - 2; at <= source + reach + 2; at++) {
            double d = fabs ((double) at - source) * stretch, w;
            if (strcmp (mode, "linear") == 0)
                w = d < 1? 1 - d: 0;
            else
                w = d <= 1? (a + 2) * d * d * d - (a + 3) * d * d + 1
                  : d < 2? a * d * d * d - 5 * a * d * d + 8 * a * d - 4 * a: 0;
            total += w;
            bool outside = at < 0 || at >= in;
            if (outside && exclude)
                continue;
            kept += w;
            row [outside? (at < 0? 0: in - 1): at] += w;
        }
        double divisor = exclude? kept: antialias? total: 1;
        for (int64_t at = 0; at < in; at++)
            row [at] /= divisor;
    }
}

static void
s_check_filtered (zi_test_t *t, const char *mode, float a, bool antialias, bool exclude,
                  const int64_t *dims, const int64_t *sizes, uint32_t seed)
{
    zi_node_t *node = zi_node_new ("Resize", "filtered");
    node->opset = 18;
    zi_node_set_string (node, "mode", mode);
    zi_node_set_float (node, "cubic_coeff_a", a);
    zi_node_set_int (node, "antialias", antialias);
    zi_node_set_int (node, "exclude_outside", exclude);
    int64_t none = 0;
    zi_tensor_t *inputs [4] = {
        zi_test_random (4, dims, seed), zi_tensor_new (ZI_F32, 1, &none),
        zi_tensor_new (ZI_F32, 1, &none), zi_test_ints (4, sizes)
    };
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, 4, inputs, 1, &y);
    char what [160];
    snprintf (what, sizeof what, "Resize %s a=%g antialias %d exclude_outside %d, "
              "%lldx%lld to %lldx%lld", mode, (double) a, antialias, exclude,
              (long long) dims [2], (long long) dims [3], (long long) sizes [2],
              (long long) sizes [3]);
    ZI_CHECK (t, rc == 0 && y && y->dims [2] == sizes [2] && y->dims [3] == sizes [3],
              "%s runs: %s", what, rc? zi_error_text (): "");
    if (rc == 0 && y) {
        int64_t in_h = dims [2], in_w = dims [3], out_h = sizes [2], out_w = sizes [3];
        double *rows = malloc (out_h * in_h * sizeof (double));
        double *cols = malloc (out_w * in_w * sizeof (double));
        float *want = malloc (zi_tensor_count (y) * sizeof (float));
        assert (rows && cols && want);
        s_ref_filter_axis (mode, a, antialias, exclude, in_h, out_h, rows);
        s_ref_filter_axis (mode, a, antialias, exclude, in_w, out_w, cols);
        const float *x = zi_tensor_f32 (inputs [0]);
        for (int64_t plane = 0; plane < dims [0] * dims [1]; plane++)
            for (int64_t i = 0; i < out_h; i++)
                for (int64_t j = 0; j < out_w; j++) {
                    double sum = 0;
                    for (int64_t p = 0; p < in_h; p++)
                        for (int64_t q = 0; q < in_w; q++)
                            sum += rows [i * in_h + p] * cols [j * in_w + q]
                                 * x [(plane * in_h + p) * in_w + q];
                    want [(plane * out_h + i) * out_w + j] = (float) sum;
                }
        ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, zi_tensor_count (y), 2e-6f, 2e-6f);
        free (rows);
        free (cols);
        free (want);
    }
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
    for (int slot = 0; slot < 4; slot++)
        zi_tensor_destroy (&inputs [slot]);
}

//  Bilinear resizing, bit for bit: every output is the sum of its four
//  corners in ONNX Runtime's order, each weighed by the product of its
//  axes' weights (the distance to the other neighbour; one half each when
//  both neighbours are the last element), in float
static void
s_check_bilinear_bits (zi_test_t *t, int rank, const int64_t *dims, const int64_t *sizes,
                       const char *coord, uint32_t seed)
{
    zi_node_t *node = zi_node_new ("Resize", "bilinear");
    zi_node_set_string (node, "mode", "linear");
    if (coord)
        zi_node_set_string (node, "coordinate_transformation_mode", coord);
    int64_t none = 0;
    zi_tensor_t *x = zi_test_random (rank, dims, seed);
    zi_tensor_t *empty = zi_tensor_new (ZI_F32, 1, &none);
    zi_tensor_t *wanted = zi_test_ints (rank, sizes);
    zi_tensor_t *in [4] = {x, NULL, empty, wanted}, *y = NULL;
    int rc = zi_test_run_op (node, 4, in, 1, &y);
    char what [160];
    snprintf (what, sizeof what, "bilinear bits, %d-d [.., %lld, %lld] to [.., %lld, %lld] %s",
              rank, (long long) dims [rank - 2], (long long) dims [rank - 1],
              (long long) sizes [rank - 2], (long long) sizes [rank - 1],
              coord? coord: "half_pixel");
    ZI_CHECK (t, rc == 0, "%s: runs (%s)", what, rc? zi_error_text (): "ok");
    if (rc == 0) {
        int64_t in_h = dims [rank - 2], in_w = dims [rank - 1];
        int64_t out_h = sizes [rank - 2], out_w = sizes [rank - 1];
        int64_t planes = zi_shape_count (rank - 2, dims);
        size_t wrong = 0;
        for (int64_t plane = 0; plane < planes; plane++)
        for (int64_t row = 0; row < out_h; row++)
        for (int64_t col = 0; col < out_w; col++) {
            int64_t corner [2][2];          //  [axis][0: first, 1: second neighbour]
            float distance [2][2];          //  [axis][weight of first, of second]
            int64_t at [2] = {row, col}, in_n [2] = {in_h, in_w}, out_n [2] = {out_h, out_w};
            for (int axis = 0; axis < 2; axis++) {
                float scale = (float) out_n [axis] / (float) in_n [axis];
                float c = s_ref_coordinate (coord? coord: "half_pixel", at [axis], scale,
                                            in_n [axis], out_n [axis]);
                c = fmaxf (0, fminf (c, (float) (in_n [axis] - 1)));
                int64_t first = (int64_t) c;
                int64_t second = first + 1 < in_n [axis]? first + 1: first;
                corner [axis][0] = first;
                corner [axis][1] = second;
                distance [axis][0] = fabsf (c - (float) second);
                distance [axis][1] = fabsf (c - (float) first);
                if (first == second)
                    distance [axis][0] = distance [axis][1] = 0.5f;
            }
            const float *p = zi_tensor_f32 (x) + plane * in_h * in_w;
            const float *top = p + corner [0][0] * in_w, *bottom = p + corner [0][1] * in_w;
            int64_t left = corner [1][0], right = corner [1][1];
            float want = distance [1][0] * distance [0][0] * top [left]
                       + distance [1][1] * distance [0][0] * top [right]
                       + distance [1][0] * distance [0][1] * bottom [left]
                       + distance [1][1] * distance [0][1] * bottom [right];
            float got = zi_tensor_f32 (y) [(plane * out_h + row) * out_w + col];
            wrong += memcmp (&got, &want, sizeof got) != 0;
        }
        ZI_CHECK (t, wrong == 0, "%s: %zu outputs not bit for bit", what, wrong);
    }
    zi_tensor_destroy (&y);
    zi_tensor_destroy (&x);
    zi_tensor_destroy (&empty);
    zi_tensor_destroy (&wanted);
    zi_node_destroy (&node);
}

//  tf_crop_and_resize against the ONNX text, one axis at a time: output
//  position i lies at start * (in - 1) + i * (end - start) * (in - 1) /
//  (out - 1) (the middle of the crop when out is 1); beyond [0, in - 1]
//  it is outside, elsewhere weights [i * in + j] is what input j gives
//  it: the nearest element, the two neighbours' distances, or Keys'
//  cubic at the four neighbours (the edge's index beyond the input, or
//  nothing with exclude_outside, then divided by what is left)
static void
s_ref_crop_axis (const char *mode, const char *nearest, double a, bool exclude, int64_t in,
                 int64_t out, float start, float end, double *weights, bool *outside)
{
    for (int64_t position = 0; position < out; position++) {
        double *row = weights + position * in;
        memset (row, 0, in * sizeof (double));
        float c = out > 1
                ? start * (float) (in - 1)
                  + (float) position * (end - start) * (float) (in - 1) / (float) (out - 1)
                : (float) (0.5 * (start + end) * (in - 1));
        outside [position] = c < 0 || c > (float) (in - 1);
        if (outside [position])
            continue;
        if (strcmp (mode, "nearest") == 0) {
            int64_t index = s_ref_round (nearest, c, 1);
            row [index < 0? 0: index >= in? in - 1: index] = 1;
            continue;
        }
        int64_t low = (int64_t) floor (c);
        if (strcmp (mode, "linear") == 0) {
            double fraction = c - (double) low;
            row [low] += 1 - fraction;
            row [low + 1 < in? low + 1: low] += fraction;
            continue;
        }
        double kept = 0;
        double taps [4];
        for (int tap = 0; tap < 4; tap++) {
            int64_t at = low - 1 + tap;
            double d = fabs ((double) at - c);
            taps [tap] = d <= 1? (a + 2) * d * d * d - (a + 3) * d * d + 1
                       : d < 2? a * d * d * d - 5 * a * d * d + 8 * a * d - 4 * a: 0;
            if ((at < 0 || at >= in) && exclude)
                taps [tap] = 0;
            kept += taps [tap];
        }
        for (int tap = 0; tap < 4; tap++) {
            int64_t at = low - 1 + tap;
            row [at < 0? 0: at >= in? in - 1: at] += taps [tap] / (exclude? kept: 1);
        }
    }
}

//  One tf_crop_and_resize of a 4-d input: roi holds 8 values (starts,
//  ends), or 4 with opset 18's axes = [2, 3]; sizes or scales give the
//  output
static void
s_check_crop (zi_test_t *t, const char *mode, const char *nearest, bool exclude,
              const int64_t *dims, const int64_t *wanted, const float *roi, bool only_hw,
              bool use_scales, uint32_t seed)
{
    //  Scales of wanted / dims give the extents floor (dims * scales),
    //  which float may round to one less than wanted; the crop does not
    //  change them (as in ONNX Runtime and ONNX's shape inference)
    float scales [4];
    int64_t sizes [4];
    for (int axis = 0; axis < 4; axis++) {
        scales [axis] = (float) wanted [axis] / (float) dims [axis];
        sizes [axis] = use_scales? (int64_t) floor ((double) dims [axis] * (double) scales [axis])
                     : wanted [axis];
    }
    zi_node_t *node = zi_node_new ("Resize", "crop");
    node->opset = only_hw? 18: 13;
    zi_node_set_string (node, "mode", mode);
    zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
    if (nearest)
        zi_node_set_string (node, "nearest_mode", nearest);
    zi_node_set_int (node, "exclude_outside", exclude);
    zi_node_set_float (node, "extrapolation_value", -7.5f);
    if (only_hw)
        zi_node_set_ints (node, "axes", 2, (int64_t []) {2, 3});
    int64_t n_roi = only_hw? 4: 8, none = 0, four = 4;
    float full_roi [8] = {0, 0, 0, 0, 1, 1, 1, 1};
    for (int index = 0; index < 4; index++)
        if (only_hw) {
            full_roi [2 + index % 2 + (index / 2) * 4] = roi [index];
        }
        else {
            full_roi [index] = roi [index];
            full_roi [4 + index] = roi [4 + index];
        }
    zi_tensor_t *inputs [4] = {
        zi_test_random (4, dims, seed), zi_test_tensor (1, &n_roi, roi),
        use_scales? zi_test_tensor (1, &four, scales): zi_tensor_new (ZI_F32, 1, &none),
        use_scales? NULL: only_hw? zi_test_ints (2, sizes + 2): zi_test_ints (4, sizes)
    };
    zi_tensor_t *y = NULL;
    int rc = zi_test_run_op (node, use_scales? 3: 4, inputs, 1, &y);
    char what [200];
    snprintf (what, sizeof what, "Resize-%d tf_crop_and_resize %s %s exclude_outside %d, "
              "%lldx%lldx%lldx%lld to %lldx%lldx%lldx%lld, roi %g %g %g %g .. %g %g %g %g",
              node->opset, mode, nearest? nearest: "", exclude, (long long) dims [0],
              (long long) dims [1], (long long) dims [2], (long long) dims [3],
              (long long) sizes [0], (long long) sizes [1], (long long) sizes [2],
              (long long) sizes [3], full_roi [0], full_roi [1], full_roi [2], full_roi [3],
              full_roi [4], full_roi [5], full_roi [6], full_roi [7]);
    bool shape_ok = rc == 0 && y->ndim == 4;
    for (int axis = 0; shape_ok && axis < 4; axis++)
        shape_ok = y->dims [axis] == sizes [axis];
    ZI_CHECK (t, shape_ok, "%s runs: %s", what, rc? zi_error_text (): "");
    if (shape_ok) {
        double *weights [4];
        bool *outside [4];
        for (int axis = 0; axis < 4; axis++) {
            weights [axis] = malloc (sizes [axis] * dims [axis] * sizeof (double));
            outside [axis] = malloc (sizes [axis] * sizeof (bool));
            assert (weights [axis] && outside [axis]);
            s_ref_crop_axis (mode, nearest? nearest: "round_prefer_floor", -0.75, exclude,
                             dims [axis], sizes [axis], full_roi [axis], full_roi [4 + axis],
                             weights [axis], outside [axis]);
        }
        float *want = malloc (zi_tensor_count (y) * sizeof (float));
        assert (want);
        const float *x = zi_tensor_f32 (inputs [0]);
        int64_t item = 0;
        for (int64_t n = 0; n < sizes [0]; n++)
        for (int64_t c = 0; c < sizes [1]; c++)
        for (int64_t h = 0; h < sizes [2]; h++)
        for (int64_t w = 0; w < sizes [3]; w++, item++) {
            if (outside [0][n] || outside [1][c] || outside [2][h] || outside [3][w]) {
                want [item] = -7.5f;
                continue;
            }
            const double *wn = weights [0] + n * dims [0], *wc = weights [1] + c * dims [1];
            const double *wh = weights [2] + h * dims [2], *ww = weights [3] + w * dims [3];
            double sum = 0;
            for (int64_t p = 0; p < dims [0]; p++)
            for (int64_t q = 0; q < dims [1]; q++)
            for (int64_t r = 0; r < dims [2]; r++)
            for (int64_t s = 0; s < dims [3]; s++)
                if (wn [p] != 0 && wc [q] != 0 && wh [r] != 0 && ww [s] != 0)
                    sum += wn [p] * wc [q] * wh [r] * ww [s]
                         * x [((p * dims [1] + q) * dims [2] + r) * dims [3] + s];
            want [item] = (float) sum;
        }
        ZI_CHECK_CLOSE (t, what, zi_tensor_f32 (y), want, zi_tensor_count (y), 1e-5f, 1e-5f);
        free (want);
        for (int axis = 0; axis < 4; axis++) {
            free (weights [axis]);
            free (outside [axis]);
        }
    }
    zi_tensor_destroy (&y);
    zi_node_destroy (&node);
    for (int slot = 0; slot < 4; slot++)
        zi_tensor_destroy (&inputs [slot]);
}

void
zi_act_resize_test (zi_test_t *t)
{
    static const char *coords [] = {
        NULL, "half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
        "tf_half_pixel_for_nn"
    };
    static const char *nearests [] = {
        NULL, "round_prefer_floor", "round_prefer_ceil", "floor", "ceil"
    };
    //  Spatial scales: up 2, down 0.5, fractional, mixed
    static const float spatial [][2] = {
        {2, 2}, {0.5f, 0.5f}, {1.5f, 1.5f}, {0.6f, 1.7f}, {3, 1}, {1.25f, 0.75f}
    };
    uint32_t seed = 1;
    for (int opset = 11; opset <= 13; opset += 2)
        for (size_t coord = 0; coord < sizeof coords / sizeof coords [0]; coord++)
            for (size_t scale = 0; scale < sizeof spatial / sizeof spatial [0]; scale++) {
                s_case_t base = {.op = "Resize", .opset = opset, .coord = coords [coord],
                                 .rank = 4, .dims = {2, 3, 5, 6},
                                 .scales = {1, 1, spatial [scale][0], spatial [scale][1]}};
                for (size_t nearest = 0; nearest < sizeof nearests / sizeof nearests [0];
                     nearest++) {
                    s_case_t c = base;
                    c.mode = nearest? "nearest": NULL;
                    c.nearest = nearests [nearest];
                    s_check_case (t, &c, seed++);
                }
                if (coords [coord] && strcmp (coords [coord], "tf_half_pixel_for_nn") == 0)
                    continue;
                s_case_t c = base;
                c.mode = "linear";
                s_check_case (t, &c, seed++);
            }
    //  sizes instead of scales, incl. a resized length of 1
    static const int64_t sizes [][2] = {{10, 12}, {3, 4}, {7, 5}, {1, 9}, {5, 1}};
    for (size_t coord = 0; coord < sizeof coords / sizeof coords [0]; coord++)
        for (size_t size = 0; size < sizeof sizes / sizeof sizes [0]; size++)
            for (int linear = 0; linear < 2; linear++) {
                bool nn_only = coords [coord]
                            && strcmp (coords [coord], "tf_half_pixel_for_nn") == 0;
                if (linear && nn_only)
                    continue;
                for (size_t nearest = 0; nearest < (linear? 1: 5); nearest++) {
                    s_case_t c = {.op = "Resize", .opset = 13, .coord = coords [coord],
                                  .mode = linear? "linear": "nearest",
                                  .nearest = linear? NULL: nearests [nearest],
                                  .rank = 4, .dims = {1, 2, 5, 6}, .use_sizes = true,
                                  .sizes = {1, 2, sizes [size][0], sizes [size][1]}};
                    s_check_case (t, &c, seed++);
                }
            }
    //  The one-pass bilinear sum, bit for bit: up by 2 (a U-Net's
    //  upsampling), by uneven factors, down, one axis only, 2-d
    s_check_bilinear_bits (t, 4, (int64_t []) {1, 3, 16, 16}, (int64_t []) {1, 3, 32, 32},
                           NULL, seed++);
    s_check_bilinear_bits (t, 4, (int64_t []) {2, 2, 5, 7}, (int64_t []) {2, 2, 13, 9},
                           "pytorch_half_pixel", seed++);
    s_check_bilinear_bits (t, 4, (int64_t []) {1, 2, 9, 11}, (int64_t []) {1, 2, 4, 6},
                           "align_corners", seed++);
    s_check_bilinear_bits (t, 4, (int64_t []) {1, 2, 6, 5}, (int64_t []) {1, 2, 6, 12},
                           "asymmetric", seed++);
    s_check_bilinear_bits (t, 2, (int64_t []) {7, 3}, (int64_t []) {14, 3}, NULL, seed++);
    //  Opset 19's half_pixel_symmetric: scales whose output extent is
    //  rounded down (5 x 1.5 = 7.5, 6 x 1.7 = 10.2) shift the grid; exact
    //  ones and sizes do not
    for (size_t scale = 0; scale < sizeof spatial / sizeof spatial [0]; scale++)
        for (int linear = 0; linear < 2; linear++) {
            s_case_t c = {.op = "Resize", .opset = 19, .coord = "half_pixel_symmetric",
                          .mode = linear? "linear": "nearest", .rank = 4,
                          .dims = {1, 2, 5, 6},
                          .scales = {1, 1, spatial [scale][0], spatial [scale][1]}};
            s_check_case (t, &c, seed++);
        }
    s_case_t symmetric_sizes = {.op = "Resize", .opset = 19, .coord = "half_pixel_symmetric",
                                .mode = "linear", .rank = 4, .dims = {1, 2, 5, 6},
                                .use_sizes = true, .sizes = {1, 2, 7, 4}};
    s_check_case (t, &symmetric_sizes, seed++);
    //  Opset 18's axes: scales or sizes for some axes give what the same
    //  values spread over every axis (others 1, or their extent) give
    for (int sized = 0; sized < 2; sized++) {
        int64_t dims [4] = {1, 2, 5, 6}, two = 2, four = 4, none = 0;
        zi_tensor_t *x = zi_test_random (4, dims, seed++);
        zi_tensor_t *outs [2] = {NULL, NULL};
        for (int partial = 0; partial < 2; partial++) {
            zi_node_t *node = zi_node_new ("Resize", "axes");
            node->opset = 18;
            zi_node_set_string (node, "mode", "linear");
            if (partial)
                zi_node_set_ints (node, "axes", 2, (int64_t []) {-1, 2});
            zi_tensor_t *values = sized
                ? (partial? zi_test_ints (2, (int64_t []) {9, 3})
                          : zi_test_ints (4, (int64_t []) {1, 2, 3, 9}))
                : (partial? zi_test_tensor (1, &two, (float []) {1.5f, 0.6f})
                          : zi_test_tensor (1, &four, (float []) {1, 1, 0.6f, 1.5f}));
            zi_tensor_t *empty = zi_tensor_new (ZI_F32, 1, &none);
            zi_tensor_t *in [4] = {x, NULL, sized? empty: values, sized? values: NULL};
            int rc = zi_test_run_op (node, sized? 4: 3, in, 1, &outs [partial]);
            ZI_CHECK (t, rc == 0, "Resize-18 axes, %s, %s: runs (%s)",
                      sized? "sizes": "scales", partial? "two axes": "every axis",
                      rc? zi_error_text (): "ok");
            zi_tensor_destroy (&values);
            zi_tensor_destroy (&empty);
            zi_node_destroy (&node);
        }
        ZI_CHECK (t, outs [0] && outs [1] && zi_tensor_same_shape (outs [0], outs [1])
                  && memcmp (outs [0]->data, outs [1]->data, outs [0]->nbytes) == 0,
                  "Resize-18 axes, %s: the same as given for every axis",
                  sized? "sizes": "scales");
        zi_tensor_destroy (&outs [0]);
        zi_tensor_destroy (&outs [1]);
        zi_tensor_destroy (&x);
    }
    //  keep_aspect_ratio_policy (opset 18): the extents one scale gives,
    //  rounded (ops_later_opsets.py has a half, rounded up); refused
    //  before 18
    static const struct {
        const char *policy;
        int64_t sizes [2], want [2];
    } aspects [] = {
        {"not_larger", {8, 8}, {6, 8}},         //  min (8/5, 8/7) = 8/7
        {"not_smaller", {3, 3}, {3, 4}},        //  max (3/5, 3/7) = 3/5
        {"not_smaller", {8, 3}, {8, 11}},       //  8/5: 7 x 1.6 = 11.2
        {"not_larger", {100, 14}, {10, 14}},    //  2
    };
    for (size_t index = 0; index < sizeof aspects / sizeof aspects [0]; index++) {
        zi_node_t *node = zi_node_new ("Resize", "aspect");
        node->opset = 18;
        zi_node_set_string (node, "keep_aspect_ratio_policy", aspects [index].policy);
        zi_node_set_ints (node, "axes", 2, (int64_t []) {2, 3});
        int64_t none = 0;
        zi_tensor_t *in [4] = {zi_test_random (4, (int64_t []) {1, 2, 5, 7}, seed++), NULL,
                               zi_tensor_new (ZI_F32, 1, &none),
                               zi_test_ints (2, aspects [index].sizes)};
        zi_tensor_t *y = NULL;
        int rc = zi_test_run_op (node, 4, in, 1, &y);
        ZI_CHECK (t, rc == 0 && y->dims [2] == aspects [index].want [0]
                  && y->dims [3] == aspects [index].want [1],
                  "keep_aspect_ratio_policy %s to %lld x %lld: %lld x %lld wanted (%s)",
                  aspects [index].policy, (long long) aspects [index].sizes [0],
                  (long long) aspects [index].sizes [1], (long long) aspects [index].want [0],
                  (long long) aspects [index].want [1], rc? zi_error_text (): "ok");
        zi_tensor_destroy (&y);
        for (int slot = 0; slot < 4; slot++)
            zi_tensor_destroy (&in [slot]);
        zi_node_destroy (&node);
    }
    //  Other ranks; linear over every axis, N and C included
    s_case_t others [] = {
        {.op = "Resize", .opset = 13, .mode = "linear", .rank = 3, .dims = {2, 3, 7},
         .scales = {1, 1, 2.5f}},
        {.op = "Resize", .opset = 13, .mode = "linear", .coord = "align_corners", .rank = 5,
         .dims = {1, 2, 3, 4, 5}, .scales = {1, 1, 2, 1.5f, 0.6f}},
        {.op = "Resize", .opset = 13, .mode = "nearest", .rank = 5, .dims = {1, 2, 3, 4, 5},
         .scales = {1, 1, 2, 2, 2}},
        {.op = "Resize", .opset = 13, .mode = "linear", .coord = "asymmetric", .rank = 3,
         .dims = {2, 3, 4}, .scales = {2, 1.5f, 0.5f}},
        {.op = "Resize", .opset = 13, .mode = "nearest", .rank = 2, .dims = {3, 4},
         .scales = {2, 0.5f}},
        {.op = "Resize", .opset = 13, .mode = "linear", .rank = 1, .dims = {9},
         .scales = {1.7f}},
        {.op = "Resize", .opset = 13, .mode = "nearest", .rank = 1, .dims = {9},
         .scales = {0.4f}},
        {.op = "Resize", .opset = 13, .mode = "linear", .coord = "pytorch_half_pixel",
         .rank = 4, .dims = {1, 3, 9, 70}, .scales = {1, 1, 2, 2}},
        {.op = "Resize", .opset = 13, .mode = "linear", .rank = 4, .dims = {1, 2, 4, 5},
         .scales = {1, 1, 1.2f, 1}},       //  floor (4 * 1.2) = 4, yet not the identity
        {.op = "Resize", .opset = 13, .mode = "nearest", .rank = 4, .dims = {1, 2, 4, 5},
         .scales = {1, 1, 1, 1}},
        //  opset 10 Resize: input 1 is scales; legacy rounding
        {.op = "Resize", .opset = 10, .rank = 4, .dims = {1, 2, 4, 6},
         .scales = {1, 1, 2, 3}},
        {.op = "Resize", .opset = 10, .mode = "nearest", .rank = 4, .dims = {1, 2, 5, 6},
         .scales = {1, 1, 0.6f, 0.5f}},
        {.op = "Resize", .opset = 10, .mode = "linear", .rank = 4, .dims = {1, 2, 5, 6},
         .scales = {1, 1, 1.5f, 2}},
        {.op = "Resize", .opset = 10, .mode = "linear", .rank = 4, .dims = {1, 2, 5, 6},
         .scales = {1, 1, 0.5f, 0.7f}},
        //  Upsample 9 (input) and 7 (attribute)
        {.op = "Upsample", .opset = 9, .rank = 4, .dims = {2, 3, 4, 5}, .scales = {1, 1, 2, 2}},
        {.op = "Upsample", .opset = 9, .mode = "linear", .rank = 4, .dims = {2, 3, 4, 5},
         .scales = {1, 1, 2, 3}},
        {.op = "Upsample", .opset = 7, .mode = "nearest", .rank = 4, .dims = {1, 3, 4, 5},
         .scales = {1, 1, 3, 2}, .attr_scales = true},
        {.op = "Upsample", .opset = 7, .mode = "linear", .rank = 4, .dims = {1, 3, 4, 5},
         .scales = {1, 1, 1.5f, 2}, .attr_scales = true},
    };
    for (size_t index = 0; index < sizeof others / sizeof others [0]; index++)
        s_check_case (t, &others [index], seed++);

    //  Upsample 10: the exact ONNX opset-10 test data (downsample
    //  nearest reads the ceil neighbour)
    {
        int64_t dims [4] = {1, 1, 2, 4}, four = 4;
        float data [8] = {1, 2, 3, 4, 5, 6, 7, 8};
        zi_tensor_t *inputs [2] = {
            zi_test_tensor (4, dims, data),
            zi_test_tensor (1, &four, (float []) {1, 1, 0.6f, 0.6f})
        };
        zi_node_t *node = zi_node_new ("Resize", "test");
        node->opset = 10;
        zi_tensor_t *y = NULL;
        int rc = zi_test_run_op (node, 2, inputs, 1, &y);
        ZI_CHECK (t, rc == 0 && y->dims [2] == 1 && y->dims [3] == 2
                  && zi_tensor_f32 (y) [0] == 1 && zi_tensor_f32 (y) [1] == 3,
                  "Resize-10 downsample nearest matches the ONNX test data [1, 3]");
        zi_tensor_destroy (&y);
        zi_tensor_destroy (&inputs [0]);
        zi_tensor_destroy (&inputs [1]);
        zi_node_destroy (&node);
    }

    //  Cubic (up, down, both, Keys' a of PyTorch and of PIL), with and
    //  without exclude_outside; antialiased linear and cubic shrinking by
    //  whole and uneven factors, to one element, and growing one axis
    //  while shrinking the other
    static const struct {
        const char *mode;
        float a;
        bool antialias, exclude;
        int64_t dims [4], sizes [4];
    } filtered [] = {
        {"cubic", -0.75f, false, false, {1, 2, 5, 6}, {1, 2, 11, 9}},
        {"cubic", -0.5f, false, true, {2, 1, 9, 8}, {2, 1, 4, 13}},
        {"cubic", -0.75f, false, false, {1, 1, 7, 7}, {1, 1, 3, 2}},
        {"linear", 0, true, false, {1, 2, 13, 17}, {1, 2, 5, 7}},
        {"linear", 0, true, true, {1, 2, 16, 12}, {1, 2, 4, 3}},
        {"linear", 0, true, false, {1, 1, 9, 6}, {1, 1, 1, 14}},
        {"cubic", -0.5f, true, true, {1, 2, 13, 17}, {1, 2, 5, 30}},
        {"cubic", -0.75f, true, false, {2, 1, 12, 11}, {2, 1, 3, 2}},
        {"cubic", -0.5f, true, false, {1, 1, 6, 40}, {1, 1, 6, 3}}
    };
    for (size_t index = 0; index < sizeof filtered / sizeof filtered [0]; index++)
        s_check_filtered (t, filtered [index].mode, filtered [index].a, filtered [index].antialias,
                          filtered [index].exclude, filtered [index].dims,
                          filtered [index].sizes, seed++);

    //  tf_crop_and_resize: crops inside the input, crossing its border
    //  (extrapolation), growing and shrinking, to one element, crops of N
    //  and C, reversed crops; every mode and nearest_mode
    static const struct {
        int64_t dims [4], sizes [4];
        float roi [8];
    } crops [] = {
        {{1, 2, 7, 8}, {1, 2, 11, 13}, {0, 0, 0.2f, 0.1f, 1, 1, 0.8f, 0.7f}},
        {{1, 2, 9, 8}, {1, 2, 4, 3}, {0, 0, 0.15f, 0.3f, 1, 1, 0.9f, 0.95f}},
        {{2, 1, 6, 7}, {2, 1, 9, 5}, {0, 0, -0.3f, 0.4f, 1, 1, 0.9f, 1.45f}},
        {{1, 2, 5, 6}, {1, 2, 1, 1}, {0, 0, 0.3f, 0.6f, 1, 1, 0.5f, 0.9f}},
        {{1, 1, 5, 6}, {1, 1, 1, 7}, {0, 0, 1.2f, -0.2f, 1, 1, 1.4f, 0.9f}},
        {{3, 4, 3, 4}, {2, 6, 3, 4}, {0.2f, -0.1f, 0, 0, 0.9f, 1.2f, 1, 1}},
        {{1, 2, 6, 6}, {1, 2, 8, 5}, {0, 0, 0.9f, 0.8f, 1, 1, 0.1f, -0.1f}},
    };
    static const struct {
        const char *mode, *nearest;
        bool exclude;
    } crop_modes [] = {
        {"nearest", "round_prefer_floor", false}, {"nearest", "round_prefer_ceil", false},
        {"nearest", "floor", false}, {"nearest", "ceil", false}, {"linear", NULL, false},
        {"cubic", NULL, false}, {"cubic", NULL, true}
    };
    for (size_t crop = 0; crop < sizeof crops / sizeof crops [0]; crop++)
        for (size_t mode = 0; mode < sizeof crop_modes / sizeof crop_modes [0]; mode++)
            s_check_crop (t, crop_modes [mode].mode, crop_modes [mode].nearest,
                          crop_modes [mode].exclude, crops [crop].dims, crops [crop].sizes,
                          crops [crop].roi, false, mode % 2 == 1, seed++);
    //  Opset 18's axes: roi for height and width only
    s_check_crop (t, "linear", NULL, false, (int64_t []) {1, 2, 6, 7}, (int64_t []) {1, 2, 9, 4},
                  (float []) {-0.1f, 0.2f, 0.8f, 1.3f}, true, false, seed++);
    s_check_crop (t, "cubic", NULL, true, (int64_t []) {1, 2, 6, 7}, (int64_t []) {1, 2, 3, 10},
                  (float []) {0.1f, -0.2f, 1.1f, 0.6f}, true, false, seed++);

    //  A crop so wide that its coordinates overflow to infinities and NaN
    //  (0 x inf): every output beyond the input, extrapolation_value 0
    static const char *huge_modes [] = {"nearest", "linear", "cubic"};
    for (int mode = 0; mode < 3; mode++) {
        zi_node_t *node = zi_node_new ("Resize", "huge");
        zi_node_set_string (node, "mode", huge_modes [mode]);
        zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
        int64_t eight = 8, none = 0;
        zi_tensor_t *in [4] = {
            zi_test_random (4, (int64_t []) {1, 2, 5, 6}, seed++),
            zi_test_tensor (1, &eight, (float []) {0, 0, -3e38f, 3e38f, 1, 1, 3e38f, -3e38f}),
            zi_tensor_new (ZI_F32, 1, &none), zi_test_ints (4, (int64_t []) {1, 2, 7, 4})
        };
        zi_tensor_t *y = NULL;
        int rc = zi_test_run_op (node, 4, in, 1, &y);
        size_t nonzero = 0;
        for (size_t item = 0; rc == 0 && item < zi_tensor_count (y); item++)
            nonzero += zi_tensor_f32 (y) [item] != 0;
        ZI_CHECK (t, rc == 0 && nonzero == 0, "tf_crop_and_resize %s, a crop of +-3e38: "
                  "%zu outputs not the extrapolation value (%s)", huge_modes [mode],
                  nonzero, rc? zi_error_text (): "ok");
        zi_tensor_destroy (&y);
        for (int slot = 0; slot < 4; slot++)
            zi_tensor_destroy (&in [slot]);
        zi_node_destroy (&node);
    }

    //  Errors
    int64_t dims [4] = {1, 1, 2, 2}, four = 4, three = 3, zero = 0;
    float twos [4] = {1, 1, 2, 2};
    zi_node_t *node = zi_node_new ("Resize", "test");
    node->opset = 10;
    zi_node_set_string (node, "mode", "cubic");
    zi_tensor_t *inputs [4] = {zi_test_random (4, dims, 1), zi_test_tensor (1, &four, twos)};
    s_check_error (t, node, 2, inputs, "'cubic' is not supported");

    //  tf_crop_and_resize without roi, with too few values, with NaN, of
    //  another type, with antialias
    node = zi_node_new ("Resize", "test");
    zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "'tf_crop_and_resize' needs input 1 (roi)");

    node = zi_node_new ("Resize", "test");
    zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [1] = zi_test_tensor (1, &four, (float []) {0, 0, 1, 1});
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "(roi) has 4 values; expected 8");

    node = zi_node_new ("Resize", "test");
    zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [1] = zi_test_tensor (1, (int64_t []) {8}, (float []) {0, 0, 0, NAN, 1, 1, 1, 1});
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "(roi) [3] = nan; expected a finite value");

    node = zi_node_new ("Resize", "test");
    zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [1] = zi_test_ints (8, (int64_t []) {0, 0, 0, 0, 1, 1, 1, 1});
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "(roi): expected float32, got int64");

    node = zi_node_new ("Resize", "test");
    node->opset = 18;
    zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
    zi_node_set_int (node, "antialias", 1);
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "'antialias' = 1 with");

    node = zi_node_new ("Resize", "test");
    node->opset = 18;
    zi_node_set_string (node, "coordinate_transformation_mode", "half_pixel_symmetric");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "exists from opset 19");

    node = zi_node_new ("Resize", "test");
    node->opset = 18;
    zi_node_set_ints (node, "axes", 2, (int64_t []) {2, 2});
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, (int64_t []) {2}, twos);
    s_check_error (t, node, 3, inputs, "is repeated");

    node = zi_node_new ("Resize", "test");
    node->opset = 18;
    zi_node_set_ints (node, "axes", 1, (int64_t []) {3});
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, (int64_t []) {2}, twos);
    s_check_error (t, node, 3, inputs, "one per entry of attribute 'axes'");

    node = zi_node_new ("Resize", "test");
    zi_node_set_ints (node, "axes", 1, (int64_t []) {3});
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, (int64_t []) {1}, twos);
    s_check_error (t, node, 3, inputs, "exists from opset 18");

    node = zi_node_new ("Resize", "test");
    zi_node_set_string (node, "keep_aspect_ratio_policy", "not_larger");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "exists from opset 18");

    node = zi_node_new ("Resize", "test");
    node->opset = 18;
    zi_node_set_int (node, "antialias", 2);
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "'antialias' = 2; expected 0 or 1");

    node = zi_node_new ("Resize", "test");
    zi_node_set_int (node, "antialias", 1);
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "'antialias' exists from opset 18");

    node = zi_node_new ("Resize", "test");
    zi_node_set_string (node, "nearest_mode", "round");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 3, inputs, "nearest_mode");

    node = zi_node_new ("Resize", "test");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, twos);
    inputs [3] = zi_test_ints (4, (int64_t []) {1, 1, 4, 4});
    s_check_error (t, node, 4, inputs, "both given");

    node = zi_node_new ("Resize", "test");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [1] = zi_tensor_new (ZI_F32, 1, &zero);
    inputs [2] = zi_tensor_new (ZI_F32, 1, &zero);
    s_check_error (t, node, 3, inputs, "is required");

    node = zi_node_new ("Resize", "test");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [1] = NULL;
    inputs [2] = zi_test_tensor (1, &three, twos);
    s_check_error (t, node, 3, inputs, "expected 4 (one per axis");

    node = zi_node_new ("Resize", "test");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [2] = zi_test_tensor (1, &four, (float []) {1, 1, 0, 2});
    s_check_error (t, node, 3, inputs, "expected a finite value > 0");

    node = zi_node_new ("Upsample", "test");
    node->opset = 9;
    zi_node_set_string (node, "mode", "trilinear");
    inputs [0] = zi_test_random (4, dims, 1);
    inputs [1] = zi_test_tensor (1, &four, twos);
    s_check_error (t, node, 2, inputs, "'mode' = 'trilinear'");

    //  Scales must be constant: infer with a shape-only scales input
    node = zi_node_new ("Resize", "test");
    node->n_inputs = 3;
    node->inputs = calloc (3, sizeof (int));
    node->inputs [1] = -1;
    node->inputs [2] = 2;
    ZI_CHECK (t, node->op->init (node) == 0, "Resize init");
    zi_tensor_t scales_shape = {0}, out_shape = {0};
    zi_tensor_set_shape (&scales_shape, ZI_F32, 1, &four);
    zi_tensor_t *x = zi_test_random (4, dims, 1);
    const zi_tensor_t *infer_in [3] = {x, NULL, &scales_shape};
    zi_tensor_t *infer_out [1] = {&out_shape};
    int rc = node->op->infer (node, infer_in, infer_out);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), "must be a constant"),
              "non-constant scales rejected: %s", zi_error_text ());
    zi_node_destroy (&node);

    //  So must roi: a shape-only roi, with constant scales
    node = zi_node_new ("Resize", "test");
    zi_node_set_string (node, "coordinate_transformation_mode", "tf_crop_and_resize");
    node->n_inputs = 3;
    node->inputs = calloc (3, sizeof (int));
    node->inputs [1] = 1;
    node->inputs [2] = 2;
    ZI_CHECK (t, node->op->init (node) == 0, "Resize init");
    zi_tensor_t roi_shape = {0};
    zi_tensor_set_shape (&roi_shape, ZI_F32, 1, (int64_t []) {8});
    zi_tensor_t *scales = zi_test_tensor (1, &four, twos);
    const zi_tensor_t *crop_in [3] = {x, &roi_shape, scales};
    rc = node->op->infer (node, crop_in, infer_out);
    ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), "(roi) must be a constant"),
              "non-constant roi rejected: %s", zi_error_text ());
    zi_tensor_destroy (&scales);
    zi_tensor_destroy (&x);
    zi_node_destroy (&node);
}
