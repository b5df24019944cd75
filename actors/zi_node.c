/*  =========================================================================
    zi_node - one graph node: op type, input and output slots, attributes

    Attributes are kept as the model gave them; each op's init reads what
    it needs through the typed accessors below, with ONNX's defaults as
    fallbacks.
    =========================================================================
*/

#include "zi_classes.h"

const zi_attr_t *
zi_node_attr (const zi_node_t *self, const char *name)
{
    for (int index = 0; index < self->n_attrs; index++)
        if (strcmp (self->attrs [index].name, name) == 0)
            return &self->attrs [index];
    return NULL;
}

//  Notes an attribute present with another type than the op reads
static void
s_wrong_type (const zi_node_t *self, const zi_attr_t *attr, const char *wanted)
{
    zi_node_t *node = (zi_node_t *) self;
    if (!node->bad_attr) {
        node->bad_attr = attr->name;
        node->bad_attr_wanted = wanted;
    }
}

int64_t
zi_node_attr_int (const zi_node_t *self, const char *name, int64_t fallback)
{
    const zi_attr_t *attr = zi_node_attr (self, name);
    if (attr && attr->type == ZI_ATTR_INT)
        return attr->i;
    if (attr)
        s_wrong_type (self, attr, "an int");
    return fallback;
}

float
zi_node_attr_float (const zi_node_t *self, const char *name, float fallback)
{
    const zi_attr_t *attr = zi_node_attr (self, name);
    if (attr && attr->type == ZI_ATTR_FLOAT)
        return attr->f;
    if (attr && attr->type == ZI_ATTR_INT)
        return (float) attr->i;
    if (attr)
        s_wrong_type (self, attr, "a float");
    return fallback;
}

const char *
zi_node_attr_string (const zi_node_t *self, const char *name, const char *fallback)
{
    const zi_attr_t *attr = zi_node_attr (self, name);
    if (attr && attr->type == ZI_ATTR_STRING)
        return attr->s;
    if (attr)
        s_wrong_type (self, attr, "a string");
    return fallback;
}

const struct zi_graph_t *
zi_node_attr_graph (const zi_node_t *self, const char *name)
{
    const zi_attr_t *attr = zi_node_attr (self, name);
    if (attr && attr->type == ZI_ATTR_GRAPH)
        return attr->g;
    if (attr)
        s_wrong_type (self, attr, "a graph");
    return NULL;
}

int
zi_node_attr_ints (const zi_node_t *self, const char *name, int64_t *values, int max)
{
    const zi_attr_t *attr = zi_node_attr (self, name);
    if (!attr)
        return 0;
    if (attr->type == ZI_ATTR_INT) {
        if (max < 1)
            return zi_error ("attribute '%s': expected at most %d values, got 1", name, max);
        values [0] = attr->i;
        return 1;
    }
    if (attr->type != ZI_ATTR_INTS)
        return zi_error ("attribute '%s': expected a list of ints, got type %d",
                         name, attr->type);
    if (attr->n > max)
        return zi_error ("attribute '%s': expected at most %d values, got %d",
                         name, max, attr->n);
    for (int index = 0; index < attr->n; index++)
        values [index] = attr->ints [index];
    return attr->n;
}

int
zi_node_attr_floats (const zi_node_t *self, const char *name, float *values, int max)
{
    const zi_attr_t *attr = zi_node_attr (self, name);
    if (!attr)
        return 0;
    if (attr->type != ZI_ATTR_FLOATS)
        return zi_error ("attribute '%s': expected a list of floats, got type %d",
                         name, attr->type);
    if (attr->n > max)
        return zi_error ("attribute '%s': expected at most %d values, got %d",
                         name, max, attr->n);
    memcpy (values, attr->floats, attr->n * sizeof (float));
    return attr->n;
}

int
zi_node_attr_strings (const zi_node_t *self, const char *name, const char **values, int max)
{
    const zi_attr_t *attr = zi_node_attr (self, name);
    if (!attr)
        return 0;
    if (attr->type == ZI_ATTR_STRING) {
        if (max < 1)
            return zi_error ("attribute '%s': expected at most %d values, got 1", name, max);
        values [0] = attr->s;
        return 1;
    }
    if (attr->type != ZI_ATTR_STRINGS)
        return zi_error ("attribute '%s': expected a list of strings, got type %d",
                         name, attr->type);
    if (attr->n > max)
        return zi_error ("attribute '%s': expected at most %d values, got %d",
                         name, max, attr->n);
    for (int index = 0; index < attr->n; index++)
        values [index] = attr->strings [index];
    return attr->n;
}

