/*  =========================================================================
    zi_keras_h5 - Keras weights and configs in HDF5 files, through libhdf5

    Two layouts. Keras 2's .h5 file holds the model's config as the root's
    model_config attribute and its weights as model_weights/<layer>/<name>,
    each layer's group listing its weights' names in a weight_names
    attribute ("conv/kernel:0"). Keras 3's model.weights.h5 (inside a
    .keras zip) names nothing: a layer's variables are layers/<layer>/vars/0,
    1, ... in the order the layer creates them, <layer> being the snake-case
    class name numbered in the model's layer order (conv2d, conv2d_1, ...),
    and a nested model's layers are under its own path. So the config is
    walked here to give each variable its weight name.

    Files are opened from memory (the file image API), so a .keras zip's
    member never touches the disk. Only the HDF5 reader, a child process
    (zi_keras_reader.c), calls these: libhdf5 is not hardened against
    crafted files, and a crash or an endless loop inside it must not take
    the process importing the model with it.
    =========================================================================
*/

#define _GNU_SOURCE             //  memmem
#include "zi_keras.h"
#include <czmq.h>
#include <hdf5.h>
#include <stdatomic.h>

//  Strings and weights larger than this are refused before reading
#define S_MAX_ATTRIBUTE_BYTES (64u << 20)
#define S_MAX_WEIGHT_ITEMS    (INT64_C (1) << 31)
#define S_MAX_STRINGS         1000000

//  What went wrong inside libhdf5: the innermost message of its error
//  stack, which names the cause (e.g. "truncated file")
static herr_t
s_error_walk (unsigned depth, const H5E_error2_t *error, void *args)
{
    if (error->desc && *error->desc)
        snprintf (args, 200, "%s", error->desc);
    return 0;
}

static const char *
s_reason (char *buffer)
{
    *buffer = 0;
    H5Ewalk2 (H5E_DEFAULT, H5E_WALK_DOWNWARD, s_error_walk, buffer);
    return *buffer? buffer: "no reason given";
}

static uint64_t
s_little_endian (const unsigned char *bytes, int count)
{
    uint64_t value = 0;
    for (int index = count - 1; index >= 0; index--)
        value = value << 8 | bytes [index];
    return value;
}

//  libhdf5 1.10 loops for ever on a global heap collection (where
//  variable-length strings live) holding an object whose size makes it
//  take no room: it steps from one object to the next by that size. So
//  before libhdf5 sees the file, every collection ("GCOL", version 1, a
//  length of 8 bytes) is walked as libhdf5 walks it, and a step that
//  would not move on refuses the file (*offset gets where).
//
//  The walk itself must not take for ever either: collections may
//  overlap (every "GCOL" is walked, wherever it lies), so the steps a
//  crafted file of N bytes could make it take grow as N * N. An object
//  takes at least 16 bytes, so collections that do not overlap hold
//  fewer than N / 16 of them in all; more than twice that many steps
//  (and some room for tiny files) refuses the file as well. Returns 0 if
//  the file can be given to libhdf5, else -1 (a step that does not move
//  on) or -2 (too many steps)
#define S_HEAP_SPARE_STEPS 4096

static int
s_endless_heap (const unsigned char *data, size_t size, int64_t *offset_p)
{
    const size_t header = 16, object_header = 16;
    uint64_t budget = size / 8 + S_HEAP_SPARE_STEPS;
    for (const unsigned char *at = data; (size_t) (at - data) + header <= size; at++) {
        at = memmem (at, size - (size_t) (at - data), "GCOL", 4);
        if (!at || (size_t) (at - data) + header > size)
            break;
        uint64_t length = s_little_endian (at + 8, 8);
        if (at [4] != 1 || length > size - (size_t) (at - data))
            continue;           //  libhdf5 refuses these itself
        for (uint64_t offset = header; offset < length; ) {
            if (offset + object_header > length)
                break;
            uint64_t index = s_little_endian (at + offset, 2);
            uint64_t bytes = s_little_endian (at + offset + 8, 8);
            uint64_t step = index? object_header + ((bytes + 7) & ~(uint64_t) 7): bytes;
            *offset_p = at - data + (int64_t) offset;
            if (step == 0 || step > length)
                return -1;
            if (budget-- == 0)
                return -2;
            offset += step;
        }
    }
    return 0;
}

