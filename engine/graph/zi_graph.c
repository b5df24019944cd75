/*  =========================================================================
    zi_graph - values and nodes of a model, topological order, pruning

    Nodes refer to values by index; a value knows its producer. Graph
    passes mark a node dead by clearing its op_type and call zi_graph_prune
    to compact, so indexes stay valid while a pass runs.
    =========================================================================
*/

#include "zi_classes.h"
#include <czmq.h>

zi_graph_t *
zi_graph_new (const char *name)
{
    zi_graph_t *self = calloc (1, sizeof (zi_graph_t));
    assert (self);
    self->name = strdup (name? name: "graph");
    self->lookup = zhashx_new ();
    self->opset = 17;
    atomic_init (&self->refs, 1);
    self->folded = zi_folded_new ();
    return self;
}

void
zi_graph_destroy (zi_graph_t **self_p)
{
    assert (self_p);
    zi_graph_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    //  Subgraphs are shared by the copies of the node that holds them
    if (atomic_fetch_sub (&self->refs, 1) > 1)
        return;
    for (int index = 0; index < self->n_nodes; index++)
        zi_node_clear (&self->nodes [index]);
    for (int index = 0; index < self->n_values; index++) {
        free (self->values [index].name);
        zi_tensor_destroy (&self->values [index].constant);
    }
    zi_folded_destroy (&self->folded);
    free (self->nodes);
    free (self->values);
    free (self->inputs);
    free (self->outputs);
    free (self->name);
    zhashx_t *lookup = self->lookup;
    zhashx_destroy (&lookup);
    free (self);
}

int
zi_graph_find (const zi_graph_t *self, const char *name)
{
    void *item = zhashx_lookup ((zhashx_t *) self->lookup, name);
    return item? (int) (intptr_t) item - 1: -1;
}

static int
s_add_value (zi_graph_t *self, const char *name)
{
    if (self->n_values == self->max_values) {
        self->max_values = self->max_values? self->max_values * 2: 64;
        self->values = realloc (self->values, self->max_values * sizeof (zi_value_t));
        assert (self->values);
    }
    int index = self->n_values++;
    zi_value_t *value = &self->values [index];
    memset (value, 0, sizeof *value);
    value->name = strdup (name);
    value->producer = -1;
    zhashx_insert (self->lookup, name, (void *) (intptr_t) (index + 1));
    return index;
}

int
zi_graph_value (zi_graph_t *self, const char *name)
{
    int index = zi_graph_find (self, name);
    return index >= 0? index: s_add_value (self, name);
}

int
zi_graph_new_value (zi_graph_t *self, const char *base)
{
    char name [256];
    snprintf (name, sizeof name, "%s", base);
    for (int suffix = 1; zi_graph_find (self, name) >= 0; suffix++)
        snprintf (name, sizeof name, "%.200s_%d", base, suffix);
    return s_add_value (self, name);
}

int
zi_graph_add_node (zi_graph_t *self, zi_node_t *node)
{
    if (self->n_nodes == self->max_nodes) {
        self->max_nodes = self->max_nodes? self->max_nodes * 2: 64;
        self->nodes = realloc (self->nodes, self->max_nodes * sizeof (zi_node_t));
        assert (self->nodes);
    }
    self->nodes [self->n_nodes] = *node;
    memset (node, 0, sizeof *node);
    return self->n_nodes++;
}

void
zi_graph_copy_node (zi_node_t *copy, const zi_node_t *node)
{
    *copy = *node;
    copy->bad_attr = NULL;
    copy->name = strdup (node->name);
    copy->op_type = strdup (node->op_type);
    copy->params = NULL;
    copy->inputs = malloc ((node->n_inputs + 1) * sizeof (int));
    copy->outputs = malloc ((node->n_outputs + 1) * sizeof (int));
    assert (copy->inputs && copy->outputs);
    memcpy (copy->inputs, node->inputs, node->n_inputs * sizeof (int));
    memcpy (copy->outputs, node->outputs, node->n_outputs * sizeof (int));
    copy->attrs = calloc (node->n_attrs + 1, sizeof (zi_attr_t));
    assert (copy->attrs);
    for (int index = 0; index < node->n_attrs; index++)
        zi_attr_copy (&copy->attrs [index], &node->attrs [index]);
}