zi_node_t *
zi_node_new (const char *op_type, const char *name)
{
    zi_node_t *self = calloc (1, sizeof (zi_node_t));
    assert (self);
    self->op_type = strdup (op_type);
    self->name = strdup (name? name: op_type);
    self->op = zi_op_lookup (op_type);
    self->opset = 17;
    return self;
}

static void
s_attr_clear (zi_attr_t *attr)
{
    free (attr->name);
    free (attr->s);
    free (attr->floats);
    free (attr->ints);
    for (int index = 0; attr->strings && index < attr->n; index++)
        free (attr->strings [index]);
    free (attr->strings);
    zi_tensor_destroy (&attr->t);
    if (attr->g)
        attr->g_release (&attr->g);
    memset (attr, 0, sizeof *attr);
}

void
zi_node_clear (zi_node_t *self)
{
    if (self->params) {
        if (self->op && self->op->destroy)
            self->op->destroy (self);
        else
            free (self->params);
        self->params = NULL;
    }
    for (int index = 0; index < self->n_attrs; index++)
        s_attr_clear (&self->attrs [index]);
    free (self->attrs);
    free (self->inputs);
    free (self->outputs);
    free (self->name);
    free (self->op_type);
    memset (self, 0, sizeof *self);
}

void
zi_node_destroy (zi_node_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zi_node_clear (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Returns a fresh attribute slot for name, replacing an existing one
static zi_attr_t *
s_attr_slot (zi_node_t *self, const char *name, zi_attr_type_t type)
{
    zi_attr_t *attr = (zi_attr_t *) zi_node_attr (self, name);
    if (attr)
        s_attr_clear (attr);
    else {
        self->attrs = realloc (self->attrs, (self->n_attrs + 1) * sizeof (zi_attr_t));
        assert (self->attrs);
        attr = &self->attrs [self->n_attrs++];
        memset (attr, 0, sizeof *attr);
    }
    attr->name = strdup (name);
    attr->type = type;
    return attr;
}

void
zi_node_set_int (zi_node_t *self, const char *name, int64_t value)
{
    s_attr_slot (self, name, ZI_ATTR_INT)->i = value;
}

void
zi_node_set_float (zi_node_t *self, const char *name, float value)
{
    s_attr_slot (self, name, ZI_ATTR_FLOAT)->f = value;
}

void
zi_node_set_string (zi_node_t *self, const char *name, const char *value)
{
    s_attr_slot (self, name, ZI_ATTR_STRING)->s = strdup (value);
}

void
zi_node_set_ints (zi_node_t *self, const char *name, int n, const int64_t *values)
{
    zi_attr_t *attr = s_attr_slot (self, name, ZI_ATTR_INTS);
    attr->n = n;
    attr->ints = malloc ((n? n: 1) * sizeof (int64_t));
    assert (attr->ints);
    memcpy (attr->ints, values, n * sizeof (int64_t));
}

void
zi_node_set_floats (zi_node_t *self, const char *name, int n, const float *values)
{
    zi_attr_t *attr = s_attr_slot (self, name, ZI_ATTR_FLOATS);
    attr->n = n;
    attr->floats = malloc ((n? n: 1) * sizeof (float));
    assert (attr->floats);
    memcpy (attr->floats, values, n * sizeof (float));
}

void
zi_node_set_strings (zi_node_t *self, const char *name, int n, const char *const *values)
{
    zi_attr_t *attr = s_attr_slot (self, name, ZI_ATTR_STRINGS);
    attr->n = n;
    attr->strings = calloc (n + 1, sizeof (char *));
    assert (attr->strings);
    for (int index = 0; index < n; index++) {
        attr->strings [index] = strdup (values [index]);
        assert (attr->strings [index]);
    }
}

void
zi_attr_copy (zi_attr_t *into, const zi_attr_t *attr)
{
    *into = *attr;
    into->name = strdup (attr->name);
    into->s = attr->s? strdup (attr->s): NULL;
    into->t = attr->t? zi_tensor_ref (attr->t): NULL;
    if (attr->g)                //  a subgraph is shared, not copied
        atomic_fetch_add (&attr->g->refs, 1);
    into->ints = attr->ints? malloc ((attr->n + 1) * sizeof (int64_t)): NULL;
    into->floats = attr->floats? malloc ((attr->n + 1) * sizeof (float)): NULL;
    into->strings = attr->strings? calloc (attr->n + 1, sizeof (char *)): NULL;
    if (attr->ints)
        memcpy (into->ints, attr->ints, attr->n * sizeof (int64_t));
    if (attr->floats)
        memcpy (into->floats, attr->floats, attr->n * sizeof (float));
    for (int index = 0; attr->strings && index < attr->n; index++) {
        into->strings [index] = strdup (attr->strings [index]);
        assert (into->strings [index]);
    }
}

void
zi_node_set_graph (zi_node_t *self, const char *name, struct zi_graph_t **graph_p,
                   void (*release) (struct zi_graph_t **g_p))
{
    assert (graph_p && *graph_p && release);
    zi_attr_t *attr = s_attr_slot (self, name, ZI_ATTR_GRAPH);
    attr->g = *graph_p;
    attr->g_release = release;
    *graph_p = NULL;
}

void
zi_node_set_tensor (zi_node_t *self, const char *name, zi_tensor_t *value)
{
    s_attr_slot (self, name, ZI_ATTR_TENSOR)->t = zi_tensor_ref (value);
}

void
zi_node_test (zi_test_t *t)
{
    zi_node_t *node = zi_node_new ("Conv", "conv1");
    ZI_CHECK (t, node->op != NULL, "Conv is a known op");
    zi_node_set_int (node, "group", 2);
    zi_node_set_ints (node, "pads", 4, (int64_t []) {1, 1, 2, 2});
    zi_node_set_float (node, "alpha", 0.5f);
    zi_node_set_string (node, "auto_pad", "SAME_UPPER");
    zi_node_set_int (node, "group", 3);     //  replaces
    ZI_CHECK (t, node->n_attrs == 4, "four attributes, got %d", node->n_attrs);
    ZI_CHECK (t, zi_node_attr_int (node, "group", 1) == 3, "int attribute");
    ZI_CHECK (t, zi_node_attr_int (node, "missing", 7) == 7, "fallback");
    ZI_CHECK (t, zi_node_attr_float (node, "alpha", 0) == 0.5f, "float attribute");
    ZI_CHECK (t, strcmp (zi_node_attr_string (node, "auto_pad", ""), "SAME_UPPER") == 0, "string");
    int64_t pads [4];
    ZI_CHECK (t, zi_node_attr_ints (node, "pads", pads, 4) == 4 && pads [2] == 2, "ints");
    ZI_CHECK (t, zi_node_attr_ints (node, "pads", pads, 2) == -1, "too many ints is an error");
    zi_node_set_strings (node, "activations", 2, (const char *[]) {"Sigmoid", "Tanh"});
    const char *names [2];
    ZI_CHECK (t, zi_node_attr_strings (node, "activations", names, 2) == 2
              && strcmp (names [1], "Tanh") == 0, "strings");
    zi_attr_t copy;
    zi_attr_copy (&copy, zi_node_attr (node, "activations"));
    zi_node_set_strings (node, "activations", 1, (const char *[]) {"Relu"});
    ZI_CHECK (t, copy.n == 2 && strcmp (copy.strings [0], "Sigmoid") == 0
              && strcmp (zi_node_attr (node, "activations")->strings [0], "Relu") == 0,
              "a copied list of strings is its own");
    zi_node_set_strings (node, "copy", copy.n, (const char *const *) copy.strings);
    for (int index = 0; index < copy.n; index++)
        free (copy.strings [index]);
    free (copy.strings);
    free (copy.name);
    ZI_CHECK (t, zi_node_attr_strings (node, "copy", names, 1) == -1,
              "too many strings is an error");
    zi_node_destroy (&node);
    zi_node_destroy (&node);
    ZI_CHECK (t, node == NULL, "destroy twice is safe");
}
