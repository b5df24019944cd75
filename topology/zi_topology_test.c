/*  =========================================================================
    zi_topology_test - self test of the topology loader and placement

    Run with `zi_selftest topology`. Shows how a topology is loaded and
    placed, checks every error the loader promises (message, line and
    column), feeds garbage to the parser, and replays the catalogue of
    malformed files in tests/bad/topology, each of which names the message
    it must produce on its first line.
    =========================================================================
*/

#include "zi_classes.h"
#include "zi_topology.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>

//  A temporary folder holding an (empty) model file, so that `model: m.onnx`
//  in test texts passes the existence check
typedef struct {
    char folder [64];           //  made by mkdtemp
    char yaml [96];             //  the name test texts go by; not written
    char model [96];            //  folder/m.onnx
} s_fixture_t;

static zi_topology_t *
s_load (const s_fixture_t *fixture, const char *text)
{
    return zi_topology_load_text (text, strlen (text), fixture->yaml);
}

//  Loading text must fail with "t.yaml:AT: " and each of the |-separated
//  words somewhere in one line
static void
s_expect_error (zi_test_t *t, const s_fixture_t *fixture, int line, const char *text,
                const char *at, const char *words)
{
    zi_topology_t *topo = s_load (fixture, text);
    const char *error = zi_error_text ();
    char where [160];
    snprintf (where, sizeof where, "%s:%s: ", fixture->yaml, at);
    bool ok = topo == NULL && strncmp (error, where, strlen (where)) == 0
           && !strchr (error, '\n');
    char word [128];
    for (const char *cursor = words; ok && *cursor; ) {
        size_t size = strcspn (cursor, "|");
        snprintf (word, sizeof word, "%.*s", (int) size, cursor);
        ok = strstr (error, word) != NULL;
        cursor += size + (cursor [size] == '|');
    }
    zi_test_check (t, ok, __FILE__, line, "error at %s with '%s': %s", at, words,
                   topo? "(loaded)": error);
    zi_topology_destroy (&topo);
}
#define S_EXPECT_ERROR(text, at, words) s_expect_error (t, fixture, __LINE__, text, at, words)

//  The graph the placement tests place, in topological order
static const char *const s_names [] = {
    "/conv1/Conv", "/relu1/Relu", "/pool1/MaxPool", "/conv2/Conv", "/relu2/Relu",
    "/flatten/Flatten", "/fc1/Gemm", "/relu3/Relu", "/fc2/Gemm", "/softmax"
};
#define S_NODES ((int) (sizeof s_names / sizeof s_names [0]))

static const char *s_full =
    "name: digits-split\n"                      //  1
    "model: m.onnx\n"                           //  2
    "input_shape: [1, 1, 8, 8]\n"               //  3
    "fuse: no\n"                                //  4
    "base_port: 7300\n"                         //  5
    "client_port: 7301\n"                       //  6
    "transport: tcp\n"                          //  7
    "hosts:\n"                                  //  8
    "  - name: a\n"                             //  9
    "    address: 127.0.0.1\n"                  //  10
    "    base_port: 7200\n"                     //  11
    "  - name: b\n"                             //  12
    "    address: node-b.example\n"             //  13
    "processes:\n"                              //  14
    "  - name: front\n"                         //  15
    "    host: a\n"                             //  16
    "    threads: 2\n"                          //  17
    "    blas_threads: 3\n"                     //  18
    "    monitor_port: 7190\n"                  //  19
    "  - name: back\n"                          //  20
    "    host: b\n"                             //  21
    "placement:\n"                              //  22
    "  - process: front\n"                      //  23
    "    from: /conv1/Conv\n"                   //  24
    "    to: /relu2/Relu\n"                     //  25
    "  - process: back\n"                       //  26
    "    nodes: [/fc1/Gemm, /fc2/Gemm]\n"       //  27
    "    replicas: 2\n"                         //  28
    "  - process: front\n"                      //  29
    "    node: /softmax\n"                      //  30
    "default: back\n"                           //  31
    "gateway: front\n"                          //  32
    "security: {curve: false}\n";               //  33

static bool
s_mark_is (zi_topo_mark_t mark, int line, int column)
{
    return mark.line == line && mark.column == column;
}

