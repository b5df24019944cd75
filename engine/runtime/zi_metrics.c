/*  =========================================================================
    zi_metrics - a host's monitor stats as Prometheus text

    The launcher keeps the latest stats map each of its workers' monitors
    published (every second) and renders them here when /metrics is asked
    for: nothing is computed or queried on the request's path, so a scrape
    costs the workers nothing and answers in milliseconds. Counters are the
    monitors' own, which only grow while a process lives; a restarted
    process starts again from zero, as Prometheus expects of a counter
    whose process restarted.

    Latency histograms come from zi_window's fixed buckets (10 us to 10 s),
    rendered cumulatively with le="+Inf" as the total.
    =========================================================================
*/

#include "zi_metrics.h"
#include "zi_worker.h"
#include "zi_msg.h"

//  Where a series' value is read from
typedef enum {
    S_PROCESS,                  //  the stats map itself
    S_SECURITY,                 //  its "security" map
    S_GATEWAY,                  //  its "gateway" map, in the gateway's process
    S_ACTOR                     //  each map of its "actors" list
} s_scope_t;

typedef struct {
    s_scope_t scope;
    const char *key;            //  in the monitor's map (docs/monitor.md)
    const char *name;           //  the Prometheus series
    const char *type;           //  counter, gauge or histogram
    double scale;               //  to the unit the name says (usecs to seconds)
    const char *help;
} s_metric_t;