zi_graph_t *
zi_graph_dup (const zi_graph_t *self)
{
    zi_graph_t *copy = zi_graph_new (self->name);
    copy->opset = self->opset;
    //  Plans of the model fold its constants once between them
    zi_folded_destroy (&copy->folded);
    copy->folded = zi_folded_ref (self->folded);
    for (int index = 0; index < self->n_values; index++) {
        const zi_value_t *value = &self->values [index];
        int into = s_add_value (copy, value->name);
        copy->values [into].info = value->info;
        copy->values [into].known = value->known;
        copy->values [into].producer = value->producer;
        copy->values [into].constant = value->constant? zi_tensor_ref (value->constant): NULL;
    }
    copy->nodes = calloc (self->n_nodes + 1, sizeof (zi_node_t));
    assert (copy->nodes);
    copy->max_nodes = self->n_nodes + 1;
    copy->n_nodes = self->n_nodes;
    for (int index = 0; index < self->n_nodes; index++)
        zi_graph_copy_node (&copy->nodes [index], &self->nodes [index]);
    copy->n_inputs = self->n_inputs;
    copy->inputs = malloc ((self->n_inputs + 1) * sizeof (int));
    memcpy (copy->inputs, self->inputs, self->n_inputs * sizeof (int));
    copy->n_outputs = self->n_outputs;
    copy->outputs = malloc ((self->n_outputs + 1) * sizeof (int));
    memcpy (copy->outputs, self->outputs, self->n_outputs * sizeof (int));
    copy->n_outer = self->n_outer;
    return copy;
}

bool
zi_graph_is_output (const zi_graph_t *self, int value)
{
    for (int index = 0; index < self->n_outputs; index++)
        if (self->outputs [index] == value)
            return true;
    return false;
}

int
zi_graph_uses (const zi_graph_t *self, int value)
{
    int uses = zi_graph_is_output (self, value)? 1: 0;
    for (int index = 0; index < self->n_nodes; index++) {
        const zi_node_t *node = &self->nodes [index];
        if (!node->op_type)
            continue;
        for (int slot = 0; slot < node->n_inputs; slot++)
            if (node->inputs [slot] == value)
                uses++;
    }
    return uses;
}

int
zi_graph_sole_consumer (const zi_graph_t *self, int value)
{
    if (zi_graph_is_output (self, value))
        return -1;
    int consumer = -1, uses = 0;
    for (int index = 0; index < self->n_nodes; index++) {
        const zi_node_t *node = &self->nodes [index];
        if (!node->op_type)
            continue;
        for (int slot = 0; slot < node->n_inputs; slot++)
            if (node->inputs [slot] == value) {
                consumer = index;
                uses++;
            }
    }
    return uses == 1? consumer: -1;
}

//  A min-heap of node indexes, for the sort
typedef struct {
    int *items;                 //  heap-ordered indexes
    int count;                  //  in use
} s_heap_t;

static s_heap_t
s_heap_new (int capacity)
{
    s_heap_t heap = {malloc ((capacity + 1) * sizeof (int)), 0};
    assert (heap.items);
    return heap;
}

static void
s_heap_destroy (s_heap_t *heap)
{
    free (heap->items);
    heap->items = NULL;
}

static void
s_heap_push (s_heap_t *heap, int item)
{
    int at = heap->count++;
    while (at > 0 && heap->items [(at - 1) / 2] > item) {
        heap->items [at] = heap->items [(at - 1) / 2];
        at = (at - 1) / 2;
    }
    heap->items [at] = item;
}

static int
s_heap_pop (s_heap_t *heap)
{
    int top = heap->items [0];
    int last = heap->items [--heap->count];
    int at = 0;
    while (2 * at + 1 < heap->count) {
        int child = 2 * at + 1;
        if (child + 1 < heap->count && heap->items [child + 1] < heap->items [child])
            child++;
        if (heap->items [child] >= last)
            break;
        heap->items [at] = heap->items [child];
        at = child;
    }
    heap->items [at] = last;
    return top;
}