static void
s_test_full (zi_test_t *t, const s_fixture_t *fixture)
{
    zi_topology_t *topo = s_load (fixture, s_full);
    ZI_CHECK (t, topo != NULL, "full example loads: %s", topo? "": zi_error_text ());
    if (!topo)
        return;
    ZI_CHECK (t, strcmp (topo->path, fixture->yaml) == 0, "path as given");
    ZI_CHECK (t, strcmp (topo->name, "digits-split") == 0, "name");
    ZI_CHECK (t, strcmp (topo->model_path, fixture->model) == 0,
              "model resolved against the YAML folder: %s", topo->model_path);
    ZI_CHECK (t, s_mark_is (topo->model_mark, 2, 8), "model mark 2:8, got %d:%d",
              topo->model_mark.line, topo->model_mark.column);
    ZI_CHECK (t, topo->input_ndim == 4 && topo->input_shape [0] == 1
              && topo->input_shape [1] == 1 && topo->input_shape [2] == 8
              && topo->input_shape [3] == 8, "input_shape [1, 1, 8, 8]");
    ZI_CHECK (t, topo->fuse == false, "fuse: no");
    ZI_CHECK (t, topo->base_port == 7300, "base_port");
    ZI_CHECK (t, topo->client_port == 7301, "client_port");
    ZI_CHECK (t, topo->transport_tcp, "transport: tcp");

    ZI_CHECK (t, topo->n_hosts == 2, "two hosts");
    if (topo->n_hosts == 2) {
        ZI_CHECK (t, strcmp (topo->hosts [0].name, "a") == 0
                  && strcmp (topo->hosts [0].address, "127.0.0.1") == 0
                  && topo->hosts [0].base_port == 7200
                  && s_mark_is (topo->hosts [0].mark, 9, 5), "host a");
        ZI_CHECK (t, strcmp (topo->hosts [1].name, "b") == 0
                  && strcmp (topo->hosts [1].address, "node-b.example") == 0
                  && topo->hosts [1].base_port == 7300
                  && s_mark_is (topo->hosts [1].mark, 12, 5),
                  "host b, base_port from the top level");
    }
    ZI_CHECK (t, topo->n_processes == 2, "two processes");
    if (topo->n_processes == 2) {
        const zi_topo_process_t *front = &topo->processes [0], *back = &topo->processes [1];
        ZI_CHECK (t, strcmp (front->name, "front") == 0 && front->host == 0
                  && front->threads == 2 && front->blas_threads == 3
                  && front->monitor_port == 7190 && s_mark_is (front->mark, 15, 5),
                  "process front");
        ZI_CHECK (t, strcmp (back->name, "back") == 0 && back->host == 1
                  && back->threads == 1 && back->blas_threads == 1
                  && back->monitor_port == 0 && s_mark_is (back->mark, 20, 5),
                  "process back, defaults");
    }
    ZI_CHECK (t, topo->n_rules == 3, "three rules");
    if (topo->n_rules == 3) {
        const zi_topo_rule_t *range = &topo->rules [0];
        ZI_CHECK (t, range->process == 0 && range->n_nodes == 0 && range->replicas == 1
                  && strcmp (range->from, "/conv1/Conv") == 0
                  && strcmp (range->to, "/relu2/Relu") == 0
                  && s_mark_is (range->mark, 23, 5) && s_mark_is (range->from_mark, 24, 11)
                  && s_mark_is (range->to_mark, 25, 9), "rule 1: range");
        const zi_topo_rule_t *list = &topo->rules [1];
        ZI_CHECK (t, list->process == 1 && list->n_nodes == 2 && list->replicas == 2
                  && !list->from && !list->to
                  && strcmp (list->nodes [0], "/fc1/Gemm") == 0
                  && strcmp (list->nodes [1], "/fc2/Gemm") == 0
                  && s_mark_is (list->node_marks [0], 27, 13)
                  && s_mark_is (list->node_marks [1], 27, 24), "rule 2: nodes, replicas");
        const zi_topo_rule_t *one = &topo->rules [2];
        ZI_CHECK (t, one->process == 0 && one->n_nodes == 1
                  && strcmp (one->nodes [0], "/softmax") == 0
                  && s_mark_is (one->node_marks [0], 30, 11), "rule 3: node");
    }
    ZI_CHECK (t, topo->default_process == 1, "default: back");
    ZI_CHECK (t, topo->gateway_process == 0, "gateway: front");
    ZI_CHECK (t, zi_topology_host (topo, "b") == 1 && zi_topology_host (topo, "c") == -1,
              "host lookup");
    ZI_CHECK (t, zi_topology_process (topo, "back") == 1
              && zi_topology_process (topo, "fron") == -1, "process lookup");

    //  Ranges, explicit names, replicas, the default for the rest
    int process [S_NODES], replicas [S_NODES];
    int rc = zi_topology_place (topo, S_NODES, s_names, process, replicas);
    ZI_CHECK (t, rc == 0, "full example places: %s", rc? zi_error_text (): "");
    const int want_process [S_NODES] = {0, 0, 0, 0, 0, 1, 1, 1, 1, 0};
    const int want_replicas [S_NODES] = {1, 1, 1, 1, 1, 1, 2, 1, 2, 1};
    ZI_CHECK (t, rc == 0 && memcmp (process, want_process, sizeof process) == 0,
              "processes per node");
    ZI_CHECK (t, rc == 0 && memcmp (replicas, want_replicas, sizeof replicas) == 0,
              "replicas per node");
    zi_topology_destroy (&topo);
    ZI_CHECK (t, topo == NULL, "destroy nulls the reference");
    zi_topology_destroy (&topo);
}

static void
s_test_defaults (zi_test_t *t, const s_fixture_t *fixture)
{
    zi_topology_t *topo = s_load (fixture, "model: m.onnx\nprocesses:\n  - name: only\n");
    ZI_CHECK (t, topo != NULL, "minimal file loads: %s", topo? "": zi_error_text ());
    if (!topo)
        return;
    ZI_CHECK (t, strcmp (topo->name, "t") == 0, "name defaults to the file name: %s",
              topo->name);
    ZI_CHECK (t, topo->input_ndim == 0 && topo->fuse && !topo->transport_tcp
              && topo->base_port == 7100 && topo->client_port == 0, "top-level defaults");
    ZI_CHECK (t, topo->n_hosts == 1 && strcmp (topo->hosts [0].name, "local") == 0
              && strcmp (topo->hosts [0].address, "127.0.0.1") == 0
              && topo->hosts [0].base_port == 7100, "default host");
    ZI_CHECK (t, topo->n_processes == 1 && topo->processes [0].host == 0
              && topo->processes [0].threads == 1 && topo->processes [0].blas_threads == 1
              && topo->processes [0].monitor_port == 0, "process defaults");
    ZI_CHECK (t, topo->n_rules == 0 && topo->default_process == -1
              && topo->gateway_process == -1, "no rules, default or gateway");

    //  No rules, no default, one process: it runs everything
    int process [S_NODES], replicas [S_NODES];
    bool all_there = zi_topology_place (topo, S_NODES, s_names, process, replicas) == 0;
    for (int index = 0; all_there && index < S_NODES; index++)
        all_there = process [index] == 0 && replicas [index] == 1;
    ZI_CHECK (t, all_there, "the only process gets every node");
    ZI_CHECK (t, zi_topology_place (topo, 0, NULL, NULL, NULL) == 0, "an empty graph places");
    zi_topology_destroy (&topo);

    //  Anchors and aliases are ordinary YAML and work where a value fits
    topo = s_load (fixture, "model: m.onnx\nhosts:\n  - {name: &h alpha, address: x}\n"
                   "  - {name: beta, address: y}\nprocesses:\n  - {name: p, host: *h}\n"
                   "security: {curve: no}\n");
    ZI_CHECK (t, topo && topo->processes [0].host == 0, "alias as a host name: %s",
              topo? "": zi_error_text ());
    zi_topology_destroy (&topo);

    //  Absolute model paths stay as written; boolean spellings
    char text [256];
    snprintf (text, sizeof text, "model: %s\nfuse: YES\nprocesses: [{name: p}]\n",
              fixture->model);
    topo = zi_topology_load_text (text, strlen (text), "no-folder.yaml");
    ZI_CHECK (t, topo && strcmp (topo->model_path, fixture->model) == 0 && topo->fuse
              && strcmp (topo->name, "no-folder") == 0, "absolute model path, fuse: YES");
    zi_topology_destroy (&topo);
}