static const s_metric_t s_metrics [] = {
    {S_PROCESS, "process_cpu_usecs", "zinfer_process_cpu_seconds_total", "counter", 1e-6,
     "CPU time of the whole worker process (getrusage), ZeroMQ's threads included"},
    {S_PROCESS, "cpu_usecs", "zinfer_process_worker_cpu_seconds_total", "counter", 1e-6,
     "CPU time of the process's worker threads (kernels, gateway, sending)"},
    {S_PROCESS, "rss_bytes", "zinfer_process_resident_memory_bytes", "gauge", 1,
     "resident memory of the worker process"},
    {S_PROCESS, "uptime_usecs", "zinfer_process_uptime_seconds", "gauge", 1e-6,
     "time since the worker process started"},
    {S_PROCESS, "threads", "zinfer_process_worker_threads", "gauge", 1,
     "worker threads running the process's actors"},
    {S_PROCESS, "queries", "zinfer_monitor_queries_total", "counter", 1,
     "monitor queries answered"},
    {S_PROCESS, "bad_queries", "zinfer_monitor_bad_queries_total", "counter", 1,
     "monitor queries refused as malformed or unknown"},
    {S_SECURITY, "accepted", "zinfer_curve_accepted_total", "counter", 1,
     "CURVE peers let in by the process's ZAP handler"},
    {S_SECURITY, "refused", "zinfer_curve_refused_total", "counter", 1,
     "CURVE peers refused: unknown keys, keys in the wrong role, failed handshakes"},
    {S_GATEWAY, "requests", "zinfer_gateway_requests_total", "counter", 1,
     "requests admitted"},
    {S_GATEWAY, "replies", "zinfer_gateway_replies_total", "counter", 1, "answers sent"},
    {S_GATEWAY, "rejected", "zinfer_gateway_rejected_total", "counter", 1,
     "malformed requests refused and stray results dropped"},
    {S_GATEWAY, "expired", "zinfer_gateway_expired_total", "counter", 1,
     "requests forgotten after the 60 s deadline"},
    {S_GATEWAY, "busy", "zinfer_gateway_busy_total", "counter", 1,
     "requests refused while their client's answers waited unread"},
    {S_GATEWAY, "held", "zinfer_gateway_held_total", "counter", 1,
     "answers that waited because their client's queue was full"},
    {S_GATEWAY, "unroutable", "zinfer_gateway_unroutable_total", "counter", 1,
     "answers for clients that had disconnected"},
    {S_GATEWAY, "replaced", "zinfer_gateway_replaced_total", "counter", 1,
     "requests sent again by their client while an earlier copy was admitted"},
    {S_GATEWAY, "batches", "zinfer_gateway_batches_total", "counter", 1,
     "batches the gateway stacked requests into (batching:)"},
    {S_GATEWAY, "batched", "zinfer_gateway_batched_total", "counter", 1,
     "requests sent in those batches"},
    {S_GATEWAY, "repeated", "zinfer_gateway_repeated_total", "counter", 1,
     "resends of answered requests, answered again from the recent answers"},
    {S_GATEWAY, "late", "zinfer_gateway_late_total", "counter", 1,
     "results dropped for requests no longer waited for"},
    {S_GATEWAY, "stale", "zinfer_gateway_stale_total", "counter", 1,
     "results of requests an earlier incarnation of the gateway admitted"},
    {S_GATEWAY, "shared", "zinfer_gateway_shared_memory_total", "counter", 1,
     "requests whose inputs came in shared memory"},
    {S_GATEWAY, "inflight", "zinfer_gateway_inflight", "gauge", 1,
     "requests admitted and not yet answered"},
    {S_GATEWAY, "max_inflight", "zinfer_gateway_max_inflight", "gauge", 1,
     "the admission limit"},
    {S_GATEWAY, "inflight_bytes", "zinfer_gateway_inflight_bytes", "gauge", 1,
     "input bytes of the requests admitted, replaced copies and unread answers"},
    {S_GATEWAY, "max_inflight_bytes", "zinfer_gateway_max_inflight_bytes", "gauge", 1,
     "the admission limit on those bytes (max_inflight_bytes)"},
    {S_GATEWAY, "undelivered", "zinfer_gateway_undelivered", "gauge", 1,
     "answers waiting for a client that does not read"},
    {S_GATEWAY, "latency_histogram", "zinfer_gateway_latency_seconds", "histogram", 1e-6,
     "end-to-end latency in the gateway: admission to answer"},
    {S_ACTOR, "requests", "zinfer_actor_requests_total", "counter", 1, "requests computed"},
    {S_ACTOR, "messages_in", "zinfer_actor_messages_in_total", "counter", 1,
     "tensors accepted"},
    {S_ACTOR, "messages_out", "zinfer_actor_messages_out_total", "counter", 1, "tensors sent"},
    {S_ACTOR, "bytes_in", "zinfer_actor_bytes_in_total", "counter", 1, "data bytes accepted"},
    {S_ACTOR, "bytes_out", "zinfer_actor_bytes_out_total", "counter", 1, "data bytes sent"},
    {S_ACTOR, "received", "zinfer_actor_received_total", "counter", 1,
     "messages taken from the mailbox, accepted or rejected"},
    {S_ACTOR, "rejected", "zinfer_actor_rejected_total", "counter", 1,
     "malformed or unexpected messages dropped"},
    {S_ACTOR, "stale_joins", "zinfer_actor_stale_joins_total", "counter", 1,
     "partial joins dropped after 30 s"},
    {S_ACTOR, "errors", "zinfer_actor_errors_total", "counter", 1, "kernel failures"},
    {S_ACTOR, "busy_usecs", "zinfer_actor_busy_seconds_total", "counter", 1e-6,
     "wall time spent computing; its rate is the share of a core the actor is busy"},
    {S_ACTOR, "joins_pending", "zinfer_actor_joins_pending", "gauge", 1,
     "requests waiting for more inputs"},
    {S_ACTOR, "compute_histogram", "zinfer_actor_compute_seconds", "histogram", 1e-6,
     "compute time per request"},
    {S_ACTOR, "wait_histogram", "zinfer_actor_wait_seconds", "histogram", 1e-6,
     "wait from the first input's arrival to compute start"},
};

//  Writes ,name="value" (or {name="value" for the first label), the value
//  escaped as the exposition format asks
static void
s_label (FILE *out, const char *name, const char *value, size_t length)
{
    fprintf (out, "%s%s=\"", strcmp (name, "topology") == 0? "{": ",", name);
    for (size_t index = 0; index < length; index++) {
        char c = value [index];
        if (c == '\\' || c == '"')
            fprintf (out, "\\%c", c);
        else
        if (c == '\n')
            fputs ("\\n", out);
        else
            fputc (c, out);
    }
    fputc ('"', out);
}

static void
s_label_object (FILE *out, const char *name, const msgpack_object *value)
{
    if (value && value->type == MSGPACK_OBJECT_STR)
        s_label (out, name, value->via.str.ptr, value->via.str.size);
    else
        s_label (out, name, "", 0);
}

