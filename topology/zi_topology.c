/*  =========================================================================
    zi_topology - reads a YAML topology and places a graph's nodes on it

    A topology says which processes run on which hosts and which graph
    nodes each process runs. Everything that can be checked without the
    model is checked at load, so a typo is reported with its
    file:line:column before any process starts; placement then checks the
    rules against the node names of the planned graph.

    The file is read with libyaml's document API: the whole file becomes a
    tree of nodes that carry their start marks, and we walk that tree with
    a fixed schema. The walk never goes deeper than the schema (four
    levels), so anchors and aliases, which libyaml turns into shared or
    even cyclic nodes, can neither loop it nor make it explode.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_topology.h"
#include "zi_keys.h"

#include <czmq.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <strings.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <yaml.h>

#define S_MAX_FILE (16 << 20)   //  a topology is a few hundred bytes
#define S_MAX_KEYS 24           //  most keys one mapping of the schema allows
#define S_MAX_DEPTH 32          //  deepest nesting read (the schema needs 4)
#define S_MAX_ANCHORS 256       //  most anchors read
#define S_MAX_ITEMS 1024        //  most hosts, and most processes
#define S_MAX_NAME 64           //  longest host or process name
#define S_SHOW_MAX 160          //  characters of outside text quoted in a message
#define S_HINTS 5               //  similar names suggested for an unknown node

//  The loaded topology plus the marks only placement's messages need. The
//  public struct comes first, so a zi_topology_t pointer is this pointer
//  and the header stays as callers know it.
typedef struct {
    zi_topology_t base;             //  what callers see
    zi_topo_mark_t root_mark;       //  where the top-level mapping starts
    zi_topo_mark_t placement_mark;  //  where placement: is, else root_mark
    zi_topo_mark_t client_port_mark;    //  where client_port: is written
    zi_topo_mark_t *monitor_marks;  //  per process: where monitor_port: is written
    zi_topo_mark_t curve_mark;      //  where security: curve: is written, if it is
    zi_topo_mark_t metrics_mark;    //  where metrics: port: is written, if it is
} s_topology_t;

//  One load in progress
typedef struct {
    const char *path;           //  names the file in messages
    yaml_document_t document;   //  the parsed tree
    s_topology_t *topo;         //  being filled
    bool hosts_only;            //  a hosts file, not a topology
} s_loader_t;

//  The keys of one mapping, checked and looked up by name
typedef struct {
    const char *const *keys;            //  allowed keys, NULL-terminated
    yaml_node_t *values [S_MAX_KEYS];   //  value of each allowed key, or NULL
    yaml_node_t *names [S_MAX_KEYS];    //  the key as written, for its mark
} s_fields_t;

static const char *const s_top_keys [] = {
    "name", "model", "input_shape", "fuse", "base_port", "client_port", "transport",
    "hosts", "processes", "placement", "default", "gateway", "security",
    "liveness_timeout_ms", "metrics", "max_tensor_bytes", "max_inflight_bytes",
    "plan_cache", "batching", "network", NULL
};
//  A hosts file (zinfer split --hosts): the machines, without a model
static const char *const s_hosts_file_keys [] = {
    "hosts", "network", "security", "base_port", NULL
};
static const char *const s_network_keys [] = {"usecs", "megabytes_per_second", NULL};
static const char *const s_batching_keys [] = {"max_batch", "max_delay_us", NULL};
static const char *const s_host_keys [] = {
    "name", "address", "base_port", "public_key", "secret_key_file", "cores", "speed", NULL
};
static const char *const s_security_keys [] = {"curve", "clients", NULL};
static const char *const s_metrics_keys [] = {"port", "bind", NULL};
static const char *const s_process_keys [] = {
    "name", "host", "threads", "blas_threads", "monitor_port", NULL
};
static const char *const s_rule_keys [] = {
    "process", "node", "nodes", "from", "to", "replicas", NULL
};


//  --------------------------------------------------------------------------
//  Messages. Every one is a single line "FILE:LINE:COL: ...", and all text
//  that came from outside is quoted through s_show so that garbage in a file
//  cannot break the line or flood the terminal.

static int
    s_error_at (const char *path, zi_topo_mark_t mark, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_verror_at (const char *path, zi_topo_mark_t mark, const char *format, va_list args)
{
    char text [1900];
    vsnprintf (text, sizeof text, format, args);
    return zi_error ("%s:%d:%d: %s", path, mark.line, mark.column, text);
}

static int
s_error_at (const char *path, zi_topo_mark_t mark, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_verror_at (path, mark, format, args);
    va_end (args);
    return -1;
}

//  Outside text made safe for a one-line message: control bytes escaped,
//  long text cut at a character boundary. Returns one of a few rotating
//  buffers, so a message can quote several texts at once.
static const char *
s_show (const char *text)
{
    static _Thread_local char ring [4][S_SHOW_MAX * 4 + 16];
    static _Thread_local int next;
    char *out = ring [next];
    next = (next + 1) % 4;
    size_t used = 0;
    int shown = 0;
    for (const unsigned char *cursor = (const unsigned char *) text; *cursor; cursor++) {
        bool starts_char = (*cursor & 0xC0) != 0x80;
        if ((starts_char && shown++ == S_SHOW_MAX) || used + 8 > sizeof ring [0]) {
            snprintf (out + used, sizeof ring [0] - used, "...");
            return out;
        }
        if (*cursor < 0x20 || *cursor == 0x7F)
            used += snprintf (out + used, 5, "\\x%02x", *cursor);
        else
            out [used++] = (char) *cursor;
    }
    out [used] = 0;
    return out;
}

static bool
s_streq (const char *a, const char *b)
{
    return strcmp (a, b) == 0;
}

static zi_topo_mark_t
s_mark (const yaml_node_t *node)
{
    zi_topo_mark_t mark = {
        .line = (int) node->start_mark.line + 1,
        .column = (int) node->start_mark.column + 1
    };
    return mark;
}

static bool
s_mark_before (zi_topo_mark_t a, zi_topo_mark_t b)
{
    return a.line < b.line || (a.line == b.line && a.column < b.column);
}

static const char *
s_text (const yaml_node_t *node)
{
    return (const char *) node->data.scalar.value;
}

//  A plain scalar that YAML reads as null: `key:` with nothing after it
static bool
s_is_null (const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *text = s_text (node);
    return !*text || s_streq (text, "~") || s_streq (text, "null") || s_streq (text, "Null")
        || s_streq (text, "NULL");
}

//  What a node is, for the "got ..." part of a message
static const char *
s_got (const yaml_node_t *node)
{
    static _Thread_local char text [S_SHOW_MAX * 4 + 32];
    if (node->type == YAML_SEQUENCE_NODE)
        return node->data.sequence.items.top == node->data.sequence.items.start?
            "an empty sequence": "a sequence";
    if (node->type == YAML_MAPPING_NODE)
        return node->data.mapping.pairs.top == node->data.mapping.pairs.start?
            "an empty mapping": "a mapping";
    if (s_is_null (node))
        return "nothing";
    if (strlen (s_text (node)) != node->data.scalar.length)
        return "text with a NUL character";
    snprintf (text, sizeof text, "'%s'", s_show (s_text (node)));
    return text;
}

//  "a, b, c" from a NULL-terminated list of keys
static const char *
s_key_list (const char *const *keys)
{
    static _Thread_local char text [256];
    text [0] = 0;
    for (int index = 0; keys [index]; index++) {
        if (index)
            strcat (text, ", ");
        strcat (text, keys [index]);
    }
    return text;
}

//  "front, back" from the names of hosts or processes, cut when long
static const char *
s_name_list (int count, const char *(*name_of) (const zi_topology_t *, int),
             const zi_topology_t *topo)
{
    static _Thread_local char text [512];
    size_t used = 0;
    text [0] = 0;
    for (int index = 0; index < count; index++) {
        const char *name = name_of (topo, index);
        if (used + strlen (name) + 8 >= sizeof text) {
            strcpy (text + used, ", ...");
            break;
        }
        used += sprintf (text + used, "%s%s", index? ", ": "", name);
    }
    return text;
}

static const char *
s_host_name (const zi_topology_t *topo, int index)
{
    return topo->hosts [index].name;
}

static const char *
s_process_name (const zi_topology_t *topo, int index)
{
    return topo->processes [index].name;
}


//  --------------------------------------------------------------------------
//  Reading the tree

static int
    s_fail (s_loader_t *self, const yaml_node_t *node, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (s_loader_t *self, const yaml_node_t *node, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    s_verror_at (self->path, s_mark (node), format, args);
    va_end (args);
    return -1;
}

static yaml_node_t *
s_node (s_loader_t *self, int id)
{
    yaml_node_t *node = yaml_document_get_node (&self->document, id);
    assert (node);              //  libyaml hands out only ids it made
    return node;
}

static int
s_key_index (const char *const *keys, const yaml_node_t *key)
{
    //  The length check keeps a key with an escaped NUL ("na\0me") unknown
    for (int index = 0; keys [index]; index++)
        if (strlen (keys [index]) == key->data.scalar.length
        &&  s_streq (keys [index], s_text (key)))
            return index;
    return -1;
}

//  Checks that node is a mapping whose keys are all allowed and appear once,
//  and collects the values. what says which mapping it is, for messages.
static int
s_fields (s_loader_t *self, yaml_node_t *map, const char *what, const char *const *keys,
          s_fields_t *fields)
{
    memset (fields, 0, sizeof *fields);
    fields->keys = keys;
    if (map->type != YAML_MAPPING_NODE)
        return s_fail (self, map, "wrong type for %s; expected a mapping with keys %s, got %s",
                       what, s_key_list (keys), s_got (map));
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
         pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = s_node (self, pair->key);
        if (key->type != YAML_SCALAR_NODE)
            return s_fail (self, key, "bad key in %s; expected one of %s, got %s",
                           what, s_key_list (keys), s_got (key));
        int index = s_key_index (keys, key);
        if (index < 0)
            return s_fail (self, key, "unknown key '%s' in %s; expected one of %s",
                           s_show (s_text (key)), what, s_key_list (keys));
        if (fields->names [index]) {
            zi_topo_mark_t first = s_mark (fields->names [index]);
            return s_fail (self, key, "duplicate key '%s' in %s; expected each key once, "
                           "the first is at %d:%d", keys [index], what, first.line, first.column);
        }
        fields->names [index] = key;
        fields->values [index] = s_node (self, pair->value);
    }
    return 0;
}

static int
s_field_index (const s_fields_t *fields, const char *key)
{
    for (int index = 0; fields->keys [index]; index++)
        if (s_streq (fields->keys [index], key))
            return index;
    assert (false);             //  a key the schema does not have: our bug
    return -1;
}

//  The value of a key, or NULL when the mapping does not have it
static yaml_node_t *
s_field (const s_fields_t *fields, const char *key)
{
    return fields->values [s_field_index (fields, key)];
}

//  The key itself, for the mark of `key:`
static yaml_node_t *
s_field_key (const s_fields_t *fields, const char *key)
{
    return fields->names [s_field_index (fields, key)];
}

//  A non-empty scalar as a new string
static int
s_read_text (s_loader_t *self, yaml_node_t *node, const char *key, const char *expected,
             char **text_p)
{
    if (node->type != YAML_SCALAR_NODE || s_is_null (node) || node->data.scalar.length == 0
    ||  strlen (s_text (node)) != node->data.scalar.length)
        return s_fail (self, node, "bad value for %s; expected %s, got %s",
                       key, expected, s_got (node));
    *text_p = strdup (s_text (node));
    assert (*text_p);
    return 0;
}

//  Whether a name is safe to put in a file name: a safe alphabet, so no
//  '/', and no leading '.', so neither '.' nor '..' (either would put the
//  ipc sockets of a deployment outside its runtime folder)
static bool
s_safe_name (const char *name)
{
    if (*name == 0 || *name == '.' || strlen (name) > S_MAX_NAME)
        return false;
    for (const char *cursor = name; *cursor; cursor++)
        if (!isalnum ((unsigned char) *cursor) && !strchr ("_-.", *cursor))
            return false;
    return true;
}

//  The topology's, a host's or a process's name: these end up in endpoint
//  and file names, so they are kept to a safe alphabet
static int
s_read_name (s_loader_t *self, yaml_node_t *node, const char *key, char **name_p)
{
    const char *expected = "a name of at most 64 letters, digits, '_', '-' or '.'";
    if (s_read_text (self, node, key, expected, name_p))
        return -1;
    if (!s_safe_name (*name_p)) {
        bool leading_dot = **name_p == '.';
        free (*name_p);
        *name_p = NULL;
        return s_fail (self, node, "bad value for %s; expected %s%s, got %s", key, expected,
                       leading_dot? ", not starting with '.' (names become file names)": "",
                       s_got (node));
    }
    return 0;
}

static int
s_read_int (s_loader_t *self, yaml_node_t *node, const char *key, int64_t min, int64_t max,
            int64_t *value_p)
{
    //  strtoll alone would take " 12", "12abc" and overflowed values; we
    //  want exactly a decimal integer in range, or a message
    if (node->type == YAML_SCALAR_NODE && strlen (s_text (node)) == node->data.scalar.length) {
        const char *text = s_text (node);
        const char *digits = *text == '-' || *text == '+'? text + 1: text;
        if (isdigit ((unsigned char) *digits)) {
            errno = 0;
            char *end;
            long long number = strtoll (text, &end, 10);
            if (errno == 0 && *end == 0 && number >= min && number <= max) {
                *value_p = number;
                return 0;
            }
        }
    }
    return s_fail (self, node, "bad value for %s; expected an integer from %lld to %lld, got %s",
                   key, (long long) min, (long long) max, s_got (node));
}

//  An int-typed field, when present
static int
s_read_small (s_loader_t *self, const s_fields_t *fields, const char *key, int min, int max,
              int *value_p)
{
    yaml_node_t *node = s_field (fields, key);
    int64_t value = 0;
    if (!node)
        return 0;
    if (s_read_int (self, node, key, min, max, &value))
        return -1;
    *value_p = (int) value;
    return 0;
}

//  A decimal number from min to max (exclusive of 0 when min is 0: a
//  speed or a bandwidth of nothing means nothing)
static int
s_read_real (s_loader_t *self, yaml_node_t *node, const char *key, double min, double max,
             double *value_p)
{
    if (node->type == YAML_SCALAR_NODE && strlen (s_text (node)) == node->data.scalar.length) {
        const char *text = s_text (node);
        if (isdigit ((unsigned char) *text) || (*text == '.' && isdigit ((unsigned char) text [1]))) {
            errno = 0;
            char *end;
            double number = strtod (text, &end);
            if (errno == 0 && *end == 0 && isfinite (number) && number > 0
            &&  number >= min && number <= max) {
                *value_p = number;
                return 0;
            }
        }
    }
    return s_fail (self, node, "bad value for %s; expected a number above 0 and at most %g, "
                   "got %s", key, max, s_got (node));
}

static int
s_read_bool (s_loader_t *self, yaml_node_t *node, const char *key, bool *value_p)
{
    if (node->type == YAML_SCALAR_NODE && strlen (s_text (node)) == node->data.scalar.length) {
        const char *text = s_text (node);
        if (strcasecmp (text, "true") == 0 || strcasecmp (text, "yes") == 0) {
            *value_p = true;
            return 0;
        }
        if (strcasecmp (text, "false") == 0 || strcasecmp (text, "no") == 0) {
            *value_p = false;
            return 0;
        }
    }
    return s_fail (self, node, "bad value for %s; expected true, false, yes or no, got %s",
                   key, s_got (node));
}

//  The items of a sequence of min to max items, or an error naming what the
//  sequence should hold
static int
s_read_list (s_loader_t *self, yaml_node_t *node, const char *key, const char *expected,
             int min, int max, yaml_node_item_t **items_p, int *count_p)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return s_fail (self, node, "bad value for %s; expected %s, got %s",
                       key, expected, s_got (node));
    ptrdiff_t count = node->data.sequence.items.top - node->data.sequence.items.start;
    if (count == 0 && min > 0)
        return s_fail (self, node, "bad value for %s; expected %s, got an empty sequence",
                       key, expected);
    if (count > max)
        return s_fail (self, node, "bad value for %s; expected %s, got %td", key, expected,
                       count);
    *items_p = node->data.sequence.items.start;
    *count_p = (int) count;
    return 0;
}

//  The model path as written, made relative to the YAML file's folder
static char *
s_resolve (const char *path, const char *model)
{
    const char *slash = strrchr (path, '/');
    if (model [0] == '/' || !slash)
        return strdup (model);
    size_t folder = slash - path + 1;
    char *resolved = malloc (folder + strlen (model) + 1);
    assert (resolved);
    memcpy (resolved, path, folder);
    strcpy (resolved + folder, model);
    return resolved;
}

//  The file name without folder and extension: "a/digits-split.yaml" ->
//  "digits-split"
static char *
s_default_name (const char *path)
{
    const char *slash = strrchr (path, '/');
    const char *base = slash? slash + 1: path;
    const char *dot = strrchr (base, '.');
    size_t size = dot && dot > base? (size_t) (dot - base): strlen (base);
    if (size > S_MAX_NAME)
        size = S_MAX_NAME;
    char *name = strndup (base, size);
    assert (name);
    //  It becomes a file name, as a written name does: what a written name
    //  could not hold becomes '_'
    for (char *cursor = name; *cursor; cursor++)
        if (!isalnum ((unsigned char) *cursor) && !strchr ("_-.", *cursor))
            *cursor = '_';
    if (!s_safe_name (name)) {
        free (name);
        name = strdup ("topology");
    }
    return name;
}


//  A CURVE public key: 40 Z85 characters, or a key file's path relative
//  to the YAML file's folder
static int
s_read_public_key (s_loader_t *self, yaml_node_t *node, const char *key, char *into)
{
    char *written;
    if (s_read_text (self, node, key, "a 40-character Z85 public key or the path of a key "
                     "file made by `zinfer keygen`", &written))
        return -1;
    if (zi_keys_valid (written)) {
        snprintf (into, ZI_KEY_TEXT, "%s", written);
        free (written);
        return 0;
    }
    char *path = s_resolve (self->path, written);
    struct stat info;
    int rc = 0;
    if (stat (path, &info))
        rc = s_fail (self, node, "bad value for %s; expected a 40-character Z85 public key or "
                     "the path of a key file made by `zinfer keygen`, got %s (%s: %s)", key,
                     s_got (node), s_show (path), strerror (errno));
    else
    if (zi_keys_read_public (path, into))
        rc = s_fail (self, node, "bad value for %s: %s", key, s_show (zi_error_text ()));
    free (path);
    free (written);
    return rc;
}


//  --------------------------------------------------------------------------
//  The schema, one function per kind of mapping

static int
s_load_host (s_loader_t *self, yaml_node_t *item)
{
    zi_topology_t *topo = &self->topo->base;
    s_fields_t fields;
    if (s_fields (self, item, "a host", s_host_keys, &fields))
        return -1;
    zi_topo_host_t *host = &topo->hosts [topo->n_hosts++];
    host->mark = s_mark (item);
    host->base_port = topo->base_port;

    yaml_node_t *name = s_field (&fields, "name");
    if (!name)
        return s_fail (self, item, "missing key 'name' in a host; expected a unique host name");
    if (s_read_name (self, name, "name", &host->name))
        return -1;
    for (int index = 0; index < topo->n_hosts - 1; index++)
        if (s_streq (topo->hosts [index].name, host->name))
            return s_fail (self, name, "duplicate host name '%s'; expected each host once, "
                           "the first is defined at %d:%d", host->name,
                           topo->hosts [index].mark.line, topo->hosts [index].mark.column);

    yaml_node_t *address = s_field (&fields, "address");
    if (!address)
        return s_fail (self, item, "missing key 'address' in host '%s'; expected the IP "
                       "address or DNS name other hosts reach it by", host->name);
    if (s_read_text (self, address, "address", "an IP address or DNS name", &host->address))
        return -1;
    if (s_read_small (self, &fields, "base_port", 1, 65535, &host->base_port))
        return -1;
    if (s_read_small (self, &fields, "cores", 1, 65536, &host->cores))
        return -1;
    host->speed = 1;
    yaml_node_t *node = s_field (&fields, "speed");
    if (node && s_read_real (self, node, "speed", 0, 1000, &host->speed))
        return -1;
    node = s_field (&fields, "public_key");
    if (node && s_read_public_key (self, node, "public_key", host->public_key))
        return -1;
    if ((node = s_field (&fields, "secret_key_file"))) {
        char *written;
        if (s_read_text (self, node, "secret_key_file", "the path of the host's secret key "
                         "file", &written))
            return -1;
        host->secret_key_file = s_resolve (self->path, written);
        free (written);
    }
    return 0;
}

static int
s_load_process (s_loader_t *self, yaml_node_t *item)
{
    zi_topology_t *topo = &self->topo->base;
    s_fields_t fields;
    if (s_fields (self, item, "a process", s_process_keys, &fields))
        return -1;
    int index = topo->n_processes++;
    zi_topo_process_t *process = &topo->processes [index];
    process->mark = s_mark (item);
    process->threads = 1;
    process->blas_threads = 1;

    yaml_node_t *name = s_field (&fields, "name");
    if (!name)
        return s_fail (self, item, "missing key 'name' in a process; expected a unique "
                       "process name");
    if (s_read_name (self, name, "name", &process->name))
        return -1;
    for (int other = 0; other < index; other++)
        if (s_streq (topo->processes [other].name, process->name))
            return s_fail (self, name, "duplicate process name '%s'; expected each process "
                           "once, the first is defined at %d:%d", process->name,
                           topo->processes [other].mark.line, topo->processes [other].mark.column);

    yaml_node_t *host = s_field (&fields, "host");
    if (host) {
        char *host_name;
        if (s_read_text (self, host, "host", "the name of a host", &host_name))
            return -1;
        process->host = zi_topology_host (topo, host_name);
        if (process->host < 0) {
            s_fail (self, host, "process '%s' names unknown host '%s'; expected one of %s",
                    process->name, s_show (host_name),
                    s_name_list (topo->n_hosts, s_host_name, topo));
            free (host_name);
            return -1;
        }
        free (host_name);
    }
    else
    if (topo->n_hosts > 1)
        return s_fail (self, item, "missing key 'host' in process '%s'; expected one of %s "
                       "(required with several hosts)", process->name,
                       s_name_list (topo->n_hosts, s_host_name, topo));

    if (s_read_small (self, &fields, "threads", 1, 256, &process->threads)
    ||  s_read_small (self, &fields, "blas_threads", 1, 256, &process->blas_threads)
    ||  s_read_small (self, &fields, "monitor_port", 1, 65535, &process->monitor_port))
        return -1;
    if (process->monitor_port)
        self->topo->monitor_marks [index] = s_mark (s_field (&fields, "monitor_port"));
    return 0;
}

//  A process named by a rule, default: or gateway:
static int
s_read_process_ref (s_loader_t *self, yaml_node_t *node, const char *key, int *process_p)
{
    zi_topology_t *topo = &self->topo->base;
    char *name;
    if (s_read_text (self, node, key, "the name of a process", &name))
        return -1;
    *process_p = zi_topology_process (topo, name);
    if (*process_p < 0)
        s_fail (self, node, "unknown process '%s' in %s; expected one of %s", s_show (name),
                key, s_name_list (topo->n_processes, s_process_name, topo));
    free (name);
    return *process_p < 0? -1: 0;
}

static int
s_load_rule (s_loader_t *self, yaml_node_t *item)
{
    zi_topology_t *topo = &self->topo->base;
    s_fields_t fields;
    if (s_fields (self, item, "a placement rule", s_rule_keys, &fields))
        return -1;
    zi_topo_rule_t *rule = &topo->rules [topo->n_rules++];
    rule->mark = s_mark (item);
    rule->from_mark = rule->mark;
    rule->to_mark = rule->mark;
    rule->replicas = 1;
    rule->process = -1;

    yaml_node_t *process = s_field (&fields, "process");
    if (!process)
        return s_fail (self, item, "missing key 'process' in a placement rule; expected the "
                       "name of the process that runs the rule's nodes");
    if (s_read_process_ref (self, process, "a placement rule", &rule->process))
        return -1;

    yaml_node_t *node = s_field (&fields, "node");
    yaml_node_t *nodes = s_field (&fields, "nodes");
    yaml_node_t *from = s_field (&fields, "from");
    yaml_node_t *to = s_field (&fields, "to");
    int forms = (node != NULL) + (nodes != NULL) + (from || to);
    if (forms == 0)
        return s_fail (self, item, "a placement rule places nothing; expected one of node:, "
                       "nodes:, or from: and/or to:");
    if (forms > 1)
        return s_fail (self, item, "a placement rule mixes %s; expected exactly one of node:, "
                       "nodes:, or from: and/or to:",
                       node && nodes? "node: and nodes:": node? "node: and from:/to:":
                       "nodes: and from:/to:");
    if (node) {
        rule->nodes = calloc (1, sizeof (char *));
        rule->node_marks = calloc (1, sizeof (zi_topo_mark_t));
        assert (rule->nodes && rule->node_marks);
        rule->node_marks [0] = s_mark (node);
        if (s_read_text (self, node, "node", "a node name", &rule->nodes [0]))
            return -1;
        rule->n_nodes = 1;
    }
    if (nodes) {
        yaml_node_item_t *items = NULL;
        int count = 0;
        if (s_read_list (self, nodes, "nodes", "a list of node names", 1, INT_MAX,
                         &items, &count))
            return -1;
        rule->nodes = calloc (count, sizeof (char *));
        rule->node_marks = calloc (count, sizeof (zi_topo_mark_t));
        assert (rule->nodes && rule->node_marks);
        for (int index = 0; index < count; index++) {
            yaml_node_t *name = s_node (self, items [index]);
            rule->node_marks [index] = s_mark (name);
            if (s_read_text (self, name, "nodes", "a node name", &rule->nodes [index]))
                return -1;
            rule->n_nodes++;
        }
    }
    if (from) {
        rule->from_mark = s_mark (from);
        if (s_read_text (self, from, "from", "a node name", &rule->from))
            return -1;
    }
    if (to) {
        rule->to_mark = s_mark (to);
        if (s_read_text (self, to, "to", "a node name", &rule->to))
            return -1;
    }
    return s_read_small (self, &fields, "replicas", 1, 64, &rule->replicas);
}

static int
s_load_shape (s_loader_t *self, yaml_node_t *shape)
{
    zi_topology_t *topo = &self->topo->base;
    yaml_node_item_t *items = NULL;
    int count = 0;
    if (s_read_list (self, shape, "input_shape", "a list of 1 to 8 dimensions", 1,
                     ZI_TOPO_MAX_DIMS, &items, &count))
        return -1;
    for (int index = 0; index < count; index++) {
        if (s_read_int (self, s_node (self, items [index]), "a dimension of input_shape",
                        1, INT32_MAX, &topo->input_shape [index]))
            return -1;
    }
    topo->input_ndim = count;
    return 0;
}

//  Explicit ports must differ on each host; allocated ones are the
//  allocator's business. The client port lives on the gateway's host:
//  the gateway: process, else the first process listed.
static int
s_check_ports (s_loader_t *self)
{
    zi_topology_t *topo = &self->topo->base;
    zi_topo_mark_t *marks = self->topo->monitor_marks;
    for (int index = 0; index < topo->n_processes; index++) {
        const zi_topo_process_t *process = &topo->processes [index];
        for (int other = 0; other < index && process->monitor_port; other++)
            if (topo->processes [other].host == process->host
            &&  topo->processes [other].monitor_port == process->monitor_port)
                return s_error_at (self->path, marks [index], "port %d on host '%s' is taken "
                                   "twice; expected a port no other process uses, but "
                                   "monitor_port of process '%s' at %d:%d has it too",
                                   process->monitor_port, topo->hosts [process->host].name,
                                   topo->processes [other].name, marks [other].line,
                                   marks [other].column);
    }
    //  Every host's launcher binds the metrics port (its own loopback by
    //  default), so no process's port on any host may be it
    zi_topo_mark_t metrics_mark = self->topo->metrics_mark;
    for (int index = 0; index < topo->n_processes && topo->metrics_port; index++)
        if (topo->processes [index].monitor_port == topo->metrics_port)
            return s_error_at (self->path, metrics_mark, "port %d is taken twice; expected a "
                               "metrics port no process uses, but monitor_port of process "
                               "'%s' at %d:%d has it", topo->metrics_port,
                               topo->processes [index].name, marks [index].line,
                               marks [index].column);
    if (topo->metrics_port && topo->metrics_port == topo->client_port)
        return s_error_at (self->path, metrics_mark, "port %d is taken twice; expected a "
                           "metrics port that is not the client_port at %d:%d",
                           topo->metrics_port, self->topo->client_port_mark.line,
                           self->topo->client_port_mark.column);
    if (topo->client_port == 0 || topo->n_processes == 0)
        return 0;
    int gateway_host = topo->processes [topo->gateway_process >= 0? topo->gateway_process: 0].host;
    zi_topo_mark_t client_mark = self->topo->client_port_mark;
    for (int index = 0; index < topo->n_processes; index++) {
        const zi_topo_process_t *process = &topo->processes [index];
        if (process->host != gateway_host || process->monitor_port != topo->client_port)
            continue;
        //  Report the later of the two, pointing back at the earlier
        if (s_mark_before (marks [index], client_mark))
            return s_error_at (self->path, client_mark, "port %d on host '%s' is taken twice; "
                               "expected a client_port no process uses, but monitor_port of "
                               "process '%s' at %d:%d has it", topo->client_port,
                               topo->hosts [gateway_host].name, process->name,
                               marks [index].line, marks [index].column);
        return s_error_at (self->path, marks [index], "port %d on host '%s' is taken twice; "
                           "expected a monitor_port that is not the client_port at %d:%d",
                           topo->client_port, topo->hosts [gateway_host].name,
                           client_mark.line, client_mark.column);
    }
    return 0;
}

//  security: whether tcp uses CURVE, and which client keys may connect.
//  CURVE is on by default once a topology spans hosts, and then every
//  host must name its keys: secure unless the file says otherwise.
static int
s_load_security (s_loader_t *self, yaml_node_t *node)
{
    zi_topology_t *topo = &self->topo->base;
    topo->curve = topo->n_hosts > 1;
    s_fields_t fields;
    if (node && s_fields (self, node, "security", s_security_keys, &fields))
        return -1;
    yaml_node_t *value;
    if (node && (value = s_field (&fields, "curve"))) {
        if (s_read_bool (self, value, "curve", &topo->curve))
            return -1;
        self->topo->curve_mark = s_mark (value);
    }
    if (node && (value = s_field (&fields, "clients"))) {
        yaml_node_item_t *items = NULL;
        int count = 0;
        if (s_read_list (self, value, "clients", "a list of client public keys (Z85 text or "
                         "key files)", 0, S_MAX_ITEMS, &items, &count))
            return -1;
        topo->client_keys = calloc (count + 1, sizeof *topo->client_keys);
        assert (topo->client_keys);
        for (int index = 0; index < count; index++, topo->n_client_keys++)
            if (s_read_public_key (self, s_node (self, items [index]), "a client key",
                                   topo->client_keys [index]))
                return -1;
    }
    return 0;
}

//  metrics: where each host's launcher serves /metrics, /healthz and
//  /readyz over HTTP. Loopback unless the file says otherwise: the
//  counters tell anyone who can connect how busy the topology is
static int
s_load_metrics (s_loader_t *self, yaml_node_t *node)
{
    zi_topology_t *topo = &self->topo->base;
    s_fields_t fields;
    if (s_fields (self, node, "metrics", s_metrics_keys, &fields))
        return -1;
    yaml_node_t *port = s_field (&fields, "port");
    if (!port)
        return s_fail (self, node, "missing key 'port' in metrics; expected the port to "
                       "serve /metrics on, e.g. metrics: {port: 9464}");
    if (s_read_small (self, &fields, "port", 1, 65535, &topo->metrics_port))
        return -1;
    self->topo->metrics_mark = s_mark (port);
    yaml_node_t *bind = s_field (&fields, "bind");
    const char *expected = "an IP address to listen on (127.0.0.1, 0.0.0.0, ::1, ...) or "
                           "'host' for each host's own address";
    if (bind && s_read_text (self, bind, "bind", expected, &topo->metrics_bind))
        return -1;
    unsigned char address [16];
    if (topo->metrics_bind && strcmp (topo->metrics_bind, "host")
    &&  inet_pton (AF_INET, topo->metrics_bind, address) != 1
    &&  inet_pton (AF_INET6, topo->metrics_bind, address) != 1)
        return s_fail (self, bind, "bad value for bind; expected %s, got %s", expected,
                       s_got (bind));
    //  The server listens on an address, not a name: a DNS name would have
    //  to be resolved on each host, and may resolve to an address that is
    //  not the host's own, so bind: host needs each host's address numeric
    for (int index = 0; topo->metrics_bind && index < topo->n_hosts; index++) {
        const zi_topo_host_t *host = &topo->hosts [index];
        if (strcmp (topo->metrics_bind, "host") == 0
        &&  inet_pton (AF_INET, host->address, address) != 1
        &&  inet_pton (AF_INET6, host->address, address) != 1)
            return s_fail (self, bind, "bind: host listens on each host's own address, but "
                           "host '%s' at %d:%d has address '%s'; expected an IP address "
                           "there, or bind: an IP address to listen on", host->name,
                           host->mark.line, host->mark.column, host->address);
    }
    return 0;
}

//  With CURVE on, every host must name its keys. Checked after the rest,
//  so that mistakes earlier in the file are reported first.
static int
s_check_keys (s_loader_t *self)
{
    zi_topology_t *topo = &self->topo->base;
    for (int index = 0; index < topo->n_hosts && topo->curve; index++) {
        zi_topo_host_t *host = &topo->hosts [index];
        const char *missing = !*host->public_key? "public_key":
                              !host->secret_key_file? "secret_key_file": NULL;
        if (missing)
            return s_error_at (self->path, host->mark, "missing key '%s' in host '%s'; CURVE "
                               "is on (%s), so every host needs public_key and "
                               "secret_key_file (make them with `zinfer keygen NAME`), or "
                               "set security: {curve: false} to send in the clear",
                               missing, host->name,
                               self->topo->curve_mark.line? "security: curve: true":
                               "the default when a topology spans hosts");
    }
    return 0;
}

//  network: what a hop between hosts costs, for the predictions of zinfer
//  plan and split (a calibration on one host only knows loopback)
static int
s_load_network (s_loader_t *self, yaml_node_t *node)
{
    zi_topology_t *topo = &self->topo->base;
    s_fields_t fields;
    if (s_fields (self, node, "network", s_network_keys, &fields))
        return -1;
    yaml_node_t *usecs = s_field (&fields, "usecs");
    yaml_node_t *rate = s_field (&fields, "megabytes_per_second");
    if (!usecs || !rate)
        return s_fail (self, node, "missing key '%s' in network; expected usecs (the fixed "
                       "cost of a hop between hosts, microseconds) and megabytes_per_second "
                       "(their bandwidth)", usecs? "megabytes_per_second": "usecs");
    //  A megabyte per second is a byte per microsecond
    return s_read_real (self, usecs, "usecs", 0, 1e9, &topo->network_usecs)
        || s_read_real (self, rate, "megabytes_per_second", 0, 1e9,
                        &topo->network_bytes_per_usec)? -1: 0;
}

//  The machines: hosts:, security: and network:, in a topology and in a
//  hosts file alike
static int
s_load_machines (s_loader_t *self, const s_fields_t *top)
{
    s_topology_t *priv = self->topo;
    zi_topology_t *topo = &priv->base;
    yaml_node_item_t *items = NULL;
    int count = 0;
    yaml_node_t *node;
    if ((node = s_field (top, "hosts"))) {
        if (s_read_list (self, node, "hosts", "a list of 1 to 1024 hosts", 1, S_MAX_ITEMS,
                         &items, &count))
            return -1;
        topo->hosts = calloc (count, sizeof (zi_topo_host_t));
        assert (topo->hosts);
        for (int index = 0; index < count; index++)
            if (s_load_host (self, s_node (self, items [index])))
                return -1;
    }
    else {
        topo->hosts = calloc (1, sizeof (zi_topo_host_t));
        assert (topo->hosts);
        topo->hosts [0].name = strdup ("local");
        topo->hosts [0].address = strdup ("127.0.0.1");
        topo->hosts [0].base_port = topo->base_port;
        topo->hosts [0].speed = 1;
        topo->hosts [0].mark = priv->root_mark;
        topo->n_hosts = 1;
    }
    if (s_load_security (self, s_field (top, "security")))
        return -1;
    if ((node = s_field (top, "network")) && s_load_network (self, node))
        return -1;
    return 0;
}

//  A hosts file: the machines alone, checked as a topology's
static int
s_load_hosts_file (s_loader_t *self, yaml_node_t *root)
{
    s_topology_t *priv = self->topo;
    zi_topology_t *topo = &priv->base;
    priv->root_mark = s_mark (root);
    topo->path = strdup (self->path);
    topo->name = s_default_name (self->path);
    topo->base_port = 7100;
    s_fields_t top;
    if (s_fields (self, root, "the top-level mapping of a hosts file", s_hosts_file_keys, &top))
        return -1;
    if (!s_field (&top, "hosts"))
        return s_fail (self, root, "missing key 'hosts' at the top level; expected a list "
                       "of the hosts to split over, as in a topology (docs/placement.md)");
    if (s_read_small (self, &top, "base_port", 1, 65535, &topo->base_port)
    ||  s_load_machines (self, &top))
        return -1;
    return s_check_keys (self);
}

static int
s_load (s_loader_t *self, yaml_node_t *root)
{
    if (self->hosts_only)
        return s_load_hosts_file (self, root);
    s_topology_t *priv = self->topo;
    zi_topology_t *topo = &priv->base;
    priv->root_mark = s_mark (root);
    priv->placement_mark = priv->root_mark;
    topo->path = strdup (self->path);
    topo->fuse = true;
    topo->base_port = 7100;
    topo->default_process = -1;
    topo->gateway_process = -1;

    s_fields_t top;
    if (s_fields (self, root, "the top-level mapping", s_top_keys, &top))
        return -1;
    yaml_node_t *node;
    if ((node = s_field (&top, "name"))) {
        if (s_read_name (self, node, "name", &topo->name))
            return -1;
    }
    else
        topo->name = s_default_name (self->path);

    yaml_node_t *model = s_field (&top, "model");
    if (!model)
        return s_fail (self, root, "missing key 'model' at the top level; expected the path "
                       "of the ONNX model");
    char *model_text;
    if (s_read_text (self, model, "model", "the path of the ONNX model", &model_text))
        return -1;
    topo->model_path = s_resolve (self->path, model_text);
    topo->model_mark = s_mark (model);
    free (model_text);

    if ((node = s_field (&top, "input_shape")) && s_load_shape (self, node))
        return -1;
    if ((node = s_field (&top, "fuse")) && s_read_bool (self, node, "fuse", &topo->fuse))
        return -1;
    if (s_read_small (self, &top, "base_port", 1, 65535, &topo->base_port)
    ||  s_read_small (self, &top, "client_port", 1, 65535, &topo->client_port))
        return -1;
    if (topo->client_port)
        priv->client_port_mark = s_mark (s_field (&top, "client_port"));
    topo->liveness_timeout_ms = ZI_TOPO_LIVENESS_MSECS;
    if (s_read_small (self, &top, "liveness_timeout_ms", 0, 3600000, &topo->liveness_timeout_ms))
        return -1;
    if ((node = s_field (&top, "max_tensor_bytes"))
    &&  s_read_int (self, node, "max_tensor_bytes", 4096, INT64_C (1) << 40,
                    &topo->max_tensor_bytes))
        return -1;
    //  From one small request's worth (4 KiB) to 1 TiB: below that a
    //  model's inputs hardly fit, above it the bound bounds nothing
    if ((node = s_field (&top, "max_inflight_bytes"))) {
        if (s_read_int (self, node, "max_inflight_bytes", 4096, INT64_C (1) << 40,
                        &topo->max_inflight_bytes))
            return -1;
        topo->max_inflight_bytes_mark = s_mark (node);
    }
    topo->plan_cache = ZI_TOPO_PLAN_CACHE;
    if (s_read_small (self, &top, "plan_cache", 1, 1024, &topo->plan_cache))
        return -1;
    if ((node = s_field (&top, "batching"))) {
        s_fields_t batching;
        if (s_fields (self, node, "batching", s_batching_keys, &batching))
            return -1;
        topo->batching_mark = s_mark (node);
        if (!s_field (&batching, "max_batch"))
            return s_fail (self, node, "missing key 'max_batch' in batching; expected the most "
                           "requests stacked into one, an integer from 2 to 1024");
        topo->max_delay_us = ZI_TOPO_BATCH_DELAY_USECS;
        if (s_read_small (self, &batching, "max_batch", 2, 1024, &topo->max_batch)
        ||  s_read_small (self, &batching, "max_delay_us", 0, 1000000, &topo->max_delay_us))
            return -1;
        //  Batches come in every size up to max_batch, each a plan: a
        //  smaller cache would plan again and again
        if (!s_field (&top, "plan_cache") && topo->plan_cache < topo->max_batch)
            topo->plan_cache = topo->max_batch;
    }
    if ((node = s_field (&top, "transport"))) {
        const char *text = node->type == YAML_SCALAR_NODE
                        && strlen (s_text (node)) == node->data.scalar.length? s_text (node): "";
        if (s_streq (text, "tcp"))
            topo->transport_tcp = true;
        else
        if (!s_streq (text, "ipc"))
            return s_fail (self, node, "bad value for transport; expected ipc or tcp, got %s",
                           s_got (node));
    }

    if (s_load_machines (self, &top))
        return -1;
    if ((node = s_field (&top, "metrics")) && s_load_metrics (self, node))
        return -1;

    yaml_node_item_t *items = NULL;
    int count = 0;

    node = s_field (&top, "processes");
    if (!node)
        return s_fail (self, root, "missing key 'processes' at the top level; expected a "
                       "list of 1 to 1024 processes");
    if (s_read_list (self, node, "processes", "a list of 1 to 1024 processes", 1, S_MAX_ITEMS,
                     &items, &count))
        return -1;
    topo->processes = calloc (count, sizeof (zi_topo_process_t));
    priv->monitor_marks = calloc (count, sizeof (zi_topo_mark_t));
    assert (topo->processes && priv->monitor_marks);
    for (int index = 0; index < count; index++)
        if (s_load_process (self, s_node (self, items [index])))
            return -1;

    if ((node = s_field (&top, "placement"))) {
        priv->placement_mark = s_mark (s_field_key (&top, "placement"));
        if (s_read_list (self, node, "placement", "a list of placement rules", 0, INT_MAX,
                         &items, &count))
            return -1;
        topo->rules = calloc (count? count: 1, sizeof (zi_topo_rule_t));
        assert (topo->rules);
        for (int index = 0; index < count; index++)
            if (s_load_rule (self, s_node (self, items [index])))
                return -1;
    }
    if ((node = s_field (&top, "default"))
    &&  s_read_process_ref (self, node, "default", &topo->default_process))
        return -1;
    if ((node = s_field (&top, "gateway"))
    &&  s_read_process_ref (self, node, "gateway", &topo->gateway_process))
        return -1;
    if (s_check_ports (self) || s_check_keys (self))
        return -1;

    //  Last, so that a file with several mistakes shows those in the file
    //  before the one about the filesystem
    struct stat info;
    if (stat (topo->model_path, &info))
        return errno == ENOENT?
            s_error_at (self->path, topo->model_mark, "model file '%s' does not exist",
                        s_show (topo->model_path)):
            s_error_at (self->path, topo->model_mark, "model file '%s' cannot be read: %s",
                        s_show (topo->model_path), strerror (errno));
    if (!S_ISREG (info.st_mode))
        return s_error_at (self->path, topo->model_mark, "model file '%s' is not a regular "
                           "file; expected an ONNX file", s_show (topo->model_path));
    return 0;
}

//  libyaml's own description of what it could not parse, with its mark
static int
s_syntax_error (const char *path, const yaml_parser_t *parser, const char *text, size_t size)
{
    zi_topo_mark_t mark = {
        .line = (int) parser->problem_mark.line + 1,
        .column = (int) parser->problem_mark.column + 1
    };
    if (parser->error == YAML_MEMORY_ERROR)
        return s_error_at (path, mark, "out of memory while parsing the YAML");
    if (parser->error == YAML_READER_ERROR) {
        //  The reader reports a byte offset, not a mark
        size_t offset = parser->problem_offset < size? parser->problem_offset: size;
        mark.line = 1;
        mark.column = 1;
        for (size_t at = 0; at < offset; at++) {
            mark.column++;
            if (text [at] == '\n') {
                mark.line++;
                mark.column = 1;
            }
        }
        return s_error_at (path, mark, "YAML syntax error: %s (byte 0x%02x); expected printable "
                           "UTF-8 text", parser->problem? parser->problem: "unreadable input",
                           parser->problem_value & 0xFF);
    }
    const char *problem = parser->problem? parser->problem: "cannot parse";
    if (parser->context)
        return s_error_at (path, mark, "YAML syntax error: %s (%s at %d:%d)", problem,
                           parser->context, (int) parser->context_mark.line + 1,
                           (int) parser->context_mark.column + 1);
    return s_error_at (path, mark, "YAML syntax error: %s", problem);
}


//  libyaml's scanner slows down with the square of the flow nesting depth,
//  and its loader with the square of the number of anchors, so a 16 MiB
//  file of '[' would take hours. A first pass over the events, which stops
//  early, refuses such files before the real load.
static int
s_prescan (const char *path, const char *text, size_t size)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize (&parser))
        return zi_error ("%s: out of memory for the YAML parser", path);
    yaml_parser_set_input_string (&parser, (const unsigned char *) text, size);
    int depth = 0, anchors = 0, rc = 0;
    bool done = false;
    while (rc == 0 && !done) {
        yaml_event_t event;
        if (!yaml_parser_parse (&parser, &event)) {
            rc = s_syntax_error (path, &parser, text, size);
            break;
        }
        zi_topo_mark_t mark = {
            .line = (int) event.start_mark.line + 1,
            .column = (int) event.start_mark.column + 1
        };
        const yaml_char_t *anchor = NULL;
        if (event.type == YAML_SCALAR_EVENT)
            anchor = event.data.scalar.anchor;
        else
        if (event.type == YAML_SEQUENCE_START_EVENT)
            anchor = event.data.sequence_start.anchor;
        else
        if (event.type == YAML_MAPPING_START_EVENT)
            anchor = event.data.mapping_start.anchor;
        if (anchor && ++anchors > S_MAX_ANCHORS)
            rc = s_error_at (path, mark, "more than %d anchors; expected a topology, which "
                             "needs none", S_MAX_ANCHORS);
        if (event.type == YAML_SEQUENCE_START_EVENT || event.type == YAML_MAPPING_START_EVENT) {
            if (++depth > S_MAX_DEPTH)
                rc = s_error_at (path, mark, "nesting deeper than %d levels; expected a "
                                 "topology, which nests 4", S_MAX_DEPTH);
        }
        else
        if (event.type == YAML_SEQUENCE_END_EVENT || event.type == YAML_MAPPING_END_EVENT)
            depth--;
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete (&event);
    }
    yaml_parser_delete (&parser);
    return rc;
}


//  --------------------------------------------------------------------------
//  Public API

static zi_topology_t *
s_load_text (const char *text, size_t size, const char *path, bool hosts_only)
{
    assert (text || size == 0);
    if (!path)
        path = "<topology>";
    if (!text)
        text = "";
    if (s_prescan (path, text, size))
        return NULL;
    yaml_parser_t parser;
    if (!yaml_parser_initialize (&parser)) {
        zi_error ("%s: out of memory for the YAML parser", path);
        return NULL;
    }
    yaml_parser_set_input_string (&parser, (const unsigned char *) text, size);
    s_loader_t loader = {.path = path, .hosts_only = hosts_only};
    if (!yaml_parser_load (&parser, &loader.document)) {
        s_syntax_error (path, &parser, text, size);
        yaml_parser_delete (&parser);
        return NULL;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node (&loader.document);
    if (!root || s_is_null (root)) {
        zi_topo_mark_t top = {1, 1};
        rc = hosts_only?
            s_error_at (path, top, "empty hosts file; expected a mapping with hosts:"):
            s_error_at (path, top, "empty topology; expected a mapping with at least "
                        "model: and processes:");
    }
    else {
        //  A second document would be ignored without a word; refuse it
        yaml_document_t extra;
        if (!yaml_parser_load (&parser, &extra))
            rc = s_syntax_error (path, &parser, text, size);
        else {
            yaml_node_t *extra_root = yaml_document_get_root_node (&extra);
            if (extra_root)
                rc = s_error_at (path, s_mark (extra_root), "a second YAML document; "
                                 "expected one topology per file");
            yaml_document_delete (&extra);
        }
    }
    if (rc == 0) {
        loader.topo = calloc (1, sizeof (s_topology_t));
        assert (loader.topo);
        rc = s_load (&loader, root);
    }
    yaml_document_delete (&loader.document);
    yaml_parser_delete (&parser);
    zi_topology_t *self = loader.topo? &loader.topo->base: NULL;
    if (rc)
        zi_topology_destroy (&self);
    return self;
}

zi_topology_t *
zi_topology_load_text (const char *text, size_t size, const char *path)
{
    return s_load_text (text, size, path, false);
}

static zi_topology_t *
s_load_file (const char *path, bool hosts_only)
{
    assert (path);
    const char *what = hosts_only? "hosts file": "topology";
    FILE *file = fopen (path, "rb");
    if (!file) {
        zi_error ("%s: cannot open the %s: %s", path, what, strerror (errno));
        return NULL;
    }
    struct stat info;
    if (fstat (fileno (file), &info) || !S_ISREG (info.st_mode)) {
        zi_error ("%s: not a regular file; expected a YAML %s", path, what);
        fclose (file);
        return NULL;
    }
    if (info.st_size > S_MAX_FILE) {
        zi_error ("%s: %lld bytes; expected a %s of at most %d bytes", path,
                  (long long) info.st_size, what, S_MAX_FILE);
        fclose (file);
        return NULL;
    }
    size_t size = (size_t) info.st_size;
    char *text = malloc (size + 1);
    assert (text);
    size_t got = fread (text, 1, size, file);
    fclose (file);
    if (got != size) {
        zi_error ("%s: read %zu of %zu bytes", path, got, size);
        free (text);
        return NULL;
    }
    zi_topology_t *self = s_load_text (text, size, path, hosts_only);
    free (text);
    return self;
}

zi_topology_t *
zi_topology_load (const char *path)
{
    return s_load_file (path, false);
}

zi_topology_t *
zi_topology_load_hosts (const char *path)
{
    return s_load_file (path, true);
}

void
zi_topology_destroy (zi_topology_t **self_p)
{
    assert (self_p);
    zi_topology_t *self = *self_p;
    if (!self)
        return;
    for (int index = 0; index < self->n_hosts; index++) {
        free (self->hosts [index].name);
        free (self->hosts [index].address);
        free (self->hosts [index].secret_key_file);
    }
    free (self->client_keys);
    free (self->metrics_bind);
    for (int index = 0; index < self->n_processes; index++)
        free (self->processes [index].name);
    for (int index = 0; index < self->n_rules; index++) {
        zi_topo_rule_t *rule = &self->rules [index];
        for (int name = 0; name < rule->n_nodes; name++)
            free (rule->nodes [name]);
        free (rule->nodes);
        free (rule->node_marks);
        free (rule->from);
        free (rule->to);
    }
    free (self->hosts);
    free (self->processes);
    free (self->rules);
    free (self->path);
    free (self->name);
    free (self->model_path);
    free (((s_topology_t *) self)->monitor_marks);
    free (self);
    *self_p = NULL;
}

int
zi_topology_host (const zi_topology_t *self, const char *name)
{
    assert (self);
    for (int index = 0; name && index < self->n_hosts; index++)
        if (self->hosts [index].name && s_streq (self->hosts [index].name, name))
            return index;
    return -1;
}

int
zi_topology_process (const zi_topology_t *self, const char *name)
{
    assert (self);
    for (int index = 0; name && index < self->n_processes; index++)
        if (self->processes [index].name && s_streq (self->processes [index].name, name))
            return index;
    return -1;
}


//  --------------------------------------------------------------------------
//  Placement

//  Index of a node by name, through the placement's name -> index + 1 table
static int
s_find_node (zhashx_t *lookup, const char *name)
{
    void *item = zhashx_lookup (lookup, name);
    return item? (int) (intptr_t) item - 1: -1;
}

//  Length of the longest common substring, ignoring case; only the first
//  64 characters of each count, which is plenty to rank suggestions and
//  keeps an error path over thousands of nodes quick
static int
s_common (const char *a, const char *b)
{
    enum { LIMIT = 64 };
    int a_size = (int) strnlen (a, LIMIT), b_size = (int) strnlen (b, LIMIT);
    int previous [LIMIT + 1] = {0}, current [LIMIT + 1] = {0};
    int best = 0;
    for (int i = 1; i <= a_size; i++) {
        for (int j = 1; j <= b_size; j++) {
            bool same = tolower ((unsigned char) a [i - 1]) == tolower ((unsigned char) b [j - 1]);
            current [j] = same? previous [j - 1] + 1: 0;
            if (current [j] > best)
                best = current [j];
        }
        memcpy (previous, current, sizeof previous);
    }
    return best;
}

static int
s_unknown_node (const zi_topology_t *self, zi_topo_mark_t mark, const char *name,
                int n_nodes, const char *const *names)
{
    //  Suggest the names sharing the longest run of characters with the
    //  one written, in graph order among equals
    int best [S_HINTS] = {0}, scores [S_HINTS] = {0}, found = 0;
    int wanted = (int) strnlen (name, 64);
    int threshold = wanted < 6? (wanted + 1) / 2: 3;
    for (int index = 0; index < n_nodes; index++) {
        int score = s_common (name, names [index]);
        if (score < threshold)
            continue;
        int slot = found < S_HINTS? found++: S_HINTS;
        while (slot > 0 && scores [slot - 1] < score) {
            if (slot < S_HINTS) {
                best [slot] = best [slot - 1];
                scores [slot] = scores [slot - 1];
            }
            slot--;
        }
        if (slot < S_HINTS) {
            best [slot] = index;
            scores [slot] = score;
        }
    }
    char hint [1200] = "";
    size_t used = 0;
    for (int slot = 0; slot < found; slot++)
        used += snprintf (hint + used, sizeof hint - used, "%s'%s'", slot? ", ": "",
                          s_show (names [best [slot]]));
    return s_error_at (self->path, mark, "unknown node '%s'; expected a node of the planned "
                       "graph%s%s (nodes folded or fused away in planning are gone; see "
                       "`zinfer info%s %s`)", s_show (name), found? ", similar: ": "", hint,
                       self->fuse? " --fuse": "", s_show (self->model_path));
}

//  Gives node index to the rule, unless an earlier rule has it
static int
s_claim (const zi_topology_t *self, int *owner, int rule_index, int index,
         const char *const *names, zi_topo_mark_t mark)
{
    if (owner [index] == rule_index)
        return s_error_at (self->path, mark, "node '%s' is named twice in this rule; "
                           "expected each node once", s_show (names [index]));
    if (owner [index] >= 0) {
        zi_topo_mark_t first = self->rules [owner [index]].mark;
        return s_error_at (self->path, mark, "node '%s' is already placed by the rule at "
                           "%d:%d; expected each node in one rule", s_show (names [index]),
                           first.line, first.column);
    }
    owner [index] = rule_index;
    return 0;
}

static int
s_apply_rule (const zi_topology_t *self, int rule_index, int *owner, zhashx_t *lookup,
              int n_nodes, const char *const *names)
{
    const zi_topo_rule_t *rule = &self->rules [rule_index];
    for (int name = 0; name < rule->n_nodes; name++) {
        int index = s_find_node (lookup, rule->nodes [name]);
        if (index < 0)
            return s_unknown_node (self, rule->node_marks [name], rule->nodes [name],
                                   n_nodes, names);
        if (s_claim (self, owner, rule_index, index, names, rule->node_marks [name]))
            return -1;
    }
    if (rule->n_nodes)
        return 0;
    int first = rule->from? s_find_node (lookup, rule->from): 0;
    if (first < 0)
        return s_unknown_node (self, rule->from_mark, rule->from, n_nodes, names);
    int last = rule->to? s_find_node (lookup, rule->to): n_nodes - 1;
    if (last < 0)
        return s_unknown_node (self, rule->to_mark, rule->to, n_nodes, names);
    if (first > last)
        return s_error_at (self->path, rule->to_mark, "backwards range: to: '%s' is node %d "
                           "in topological order, before from: '%s' (node %d); expected "
                           "to: at or after from:", s_show (names [last]), last,
                           s_show (names [first]), first);
    for (int index = first; index <= last; index++)
        if (s_claim (self, owner, rule_index, index, names, rule->mark))
            return -1;
    return 0;
}

int
zi_topology_place (const zi_topology_t *self, int n_nodes, const char *const *names,
                   int *process, int *replicas)
{
    assert (self);
    assert (n_nodes >= 0);
    assert (n_nodes == 0 || (names && process && replicas));
    const s_topology_t *priv = (const s_topology_t *) self;
    int *owner = malloc ((n_nodes? n_nodes: 1) * sizeof (int));
    zhashx_t *lookup = zhashx_new ();
    assert (owner && lookup);
    for (int index = 0; index < n_nodes; index++) {
        owner [index] = -1;
        //  Planned names are unique; should one repeat, the first counts
        zhashx_insert (lookup, names [index], (void *) (intptr_t) (index + 1));
    }
    int rc = 0;
    for (int rule = 0; rule < self->n_rules && rc == 0; rule++)
        rc = s_apply_rule (self, rule, owner, lookup, n_nodes, names);
    zhashx_destroy (&lookup);
    if (rc) {
        free (owner);
        return -1;
    }

    //  Nodes no rule names go to default:, or to the only process when
    //  the file has no rules at all; otherwise forgetting a node is an error
    int fallback = self->default_process;
    if (fallback < 0 && self->n_rules == 0 && self->n_processes == 1)
        fallback = 0;
    int unplaced = 0, first_unplaced = -1;
    for (int index = 0; index < n_nodes; index++) {
        if (owner [index] >= 0) {
            process [index] = self->rules [owner [index]].process;
            replicas [index] = self->rules [owner [index]].replicas;
        }
        else {
            process [index] = fallback;
            replicas [index] = 1;
            if (unplaced++ == 0)
                first_unplaced = index;
        }
    }
    free (owner);
    if (unplaced && fallback < 0)
        return s_error_at (self->path, priv->placement_mark, "%d of %d nodes are not placed "
                           "by any rule, the first is '%s'; expected a rule for each node or "
                           "default: PROCESS", unplaced, n_nodes,
                           s_show (names [first_unplaced]));

    //  A worker costs memory whether it runs actors or not, so a process
    //  that runs nothing is a mistake, not a spare. The gateway's process
    //  has the gateway to run.
    int gateway = self->gateway_process >= 0? self->gateway_process: 0;
    for (int index = 0; index < self->n_processes; index++) {
        if (index == gateway)
            continue;
        bool placed = false;
        for (int node = 0; node < n_nodes && !placed; node++)
            placed = process [node] == index;
        if (!placed)
            return s_error_at (self->path, self->processes [index].mark, "process '%s' runs "
                               "no node; expected every process but the gateway's to run at "
                               "least one (an idle worker still costs memory): place nodes "
                               "on it or remove it", self->processes [index].name);
    }
    return 0;
}
