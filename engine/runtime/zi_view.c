/*  =========================================================================
    zi_view - the live web view of a host: one static page, and the JSON
    it asks for every second

    /           the page: a column per process, a row per actor with its
                busy %, queue depth and latency, redrawn every second
    /api/view   the host's latest stats, trimmed to what the page draws

    Rates (busy %, CPU %, requests/s) are the page's own arithmetic
    between two answers, over the processes' own uptime (the stats move
    once a second), so the server keeps no history. Names from the model reach
    the page as JSON strings and are put in as text, never as markup.
    =========================================================================
*/

#include "zi_metrics.h"
#include "zi_msg.h"
#include <json-c/json.h>

static json_object *
s_number (const msgpack_object *map, const char *key, double scale)
{
    return json_object_new_double (zi_msgpack_number (map, key) * scale);
}

static json_object *
s_string (const msgpack_object *map, const char *key)
{
    const msgpack_object *value = zi_msgpack_get (map, key);
    if (!value || value->type != MSGPACK_OBJECT_STR)
        return json_object_new_string ("");
    return json_object_new_string_len (value->via.str.ptr, (int) value->via.str.size);
}

//  One of [p50, p95, p99] of a window, in ms
static json_object *
s_percentile (const msgpack_object *map, const char *key, int which)
{
    const msgpack_object *window = zi_msgpack_get (map, key);
    double value = 0;
    if (window && window->type == MSGPACK_OBJECT_ARRAY && window->via.array.size == 3) {
        const msgpack_object *item = &window->via.array.ptr [which];
        value = item->type == MSGPACK_OBJECT_FLOAT64 || item->type == MSGPACK_OBJECT_FLOAT32?
                item->via.f64: item->type == MSGPACK_OBJECT_POSITIVE_INTEGER?
                (double) item->via.u64: 0;
    }
    return json_object_new_double (value / 1000);
}