//  Kahn's algorithm. Ready values are graph inputs, constants and outputs
//  of nodes already placed; the order among ready nodes follows the
//  file's order so that `from:` / `to:` ranges in topologies read naturally.
int
zi_graph_sort (zi_graph_t *self)
{
    int n_nodes = self->n_nodes;
    for (int index = 0; index < self->n_values; index++)
        self->values [index].producer = -1;
    for (int index = 0; index < n_nodes; index++) {
        zi_node_t *node = &self->nodes [index];
        for (int slot = 0; slot < node->n_outputs; slot++) {
            int value = node->outputs [slot];
            if (value < 0)
                continue;
            if (self->values [value].producer >= 0)
                return zi_error ("value '%s' is produced twice, by nodes '%s' and '%s'",
                                 self->values [value].name,
                                 self->nodes [self->values [value].producer].name, node->name);
            if (self->values [value].constant)
                return zi_error ("node '%s' writes '%s', which is an initializer",
                                 node->name, self->values [value].name);
            self->values [value].producer = index;
        }
    }
    //  Every input must come from somewhere
    for (int index = 0; index < n_nodes; index++) {
        zi_node_t *node = &self->nodes [index];
        for (int slot = 0; slot < node->n_inputs; slot++) {
            int value = node->inputs [slot];
            if (value < 0 || self->values [value].producer >= 0 || self->values [value].constant)
                continue;
            bool is_input = false;
            for (int input = 0; input < self->n_inputs; input++)
                if (self->inputs [input] == value)
                    is_input = true;
            if (!is_input)
                return zi_error ("node '%s' (%s) input %d '%s' is not produced by any node, "
                                 "nor a graph input or initializer",
                                 node->name, node->op_type, slot, self->values [value].name);
        }
    }
    for (int index = 0; index < self->n_outputs; index++) {
        int value = self->outputs [index];
        bool is_input = false;
        for (int input = 0; input < self->n_inputs; input++)
            if (self->inputs [input] == value)
                is_input = true;
        if (self->values [value].producer < 0 && !self->values [value].constant && !is_input)
            return zi_error ("graph output '%s' is not produced by any node",
                             self->values [value].name);
    }

    //  Who reads each value, one entry per input slot: readers_of [value]
    //  is at readers [first_reader [value]] up to first_reader [value + 1]
    int n_values = self->n_values;
    int *first_reader = calloc (n_values + 2, sizeof (int));
    int *pending = calloc (n_nodes + 1, sizeof (int));     //  unmet inputs per node
    int *order = calloc (n_nodes + 1, sizeof (int));
    bool *placed = calloc (n_nodes + 1, sizeof (bool));
    assert (first_reader && pending && order && placed);
    int n_reads = 0;
    for (int index = 0; index < n_nodes; index++) {
        zi_node_t *node = &self->nodes [index];
        for (int slot = 0; slot < node->n_inputs; slot++) {
            int value = node->inputs [slot];
            if (value >= 0 && self->values [value].producer >= 0) {
                pending [index]++;
                first_reader [value + 1]++;
                n_reads++;
            }
        }
    }
    for (int value = 0; value < n_values; value++)
        first_reader [value + 1] += first_reader [value];
    int *readers = malloc ((n_reads + 1) * sizeof (int));
    int *filled = calloc (n_values + 1, sizeof (int));
    assert (readers && filled);
    for (int index = 0; index < n_nodes; index++) {
        zi_node_t *node = &self->nodes [index];
        for (int slot = 0; slot < node->n_inputs; slot++) {
            int value = node->inputs [slot];
            if (value >= 0 && self->values [value].producer >= 0)
                readers [first_reader [value] + filled [value]++] = index;
        }
    }
    free (filled);

    //  The order is that of repeated sweeps through the file: each sweep
    //  places, in file order, every node whose inputs are ready when the
    //  sweep reaches it. So a node made ready ahead of the sweep joins this
    //  sweep, one made ready behind it waits for the next. Two heaps of
    //  node indexes give the same order without sweeping: near linear
    //  where sweeps (and scanning every node for readers) were quadratic
    //  on long chains.
    s_heap_t this_sweep = s_heap_new (n_nodes), next_sweep = s_heap_new (n_nodes);
    for (int index = 0; index < n_nodes; index++)
        if (pending [index] == 0)
            s_heap_push (&this_sweep, index);
    int n_placed = 0;
    while (this_sweep.count > 0) {
        int index = s_heap_pop (&this_sweep);
        placed [index] = true;
        order [n_placed++] = index;
        zi_node_t *node = &self->nodes [index];
        for (int slot = 0; slot < node->n_outputs; slot++) {
            int value = node->outputs [slot];
            if (value < 0)
                continue;
            for (int read = first_reader [value]; read < first_reader [value + 1]; read++) {
                int reader = readers [read];
                if (--pending [reader] == 0)
                    s_heap_push (reader > index? &this_sweep: &next_sweep, reader);
            }
        }
        if (this_sweep.count == 0) {
            s_heap_t swap = this_sweep;
            this_sweep = next_sweep;
            next_sweep = swap;
        }
    }
    s_heap_destroy (&this_sweep);
    s_heap_destroy (&next_sweep);
    free (readers);
    free (first_reader);
    int rc = 0;
    if (n_placed < n_nodes) {
        for (int index = 0; index < n_nodes; index++)
            if (!placed [index]) {
                rc = zi_error ("the graph has a cycle through node '%s' (%s)",
                               self->nodes [index].name, self->nodes [index].op_type);
                break;
            }
    }
    else {
        zi_node_t *sorted = malloc ((n_nodes + 1) * sizeof (zi_node_t));
        assert (sorted);
        for (int index = 0; index < n_nodes; index++)
            sorted [index] = self->nodes [order [index]];
        if (n_nodes)
            memcpy (self->nodes, sorted, n_nodes * sizeof (zi_node_t));
        free (sorted);
        for (int index = 0; index < n_nodes; index++)
            for (int slot = 0; slot < self->nodes [index].n_outputs; slot++)
                if (self->nodes [index].outputs [slot] >= 0)
                    self->values [self->nodes [index].outputs [slot]].producer = index;
    }
    free (pending);
    free (order);
    free (placed);
    return rc;
}