static void
s_test_errors (zi_test_t *t, const s_fixture_t *fixture)
{
    //  Syntax, as libyaml reports it
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}\n", "3:1",
                    "YAML syntax error|flow sequence");
    S_EXPECT_ERROR ("model: m.onnx\n  bad: indent\n", "2:6", "YAML syntax error");
    S_EXPECT_ERROR ("model: *nowhere\n", "1:8", "YAML syntax error|undefined alias");
    S_EXPECT_ERROR ("model: m.onnx\nname: \xff\n", "2:7", "YAML syntax error|UTF-8");
    S_EXPECT_ERROR ("model: \"m\x01\"\n", "1:10", "YAML syntax error|control characters");

    //  Empty or not a mapping
    S_EXPECT_ERROR ("", "1:1", "empty topology|model:");
    S_EXPECT_ERROR ("# only a comment\n\n", "1:1", "empty topology");
    S_EXPECT_ERROR ("---\n", "1:1", "empty topology");
    S_EXPECT_ERROR ("\n\n~\n", "1:1", "empty topology");
    S_EXPECT_ERROR ("- model: m.onnx\n", "1:1",
                    "wrong type for the top-level mapping|expected a mapping|got a sequence");
    S_EXPECT_ERROR ("just text\n", "1:1", "expected a mapping|got 'just text'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\n---\nmodel: m.onnx\n", "4:1",
                    "second YAML document");

    //  Unknown and duplicate keys, at every level
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nmodle: x\n", "3:1",
                    "unknown key 'modle' in the top-level mapping|expected one of name, model, "
                    "input_shape, fuse, base_port, client_port, transport, hosts, processes, "
                    "placement, default, gateway");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - name: p\n    threds: 2\n", "4:5",
                    "unknown key 'threds' in a process|expected one of name, host, threads, "
                    "blas_threads, monitor_port");
    S_EXPECT_ERROR ("model: m.onnx\nhosts: [{name: a, adress: x}]\nprocesses: [{name: p}]\n",
                    "2:19", "unknown key 'adress' in a host|name, address, base_port");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                    "  - {process: p, nodes: [a], replica: 2}\n", "4:30",
                    "unknown key 'replica' in a placement rule|process, node, nodes, from, "
                    "to, replicas");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\n[a]: 1\n", "3:1",
                    "bad key in the top-level mapping|got a sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nmodel: n.onnx\n", "3:1",
                    "duplicate key 'model' in the top-level mapping|first is at 1:1");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - name: p\n    threads: 1\n    threads: 2\n",
                    "5:5", "duplicate key 'threads' in a process|first is at 4:5");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\n\"na\\0me\": x\n", "3:1",
                    "unknown key 'na'");

    //  Wrong types and values out of range
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - name: p\n    threads: two\n", "4:14",
                    "bad value for threads|expected an integer from 1 to 256, got 'two'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: 0}]\n", "2:32",
                    "expected an integer from 1 to 256, got '0'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: 257}]\n", "2:32",
                    "got '257'");
    S_EXPECT_ERROR ("model: m.onnx\n"
                    "processes: [{name: p, blas_threads: 99999999999999999999999}]\n",
                    "2:37", "bad value for blas_threads|got '99999999999999999999999'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: 1.5}]\n", "2:32",
                    "got '1.5'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: [1]}]\n", "2:32",
                    "got a sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: }]\n", "2:32",
                    "got nothing");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: \" 2\"}]\n", "2:32",
                    "got ' 2'");
    S_EXPECT_ERROR ("model: [m.onnx]\nprocesses: [{name: p}]\n", "1:8",
                    "bad value for model|expected the path of the ONNX model, got a sequence");
    S_EXPECT_ERROR ("model: {a: b}\nprocesses: [{name: p}]\n", "1:8", "got a mapping");
    S_EXPECT_ERROR ("model: m.onnx\nfuse: maybe\nprocesses: [{name: p}]\n", "2:7",
                    "bad value for fuse|expected true, false, yes or no, got 'maybe'");
    S_EXPECT_ERROR ("model: m.onnx\ntransport: udp\nprocesses: [{name: p}]\n", "2:12",
                    "bad value for transport|expected ipc or tcp, got 'udp'");
    S_EXPECT_ERROR ("model: m.onnx\ninput_shape: [1, x]\nprocesses: [{name: p}]\n", "2:18",
                    "bad value for a dimension of input_shape|got 'x'");
    S_EXPECT_ERROR ("model: m.onnx\ninput_shape: []\nprocesses: [{name: p}]\n", "2:14",
                    "expected a list of 1 to 8 dimensions, got an empty sequence");
    S_EXPECT_ERROR ("model: m.onnx\ninput_shape: [1,1,1,1,1,1,1,1,1]\nprocesses: [{name: p}]\n",
                    "2:14", "expected a list of 1 to 8 dimensions, got 9");
    S_EXPECT_ERROR ("model: m.onnx\ninput_shape: 8\nprocesses: [{name: p}]\n", "2:14",
                    "got '8'");
    S_EXPECT_ERROR ("model: m.onnx\nhosts: []\nprocesses: [{name: p}]\n", "2:8",
                    "bad value for hosts|got an empty sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: []\n", "2:12",
                    "expected a list of 1 to 1024 processes, got an empty sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: front\n", "2:12", "got 'front'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [front]\n", "2:13",
                    "wrong type for a process|got 'front'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: my proc}]\n", "2:20",
                    "bad value for name|letters, digits|got 'my proc'");
    S_EXPECT_ERROR ("model: m.onnx\nname: \"a\\0b\"\nprocesses: [{name: p}]\n", "2:7",
                    "NUL character");
    S_EXPECT_ERROR ("model: m.onnx\nname: \"\"\nprocesses: [{name: p}]\n", "2:7",
                    "bad value for name|got ''");
    S_EXPECT_ERROR ("model: m.onnx\nname: \"bell\\a\"\nprocesses: [{name: p}]\nx: 1\n", "4:1",
                    "unknown key 'x'");

    //  Ports
    S_EXPECT_ERROR ("model: m.onnx\nbase_port: 0\nprocesses: [{name: p}]\n", "2:12",
                    "bad value for base_port|from 1 to 65535, got '0'");
    S_EXPECT_ERROR ("model: m.onnx\nclient_port: 65536\nprocesses: [{name: p}]\n", "2:14",
                    "bad value for client_port|got '65536'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, monitor_port: -1}]\n", "2:37",
                    "bad value for monitor_port|got '-1'");
    S_EXPECT_ERROR ("model: m.onnx\nhosts: [{name: a, address: x, base_port: 70000}]\n"
                    "processes: [{name: p}]\n", "2:42", "bad value for base_port|'70000'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - {name: p, monitor_port: 7190}\n"
                    "  - {name: q, monitor_port: 7190}\n", "4:29",
                    "port 7190 on host 'local' is taken twice|process 'p' at 3:29");
    S_EXPECT_ERROR ("model: m.onnx\nclient_port: 7190\nprocesses:\n"
                    "  - {name: p, monitor_port: 7190}\n", "4:29",
                    "port 7190 on host 'local' is taken twice|client_port at 2:14");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - {name: p, monitor_port: 7190}\n"
                    "client_port: 7190\n", "4:14",
                    "port 7190 on host 'local' is taken twice|process 'p' at 3:29");
    S_EXPECT_ERROR ("model: m.onnx\nclient_port: 7190\ngateway: q\nhosts:\n"
                    "  - {name: a, address: x}\n  - {name: b, address: y}\nprocesses:\n"
                    "  - {name: p, host: a}\n  - {name: q, host: b, monitor_port: 7190}\n",
                    "9:38", "port 7190 on host 'b' is taken twice");
    zi_topology_t *topo = s_load (fixture, "model: m.onnx\nhosts:\n  - {name: a, address: x}\n"
                                  "  - {name: b, address: y}\nprocesses:\n"
                                  "  - {name: p, host: a, monitor_port: 7190}\n"
                                  "  - {name: q, host: b, monitor_port: 7190}\n"
                                  "security: {curve: false}\n");
    ZI_CHECK (t, topo != NULL, "the same port on two hosts is fine: %s",
              topo? "": zi_error_text ());
    zi_topology_destroy (&topo);

    //  Missing keys
    S_EXPECT_ERROR ("processes: [{name: p}]\n", "1:1",
                    "missing key 'model' at the top level|path of the ONNX model");
    S_EXPECT_ERROR ("model: m.onnx\n", "1:1", "missing key 'processes' at the top level");
    S_EXPECT_ERROR ("model: m.onnx\nhosts:\n  - name: a\nprocesses: [{name: p}]\n", "3:5",
                    "missing key 'address' in host 'a'");
    S_EXPECT_ERROR ("model: m.onnx\nhosts:\n  - address: x\nprocesses: [{name: p}]\n", "3:5",
                    "missing key 'name' in a host");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - threads: 2\n", "3:5",
                    "missing key 'name' in a process");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n  - node: a\n", "4:5",
                    "missing key 'process' in a placement rule");

    //  Names: duplicates, unknown references
    S_EXPECT_ERROR ("model: m.onnx\nhosts:\n  - {name: a, address: x}\n"
                    "  - {name: a, address: y}\nprocesses: [{name: p, host: a}]\n", "4:12",
                    "duplicate host name 'a'|first is defined at 3:5");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - name: p\n  - name: q\n  - name: p\n",
                    "5:11", "duplicate process name 'p'|first is defined at 3:5");
    S_EXPECT_ERROR ("model: m.onnx\nhosts:\n  - {name: a, address: x}\n"
                    "  - {name: b, address: y}\nprocesses:\n  - {name: p, host: c}\n", "6:21",
                    "process 'p' names unknown host 'c'|expected one of a, b");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses:\n  - {name: p, host: remote}\n", "3:21",
                    "unknown host 'remote'|expected one of local");
    S_EXPECT_ERROR ("model: m.onnx\nhosts:\n  - {name: a, address: x}\n"
                    "  - {name: b, address: y}\nprocesses:\n  - {name: p}\n", "6:5",
                    "missing key 'host' in process 'p'|one of a, b|several hosts");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}, {name: q}]\nplacement:\n"
                    "  - {process: r, node: a}\n", "4:15",
                    "unknown process 'r' in a placement rule|expected one of p, q");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\ndefault: q\n", "3:10",
                    "unknown process 'q' in default|expected one of p");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\ngateway: [p]\n", "3:10",
                    "bad value for gateway|got a sequence");

    //  Rule forms
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n  - process: p\n",
                    "4:5", "places nothing|node:, nodes:, or from: and/or to:");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                    "  - {process: p, node: a, nodes: [b]}\n", "4:5",
                    "mixes node: and nodes:|exactly one");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                    "  - {process: p, nodes: [a], to: b}\n", "4:5", "mixes nodes: and from:/to:");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                    "  - {process: p, nodes: []}\n", "4:25",
                    "bad value for nodes|got an empty sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                    "  - {process: p, nodes: [a, [b]]}\n", "4:29",
                    "bad value for nodes|a node name, got a sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                    "  - {process: p, from: a, replicas: 65}\n", "4:37",
                    "bad value for replicas|from 1 to 64, got '65'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement: {process: p}\n", "3:12",
                    "bad value for placement|list of placement rules, got a mapping");

    //  The model file, checked last
    char message [256];
    snprintf (message, sizeof message, "model file '%s/nope.onnx' does not exist",
              fixture->folder);
    S_EXPECT_ERROR ("model: nope.onnx\nprocesses: [{name: p}]\n", "1:8", message);
    S_EXPECT_ERROR ("model: .\nprocesses: [{name: p}]\n", "1:8", "is not a regular file");
    S_EXPECT_ERROR ("model: nope.onnx\nprocesses: [{name: p}]\nx: 1\n", "3:1", "unknown key 'x'");
}