//  The labels every series has, opened but not closed: the caller adds
//  its own and the closing brace
static void
s_labels (FILE *out, const char *topology, const char *host, const char *process)
{
    s_label (out, "topology", topology, strlen (topology));
    s_label (out, "host", host, strlen (host));
    s_label (out, "process", process, strlen (process));
}

static void
s_histogram (FILE *out, const char *name, const msgpack_object *histogram, double scale,
             const char *topology, const char *host, const char *process,
             const msgpack_object *actor)
{
    //  [sum_usecs, [count per bucket ...]] (zi_window_pack)
    if (!histogram || histogram->type != MSGPACK_OBJECT_ARRAY || histogram->via.array.size != 2)
        return;
    const msgpack_object *sum = &histogram->via.array.ptr [0];
    const msgpack_object *buckets = &histogram->via.array.ptr [1];
    if (sum->type != MSGPACK_OBJECT_POSITIVE_INTEGER || buckets->type != MSGPACK_OBJECT_ARRAY
    ||  buckets->via.array.size != ZI_HISTOGRAM_BOUNDS + 1)
        return;
    uint64_t total = 0;
    for (int bucket = 0; bucket <= ZI_HISTOGRAM_BOUNDS; bucket++) {
        const msgpack_object *count = &buckets->via.array.ptr [bucket];
        total += count->type == MSGPACK_OBJECT_POSITIVE_INTEGER? count->via.u64: 0;
        fprintf (out, "%s_bucket", name);
        s_labels (out, topology, host, process);
        if (actor) {
            s_label_object (out, "actor", zi_msgpack_get (actor, "name"));
            s_label_object (out, "op", zi_msgpack_get (actor, "op"));
        }
        if (bucket < ZI_HISTOGRAM_BOUNDS)
            fprintf (out, ",le=\"%.15g\"} %llu\n", zi_histogram_bounds [bucket] * scale,
                     (unsigned long long) total);
        else
            fprintf (out, ",le=\"+Inf\"} %llu\n", (unsigned long long) total);
    }
    const char *suffixes [] = {"_sum", "_count"};
    for (int which = 0; which < 2; which++) {
        fprintf (out, "%s%s", name, suffixes [which]);
        s_labels (out, topology, host, process);
        if (actor) {
            s_label_object (out, "actor", zi_msgpack_get (actor, "name"));
            s_label_object (out, "op", zi_msgpack_get (actor, "op"));
        }
        if (which == 0)
            fprintf (out, "} %.15g\n", sum->via.u64 * scale);
        else
            fprintf (out, "} %llu\n", (unsigned long long) total);
    }
}

//  One sample of a metric from one map
static void
s_sample (FILE *out, const s_metric_t *metric, const msgpack_object *map,
          const char *topology, const char *host, const char *process,
          const msgpack_object *actor)
{
    const msgpack_object *value = zi_msgpack_get (map, metric->key);
    if (!value)
        return;
    if (strcmp (metric->type, "histogram") == 0) {
        s_histogram (out, metric->name, value, metric->scale, topology, host, process, actor);
        return;
    }
    fputs (metric->name, out);
    s_labels (out, topology, host, process);
    if (actor) {
        s_label_object (out, "actor", zi_msgpack_get (actor, "name"));
        s_label_object (out, "op", zi_msgpack_get (actor, "op"));
    }
    fprintf (out, "} %.15g\n", zi_msgpack_number (map, metric->key) * metric->scale);
}