//  Adds [[ACTOR, COUNT], ...] to what each actor was sent
static void
s_add_sent (const msgpack_object *sent, double *sent_to, int n_actors)
{
    if (!sent || sent->type != MSGPACK_OBJECT_ARRAY)
        return;
    for (uint32_t item = 0; item < sent->via.array.size; item++) {
        const msgpack_object *pair = &sent->via.array.ptr [item];
        if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2
        ||  pair->via.array.ptr [0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
        ||  pair->via.array.ptr [1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue;
        uint64_t actor = pair->via.array.ptr [0].via.u64;
        if (actor < (uint64_t) n_actors)
            sent_to [actor] += (double) pair->via.array.ptr [1].via.u64;
    }
}

char *
zi_view_json (const char *topology, const char *host, const zi_metrics_process_t *processes,
              int count, size_t *size)
{
    msgpack_unpacked *stats = calloc (count + 1, sizeof (msgpack_unpacked));
    assert (stats);
    //  Queue depth is what every sender sent an actor minus what it took:
    //  senders on this host only, so exact when the topology has one host
    int n_actors = 0;
    for (int index = 0; index < count; index++) {
        msgpack_unpacked_init (&stats [index]);
        size_t offset = 0;
        if (!processes [index].stats
        ||  msgpack_unpack_next (&stats [index], processes [index].stats,
                                 processes [index].stats_size, &offset) != MSGPACK_UNPACK_SUCCESS)
            stats [index].data.type = MSGPACK_OBJECT_NIL;
        const msgpack_object *actors = zi_msgpack_get (&stats [index].data, "actors");
        for (uint32_t item = 0; actors && actors->type == MSGPACK_OBJECT_ARRAY
                                && item < actors->via.array.size; item++) {
            double number = zi_msgpack_number (&actors->via.array.ptr [item], "index");
            if (number >= n_actors && number < 1 << 20)
                n_actors = (int) number + 1;
        }
    }
    double *sent_to = calloc (n_actors + 1, sizeof (double));
    assert (sent_to);
    for (int index = 0; index < count; index++) {
        const msgpack_object *map = &stats [index].data;
        s_add_sent (zi_msgpack_get (zi_msgpack_get (map, "gateway"), "sent"), sent_to, n_actors);
        const msgpack_object *actors = zi_msgpack_get (map, "actors");
        for (uint32_t item = 0; actors && actors->type == MSGPACK_OBJECT_ARRAY
                                && item < actors->via.array.size; item++)
            s_add_sent (zi_msgpack_get (&actors->via.array.ptr [item], "sent"), sent_to, n_actors);
    }
    json_object *root = json_object_new_object ();
    json_object_object_add (root, "topology", json_object_new_string (topology));
    json_object_object_add (root, "host", json_object_new_string (host));
    json_object *list = json_object_new_array ();
    for (int index = 0; index < count; index++) {
        const msgpack_object *map = &stats [index].data;
        json_object *process = json_object_new_object ();
        json_object_object_add (process, "name", json_object_new_string (processes [index].name));
        json_object_object_add (process, "up", json_object_new_boolean (
                                processes [index].pid > 0 && processes [index].ready));
        json_object_object_add (process, "restarts",
                                json_object_new_int64 ((int64_t) processes [index].restarts));
        json_object_object_add (process, "pid", s_number (map, "pid", 1));
        json_object_object_add (process, "uptime_s", s_number (map, "uptime_usecs", 1e-6));
        json_object_object_add (process, "cpu_s", s_number (map, "process_cpu_usecs", 1e-6));
        json_object_object_add (process, "rss_bytes", s_number (map, "rss_bytes", 1));
        json_object_object_add (process, "threads", s_number (map, "threads", 1));
        const msgpack_object *gateway = zi_msgpack_get (map, "gateway");
        if (gateway && gateway->type == MSGPACK_OBJECT_MAP) {
            json_object *entry = json_object_new_object ();
            json_object_object_add (entry, "requests", s_number (gateway, "requests", 1));
            json_object_object_add (entry, "replies", s_number (gateway, "replies", 1));
            json_object_object_add (entry, "inflight", s_number (gateway, "inflight", 1));
            json_object_object_add (entry, "rejected", s_number (gateway, "rejected", 1));
            json_object_object_add (entry, "latency_p50_ms", s_percentile (gateway, "latency_usecs", 0));
            json_object_object_add (entry, "latency_p99_ms", s_percentile (gateway, "latency_usecs", 2));
            json_object_object_add (process, "gateway", entry);
        }
        json_object *actors_json = json_object_new_array ();
        const msgpack_object *actors = zi_msgpack_get (map, "actors");
        for (uint32_t item = 0; actors && actors->type == MSGPACK_OBJECT_ARRAY
                                && item < actors->via.array.size; item++) {
            const msgpack_object *actor = &actors->via.array.ptr [item];
            json_object *entry = json_object_new_object ();
            json_object_object_add (entry, "name", s_string (actor, "name"));
            json_object_object_add (entry, "op", s_string (actor, "op"));
            json_object_object_add (entry, "thread", s_number (actor, "thread", 1));
            json_object_object_add (entry, "requests", s_number (actor, "requests", 1));
            json_object_object_add (entry, "busy_s", s_number (actor, "busy_usecs", 1e-6));
            double index = zi_msgpack_number (actor, "index");
            double queue = index >= 0 && index < n_actors?
                           sent_to [(int) index] - zi_msgpack_number (actor, "received"): 0;
            json_object_object_add (entry, "queue", json_object_new_double (queue > 0? queue: 0));
            json_object_object_add (entry, "compute_p50_ms", s_percentile (actor, "compute_usecs", 0));
            json_object_object_add (entry, "compute_p99_ms", s_percentile (actor, "compute_usecs", 2));
            json_object_object_add (entry, "wait_p50_ms", s_percentile (actor, "wait_usecs", 0));
            json_object_object_add (entry, "errors", s_number (actor, "errors", 1));
            json_object_object_add (entry, "rejected", s_number (actor, "rejected", 1));
            json_object_array_add (actors_json, entry);
        }
        json_object_object_add (process, "actors", actors_json);
        json_object_array_add (list, process);
    }
    json_object_object_add (root, "processes", list);
    const char *text = json_object_to_json_string_ext (root, JSON_C_TO_STRING_PLAIN);
    char *copy = strdup (text);
    assert (copy);
    *size = strlen (copy);
    json_object_put (root);
    free (sent_to);
    for (int index = 0; index < count; index++)
        msgpack_unpacked_destroy (&stats [index]);
    free (stats);
    return copy;
}

//  The page: plain HTML, CSS and script, no library, nothing fetched but
//  /api/view. Model names are set with textContent, never as markup
const char *zi_view_page =
"<!DOCTYPE html>\n"
"<html lang='en'><head><meta charset='utf-8'><title>zinfer</title>\n"
"<style>\n"
"body{font:13px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}\n"
"h1{font-size:16px;margin:0 0 4px}#status{color:#666;margin-bottom:12px}\n"
"#processes{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}\n"
".process{background:#fff;border:1px solid #ccc;border-radius:6px;padding:8px;min-width:340px}\n"
".process.down{border-color:#c33;background:#fee}\n"
".process h2{font-size:14px;margin:0 0 2px}.meta{color:#666;font-size:12px;margin-bottom:6px}\n"
"table{border-collapse:collapse;width:100%}th,td{padding:2px 4px;text-align:right;white-space:nowrap}\n"
"th{font-weight:600;color:#555;border-bottom:1px solid #ddd}th:first-child{text-align:left}\n"
"td.name{text-align:left;max-width:190px;"
"overflow:hidden;text-overflow:ellipsis}\n"
".bar{position:relative;width:70px;height:12px;background:#eee;display:inline-block;vertical-align:middle}\n"
".bar i{position:absolute;left:0;top:0;bottom:0;background:#3366aa}\n"
".bar.hot i{background:#dd6633}\n"
"</style></head><body>\n"
"<h1 id='title'>zinfer</h1><div id='status'>waiting for the first stats...</div>\n"
"<div id='processes'></div>\n"
"<script>\n"
"'use strict';\n"
"let previous=null;const rates={};\n"
"function el(tag,text,cls){const e=document.createElement(tag);if(text!==undefined)e.textContent=text;"
"if(cls)e.className=cls;return e;}\n"
"function ms(v){return v<1?v.toFixed(3):v.toFixed(1);}\n"
"// Over the last interval once there is one; until then, over the uptime\n"
"function rate(key,now,before,seconds,uptime){\n"
" if(seconds>0)rates[key]=Math.max(0,(now-before)/seconds);\n"
" return key in rates?rates[key]:uptime>0?now/uptime:0;}\n"
"function draw(view){\n"
" document.getElementById('title').textContent='zinfer: topology '+view.topology+', host '+view.host;\n"
" const root=document.getElementById('processes');root.replaceChildren();\n"
" for(const p of view.processes){\n"
"  const box=el('div',undefined,'process'+(p.up?'':' down'));\n"
"  box.appendChild(el('h2',p.name+(p.up?'':' (down)')));\n"
"  const before=previous&&previous.processes.find(q=>q.name===p.name&&q.pid===p.pid);\n"
"  const seconds=before?p.uptime_s-before.uptime_s:0;\n"
"  let meta='pid '+p.pid+', up '+p.uptime_s.toFixed(0)+' s, rss '+(p.rss_bytes/1048576).toFixed(1)+' MiB';\n"
"  meta+=', cpu '+(100*rate(p.name,p.cpu_s,before&&before.cpu_s,seconds,p.uptime_s)).toFixed(0)+'%';\n"
"  if(p.restarts)meta+=', restarts '+p.restarts;\n"
"  if(p.gateway){meta+=' | gateway: '+p.gateway.replies+' answers, '+p.gateway.inflight+' in flight, p50 '"
"+ms(p.gateway.latency_p50_ms)+' ms, p99 '+ms(p.gateway.latency_p99_ms)+' ms';\n"
"   meta+=', '+rate(p.name+' req',p.gateway.replies,before&&before.gateway&&before.gateway.replies,"
"seconds,p.uptime_s).toFixed(1)+' req/s';}\n"
"  box.appendChild(el('div',meta,'meta'));\n"
"  const table=el('table');const head=el('tr');\n"
"  for(const h of ['actor','op','busy %','','queue','p50 ms','p99 ms','wait ms'])head.appendChild(el('th',h));\n"
"  table.appendChild(head);\n"
"  for(const a of p.actors){\n"
"   const old=before&&before.actors.find(b=>b.name===a.name);\n"
"   const busy=Math.min(100,100*rate(p.name+' '+a.name,a.busy_s,old&&old.busy_s,old?seconds:0,"
"p.uptime_s));\n"
"   const row=el('tr');const name=el('td',a.name,'name');name.title=a.name;row.appendChild(name);\n"
"   row.appendChild(el('td',a.op));row.appendChild(el('td',busy.toFixed(1)));\n"
"   const cell=el('td');const bar=el('span',undefined,'bar'+(busy>80?' hot':''));const fill=el('i');\n"
"   fill.style.width=busy.toFixed(0)+'%';bar.appendChild(fill);cell.appendChild(bar);row.appendChild(cell);\n"
"   row.appendChild(el('td',a.queue.toFixed(0)));row.appendChild(el('td',ms(a.compute_p50_ms)));\n"
"   row.appendChild(el('td',ms(a.compute_p99_ms)));row.appendChild(el('td',ms(a.wait_p50_ms)));\n"
"   table.appendChild(row);}\n"
"  box.appendChild(table);root.appendChild(box);}\n"
"}\n"
"async function tick(){\n"
" try{const r=await fetch('/api/view',{cache:'no-store'});const view=await r.json();\n"
"  draw(view);previous=view;\n"
"  document.getElementById('status').textContent='updated '+new Date().toLocaleTimeString()+"
"' (every second; busy % over the last interval)';}\n"
" catch(e){document.getElementById('status').textContent='no answer from the launcher: '+e;}\n"
" setTimeout(tick,1000);}\n"
"tick();\n"
"</script></body></html>\n";