//  Loads text that must load, places s_names and expects an error at `at`
static void
s_expect_place_error (zi_test_t *t, const s_fixture_t *fixture, int line, const char *text,
                      const char *at, const char *words)
{
    zi_topology_t *topo = s_load (fixture, text);
    if (!topo) {
        zi_test_check (t, false, __FILE__, line, "does not load: %s", zi_error_text ());
        return;
    }
    int process [S_NODES], replicas [S_NODES];
    int rc = zi_topology_place (topo, S_NODES, s_names, process, replicas);
    const char *error = zi_error_text ();
    char where [160];
    snprintf (where, sizeof where, "%s:%s: ", fixture->yaml, at);
    bool ok = rc == -1 && strncmp (error, where, strlen (where)) == 0 && !strchr (error, '\n');
    char word [160];
    for (const char *cursor = words; ok && *cursor; ) {
        size_t size = strcspn (cursor, "|");
        snprintf (word, sizeof word, "%.*s", (int) size, cursor);
        ok = strstr (error, word) != NULL;
        cursor += size + (cursor [size] == '|');
    }
    zi_test_check (t, ok, __FILE__, line, "place error at %s with '%s': %s", at, words,
                   rc? error: "(placed)");
    zi_topology_destroy (&topo);
}
#define S_EXPECT_PLACE_ERROR(text, at, words) \
    s_expect_place_error (t, fixture, __LINE__, text, at, words)