char *
zi_metrics_render (const char *topology, const char *host,
                   const zi_metrics_process_t *processes, int count, size_t *size)
{
    char *text = NULL;
    FILE *out = open_memstream (&text, size);
    assert (out);
    msgpack_unpacked *stats = calloc (count + 1, sizeof (msgpack_unpacked));
    assert (stats);
    for (int index = 0; index < count; index++) {
        msgpack_unpacked_init (&stats [index]);
        size_t offset = 0;
        if (processes [index].stats
        &&  msgpack_unpack_next (&stats [index], processes [index].stats,
                                 processes [index].stats_size, &offset) != MSGPACK_UNPACK_SUCCESS)
            stats [index].data.type = MSGPACK_OBJECT_NIL;
    }
    //  What the launcher knows itself, with or without monitors
    fprintf (out, "# HELP zinfer_process_up 1 when the worker process runs and reported "
             "READY since it last started\n# TYPE zinfer_process_up gauge\n");
    for (int index = 0; index < count; index++) {
        fputs ("zinfer_process_up", out);
        s_labels (out, topology, host, processes [index].name);
        fprintf (out, "} %d\n", processes [index].pid > 0 && processes [index].ready);
    }
    fprintf (out, "# HELP zinfer_process_restarts_total worker processes started again after "
             "they died or hung\n# TYPE zinfer_process_restarts_total counter\n");
    for (int index = 0; index < count; index++) {
        fputs ("zinfer_process_restarts_total", out);
        s_labels (out, topology, host, processes [index].name);
        fprintf (out, "} %llu\n", (unsigned long long) processes [index].restarts);
    }
    for (size_t item = 0; item < sizeof s_metrics / sizeof s_metrics [0]; item++) {
        const s_metric_t *metric = &s_metrics [item];
        fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", metric->name, metric->help,
                 metric->name, metric->type);
        for (int index = 0; index < count; index++) {
            const msgpack_object *map = &stats [index].data;
            if (map->type != MSGPACK_OBJECT_MAP)
                continue;
            const char *process = processes [index].name;
            if (metric->scope == S_PROCESS)
                s_sample (out, metric, map, topology, host, process, NULL);
            else
            if (metric->scope == S_SECURITY)
                s_sample (out, metric, zi_msgpack_get (map, "security"), topology, host,
                          process, NULL);
            else
            if (metric->scope == S_GATEWAY)
                s_sample (out, metric, zi_msgpack_get (map, "gateway"), topology, host,
                          process, NULL);
            else {
                const msgpack_object *actors = zi_msgpack_get (map, "actors");
                for (uint32_t actor = 0; actors && actors->type == MSGPACK_OBJECT_ARRAY
                                         && actor < actors->via.array.size; actor++)
                    s_sample (out, metric, &actors->via.array.ptr [actor], topology, host,
                              process, &actors->via.array.ptr [actor]);
            }
        }
    }
    for (int index = 0; index < count; index++)
        msgpack_unpacked_destroy (&stats [index]);
    free (stats);
    fclose (out);
    return text;
}