void
zi_graph_prune (zi_graph_t *self)
{
    //  Walk backwards: a node is needed if a graph output or a needed
    //  node reads one of its outputs. Nodes are in topological order.
    bool *needed_value = calloc (self->n_values + 1, sizeof (bool));
    assert (needed_value);
    for (int index = 0; index < self->n_outputs; index++)
        needed_value [self->outputs [index]] = true;
    int kept = 0;
    bool *keep = calloc (self->n_nodes + 1, sizeof (bool));
    assert (keep);
    for (int index = self->n_nodes - 1; index >= 0; index--) {
        zi_node_t *node = &self->nodes [index];
        if (!node->op_type)
            continue;
        bool needed = false;
        for (int slot = 0; slot < node->n_outputs; slot++)
            if (node->outputs [slot] >= 0 && needed_value [node->outputs [slot]]
            && !self->values [node->outputs [slot]].constant)
                needed = true;
        if (!needed)
            continue;
        keep [index] = true;
        for (int slot = 0; slot < node->n_inputs; slot++)
            if (node->inputs [slot] >= 0)
                needed_value [node->inputs [slot]] = true;
    }
    for (int index = 0; index < self->n_nodes; index++) {
        if (keep [index])
            self->nodes [kept++] = self->nodes [index];
        else
            zi_node_clear (&self->nodes [index]);
    }
    self->n_nodes = kept;
    for (int index = 0; index < self->n_values; index++)
        self->values [index].producer = -1;
    for (int index = 0; index < kept; index++)
        for (int slot = 0; slot < self->nodes [index].n_outputs; slot++)
            if (self->nodes [index].outputs [slot] >= 0)
                self->values [self->nodes [index].outputs [slot]].producer = index;
    free (keep);
    free (needed_value);
}