static void
s_test_place (zi_test_t *t, const s_fixture_t *fixture)
{
    const char *two = "model: m.onnx\nprocesses: [{name: p}, {name: q}]\n";
    char text [1024];

    //  Open-ended ranges: no from: is the first node, no to: the last
    snprintf (text, sizeof text, "%splacement:\n  - {process: q, from: /fc1/Gemm}\n"
              "  - {process: p, to: /flatten/Flatten, replicas: 3}\n", two);
    zi_topology_t *topo = s_load (fixture, text);
    int process [S_NODES], replicas [S_NODES];
    bool ok = topo && zi_topology_place (topo, S_NODES, s_names, process, replicas) == 0;
    for (int index = 0; ok && index < S_NODES; index++)
        ok = process [index] == (index < 6? 0: 1) && replicas [index] == (index < 6? 3: 1);
    ZI_CHECK (t, ok, "open-ended ranges: %s", ok? "": zi_error_text ());
    zi_topology_destroy (&topo);

    //  A rule listing every node, in any order
    snprintf (text, sizeof text, "%splacement:\n  - process: q\n    nodes: [/softmax, "
              "/fc2/Gemm, /relu3/Relu, /fc1/Gemm, /flatten/Flatten, /relu2/Relu, /conv2/Conv,"
              " /pool1/MaxPool, /relu1/Relu, /conv1/Conv]\n", two);
    topo = s_load (fixture, text);
    ok = topo && zi_topology_place (topo, S_NODES, s_names, process, replicas) == 0;
    for (int index = 0; ok && index < S_NODES; index++)
        ok = process [index] == 1 && replicas [index] == 1;
    ZI_CHECK (t, ok, "explicit list of every node: %s", ok? "": zi_error_text ());
    zi_topology_destroy (&topo);

    //  Overlaps: a node in a range then named, and two ranges
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, from: /conv1/Conv, "
              "to: /relu2/Relu}\n  - {process: q, node: /conv2/Conv}\ndefault: q\n", two);
    S_EXPECT_PLACE_ERROR (text, "5:24", "node '/conv2/Conv' is already placed by the rule "
                          "at 4:5");
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, to: /relu2/Relu}\n"
              "  - {process: q, from: /relu2/Relu}\n", two);
    S_EXPECT_PLACE_ERROR (text, "5:5", "node '/relu2/Relu' is already placed by the rule "
                          "at 4:5");
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, nodes: [/softmax, /fc1/Gemm, "
              "/softmax]}\ndefault: q\n", two);
    S_EXPECT_PLACE_ERROR (text, "4:47", "node '/softmax' is named twice in this rule");

    //  Unknown names, with and without similar ones
    snprintf (text, sizeof text, "%splacement:\n  - process: p\n    nodes: [/softmax, "
              "/conv2/Con]\ndefault: q\n", two);
    S_EXPECT_PLACE_ERROR (text, "5:23", "unknown node '/conv2/Con'|similar: '/conv2/Conv', "
                          "'/conv1/Conv'|see `zinfer info --fuse");
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, from: /conv1/Conv, "
              "to: fc9}\n", two);
    S_EXPECT_PLACE_ERROR (text, "4:41", "unknown node 'fc9'|similar: '/fc1/Gemm', '/fc2/Gemm'");
    snprintf (text, sizeof text, "%sfuse: false\nplacement:\n  - {process: p, node: zzz}\n", two);
    S_EXPECT_PLACE_ERROR (text, "5:24", "unknown node 'zzz'; expected a node of the planned "
                          "graph (nodes folded or fused away in planning are gone; see "
                          "`zinfer info ");

    //  Ranges backwards, nodes left over
    snprintf (text, sizeof text, "%splacement:\n  - process: p\n    from: /relu2/Relu\n"
              "    to: /conv1/Conv\ndefault: q\n", two);
    S_EXPECT_PLACE_ERROR (text, "6:9", "backwards range|to: '/conv1/Conv' is node 0|"
                          "from: '/relu2/Relu' (node 4)");
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, to: /relu2/Relu}\n"
              "  - {process: q, nodes: [/fc1/Gemm, /fc2/Gemm, /softmax]}\n", two);
    S_EXPECT_PLACE_ERROR (text, "3:1", "2 of 10 nodes are not placed by any rule, the first "
                          "is '/flatten/Flatten'|default: PROCESS");
    S_EXPECT_PLACE_ERROR (two, "1:1", "10 of 10 nodes are not placed|'/conv1/Conv'");
    S_EXPECT_PLACE_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                          "  - {process: p, node: /softmax}\n", "3:1",
                          "9 of 10 nodes are not placed");

    //  Without gateway:, the gateway (and the client port) is on the first
    //  listed process's host: a clash there is found at load
    const char *hosts = "model: m.onnx\nclient_port: 7000\nhosts:\n  - {name: a, address: x}\n"
                        "  - {name: b, address: y}\nprocesses:\n  - {name: p, host: b}\n"
                        "  - {name: q, host: b, monitor_port: 7000}\n";
    S_EXPECT_ERROR (hosts, "8:38", "port 7000 on host 'b' is taken twice");
    const char *apart = "model: m.onnx\nclient_port: 7000\nhosts:\n  - {name: a, address: x}\n"
                        "  - {name: b, address: y}\nprocesses:\n  - {name: p, host: a}\n"
                        "  - {name: q, host: b, monitor_port: 7000}\n";
    snprintf (text, sizeof text, "%splacement:\n  - {process: q, from: /conv2/Conv}\n"
              "default: p\nsecurity: {curve: false}\n", apart);
    topo = s_load (fixture, text);
    ZI_CHECK (t, topo && zi_topology_place (topo, S_NODES, s_names, process, replicas) == 0
              && process [0] == 0 && process [3] == 1,
              "client port on the other host is fine: %s", topo? zi_error_text (): "");
    zi_topology_destroy (&topo);

    //  Long outside text is cut in messages, control bytes escaped
    char long_name [600];
    memset (long_name, 'x', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, node: \"%s\\t\"}\n",
              two, long_name);
    topo = s_load (fixture, text);
    ok = topo && zi_topology_place (topo, S_NODES, s_names, process, replicas) == -1;
    ZI_CHECK (t, ok && strstr (zi_error_text (), "xxx...'") && strlen (zi_error_text ()) < 600,
              "long names are cut: %s", zi_error_text ());
    zi_topology_destroy (&topo);
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, node: \"a\\tb\\u0001\"}\n", two);
    topo = s_load (fixture, text);
    ok = topo && zi_topology_place (topo, S_NODES, s_names, process, replicas) == -1;
    ZI_CHECK (t, ok && strstr (zi_error_text (), "'a\\x09b\\x01'"),
              "control bytes are escaped: %s", zi_error_text ());
    zi_topology_destroy (&topo);

    //  A process that runs no node is refused, naming it; the gateway's
    //  process has the gateway to run and may
    const char *three = "model: m.onnx\nprocesses:\n  - name: p\n  - name: q\n"
                        "  - name: r\n";
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, to: /relu2/Relu}\n"
              "  - {process: r, from: /flatten/Flatten}\n", three);
    S_EXPECT_PLACE_ERROR (text, "4:5", "process 'q' runs no node|expected every process but "
                          "the gateway's to run at least one|remove it");
    snprintf (text, sizeof text, "%splacement:\n  - {process: p, to: /relu2/Relu}\n"
              "  - {process: r, from: /flatten/Flatten}\ngateway: q\n", three);
    topo = s_load (fixture, text);
    ZI_CHECK (t, topo && zi_topology_place (topo, S_NODES, s_names, process, replicas) == 0,
              "a gateway-only process places: %s", topo? zi_error_text (): "");
    zi_topology_destroy (&topo);
}