int64_t
zi_keras_h5_open (const void *data, size_t size, const char *what)
{
    int64_t offset = 0;
    int heap = s_endless_heap (data, size, &offset);
    if (heap == -1) {
        zi_error ("%s: not a readable HDF5 file (a global heap object at byte %lld has a "
                  "size that takes no room; damaged?)", what, (long long) offset);
        return -1;
    }
    if (heap == -2) {
        zi_error ("%s: not a readable HDF5 file (its global heap collections overlap: more "
                  "than %llu objects to step through in %zu bytes, the last at byte %lld; "
                  "damaged?)", what, (unsigned long long) (size / 8 + S_HEAP_SPARE_STEPS),
                  size, (long long) offset);
        return -1;
    }
    //  Errors are ours to report, in one line; libhdf5 would print its
    //  whole stack
    H5Eset_auto2 (H5E_DEFAULT, NULL, NULL);
    //  The core driver reads the image given; each open needs a name of
    //  its own
    static atomic_uint s_opened;
    char name [64];
    snprintf (name, sizeof name, "zi_keras_image_%u", atomic_fetch_add (&s_opened, 1));
    hid_t access = H5Pcreate (H5P_FILE_ACCESS);
    hid_t file = -1;
    if (access >= 0 && H5Pset_fapl_core (access, 1 << 16, 0) >= 0
    &&  H5Pset_file_image (access, (void *) data, size) >= 0)
        file = H5Fopen (name, H5F_ACC_RDONLY, access);
    if (file < 0) {
        char reason [200];
        zi_error ("%s: not a readable HDF5 file (%s; %zu bytes, truncated or damaged?)",
                  what, s_reason (reason), size);
    }
    if (access >= 0)
        H5Pclose (access);
    return file;
}

void
zi_keras_h5_close (int64_t file)
{
    if (file >= 0)
        H5Fclose (file);
}

//  Whether path names an object of the file. Each part of the path in
//  turn, as H5Lexists fails on a missing parent; only hard links count,
//  so that a file cannot send the reader to another file (an external
//  link) or around in circles (soft links)
static bool
s_exists (hid_t file, const char *path)
{
    if (strcmp (path, "/") == 0)
        return true;
    char part [1024];
    for (const char *slash = strchr (path + 1, '/'); ; slash = strchr (slash + 1, '/')) {
        size_t length = slash? (size_t) (slash - path): strlen (path);
        if (length >= sizeof part)
            return false;
        memcpy (part, path, length);
        part [length] = 0;
        H5L_info_t link;
        if (H5Lexists (file, part, H5P_DEFAULT) <= 0
        ||  H5Lget_info (file, part, &link, H5P_DEFAULT) < 0 || link.type != H5L_TYPE_HARD)
            return false;
        if (!slash)
            return H5Oexists_by_name (file, path, H5P_DEFAULT) > 0;
    }
}