static const char *
s_attr_type_name (int type)
{
    switch (type) {
        case ZI_ATTR_FLOAT:  return "a float";
        case ZI_ATTR_INT:    return "an int";
        case ZI_ATTR_STRING: return "a string";
        case ZI_ATTR_TENSOR: return "a tensor";
        case ZI_ATTR_GRAPH:  return "a graph";
        case ZI_ATTR_FLOATS: return "a list of floats";
        case ZI_ATTR_INTS:   return "a list of ints";
        case ZI_ATTR_STRINGS: return "a list of strings";
        default:             return "another type";
    }
}

int
zi_graph_init_ops (zi_graph_t *self)
{
    for (int index = 0; index < self->n_nodes; index++) {
        zi_node_t *node = &self->nodes [index];
        node->opset = self->opset;
        node->op = zi_op_lookup (node->op_type);
        if (!node->op)
            return zi_error ("node '%s': op '%s' is not supported (supported: %s)",
                             node->name, node->op_type, zi_op_names ());
        const zi_op_t *op = node->op;
        if (node->n_inputs > ZI_MAX_NODE_INPUTS)
            return zi_error ("node '%s' (%s): %d inputs, at most %d supported",
                             node->name, node->op_type, node->n_inputs, ZI_MAX_NODE_INPUTS);
        if (node->n_outputs > ZI_MAX_NODE_OUTPUTS)
            return zi_error ("node '%s' (%s): %d outputs, at most %d supported",
                             node->name, node->op_type, node->n_outputs, ZI_MAX_NODE_OUTPUTS);
        //  Trailing omitted inputs do not count against the arity
        int n_inputs = node->n_inputs;
        while (n_inputs > 0 && node->inputs [n_inputs - 1] < 0)
            n_inputs--;
        if (n_inputs < op->min_inputs || n_inputs > op->max_inputs)
            return zi_error ("node '%s' (%s): expected %d to %d inputs, got %d",
                             node->name, node->op_type, op->min_inputs, op->max_inputs, n_inputs);
        if (node->n_outputs < 1 || node->n_outputs > op->max_outputs)
            return zi_error ("node '%s' (%s): expected 1 to %d outputs, got %d",
                             node->name, node->op_type, op->max_outputs, node->n_outputs);
        //  Required inputs and the first output must be named: kernels and
        //  everything downstream rely on them
        for (int slot = 0; slot < op->min_inputs; slot++)
            if (node->inputs [slot] < 0)
                return zi_error ("node '%s' (%s): input %d is required, but the node leaves "
                                 "it out", node->name, node->op_type, slot);
        if (node->outputs [0] < 0)
            return zi_error ("node '%s' (%s): its first output has no name", node->name,
                             node->op_type);
        if (!node->params && op->init && op->init (node) != 0) {
            zi_error_prefix ("node '%s' (%s)", node->name, node->op_type);
            return -1;
        }
        if (node->bad_attr) {
            const zi_attr_t *attr = zi_node_attr (node, node->bad_attr);
            return zi_error ("node '%s' (%s): attribute '%s': expected %s, got %s",
                             node->name, node->op_type, node->bad_attr, node->bad_attr_wanted,
                             attr? s_attr_type_name (attr->type): "nothing");
        }
    }
    return 0;
}

//  Multiply-accumulates of one node, from its planned shapes: the op's
//  count (zi_op_t.macs), or 0 for ops whose cost is memory traffic
int64_t
zi_graph_node_macs (const zi_graph_t *graph, const zi_node_t *node)
{
    if (!node->op || !node->op->macs)
        return 0;
    const zi_tensor_t **in = calloc (node->n_inputs + 1, sizeof (zi_tensor_t *));
    const zi_tensor_t **out = calloc (node->n_outputs + 1, sizeof (zi_tensor_t *));
    assert (in && out);
    for (int slot = 0; slot < node->n_inputs; slot++)
        if (node->inputs [slot] >= 0)
            in [slot] = &graph->values [node->inputs [slot]].info;
    for (int slot = 0; slot < node->n_outputs; slot++)
        if (node->outputs [slot] >= 0)
            out [slot] = &graph->values [node->outputs [slot]].info;
    int64_t macs = node->op->macs (node, in, out);
    free (in);
    free (out);
    return macs;
}