//  Names end up in file names (the ipc folder, lock files): nothing in
//  them may lead out of the runtime folder
static void
s_test_names (zi_test_t *t, const s_fixture_t *fixture)
{
    S_EXPECT_ERROR ("name: ../x\nmodel: m.onnx\nprocesses: [{name: p}]\n", "1:7",
                    "bad value for name; expected a name of at most 64 letters|got '../x'");
    S_EXPECT_ERROR ("name: a/b\nmodel: m.onnx\nprocesses: [{name: p}]\n", "1:7",
                    "bad value for name|got 'a/b'");
    S_EXPECT_ERROR ("name: ..\nmodel: m.onnx\nprocesses: [{name: p}]\n", "1:7",
                    "not starting with '.'|got '..'");
    S_EXPECT_ERROR ("name: \"x y\"\nmodel: m.onnx\nprocesses: [{name: p}]\n", "1:7",
                    "bad value for name|got 'x y'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: .}]\n", "2:20",
                    "not starting with '.'|got '.'");
    S_EXPECT_ERROR ("model: m.onnx\nhosts: [{name: .., address: x}]\nprocesses: [{name: p}]\n",
                    "2:16", "not starting with '.'|got '..'");
    //  Names taken from the file name are made safe the same way
    const char *text = "model: m.onnx\nprocesses: [{name: p}]\n";
    char path [160];
    snprintf (path, sizeof path, "%s/my topo.yaml", fixture->folder);
    zi_topology_t *topo = zi_topology_load_text (text, strlen (text), path);
    ZI_CHECK (t, topo && strcmp (topo->name, "my_topo") == 0, "a file name's space becomes "
              "'_': %s", topo? topo->name: zi_error_text ());
    zi_topology_destroy (&topo);
    snprintf (path, sizeof path, "%s/...yaml", fixture->folder);
    topo = zi_topology_load_text (text, strlen (text), path);
    ZI_CHECK (t, topo && strcmp (topo->name, "topology") == 0, "a file name that would be "
              "'..' gives 'topology': %s", topo? topo->name: zi_error_text ());
    zi_topology_destroy (&topo);

    //  The liveness deadline: 5 s unless given, 0 turns it off
    topo = s_load (fixture, text);
    ZI_CHECK (t, topo && topo->liveness_timeout_ms == ZI_TOPO_LIVENESS_MSECS
              && ZI_TOPO_LIVENESS_MSECS == 5000, "liveness_timeout_ms defaults to 5000");
    zi_topology_destroy (&topo);
    topo = s_load (fixture, "model: m.onnx\nliveness_timeout_ms: 0\nprocesses: [{name: p}]\n");
    ZI_CHECK (t, topo && topo->liveness_timeout_ms == 0, "liveness_timeout_ms: 0 loads");
    zi_topology_destroy (&topo);
    S_EXPECT_ERROR ("model: m.onnx\nliveness_timeout_ms: -5\nprocesses: [{name: p}]\n",
                    "2:22", "bad value for liveness_timeout_ms|from 0 to 3600000|got '-5'");

    //  Dynamic shapes and batching: off and 8 plans unless given; a
    //  batching topology keeps a plan per batch size it can make
    topo = s_load (fixture, text);
    ZI_CHECK (t, topo && topo->max_batch == 0 && topo->plan_cache == 8
              && topo->max_tensor_bytes == 0, "no batching, 8 plans, the default bound");
    zi_topology_destroy (&topo);
    topo = s_load (fixture, "model: m.onnx\nbatching: {max_batch: 32}\n"
                            "max_tensor_bytes: 1048576\nprocesses: [{name: p}]\n");
    ZI_CHECK (t, topo && topo->max_batch == 32 && topo->max_delay_us == 500
              && topo->plan_cache == 32 && topo->max_tensor_bytes == 1048576
              && topo->batching_mark.line == 2, "batching: max_batch 32, 500 us, 32 plans");
    zi_topology_destroy (&topo);
    topo = s_load (fixture, "model: m.onnx\nbatching: {max_batch: 32, max_delay_us: 0}\n"
                            "plan_cache: 4\nprocesses: [{name: p}]\n");
    ZI_CHECK (t, topo && topo->max_delay_us == 0 && topo->plan_cache == 4,
              "plan_cache given stays as given, max_delay_us: 0 loads");
    zi_topology_destroy (&topo);
}