//  One string attribute of object, or a list of strings: each copied, in
//  *strings (free each and the list); the count, or -1 with an error
static int
s_attribute_strings (hid_t file, const char *object, const char *name, char ***strings)
{
    *strings = NULL;
    hid_t attribute = H5Aopen_by_name (file, object, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = attribute >= 0? H5Aget_type (attribute): -1;
    hid_t space = attribute >= 0? H5Aget_space (attribute): -1;
    hssize_t count = space >= 0? H5Sget_simple_extent_npoints (space): -1;
    int rc = -1;
    if (type < 0 || space < 0 || count < 0)
        zi_error ("attribute '%s' of %s cannot be read", name, object);
    else
    if (count == 0) {
        //  Keras writes a layer without weights an empty weight_names,
        //  which numpy makes an array of float64
        *strings = calloc (1, sizeof (char *));
        assert (*strings);
        rc = 0;
    }
    else
    if (H5Tget_class (type) != H5T_STRING)
        zi_error ("attribute '%s' of %s is not a string", name, object);
    else
    if (count > S_MAX_STRINGS)
        zi_error ("attribute '%s' of %s: %lld strings", name, object, (long long) count);
    else
    if (H5Tis_variable_str (type) > 0) {
        hid_t memory = H5Tcopy (H5T_C_S1);
        H5Tset_size (memory, H5T_VARIABLE);
        H5Tset_cset (memory, H5Tget_cset (type));
        char **values = calloc (count + 1, sizeof (char *));
        assert (values);
        if (H5Aread (attribute, memory, values) >= 0) {
            *strings = calloc (count + 1, sizeof (char *));
            assert (*strings);
            for (hssize_t index = 0; index < count; index++)
                (*strings) [index] = strdup (values [index]? values [index]: "");
            H5Dvlen_reclaim (memory, space, H5P_DEFAULT, values);
            rc = (int) count;
        }
        else
            zi_error ("attribute '%s' of %s cannot be read", name, object);
        free (values);
        H5Tclose (memory);
    }
    else {
        size_t size = H5Tget_size (type);
        if (size == 0 || size * (size_t) count > S_MAX_ATTRIBUTE_BYTES)
            zi_error ("attribute '%s' of %s: %lld strings of %zu bytes", name, object,
                      (long long) count, size);
        else {
            //  Read as stored (null-padded or -terminated), cut here
            char *values = calloc ((size_t) count, size);
            assert (values);
            if (H5Aread (attribute, type, values) >= 0) {
                *strings = calloc (count + 1, sizeof (char *));
                assert (*strings);
                for (hssize_t index = 0; index < count; index++)
                    (*strings) [index] = strndup (values + index * size, size);
                rc = (int) count;
            }
            else
                zi_error ("attribute '%s' of %s cannot be read", name, object);
            free (values);
        }
    }
    if (space >= 0)
        H5Sclose (space);
    if (type >= 0)
        H5Tclose (type);
    if (attribute >= 0)
        H5Aclose (attribute);
    return rc;
}

static void
s_strings_free (char ***strings_p, int count)
{
    for (int index = 0; *strings_p && index < count; index++)
        free ((*strings_p) [index]);
    free (*strings_p);
    *strings_p = NULL;
}

//  A list of strings Keras saved as an attribute of object: as name, or,
//  when the list is too long for one attribute (HDF5 keeps an object's
//  attributes in 64 kB), in parts name0, name1, ... that Keras 2's
//  save_attributes_to_hdf5_group splits it into. As s_attribute_strings
static int
s_strings (hid_t file, const char *object, const char *name, char ***strings)
{
    *strings = NULL;
    if (!s_exists (file, object))
        return zi_error ("no '%s' attribute on %s (no such object)", name, object);
    if (H5Aexists_by_name (file, object, name, H5P_DEFAULT) > 0)
        return s_attribute_strings (file, object, name, strings);
    int count = 0;
    for (int part_nbr = 0; ; part_nbr++) {
        char part [300];
        snprintf (part, sizeof part, "%.280s%d", name, part_nbr);
        if (H5Aexists_by_name (file, object, part, H5P_DEFAULT) <= 0) {
            if (part_nbr == 0)
                return zi_error ("no '%s' attribute on %s", name, object);
            return count;
        }
        char **more;
        int n_more = s_attribute_strings (file, object, part, &more);
        if (n_more < 0 || count + n_more > S_MAX_STRINGS) {
            if (n_more >= 0)
                zi_error ("attribute '%s' of %s: more than %d strings in its parts", name,
                          object, S_MAX_STRINGS);
            s_strings_free (&more, n_more);
            s_strings_free (strings, count);
            return -1;
        }
        char **joined = realloc (*strings, (count + n_more + 1) * sizeof (char *));
        assert (joined);
        memcpy (joined + count, more, n_more * sizeof (char *));
        count += n_more;
        joined [count] = NULL;
        *strings = joined;
        free (more);
    }
}

char *
zi_keras_h5_root_string (int64_t file, const char *name)
{
    char **strings;
    int count = s_strings (file, "/", name, &strings);
    if (count < 0) {
        if (strcmp (name, "model_config") == 0)
            zi_error ("no 'model_config' attribute: an HDF5 file, but not a Keras model "
                      "saved whole (model.save, not save_weights)");
        return NULL;
    }
    char *value = count == 1? strings [0]: NULL;
    if (count == 1)
        strings [0] = NULL;
    else
        zi_error ("attribute '%s' holds %d strings, expected one", name, count);
    s_strings_free (&strings, count);
    return value;
}

//  A float or integer dataset as a float32 tensor; NULL with an error.
//  image_size is the size of the file image: Keras stores weights
//  uncompressed, so no dataset holds more bytes than the file has
static zi_tensor_t *
s_read_dataset (hid_t file, const char *path, size_t image_size)
{
    hid_t set = s_exists (file, path)? H5Dopen2 (file, path, H5P_DEFAULT): -1;
    if (set < 0) {
        zi_error ("no dataset '%s'", path);
        return NULL;
    }
    zi_tensor_t *tensor = NULL;
    hid_t space = H5Dget_space (set);
    hid_t type = H5Dget_type (set);
    int ndim = space >= 0? H5Sget_simple_extent_ndims (space): -1;
    hsize_t sizes [ZI_MAX_DIMS];
    int64_t dims [ZI_MAX_DIMS];
    int64_t count = 1;
    H5T_class_t class_id = type >= 0? H5Tget_class (type): H5T_NO_CLASS;
    if (ndim < 0 || ndim > ZI_MAX_DIMS)
        zi_error ("dataset '%s': %d dimensions, at most %d supported", path, ndim, ZI_MAX_DIMS);
    else
    if (class_id != H5T_FLOAT && class_id != H5T_INTEGER)
        zi_error ("dataset '%s' holds neither floats nor integers", path);
    else {
        H5Sget_simple_extent_dims (space, sizes, NULL);
        for (int axis = 0; axis < ndim && count >= 0; axis++) {
            dims [axis] = (int64_t) sizes [axis];
            if (sizes [axis] > (hsize_t) S_MAX_WEIGHT_ITEMS
            ||  (sizes [axis] && count > S_MAX_WEIGHT_ITEMS / (int64_t) sizes [axis]))
                count = -1;
            else
                count *= (int64_t) sizes [axis];
        }
        //  A dataset claims its shape; the bytes it stores must back it
        //  (Keras writes weights uncompressed). What it says it stores is
        //  only a claim too (a chunk's size in the chunk index, a
        //  contiguous layout's size), and libhdf5 fills what is missing
        //  with the fill value, so before any allocation the shape is held
        //  against the file image, whose size is known
        hsize_t stored = H5Dget_storage_size (set);
        size_t item_size = H5Tget_size (type);
        if (count < 0)
            zi_error ("dataset '%s': more than %lld values", path,
                      (long long) S_MAX_WEIGHT_ITEMS);
        else
        if (item_size == 0 || (uint64_t) count > image_size / item_size)
            zi_error ("dataset '%s': %lld values of %zu bytes, more than the whole file "
                      "(%zu bytes) holds", path, (long long) count, item_size, image_size);
        else
        if (count && stored < (hsize_t) count * item_size)
            zi_error ("dataset '%s': %lld values of %zu bytes, but %llu bytes stored", path,
                      (long long) count, item_size, (unsigned long long) stored);
        else {
            tensor = zi_tensor_new (ZI_F32, ndim, dims);
            if (!tensor)
                zi_error ("dataset '%s': no memory for %lld float32 values", path,
                          (long long) count);
            else
            if (count && H5Dread (set, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                  tensor->data) < 0) {
                char reason [200];
                zi_error ("dataset '%s' cannot be read: %s", path, s_reason (reason));
                zi_tensor_destroy (&tensor);
            }
        }
    }
    if (type >= 0)
        H5Tclose (type);
    if (space >= 0)
        H5Sclose (space);
    H5Dclose (set);
    return tensor;
}

//  --------------------------------------------------------------------------
//  Keras 2: model_weights/<layer> lists weight_names, each a dataset there

int
zi_keras_h5_weights_keras2 (zi_keras_sink_t *sink, int64_t file, size_t image_size)
{
    char **layers;
    int n_layers = s_strings (file, "model_weights", "layer_names", &layers);
    if (n_layers < 0) {
        //  The reason is copied out first: zi_error writes where it lies
        char reason [512];
        snprintf (reason, sizeof reason, "%s", zi_error_text ());
        return zi_error ("no weights: %s (expected model_weights with layer_names, as "
                         "Keras 2 writes)", reason);
    }
    int rc = 0;
    for (int layer = 0; layer < n_layers && rc == 0; layer++) {
        char group [600];
        snprintf (group, sizeof group, "model_weights/%.500s", layers [layer]);
        char **names;
        int n_names = s_strings (file, group, "weight_names", &names);
        if (n_names < 0) {
            rc = -1;
            break;
        }
        for (int index = 0; index < n_names && rc == 0; index++) {
            char path [1200];
            snprintf (path, sizeof path, "%s/%.500s", group, names [index]);
            zi_tensor_t *tensor = s_read_dataset (file, path, image_size);
            if (!tensor) {
                rc = -1;
                break;
            }
            //  "conv/kernel:0" is weight kernel of layer conv
            char *colon = strrchr (names [index], ':');
            if (colon)
                *colon = 0;
            rc = sink->keep (sink->args, names [index], &tensor);
        }
        s_strings_free (&names, n_names);
    }
    s_strings_free (&layers, n_layers);
    return rc;
}

//  --------------------------------------------------------------------------
//  Keras 3: layers/<snake_case class>[_N]/vars/<index>

//  The variables a layer class creates, in order; the optional ones only
//  when its config says so (Normalization has none when given its mean
//  and variance)
static int
s_variables (const char *class_name, json_object *config, const char **names)
{
    bool bias = zi_keras_number (config, "use_bias", 1) != 0;
    bool scale = zi_keras_number (config, "scale", 1) != 0;
    bool center = zi_keras_number (config, "center", 1) != 0;
    int count = 0;
    if (strcmp (class_name, "Dense") == 0 || strcmp (class_name, "Conv1D") == 0
    ||  strcmp (class_name, "Conv2D") == 0 || strcmp (class_name, "Convolution2D") == 0
    ||  strcmp (class_name, "Conv2DTranspose") == 0
    ||  strcmp (class_name, "Conv1DTranspose") == 0) {
        names [count++] = "kernel";
        if (bias)
            names [count++] = "bias";
    }
    else
    if (strcmp (class_name, "DepthwiseConv2D") == 0
    ||  strcmp (class_name, "DepthwiseConv1D") == 0) {
        names [count++] = "depthwise_kernel";
        if (bias)
            names [count++] = "bias";
    }
    else
    if (strcmp (class_name, "SeparableConv2D") == 0
    ||  strcmp (class_name, "SeparableConv1D") == 0) {
        names [count++] = "depthwise_kernel";
        names [count++] = "pointwise_kernel";
        if (bias)
            names [count++] = "bias";
    }
    else
    if (strcmp (class_name, "BatchNormalization") == 0
    ||  strcmp (class_name, "LayerNormalization") == 0) {
        if (scale)
            names [count++] = "gamma";
        if (center)
            names [count++] = "beta";
        if (strcmp (class_name, "BatchNormalization") == 0) {
            names [count++] = "moving_mean";
            names [count++] = "moving_variance";
        }
    }
    else
    if (strcmp (class_name, "PReLU") == 0)
        names [count++] = "alpha";
    else
    if (strcmp (class_name, "Normalization") == 0 && !zi_keras_get (config, "mean")) {
        names [count++] = "mean";
        names [count++] = "variance";
        names [count++] = "count";
    }
    return count;
}

//  Keras's snake case of a class name: Conv2D conv2d, BatchNormalization
//  batch_normalization, PReLU p_re_lu
static void
s_snake_case (const char *name, char *out, size_t size)
{
    size_t at = 0;
    for (size_t index = 0; name [index] && at + 2 < size; index++) {
        char c = name [index];
        bool upper = c >= 'A' && c <= 'Z';
        char before = index? name [index - 1]: 0;
        char after = name [index + 1];
        //  An underscore before a capital that starts a word (Xy after
        //  anything) or that follows a lower-case letter (aX)
        if (upper && index && ((after >= 'a' && after <= 'z') || (before >= 'a' && before <= 'z')))
            out [at++] = '_';
        out [at++] = upper? (char) (c - 'A' + 'a'): c;
    }
    out [at] = 0;
}

static int
s_keras3_model (zi_keras_sink_t *sink, hid_t file, size_t image_size, json_object *model,
                const char *path);

//  One layer's variables, from the group Keras 3 gives it (or, as some
//  writers do, the group of its name)
static int
s_keras3_layer (zi_keras_sink_t *sink, hid_t file, size_t image_size, json_object *layer,
                const char *path, zhashx_t *used)
{
    const char *class_name = zi_keras_string (layer, "class_name", "");
    json_object *config = zi_keras_get (layer, "config");
    const char *name = zi_keras_string (config, "name", zi_keras_string (layer, "name", "?"));
    //  Operations (x + 3 on Keras tensors) are no layers: no place here
    if (strncmp (zi_keras_string (layer, "module", ""), "keras.src.ops.", 14) == 0)
        return 0;
    char snake [128], group [1024];
    s_snake_case (class_name, snake, sizeof snake);
    intptr_t seen = (intptr_t) zhashx_lookup (used, snake);
    zhashx_update (used, snake, (void *) (seen + 1));
    if (seen)
        snprintf (group, sizeof group, "%.700slayers/%s_%d", path, snake, (int) seen);
    else
        snprintf (group, sizeof group, "%.700slayers/%s", path, snake);
    if (!s_exists (file, group)) {
        char named [1024];
        snprintf (named, sizeof named, "%.700slayers/%.200s", path, name);
        if (s_exists (file, named))
            strcpy (group, named);
    }

    if (strcmp (class_name, "Sequential") == 0 || strcmp (class_name, "Functional") == 0
    ||  strcmp (class_name, "Model") == 0) {
        char inner [1100];
        snprintf (inner, sizeof inner, "%s/", group);
        return s_keras3_model (sink, file, image_size, layer, inner);
    }
    const char *names [8];
    int count = s_variables (class_name, config, names);
    if (count && !s_exists (file, group))
        return zi_error ("layer '%s' (%s): no weights in the file (expected group '%s' or "
                         "'%.700slayers/%.200s')", name, class_name, group, path, name);
    for (int index = 0; index < count; index++) {
        char dataset [1100];
        snprintf (dataset, sizeof dataset, "%s/vars/%d", group, index);
        if (index == count - 1 && strcmp (names [index], "count") == 0
        &&  !s_exists (file, dataset))
            break;              //  Keras 3's Normalization keeps no count
        zi_tensor_t *tensor = s_read_dataset (file, dataset, image_size);
        if (!tensor) {
            zi_error_prefix ("layer '%s' (%s): weight '%s'", name, class_name, names [index]);
            return -1;
        }
        char key [300];
        snprintf (key, sizeof key, "%.200s/%s", name, names [index]);
        if (sink->keep (sink->args, key, &tensor))
            return -1;
    }
    return 0;
}

static int
s_keras3_model (zi_keras_sink_t *sink, hid_t file, size_t image_size, json_object *model,
                const char *path)
{
    json_object *config = zi_keras_get (model, "config");
    json_object *layers = json_object_is_type (config, json_type_array)?
        config: zi_keras_get (config, "layers");
    if (!layers || !json_object_is_type (layers, json_type_array))
        return zi_error ("model '%s' has no 'layers' list", zi_keras_string (config, "name", "?"));
    zhashx_t *used = zhashx_new ();
    int rc = 0;
    for (size_t index = 0; index < json_object_array_length (layers) && rc == 0; index++)
        rc = s_keras3_layer (sink, file, image_size, json_object_array_get_idx (layers, index),
                             path, used);
    zhashx_destroy (&used);
    return rc;
}

int
zi_keras_h5_weights_keras3 (zi_keras_sink_t *sink, int64_t file, size_t image_size,
                            json_object *model)
{
    return s_keras3_model (sink, file, image_size, model, "");
}
