/*  =========================================================================
    zi_view - the live web view of a host: one static page, and the JSON
    it asks for every second

    /           the page: the topology's placement (hosts, processes,
                actors, and the edges between them with their bytes, from
                /api/placement) with each actor coloured by its busy % and
                labelled with its queue depth and latency, and a table per
                process below, updated every second
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

//  [[ACTOR, COUNT], ...] as it came (ACTOR -1: the gateway), at most 256:
//  the page counts each edge's messages from them
static json_object *
s_sent (const msgpack_object *sent)
{
    json_object *list = json_object_new_array ();
    for (uint32_t item = 0; sent && sent->type == MSGPACK_OBJECT_ARRAY
                            && item < sent->via.array.size && item < 256; item++) {
        const msgpack_object *pair = &sent->via.array.ptr [item];
        if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2
        ||  pair->via.array.ptr [1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue;
        const msgpack_object *actor = &pair->via.array.ptr [0];
        int64_t index = actor->type == MSGPACK_OBJECT_POSITIVE_INTEGER? (int64_t) actor->via.u64:
                        actor->type == MSGPACK_OBJECT_NEGATIVE_INTEGER? actor->via.i64: -2;
        if (index < -1 || index >= 1 << 20)
            continue;
        json_object *entry = json_object_new_array ();
        json_object_array_add (entry, json_object_new_int64 (index));
        json_object_array_add (entry, json_object_new_double (
                               (double) pair->via.array.ptr [1].via.u64));
        json_object_array_add (list, entry);
    }
    return list;
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
            json_object_object_add (entry, "sent", s_sent (zi_msgpack_get (gateway, "sent")));
            json_object_object_add (process, "gateway", entry);
        }
        json_object *actors_json = json_object_new_array ();
        const msgpack_object *actors = zi_msgpack_get (map, "actors");
        for (uint32_t item = 0; actors && actors->type == MSGPACK_OBJECT_ARRAY
                                && item < actors->via.array.size; item++) {
            const msgpack_object *actor = &actors->via.array.ptr [item];
            json_object *entry = json_object_new_object ();
            json_object_object_add (entry, "name", s_string (actor, "name"));
            json_object_object_add (entry, "index", s_number (actor, "index", 1));
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
            json_object_object_add (entry, "sent", s_sent (zi_msgpack_get (actor, "sent")));
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
//  /api/placement (once) and /api/view (every second). It draws the
//  placement as SVG of its own layout, a column per process, so it needs
//  no graphviz where the launcher runs. Model names are set with
//  textContent, never as markup, and cut to fit their boxes (whole in a
//  tooltip)
const char *zi_view_page =
"<!DOCTYPE html>\n"
"<html lang='en'><head><meta charset='utf-8'><title>zinfer</title>\n"
"<style>\n"
"body{font:13px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}\n"
"h1{font-size:16px;margin:0 0 4px}h2{font-size:14px;margin:16px 0 6px}#status{color:#666;"
"margin-bottom:8px}\n"
"#legend{color:#555;font-size:12px;margin-bottom:6px}#legend i{display:inline-block;width"
":36px;height:10px;vertical-align:middle;margin:0 4px}\n"
"svg text{font-family:system-ui,sans-serif}\n"
".host{fill:#f0f3f8;stroke:#99a}.process{fill:#fff;stroke:#889}.process.down{fill:#fee;st"
"roke:#c33}\n"
".hostname{font-size:13px;font-weight:600;fill:#334}.pname{font-size:12px;font-weight:600"
"}.pmeta{font-size:11px;fill:#555}\n"
".actor rect,.gateway ellipse{stroke:#556}.aname{font-size:11px;font-weight:600}.aop{font"
"-size:10px;fill:#444}\n"
".live{font-size:10px;fill:#113}.edge{fill:none;stroke:#889;stroke-width:1.2}\n"
".edge.cross{stroke:#c25a00;stroke-dasharray:6 4;stroke-width:1.6}\n"
".elabel{font-size:10px;fill:#a04000;paint-order:stroke;stroke:#f0f3f8;stroke-width:4px}\n"
"#processes{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}\n"
".table{background:#fff;border:1px solid #ccc;border-radius:6px;padding:8px;min-width:340px}\n"
".table.down{border-color:#c33;background:#fee}.table h3{font-size:13px;margin:0 0 2px}.m"
"eta{color:#666;font-size:12px;margin-bottom:6px}\n"
"table{border-collapse:collapse;width:100%}th,td{padding:2px 4px;text-align:right;white-s"
"pace:nowrap}\n"
"th{font-weight:600;color:#555;border-bottom:1px solid #ddd}th:first-child{text-align:left}\n"
"td.name{text-align:left;max-width:190px;overflow:hidden;text-overflow:ellipsis}\n"
"</style></head><body>\n"
"<h1 id='title'>zinfer</h1><div id='status'>waiting for the first stats...</div>\n"
"<div id='legend'>busy <i style='background:hsl(120,60%,88%)'></i>0% to 100%<i style='bac"
"kground:hsl(0,75%,62%)'></i>\n"
"dashed: an edge between processes, with the bytes of one message and the messages sent s"
"o far</div>\n"
"<div id='placement'></div>\n"
"<h2>Processes</h2><div id='processes'></div>\n"
"<script>\n"
"'use strict';\n"
"const NS='http://www.w3.org/2000/svg',NW=200,NH=50,GAP=16,COL=NW+150,HEAD=40,PAD=14;\n"
"let placement=null,previous=null;const rates={},nodes={},labels=[],heads={},shown={};\n"
"function el(tag,text,cls){const e=document.createElement(tag);if(text!==undefined)e.text"
"Content=text;\n"
"if(cls)e.className=cls;return e;}\n"
"function sv(tag,attrs,text){const e=document.createElementNS(NS,tag);\n"
"for(const k in attrs)e.setAttribute(k,attrs[k]);if(text!==undefined)e.textContent=text;r"
"eturn e;}\n"
"function cut(text,n){return text.length>n?text.slice(0,n-1)+'\\u2026':text;}\n"
"function ms(v){return v<1?v.toFixed(3):v.toFixed(1);}\n"
"// A latency for a label: microseconds below a millisecond\n"
"function lat(v){return v>=1?v.toFixed(1)+' ms':(1000*v).toFixed(v>=0.01?0:1)+' \\u00b5s';}\n"
"function size(b){return b>=1048576?(b/1048576).toFixed(1)+' MiB':b>=1024?(b/1024).toFixe"
"d(1)+' KiB':b.toFixed(0)+' B';}\n"
"function heat(busy){const b=Math.min(1,Math.max(0,busy/100));\n"
"return 'hsl('+(120-120*b).toFixed(0)+',' +(60+15*b).toFixed(0)+'%,'+(88-26*b).toFixed(0)"
"+'%)';}\n"
"// Over the last interval once there is one; until then, over the uptime\n"
"function rate(key,now,before,seconds,uptime){\n"
" if(seconds>0)rates[key]=Math.max(0,(now-before)/seconds);\n"
" return key in rates?rates[key]:uptime>0?now/uptime:0;}\n"
"// A column per process, processes grouped by host; a row per actor in\n"
"// the order of the plan, the gateway first in its process\n"
"function layout(p){\n"
" const svg=sv('svg',{id:'graph'});const defs=sv('defs');\n"
" for(const [id,colour] of [['arrow','#889'],['arrowx','#c25a00']]){\n"
"  const m=sv('marker',{id:id,viewBox:'0 0 10 10',refX:'10',refY:'5',markerWidth:'7',mark"
"erHeight:'7',orient:'auto'});\n"
"  m.appendChild(sv('path',{d:'M0,0L10,5L0,10z',fill:colour}));defs.appendChild(m);}\n"
" svg.appendChild(defs);\n"
" const rows={},at={};let x=PAD,height=0;\n"
" p.processes.forEach((q,i)=>rows[i]=q.gateway?1:0);\n"
" p.actors.forEach((a,i)=>{at[i]={p:a.process,row:rows[a.process]++};});\n"
" p.processes.forEach((q,i)=>{if(q.gateway)at[-1]={p:i,row:0};});\n"
" const column={},boxes=sv('g'),edges=sv('g'),top=sv('g');\n"
" p.hosts.forEach((h,hi)=>{\n"
"  const mine=p.processes.map((q,i)=>i).filter(i=>p.processes[i].host===hi);if(!mine.leng"
"th)return;\n"
"  const x0=x;let tall=0;x+=PAD;\n"
"  for(const i of mine){column[i]=x;tall=Math.max(tall,rows[i]);x+=COL;}\n"
"  const h1=HEAD+28+Math.max(1,tall)*(NH+GAP)+PAD;height=Math.max(height,h1+PAD);\n"
"  boxes.appendChild(sv('rect',{x:x0,y:PAD,width:x-x0,height:h1,rx:8,class:'host'}));\n"
"  boxes.appendChild(sv('text',{x:x0+10,y:PAD+18,class:'hostname'},cut('host '+h.name+' ("
"'+h.address+')',60)));\n"
"  for(const i of mine){const q=p.processes[i];const g=sv('g',{class:'pbox'});\n"
"   const r=sv('rect',{x:column[i]-6,y:PAD+26,width:NW+12,height:h1-34,rx:6,class:'proces"
"s'});g.appendChild(r);\n"
"   g.appendChild(sv('text',{x:column[i],y:PAD+42,class:'pname'},cut('process '+q.name,32"
")));\n"
"   const meta=sv('text',{x:column[i],y:PAD+56,class:'pmeta'},q.threads+' thread'+(q.thre"
"ads===1?'':'s'));\n"
"   g.appendChild(meta);heads[q.name]={rect:r,meta:meta,threads:q.threads};boxes.appendCh"
"ild(g);}\n"
"  x+=PAD;});\n"
" const pos=i=>({x:column[at[i].p],y:PAD+HEAD+28+at[i].row*(NH+GAP)});\n"
" function node(i,label,sub){const o=pos(i);const g=sv('g',{class:i<0?'gateway':'actor'});\n"
"  g.appendChild(sv('title',{},label));\n"
"  const shape=i<0?sv('ellipse',{cx:o.x+NW/2,cy:o.y+NH/2,rx:NW/2,ry:NH/2,fill:'#e8eefc'}):\n"
"   sv('rect',{x:o.x,y:o.y,width:NW,height:NH,rx:4,fill:heat(0)});\n"
"  g.appendChild(shape);\n"
"  g.appendChild(sv('text',{x:o.x+8+(i<0?30:0),y:o.y+14,class:'aname'},cut(label,30)));\n"
"  const op=sv('text',{x:o.x+8+(i<0?30:0),y:o.y+27,class:'aop'},cut(sub,36));g.appendChil"
"d(op);\n"
"  const live=sv('text',{x:o.x+8+(i<0?30:0),y:o.y+41,class:'live'},'waiting for stats');g"
".appendChild(live);\n"
"  top.appendChild(g);nodes[i]={shape:shape,op:op,live:live};}\n"
" if(at[-1])node(-1,'gateway','requests in, answers out');\n"
" p.actors.forEach((a,i)=>node(i,a.name,a.op+', thread '+a.thread));\n"
" const used=[];\n"
" for(const e of p.edges){if(!(e.from in at)||!(e.to in at))continue;\n"
"  const a=pos(e.from),b=pos(e.to),cross=e.crossing==='process'||e.crossing==='host';let d;\n"
"  if(a.x===b.x&&b.y>a.y&&b.y-a.y<=NH+GAP){d='M'+(a.x+NW/2)+','+(a.y+NH)+'L'+(b.x+NW/2)+'"
",'+b.y;}\n"
"  else if(a.x===b.x){const s=b.y>a.y?1:-1,bend=NW+30+Math.min(60,Math.abs(b.y-a.y)/8);\n"
"   d='M'+(a.x+NW)+','+(a.y+NH/2)+'C'+(a.x+bend)+','+(a.y+NH/2+s*10)+' '+(b.x+bend)+','+("
"b.y+NH/2-s*10)+' '+(b.x+NW)+','+(b.y+NH/2);}\n"
"  else{const right=b.x>a.x,x1=right?a.x+NW:a.x,x2=right?b.x:b.x+NW,y1=a.y+NH/2,y2=b.y+NH"
"/2,mid=(x1+x2)/2;\n"
"   d='M'+x1+','+y1+'C'+mid+','+y1+' '+mid+','+y2+' '+x2+','+y2;}\n"
"  const path=sv('path',{d:d,class:'edge'+(cross?' cross':''),'marker-end':cross?'url(#ar"
"rowx)':'url(#arrow)'});\n"
"  path.appendChild(sv('title',{},\"'\"+e.value+\"' \"+e.bytes+' bytes'+(e.crossing?', crosse"
"s a '+e.crossing:'')));\n"
"  edges.appendChild(path);\n"
"  // Its label in the gap beside its sender, where the edge leaves it:\n"
"  // an edge across several columns would put a middle label on another's\n"
"  if(cross){const lx=b.x<a.x?a.x-(COL-NW)/2:a.x+NW+(COL-NW)/2;let ly=a.y+NH/2-5;\n"
"   while(used.some(u=>u[0]===lx&&Math.abs(u[1]-ly)<12))ly+=12;used.push([lx,ly]);\n"
"   const t=sv('text',{x:lx,y:ly,'text-anchor':'middle',class:'elabel'},size(e.bytes)+'/m"
"sg');\n"
"   edges.appendChild(t);labels.push({edge:e,text:t});}}\n"
" svg.appendChild(boxes);svg.appendChild(edges);svg.appendChild(top);\n"
" svg.setAttribute('width',x+PAD);svg.setAttribute('height',height);\n"
" svg.setAttribute('viewBox','0 0 '+(x+PAD)+' '+height);return svg;}\n"
"// Messages an edge carried: what its sender counts as sent to the\n"
"// consumer's node (any of its replicas) or to the gateway; or, when\n"
"// another actor's mailbox takes them for the consumer's thread, to that\n"
"// mailbox (with the sender's other tensors into it, if it has any)\n"
"function carried(view,e){let sender=null;\n"
" for(const p of view.processes){if(e.from<0&&p.gateway)sender=p.gateway;\n"
"  for(const a of p.actors)if(a.index===e.from)sender=a;}\n"
" if(!sender||!sender.sent)return null;\n"
" if(e.mailbox!==undefined){let n=0;for(const [to,count] of sender.sent)\n"
"  if(to===e.mailbox)n+=count;return n;}\n"
" const node=e.to<0?null:placement.actors[e.to].node;let n=0;\n"
" for(const [to,count] of sender.sent)\n"
"  if(to===e.to||(node!==null&&to>=0&&to<placement.actors.length&&placement.actors[to].no"
"de===node))n+=count;\n"
" return n;}\n"
"function paint(view,before){\n"
" const live={};\n"
" for(const p of view.processes){const old=before&&before.processes.find(q=>q.name===p.na"
"me&&q.pid===p.pid);\n"
"  const s=old?p.uptime_s-old.uptime_s:0;const h=heads[p.name];\n"
"  const cpu=100*rate(p.name,p.cpu_s,old&&old.cpu_s,s,p.uptime_s);shown[p.name]=cpu;\n"
"  if(h){h.rect.setAttribute('class','process'+(p.up?'':' down'));\n"
"   h.meta.textContent=h.threads+' thread'+(h.threads===1?'':'s')+(p.up?', cpu '+cpu.toFi"
"xed(0)+'%, '+\n"
"    (p.rss_bytes/1048576).toFixed(0)+' MiB':' (down)');}\n"
"  if(p.gateway&&nodes[-1]){nodes[-1].op.textContent=p.gateway.replies+' answers, '+p.gat"
"eway.inflight+' in flight';\n"
"   nodes[-1].live.textContent='p50 '+lat(p.gateway.latency_p50_ms)+' end to end';}\n"
"  for(const a of p.actors){const o=old&&old.actors.find(b=>b.index===a.index);\n"
"   const busy=Math.min(100,100*rate('a'+a.index,a.busy_s,o&&o.busy_s,o?s:0,p.uptime_s));\n"
"   shown['a'+a.index]=busy;const n=nodes[a.index];if(!n)continue;\n"
"   n.shape.setAttribute('fill',heat(busy));live[a.index]=1;\n"
"   n.live.textContent='busy '+busy.toFixed(busy<10?1:0)+'%  queue '+a.queue.toFixed(0)+'"
"  p50 '+lat(a.compute_p50_ms);}}\n"
" for(const i in nodes)if(i>=0&&!live[i])nodes[i].live.textContent='(stats on its own hos"
"t)';\n"
" for(const l of labels){const n=carried(view,l.edge);\n"
"  l.text.textContent=size(l.edge.bytes)+'/msg'+(n===null?'':', '+n+' msgs');}}\n"
"function tables(view,before){\n"
" const root=document.getElementById('processes');root.replaceChildren();\n"
" for(const p of view.processes){\n"
"  const box=el('div',undefined,'table'+(p.up?'':' down'));box.appendChild(el('h3',p.name"
"+(p.up?'':' (down)')));\n"
"  const old=before&&before.processes.find(q=>q.name===p.name&&q.pid===p.pid);\n"
"  const s=old?p.uptime_s-old.uptime_s:0;\n"
"  let meta='pid '+p.pid+', up '+p.uptime_s.toFixed(0)+' s, rss '+(p.rss_bytes/1048576).t"
"oFixed(1)+' MiB';\n"
"  meta+=', cpu '+(shown[p.name]||0).toFixed(0)+'%';if(p.restarts)meta+=', restarts '+p.r"
"estarts;\n"
"  if(p.gateway){meta+=' | gateway: '+p.gateway.replies+' answers, '+p.gateway.inflight+'"
" in flight, p50 '\n"
"+ms(p.gateway.latency_p50_ms)+' ms, p99 '+ms(p.gateway.latency_p99_ms)+' ms';\n"
"   meta+=', '+rate(p.name+' req',p.gateway.replies,old&&old.gateway&&old.gateway.replies"
",s,p.uptime_s).toFixed(1)+' req/s';}\n"
"  box.appendChild(el('div',meta,'meta'));\n"
"  const table=el('table');const head=el('tr');\n"
"  for(const h of ['actor','op','busy %','queue','p50 ms','p99 ms','wait ms'])head.append"
"Child(el('th',h));\n"
"  table.appendChild(head);\n"
"  for(const a of p.actors){const row=el('tr');const name=el('td',a.name,'name');name.tit"
"le=a.name;row.appendChild(name);\n"
"   row.appendChild(el('td',a.op));row.appendChild(el('td',(shown['a'+a.index]||0).toFixe"
"d(1)));\n"
"   row.appendChild(el('td',a.queue.toFixed(0)));row.appendChild(el('td',ms(a.compute_p50"
"_ms)));\n"
"   row.appendChild(el('td',ms(a.compute_p99_ms)));row.appendChild(el('td',ms(a.wait_p50_"
"ms)));table.appendChild(row);}\n"
"  box.appendChild(table);root.appendChild(box);}}\n"
"async function start(){\n"
" try{const r=await fetch('/api/placement',{cache:'no-store'});placement=await r.json();\n"
"  const where=document.getElementById('placement');\n"
"  if(placement.truncated)where.textContent='the placement has '+placement.n_actors+' act"
"ors and '+\n"
"   placement.n_edges+' edges, too many to draw here: the tables below list them';\n"
"  else where.replaceChildren(layout(placement));}\n"
" catch(e){document.getElementById('placement').textContent='no placement from the launch"
"er: '+e;}\n"
" tick();}\n"
"async function tick(){\n"
" try{const r=await fetch('/api/view',{cache:'no-store'});const view=await r.json();\n"
"  document.getElementById('title').textContent='zinfer: topology '+view.topology+', host"
" '+view.host;\n"
"  paint(view,previous);tables(view,previous);previous=view;\n"
"  document.getElementById('status').textContent='updated '+new Date().toLocaleTimeString()+\n"
"   ' (every second; busy % over the last interval)';}\n"
" catch(e){document.getElementById('status').textContent='no answer from the launcher: '+e;}\n"
" setTimeout(tick,1000);}\n"
"start();\n"
"</script></body></html>\n";