static void
s_test_files (zi_test_t *t, const s_fixture_t *fixture)
{
    char path [160];
    snprintf (path, sizeof path, "%s/split.yaml", fixture->folder);
    FILE *file = fopen (path, "w");
    fputs (s_full, file);
    fclose (file);
    zi_topology_t *topo = zi_topology_load (path);
    ZI_CHECK (t, topo && strcmp (topo->model_path, fixture->model) == 0
              && strcmp (topo->path, path) == 0 && topo->n_rules == 3,
              "load from a file: %s", topo? "": zi_error_text ());
    zi_topology_destroy (&topo);

    ZI_CHECK (t, truncate (path, 40) == 0, "truncate");
    topo = zi_topology_load (path);
    ZI_CHECK (t, !topo && strstr (zi_error_text (), "split.yaml:4:1: YAML syntax error")
              && strstr (zi_error_text (), "at 3:1)"),
              "truncated file: %s", zi_error_text ());
    ZI_CHECK (t, truncate (path, 17 << 20) == 0, "grow");
    topo = zi_topology_load (path);
    ZI_CHECK (t, !topo && strstr (zi_error_text (), "expected a topology of at most"),
              "huge file refused unread: %s", zi_error_text ());
    unlink (path);

    ZI_CHECK (t, !zi_topology_load (path) && strstr (zi_error_text (), "cannot open"),
              "missing file: %s", zi_error_text ());
    ZI_CHECK (t, !zi_topology_load (fixture->folder)
              && strstr (zi_error_text (), "not a regular file"),
              "a folder: %s", zi_error_text ());
}

//  xorshift32: the same garbage on every run, so a crash reproduces
static uint32_t
s_random (uint32_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

//  Garbage must give a one-line error or a topology, never a crash; run
//  under -DZI_SANITIZE=ON to catch memory errors the loop alone would not
static void
s_test_garbage (zi_test_t *t, const s_fixture_t *fixture)
{
    uint32_t state = 2463534242u;
    #define S_RANDOM() s_random (&state)
    const char *alphabet = "-:[]{},&*!|>'\"#%@`? \n\n\t\\abpm01289.~";
    size_t alphabet_size = strlen (alphabet);
    size_t full_size = strlen (s_full);
    char buffer [4096];
    int loads = 0, loaded = 0, bad_messages = 0;

    for (int round = 0; round < 1500; round++) {
        size_t size;
        if (round < 300) {                          //  any bytes
            size = S_RANDOM () % 256;
            for (size_t at = 0; at < size; at++)
                buffer [at] = (char) S_RANDOM ();
        }
        else
        if (round < 600) {                          //  YAML punctuation soup
            size = S_RANDOM () % 256;
            for (size_t at = 0; at < size; at++)
                buffer [at] = alphabet [S_RANDOM () % alphabet_size];
        }
        else
        if (round < 600 + (int) full_size + 1) {    //  every prefix of a valid file
            size = round - 600;
            memcpy (buffer, s_full, size);
        }
        else {                                      //  a valid file, a few bytes changed
            size = full_size;
            memcpy (buffer, s_full, size);
            int changes = 1 + S_RANDOM () % 4;
            for (int change = 0; change < changes; change++) {
                size_t at = S_RANDOM () % size;
                bool punctuation = S_RANDOM () % 3;
                buffer [at] = punctuation? alphabet [S_RANDOM () % alphabet_size]:
                                           (char) S_RANDOM ();
            }
        }
        zi_topology_t *topo = zi_topology_load_text (buffer, size, fixture->yaml);
        loads++;
        if (topo) {
            loaded++;
            int process [S_NODES], replicas [S_NODES];
            zi_topology_place (topo, S_NODES, s_names, process, replicas);
            zi_topology_destroy (&topo);
        }
        else
        if (strncmp (zi_error_text (), fixture->yaml, strlen (fixture->yaml)) != 0
        ||  strchr (zi_error_text (), '\n'))
            bad_messages++;
    }
    #undef S_RANDOM
    ZI_CHECK (t, bad_messages == 0 && loaded > 0 && loaded < loads,
              "%d garbage inputs: %d loaded, the rest one-line errors (%d bad)",
              loads, loaded, bad_messages);

    //  Shapes a parser may choke on: deep nesting, billion laughs, cycles
    size_t deep = 200000;
    char *text = malloc (deep * 2 + 64);
    assert (text);
    memset (text, '[', deep);
    text [deep] = 0;
    zi_topology_t *topo = zi_topology_load_text (text, deep, fixture->yaml);
    ZI_CHECK (t, !topo, "deep flow nesting: %s", zi_error_text ());
    for (size_t at = 0; at < deep; at++)
        memcpy (text + at * 2, "- ", 2);
    topo = zi_topology_load_text (text, deep * 2, fixture->yaml);
    ZI_CHECK (t, !topo && strstr (zi_error_text (), "t.yaml:1:65: nesting deeper"),
              "deep block nesting: %s", zi_error_text ());
    size_t used = sprintf (text, "model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                           "  - process: p\n    nodes: ");
    for (size_t level = 0; level < 20000; level++)
        text [used++] = '[';
    text [used] = 0;
    topo = zi_topology_load_text (text, used, fixture->yaml);
    ZI_CHECK (t, !topo && strstr (zi_error_text (), "t.yaml:5:41: nesting deeper than 32"),
              "deep nesting in a value: %s", zi_error_text ());
    free (text);

    const char *laughs =
        "l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n"
        "l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n"
        "l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n"
        "l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n"
        "l4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]\n"
        "l5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]\n"
        "l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]\n"
        "l7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]\n"
        "l8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]\n";
    topo = s_load (fixture, laughs);
    ZI_CHECK (t, !topo && strstr (zi_error_text (), "t.yaml:1:1: unknown key 'l0'"),
              "billion laughs: %s", zi_error_text ());
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p}]\nplacement:\n"
                    "  - {process: p, nodes: &l [a, *l]}\n", "4:25",
                    "bad value for nodes|got a sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: &p [*p]\n", "2:12", "wrong type for a process");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: &p [{name: a}, {name: b, host: *p}]\n", "2:12",
                    "bad value for host|got a sequence");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: 1e400}]\n", "2:32",
                    "got '1e400'");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: -9223372036854775809}]\n",
                    "2:32", "expected an integer from 1 to 256");
    S_EXPECT_ERROR ("model: m.onnx\nprocesses: [{name: p, threads: +}]\n", "2:32", "got '+'");

    //  Nesting and anchors beyond what a topology needs are refused early
    char nested [256] = "model: m.onnx\nprocesses: [{name: p}]\nx: ";
    for (int level = 0; level < 32; level++)
        strcat (nested, "[");
    S_EXPECT_ERROR (nested, "3:35", "nesting deeper than 32 levels");
    char *anchors = malloc (300 * 16 + 64);
    assert (anchors);
    used = sprintf (anchors, "model: m.onnx\nprocesses: [{name: p}]\nx:\n");
    for (int anchor = 0; anchor < 300; anchor++)
        used += sprintf (anchors + used, "  - &a%d x\n", anchor);
    S_EXPECT_ERROR (anchors, "260:5", "more than 256 anchors");
    free (anchors);
}