//  Renders stats made here the way a monitor packs them, and checks the
//  series a scrape relies on
void
zi_metrics_test (zi_test_t *t)
{
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    zi_window_t *window = calloc (1, sizeof (zi_window_t));
    assert (window);
    zi_window_add (window, 7);          //  in the first bucket (le 10 us)
    zi_window_add (window, 300);        //  le 500 us
    zi_window_add (window, 20000000);   //  past the last bound: +Inf only

    //  Each bound, either side of it, and each power of two, in the
    //  bucket a search from the first would find (zi_window_add starts
    //  from a table by the value's bit length)
    zi_window_t *probe = calloc (1, sizeof (zi_window_t));
    assert (probe);
    uint32_t values [3 * ZI_HISTOGRAM_BOUNDS + 2 * 32 + 2];
    int n_values = 0;
    for (int bucket = 0; bucket < ZI_HISTOGRAM_BOUNDS; bucket++) {
        values [n_values++] = zi_histogram_bounds [bucket] - 1;
        values [n_values++] = zi_histogram_bounds [bucket];
        values [n_values++] = zi_histogram_bounds [bucket] + 1;
    }
    for (int bit = 0; bit < 32; bit++) {
        values [n_values++] = UINT32_C (1) << bit;
        values [n_values++] = (UINT32_C (1) << bit) - 1;
    }
    values [n_values++] = 0;
    values [n_values++] = UINT32_MAX;
    bool placed = true;
    for (int index = 0; index < n_values; index++) {
        int want = 0;
        while (want < ZI_HISTOGRAM_BOUNDS && values [index] > zi_histogram_bounds [want])
            want++;
        uint64_t before = ZI_READ (probe->buckets [want]);
        zi_window_add (probe, values [index]);
        placed &= ZI_READ (probe->buckets [want]) == before + 1;
    }
    ZI_CHECK (t, placed && ZI_READ (probe->count) == (uint64_t) n_values,
              "every latency goes into the bucket of the first bound not below it");
    free (probe);
    msgpack_pack_map (&packer, 4);
    msgpack_pack_str_with_body (&packer, "process_cpu_usecs", 17);
    msgpack_pack_uint64 (&packer, 2500000);
    msgpack_pack_str_with_body (&packer, "security", 8);
    msgpack_pack_map (&packer, 1);
    msgpack_pack_str_with_body (&packer, "refused", 7);
    msgpack_pack_uint64 (&packer, 3);
    msgpack_pack_str_with_body (&packer, "gateway", 7);
    msgpack_pack_map (&packer, 3);
    msgpack_pack_str_with_body (&packer, "requests", 8);
    msgpack_pack_uint64 (&packer, 42);
    zi_window_pack (window, &packer, "latency");
    msgpack_pack_str_with_body (&packer, "actors", 6);
    msgpack_pack_array (&packer, 1);
    msgpack_pack_map (&packer, 3);
    msgpack_pack_str_with_body (&packer, "name", 4);
    msgpack_pack_str_with_body (&packer, "/a\"b\\c", 6);
    msgpack_pack_str_with_body (&packer, "op", 2);
    msgpack_pack_str_with_body (&packer, "Conv", 4);
    msgpack_pack_str_with_body (&packer, "busy_usecs", 10);
    msgpack_pack_uint64 (&packer, 1500000);
    zi_metrics_process_t processes [] = {
        {.name = "front", .pid = 10, .ready = true, .restarts = 2,
         .stats = buffer.data, .stats_size = buffer.size},
        {.name = "back", .pid = 0, .ready = false, .stats = "\xc1garbage", .stats_size = 8},
    };
    size_t size = 0;
    char *text = zi_metrics_render ("t", "h", processes, 2, &size);
    ZI_CHECK (t, text && size == strlen (text), "rendered");
    const char *expected [] = {
        "zinfer_process_up{topology=\"t\",host=\"h\",process=\"front\"} 1\n",
        "zinfer_process_up{topology=\"t\",host=\"h\",process=\"back\"} 0\n",
        "zinfer_process_restarts_total{topology=\"t\",host=\"h\",process=\"front\"} 2\n",
        "zinfer_process_cpu_seconds_total{topology=\"t\",host=\"h\",process=\"front\"} 2.5\n",
        "zinfer_curve_refused_total{topology=\"t\",host=\"h\",process=\"front\"} 3\n",
        "zinfer_gateway_requests_total{topology=\"t\",host=\"h\",process=\"front\"} 42\n",
        "zinfer_gateway_latency_seconds_bucket{topology=\"t\",host=\"h\",process=\"front\","
        "le=\"1e-05\"} 1\n",
        "zinfer_gateway_latency_seconds_bucket{topology=\"t\",host=\"h\",process=\"front\","
        "le=\"0.0005\"} 2\n",
        "zinfer_gateway_latency_seconds_bucket{topology=\"t\",host=\"h\",process=\"front\","
        "le=\"10\"} 2\n",
        "zinfer_gateway_latency_seconds_bucket{topology=\"t\",host=\"h\",process=\"front\","
        "le=\"+Inf\"} 3\n",
        "zinfer_gateway_latency_seconds_count{topology=\"t\",host=\"h\",process=\"front\"} 3\n",
        "zinfer_gateway_latency_seconds_sum{topology=\"t\",host=\"h\",process=\"front\"} "
        "20.000307\n",
        "zinfer_actor_busy_seconds_total{topology=\"t\",host=\"h\",process=\"front\","
        "actor=\"/a\\\"b\\\\c\",op=\"Conv\"} 1.5\n",
        "# TYPE zinfer_actor_compute_seconds histogram\n",
    };
    for (size_t index = 0; index < sizeof expected / sizeof expected [0]; index++)
        ZI_CHECK (t, text && strstr (text, expected [index]), "has %s", expected [index]);
    ZI_CHECK (t, text && !strstr (text, "process=\"back\"} 0\nzinfer_process_cpu"),
              "undecodable stats give no series beyond up and restarts");
    free (text);
    free (window);
    msgpack_sbuffer_destroy (&buffer);
}