void
zi_graph_test (zi_test_t *t)
{
    //  Nodes listed out of order: sort must put producers first
    zi_graph_t *graph = zi_graph_new ("test");
    int64_t dims [2] = {2, 3};
    zi_test_graph_io (graph, "x", 2, dims, "z");
    zi_test_graph_node (graph, "Relu", "second", "y", "z");
    zi_test_graph_node (graph, "Neg", "first", "x", "y");
    zi_test_graph_node (graph, "Abs", "unused", "x", "dead");
    ZI_CHECK (t, zi_graph_sort (graph) == 0, "sort: %s", zi_error_text ());
    ZI_CHECK (t, strcmp (graph->nodes [0].name, "first") == 0, "producer first");
    ZI_CHECK (t, graph->values [zi_graph_find (graph, "z")].producer == 2
              || graph->values [zi_graph_find (graph, "z")].producer == 1, "producers filled");
    zi_graph_prune (graph);
    ZI_CHECK (t, graph->n_nodes == 2, "unused node pruned, %d left", graph->n_nodes);
    ZI_CHECK (t, zi_graph_sole_consumer (graph, zi_graph_find (graph, "y")) == 1, "sole consumer");
    ZI_CHECK (t, zi_graph_sole_consumer (graph, zi_graph_find (graph, "z")) == -1,
              "a graph output has no sole consumer");

    zi_graph_t *copy = zi_graph_dup (graph);
    ZI_CHECK (t, copy->n_nodes == 2 && strcmp (copy->nodes [1].name, graph->nodes [1].name) == 0,
              "dup copies nodes");
    zi_graph_destroy (&copy);
    zi_graph_destroy (&graph);

    //  A cycle is an error naming a node on it
    graph = zi_graph_new ("cycle");
    zi_test_graph_io (graph, "x", 2, dims, "b");
    zi_test_graph_node (graph, "Add", "one", "x,b", "a");
    zi_test_graph_node (graph, "Relu", "two", "a", "b");
    ZI_CHECK (t, zi_graph_sort (graph) == -1 && strstr (zi_error_text (), "cycle"),
              "cycle refused: %s", zi_error_text ());
    zi_graph_destroy (&graph);

    //  An input nobody produces
    graph = zi_graph_new ("dangling");
    zi_test_graph_io (graph, "x", 2, dims, "y");
    zi_test_graph_node (graph, "Add", "add", "x,ghost", "y");
    ZI_CHECK (t, zi_graph_sort (graph) == -1 && strstr (zi_error_text (), "'ghost'"),
              "dangling input named: %s", zi_error_text ());
    zi_graph_destroy (&graph);

    //  Two producers of one value
    graph = zi_graph_new ("twice");
    zi_test_graph_io (graph, "x", 2, dims, "y");
    zi_test_graph_node (graph, "Relu", "a", "x", "y");
    zi_test_graph_node (graph, "Neg", "b", "x", "y");
    ZI_CHECK (t, zi_graph_sort (graph) == -1 && strstr (zi_error_text (), "produced twice"),
              "double producer refused: %s", zi_error_text ());
    zi_graph_destroy (&graph);

    //  Unknown op: the error names the node, the op and what is supported
    graph = zi_graph_new ("unknown");
    zi_test_graph_io (graph, "x", 2, dims, "y");
    zi_test_graph_node (graph, "FancyOp", "fancy", "x", "y");
    ZI_CHECK (t, zi_graph_init_ops (graph) == -1
              && strstr (zi_error_text (), "'fancy'") && strstr (zi_error_text (), "'FancyOp'")
              && strstr (zi_error_text (), "Conv"), "unknown op: %s", zi_error_text ());
    zi_graph_destroy (&graph);
}