//  Each file in tests/bad/topology says on its first line what its error
//  must contain: `# expect: TEXT`. A second line `# nodes: A B ...` means
//  the file loads and placing those nodes must fail instead.
static void
s_test_catalogue (zi_test_t *t)
{
    char folder [1024];
    const char *source = __FILE__;
    const char *slash = strrchr (source, '/');
    snprintf (folder, sizeof folder, "%.*s../tests/bad/topology",
              slash? (int) (slash - source + 1): 0, source);
    struct dirent **entries;
    int count = scandir (folder, &entries, NULL, alphasort);
    ZI_CHECK (t, count > 0, "catalogue folder %s: %s", folder,
              count < 0? strerror (errno): "empty");
    int files = 0;
    for (int index = 0; index < count; index++) {
        char name [256];
        snprintf (name, sizeof name, "%s", entries [index]->d_name);
        free (entries [index]);
        size_t size = strlen (name);
        if (size < 6 || strcmp (name + size - 5, ".yaml") != 0)
            continue;
        char path [1400];
        snprintf (path, sizeof path, "%s/%s", folder, name);
        files++;
        char expect [512] = "", nodes [1024] = "";
        FILE *file = fopen (path, "r");
        if (file) {
            if (!fgets (expect, sizeof expect, file) || !fgets (nodes, sizeof nodes, file))
                nodes [0] = 0;
            fclose (file);
        }
        expect [strcspn (expect, "\n")] = 0;
        nodes [strcspn (nodes, "\n")] = 0;
        if (strncmp (expect, "# expect: ", 10) != 0) {
            ZI_CHECK (t, false, "%s: first line must be '# expect: TEXT'", path);
            continue;
        }
        const char *wanted = expect + 10;
        //  hosts_*.yaml are hosts files (zinfer split --hosts), the rest topologies
        zi_topology_t *topo = strncmp (name, "hosts_", 6) == 0? zi_topology_load_hosts (path):
                                                             zi_topology_load (path);
        int rc = topo? 0: -1;
        if (topo && strncmp (nodes, "# nodes: ", 9) == 0) {
            const char *names [64];
            int n_names = 0;
            for (char *word = strtok (nodes + 9, " "); word && n_names < 64;
                 word = strtok (NULL, " "))
                names [n_names++] = word;
            int process [64], replicas [64];
            rc = zi_topology_place (topo, n_names, names, process, replicas);
        }
        ZI_CHECK (t, rc == -1 && strstr (zi_error_text (), wanted),
                  "%s: expected '%s', got: %s", name, wanted, rc? zi_error_text (): "(no error)");
        zi_topology_destroy (&topo);
    }
    if (count >= 0)
        free (entries);
    ZI_CHECK (t, files >= 10, "catalogue has %d files", files);
}

//  A hosts file (zinfer split --hosts): cores, speed, network and the
//  keys as written; a topology's hosts default to speed 1, cores unsaid
static void
s_test_hosts_file (zi_test_t *t, const s_fixture_t *fixture)
{
    FILE *file = fopen (fixture->yaml, "w");
    assert (file);
    fputs ("base_port: 7300\n"
           "security: {curve: false}\n"
           "network: {usecs: 120.5, megabytes_per_second: 110}\n"
           "hosts:\n"
           "  - {name: big, address: 10.0.0.1, cores: 16, speed: 2.5}\n"
           "  - {name: small, address: 10.0.0.2, base_port: 7400}\n", file);
    fclose (file);
    zi_topology_t *hosts = zi_topology_load_hosts (fixture->yaml);
    ZI_CHECK (t, hosts != NULL, "a hosts file loads: %s", hosts? "": zi_error_text ());
    if (hosts) {
        ZI_CHECK (t, hosts->n_hosts == 2 && hosts->n_processes == 0 && !hosts->curve
                  && hosts->hosts [0].cores == 16 && hosts->hosts [0].speed == 2.5
                  && hosts->hosts [1].cores == 0 && hosts->hosts [1].speed == 1
                  && hosts->hosts [0].base_port == 7300 && hosts->hosts [1].base_port == 7400
                  && hosts->network_usecs == 120.5 && hosts->network_bytes_per_usec == 110,
                  "its hosts, cores, speeds, ports and network as written");
        zi_topology_destroy (&hosts);
    }
    //  The same file is not a topology, and a topology is not a hosts file
    zi_topology_t *topo = zi_topology_load (fixture->yaml);
    ZI_CHECK (t, !topo && strstr (zi_error_text (), "missing key 'model'"),
              "a hosts file is no topology: %s", zi_error_text ());
    zi_topology_destroy (&topo);
    topo = s_load (fixture, "model: m.onnx\nprocesses: [{name: p}]\n");
    ZI_CHECK (t, topo && topo->hosts [0].speed == 1 && topo->hosts [0].cores == 0
              && topo->network_usecs == 0, "a topology's default host: speed 1, cores unsaid");
    zi_topology_destroy (&topo);
    file = fopen (fixture->yaml, "w");
    assert (file);
    fputs ("model: m.onnx\nprocesses: [{name: p}]\n", file);
    fclose (file);
    hosts = zi_topology_load_hosts (fixture->yaml);
    ZI_CHECK (t, !hosts && strstr (zi_error_text (), "unknown key 'model'"),
              "a topology is no hosts file: %s", zi_error_text ());
    zi_topology_destroy (&hosts);
    unlink (fixture->yaml);
}

void
zi_topology_test (zi_test_t *t)
{
    s_fixture_t fixture_data, *fixture = &fixture_data;
    strcpy (fixture->folder, "/tmp/zi_topology_XXXXXX");
    if (!mkdtemp (fixture->folder)) {
        ZI_CHECK (t, false, "mkdtemp: %s", strerror (errno));
        return;
    }
    snprintf (fixture->yaml, sizeof fixture->yaml, "%s/t.yaml", fixture->folder);
    snprintf (fixture->model, sizeof fixture->model, "%s/m.onnx", fixture->folder);
    FILE *model = fopen (fixture->model, "w");
    ZI_CHECK (t, model != NULL, "model file: %s", fixture->model);
    if (model)
        fclose (model);

    s_test_full (t, fixture);
    s_test_defaults (t, fixture);
    s_test_errors (t, fixture);
    s_test_place (t, fixture);
    s_test_names (t, fixture);
    s_test_files (t, fixture);
    s_test_garbage (t, fixture);
    s_test_hosts_file (t, fixture);
    s_test_catalogue (t);

    unlink (fixture->model);
    rmdir (fixture->folder);
}
