#!/usr/bin/env bash
# Load scenarios behind docs/performance.md (also: task bench:load).
#
#   bench/run.sh [fanout] [latency] [idle] [cluster] [roster] [hop] [storm]   # default: all
#
# Builds megabench and the servers (raw coder/websocket, mega, centrifuge in
# its own module, a 3-node NATS cluster), runs every scenario REPS times with
# the servers interleaved (raw, mega, ... then again), and writes one JSON
# report per run plus markdown tables of medians and ratios under $OUT.
# Everything listens on 127.0.0.1; every run is bounded by --clients and
# --duration. All scenarios with the defaults take about 25 minutes on 2 cores.
#
# Tunables (environment):
#   REPS=5            repetitions of every case
#   DURATION=10s      measured window of a fan-out run
#   SIZES="1000 10000"        subscribers in the fan-out scenario
#   FANOUT="raw mega mega-nats centrifuge"   servers in the fan-out scenario
#   LATENCY_CLIENTS=1000 LATENCY_RATE=20     latency below saturation (fixed rate)
#   IDLE_SIZES="10000"        idle connections (50000 needs ~4 GB and a high ulimit)
#   IDLE="raw-reader mega mega-join centrifuge"   (also mega-events: join + presence frames, as the sample)
#   CLUSTER_CLIENTS="30 999" CLUSTER_RATE=100  cross-instance: subscribers (light, loaded), broadcasts/s
#   ROSTER_MEMBERS=1000 ROSTER_TTL=10s       roster: members on the instance that crashes or stops
#   HOP_CLIENTS=1000 HOP_RATE=100             hop: two instances, one NATS server in its own process
#   HOP="raw-nats mega"                       hop: servers (raw-nats: bench/rawws --nats, the baseline;
#                                             also mega-before with BEFORE)
#   STORM_SIZES="5000 10000"                  storm: clients connecting at once to the generated app
#   STORM="raw-reader crud"                   storm: servers (crud: sample/crud, the generated app;
#                                             crud-before: CRUD_BEFORE=path/to/an older crud binary
#                                             (CRUD_BEFORE_UNLIMITED=0 for one built before ADR 0010);
#                                             CRUD=path/to/crud: use that binary instead of building it,
#                                             CRUD_YAML=its mega.yaml, default sample/crud/mega.yaml)
#   STORM_AWAIT=3m                            storm: how long at most to wait for every welcome
#   BENCH_NICE=19      run the load generator at this niceness, so that the
#                      servers win the CPU from it (2 cores shared by all: the
#                      nearest this machine has to a load generator elsewhere)
#   OUT=tmp/bench/<time>   where reports and tables go
#   BEFORE=path/to/megaserver  adds the labels "mega-before" and
#                          "mega-events-before" (use them in FANOUT or IDLE): a
#                          megaserver built from another commit, for before/after
#                          figures of a framework change in one run
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-5}
DURATION=${DURATION:-10s}
SIZES=${SIZES:-"1000 10000"}
FANOUT=${FANOUT:-"raw mega mega-nats centrifuge"}
IDLE_SIZES=${IDLE_SIZES:-"10000"}
IDLE=${IDLE:-"raw-reader mega mega-join centrifuge"}
LATENCY_CLIENTS=${LATENCY_CLIENTS:-1000}
LATENCY_RATE=${LATENCY_RATE:-20}
CLUSTER_CLIENTS=${CLUSTER_CLIENTS:-"30 999"}
CLUSTER_RATE=${CLUSTER_RATE:-100}
ROSTER_MEMBERS=${ROSTER_MEMBERS:-1000}
ROSTER_TTL=${ROSTER_TTL:-10s}
OUT=${OUT:-tmp/bench/$(date +%Y%m%d-%H%M%S)}
BIN=${BIN:-tmp/bench/bin}
HOP_CLIENTS=${HOP_CLIENTS:-1000}
HOP_RATE=${HOP_RATE:-100}
HOP=${HOP:-"raw-nats mega"}
STORM_SIZES=${STORM_SIZES:-"5000 10000"}
STORM=${STORM:-"raw-reader crud"}
SCENARIOS=${*:-fanout latency idle cluster roster hop storm}

mkdir -p "$OUT/logs" "$BIN"
OUT=$(cd "$OUT" && pwd)
BIN=$(cd "$BIN" && pwd)

# 10k clients need 10k descriptors in the client and in the server.
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/run.log"; }

say "building into $BIN"
go build -o "$BIN/megabench" ./cmd/megabench
go build -o "$BIN/rawws" ./bench/rawws
go build -o "$BIN/megaserver" ./bench/megaserver
go build -o "$BIN/natscluster" ./bench/natscluster
(cd bench/centrifuge && go build -o "$BIN/centrifuge-bench" .)
CRUD=${CRUD:-}
case " $SCENARIOS " in
  *" storm "*) [ -n "$CRUD" ] || { (cd sample/crud && go build -o "$BIN/crud" .); CRUD=$BIN/crud; } ;;  # the generated app, its own module
esac

{
  echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(go version | cut -d' ' -f3)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "ulimit -n: $(ulimit -n); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "git: $(git rev-parse --short HEAD)$(git diff --quiet -- framework || echo ' (framework has uncommitted changes)')"
} | tee "$OUT/machine.txt"

PID= URL= PROTO= STATS=
SERVERS=()

# start LABEL: starts a server, sets PID URL PROTO STATS and waits until it serves.
start() {
  local label=$1 log="$OUT/logs/$1.log"
  case $label in
    raw)        "$BIN/rawws" --addr 127.0.0.1:9001 >>"$log" 2>&1 & PID=$!
                URL=ws://127.0.0.1:9001/ws PROTO=raw STATS=http://127.0.0.1:9001/debug/mem ;;
    raw-reader) "$BIN/rawws" --addr 127.0.0.1:9001 --mode reader >>"$log" 2>&1 & PID=$!
                URL=ws://127.0.0.1:9001/ws PROTO=raw STATS=http://127.0.0.1:9001/debug/mem ;;
    mega)       "$BIN/megaserver" --addr 127.0.0.1:8080 >>"$log" 2>&1 & PID=$!
                URL='ws://127.0.0.1:8080/ws/chat?name=bench{i}' PROTO=mega STATS=http://127.0.0.1:8080/debug/mem ;;
    mega-nats)  "$BIN/megaserver" --addr 127.0.0.1:8080 --nats embedded >>"$log" 2>&1 & PID=$!
                URL='ws://127.0.0.1:8080/ws/chat?name=bench{i}' PROTO=mega STATS=http://127.0.0.1:8080/debug/mem ;;
    mega-join)  "$BIN/megaserver" --addr 127.0.0.1:8080 --join >>"$log" 2>&1 & PID=$!
                URL='ws://127.0.0.1:8080/ws/chat?name=bench{i}' PROTO=mega STATS=http://127.0.0.1:8080/debug/mem ;;
    mega-before) "${BEFORE:?set BEFORE to a megaserver binary}" --addr 127.0.0.1:8080 >>"$log" 2>&1 & PID=$!
                URL='ws://127.0.0.1:8080/ws/chat?name=bench{i}' PROTO=mega STATS=http://127.0.0.1:8080/debug/mem ;;
    mega-events) "$BIN/megaserver" --addr 127.0.0.1:8080 --join --presence-events >>"$log" 2>&1 & PID=$!
                URL='ws://127.0.0.1:8080/ws/chat?name=bench{i}' PROTO=mega STATS=http://127.0.0.1:8080/debug/mem ;;
    mega-events-before) "${BEFORE:?set BEFORE to a megaserver binary}" --addr 127.0.0.1:8080 --join --presence-events >>"$log" 2>&1 & PID=$!
                URL='ws://127.0.0.1:8080/ws/chat?name=bench{i}' PROTO=mega STATS=http://127.0.0.1:8080/debug/mem ;;
    crud | crud-before)
                local crud=$CRUD
                [ "$label" = crud-before ] && crud=${CRUD_BEFORE:?set CRUD_BEFORE to a sample/crud binary}
                rm -rf "$OUT/crud-data" && mkdir -p "$OUT/crud-data"
                # The generated app as it is, on loopback, with the per-IP cap
                # off (every client comes from 127.0.0.1) and logs at warn.
                sed -e 's/^server: .*/server: { addr: "127.0.0.1:8090", shutdownTimeout: 10s }/' \
                    -e 's/^logger: .*/logger: { level: warn, format: console }/' "${CRUD_YAML:-sample/crud/mega.yaml}" >"$OUT/crud.yaml"
                # Unlimited is -1 since ADR 0010; a crud-before built earlier
                # spells it 0 (CRUD_BEFORE_UNLIMITED=0).
                local unlimited=-1
                [ "$label" = crud-before ] && unlimited=${CRUD_BEFORE_UNLIMITED:--1}
                printf 'websocket:\n  maxConnectionsPerIP: %s\n' "$unlimited" >>"$OUT/crud.yaml"
                DATABASE_URL="file:$OUT/crud-data/app.db" "$crud" --config "$OUT/crud.yaml" >>"$log" 2>&1 & PID=$!
                URL='ws://127.0.0.1:8090/ws/chat?name=u{i}' PROTO=mega STATS=http://127.0.0.1:8090/readyz ;;
    centrifuge) "$BIN/centrifuge-bench" --addr 127.0.0.1:9002 >>"$log" 2>&1 & PID=$!
                URL=ws://127.0.0.1:9002/connection/websocket PROTO=centrifuge STATS=http://127.0.0.1:9002/debug/mem ;;
    *) echo "unknown server $label" >&2; exit 2 ;;
  esac
  SERVERS+=("$PID")
  for _ in $(seq 100); do
    curl -fsS -o /dev/null "$STATS" 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || { echo "$label exited; see $log" >&2; exit 1; }
    sleep 0.1
  done
  echo "$label did not start; see $log" >&2
  exit 1
}

stop() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() { for p in "${SERVERS[@]}"; do stop "$p"; done; }
trap cleanup EXIT

# enough_memory N: refuse to start a run that could exhaust memory
# (about 60 KB per connection for client plus server, generously).
enough_memory() {
  local need=$(( $1 * 60 / 1024 + 512 ))
  local avail=$(( $(awk '/MemAvailable/ {print $2}' /proc/meminfo) / 1024 ))
  if (( avail < need )); then say "skipping $1 connections: ${avail} MiB available, want ${need} MiB"; return 1; fi
}

# bench LOG ARGS...: one megabench run, its summary line on the terminal.
bench() {
  local log=$1; shift
  if ${BENCH_NICE:+nice -n "$BENCH_NICE"} "$BIN/megabench" "$@" >"$log" 2>&1; then
    say "  $(grep -E '^deliveries|^per conn' "$log" | head -1) | $(grep -E '^server' "$log" | cut -c14- )"
  else
    say "  FAILED: $(tail -1 "$log")"
  fi
}

fanout() {
  mkdir -p "$OUT/fanout"
  for n in $SIZES; do
    enough_memory "$n" || continue
    for rep in $(seq "$REPS"); do
      for label in $FANOUT; do
        say "fanout: $label, $n subscribers, run $rep/$REPS"
        start "$label"
        bench "$OUT/logs/fanout-$label-$n-$rep.txt" --protocol "$PROTO" --url "$URL" --clients "$n" \
          --duration "$DURATION" --warmup 2s --pid "$PID" --label "$label" --progress 0 \
          --json "$OUT/fanout/$label-$n-$rep.json"
        stop "$PID"
      done
    done
  done
  "$BIN/megabench" table --baselines "${BASELINES:-raw,centrifuge}" "$OUT"/fanout/*.json | tee "$OUT/fanout.md"
}

latency() {
  mkdir -p "$OUT/latency"
  for rep in $(seq "$REPS"); do
    for label in $FANOUT; do
      say "latency: $label, $LATENCY_CLIENTS subscribers, $LATENCY_RATE broadcasts/s, run $rep/$REPS"
      start "$label"
      bench "$OUT/logs/latency-$label-$rep.txt" --protocol "$PROTO" --url "$URL" --clients "$LATENCY_CLIENTS" \
        --rate "$LATENCY_RATE" --duration "$DURATION" --warmup 2s --pid "$PID" --label "$label" --progress 0 \
        --json "$OUT/latency/$label-$rep.json"
      stop "$PID"
    done
  done
  "$BIN/megabench" table --baselines "${BASELINES:-raw,centrifuge}" "$OUT"/latency/*.json | tee "$OUT/latency.md"
}

idle() {
  mkdir -p "$OUT/idle"
  for n in $IDLE_SIZES; do
    enough_memory "$n" || continue
    local addrs=127.0.0.1
    (( n > 25000 )) && addrs=127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4  # ~28k ephemeral ports per source address
    for rep in $(seq "$REPS"); do
      for label in $IDLE; do
        say "idle: $label, $n connections, run $rep/$REPS"
        start "$label"
        bench "$OUT/logs/idle-$label-$n-$rep.txt" --idle --protocol "$PROTO" --url "$URL" --clients "$n" \
          --duration 5s --settle 3s --pid "$PID" --stats-url "$STATS" --label "$label" --progress 0 \
          --local-addrs "$addrs" --json "$OUT/idle/$label-$n-$rep.json"
        stop "$PID"
      done
    done
  done
  "$BIN/megabench" table --baselines raw-reader,centrifuge "$OUT"/idle/*.json | tee "$OUT/idle.md"
}

cluster() {
  mkdir -p "$OUT/cluster"
  say "cluster: 3-node NATS cluster, 3 mega instances (one per node)"
  "$BIN/natscluster" --nodes 3 --port 4322 --route-port 6322 >"$OUT/logs/natscluster.log" 2>&1 &
  local nats=$!
  SERVERS+=("$nats")
  for _ in $(seq 100); do [ "$(wc -l <"$OUT/logs/natscluster.log")" -ge 3 ] && break; sleep 0.1; done
  local pids=() urls=()
  for i in 0 1 2; do
    "$BIN/megaserver" --addr "127.0.0.1:818$i" --nats "nats://127.0.0.1:432$((2 + i))" >>"$OUT/logs/cluster-mega$i.log" 2>&1 &
    pids+=("$!")
    SERVERS+=("$!")
    urls+=("ws://127.0.0.1:818$i/ws/chat?name=i$i-{i}")
  done
  for i in 0 1 2; do
    for _ in $(seq 100); do curl -fsS -o /dev/null "http://127.0.0.1:818$i/readyz" 2>/dev/null && break; sleep 0.1; done
  done
  local all
  all=$(IFS=,; echo "${urls[*]}")
  for n in $CLUSTER_CLIENTS; do
    for rep in $(seq "$REPS"); do
      # Subscribers on all three instances, the publisher on the first: the
      # first URL's subscribers are the local case, the others cross NATS.
      say "cluster: $n subscribers over 3 instances, $CLUSTER_RATE broadcasts/s, run $rep/$REPS"
      bench "$OUT/logs/cluster-$n-$rep.txt" --protocol mega --url "$all" --pub-url "${urls[0]}" \
        --clients "$n" --rate "$CLUSTER_RATE" --duration "$DURATION" --warmup 2s \
        --pid "$(IFS=,; echo "${pids[*]}"),$nats" --label mega-cluster --progress 0 \
        --json "$OUT/cluster/mega-cluster-$n-$rep.json"
    done
  done
  for p in "${pids[@]}" "$nats"; do stop "$p"; done
  "$BIN/megabench" table "$OUT"/cluster/*.json | tee "$OUT/cluster.md"
}

now() { date +%s%N; }
ms_between() { echo $(( ($2 - $1) / 1000000 )); }
# watch_int FILE KEY: an integer field of a megabench report's "watch" object.
watch_int() { sed -n '/"watch"/,/}/p' "$1" 2>/dev/null | grep -o "\"$2\": *[0-9]*" | head -1 | grep -o '[0-9]*$'; }

# members_seen PORT: how many members the instance on PORT sees.
members_seen() { curl -fsS "http://127.0.0.1:$1/debug/roster" 2>/dev/null | grep -o '"members":[0-9]*' | cut -d: -f2; }

# roster: ROSTER_MEMBERS members on instance A, an observer on instance B
# (another NATS node). A crashes (SIGKILL) or stops (SIGTERM); the observer
# times the presence.leave frames it receives for A's members.
roster() {
  mkdir -p "$OUT/roster"
  "$BIN/natscluster" --nodes 3 --port 4422 --route-port 6422 >"$OUT/logs/roster-nats.log" 2>&1 &
  local nats=$!
  SERVERS+=("$nats")
  for _ in $(seq 100); do [ "$(wc -l <"$OUT/logs/roster-nats.log")" -ge 3 ] && break; sleep 0.1; done
  local flags="--join --presence-events --ttl $ROSTER_TTL"
  # shellcheck disable=SC2086
  "$BIN/megaserver" --addr 127.0.0.1:8281 --nats nats://127.0.0.1:4423 $flags >>"$OUT/logs/roster-b.log" 2>&1 &
  local b=$!
  SERVERS+=("$b")
  local n=$ROSTER_MEMBERS ttl_s=${ROSTER_TTL%s}
  echo "| stop | run | members | join visible on B (ms) | first leave (ms) | all leaves (ms) | leaves seen |" >"$OUT/roster.md"
  echo "|---|---|---|---|---|---|---|" >>"$OUT/roster.md"
  for rep in $(seq "$REPS"); do
    for how in KILL TERM; do
      # shellcheck disable=SC2086
      "$BIN/megaserver" --addr 127.0.0.1:8280 --nats nats://127.0.0.1:4422 $flags >>"$OUT/logs/roster-a.log" 2>&1 &
      local a=$!
      SERVERS+=("$a")
      for _ in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:8280/readyz 2>/dev/null && curl -fsS -o /dev/null http://127.0.0.1:8281/readyz 2>/dev/null && break; sleep 0.1; done
      "$BIN/megabench" --idle --protocol mega --url 'ws://127.0.0.1:8281/ws/chat?name=observer' --clients 1 \
        --duration "$(( ttl_s * 3 + 10 ))s" --settle 0 --progress 0 --watch presence.leave --watch-until "$n" --label observer \
        --json "$OUT/roster/$how-$rep.json" >"$OUT/logs/roster-observer-$how-$rep.txt" 2>&1 &
      local obs=$!
      sleep 1
      local t0 t1 tk
      t0=$(now)
      "$BIN/megabench" --idle --protocol mega --url "ws://127.0.0.1:8280/ws/chat?name=m$rep{i}" --clients "$n" \
        --duration 10m --settle 0 --progress 0 >"$OUT/logs/roster-members-$how-$rep.txt" 2>&1 &
      local members=$!
      for _ in $(seq 600); do [ "$(members_seen 8281)" = "$((n + 1))" ] && break; sleep 0.05; done
      t1=$(now)
      sleep 1
      tk=$(now)
      kill -"$how" "$a"
      wait "$obs" || true
      kill "$members" 2>/dev/null || true
      wait "$members" 2>/dev/null || true
      stop "$a"
      local f="$OUT/roster/$how-$rep.json" first last count
      count=$(watch_int "$f" count)
      first=$(watch_int "$f" firstUnixNano)
      last=$(watch_int "$f" lastUnixNano)
      local row="| SIG$how | $rep | $n | $(ms_between "$t0" "$t1") | $(ms_between "$tk" "${first:-$tk}") | $(ms_between "$tk" "${last:-$tk}") | ${count:-0} |"
      say "roster: $row"
      echo "$row" >>"$OUT/roster.md"
    done
  done
  stop "$b"
  stop "$nats"
  cat "$OUT/roster.md"
}

# hop: the cross-instance hop under load. One NATS server in its own process,
# two instances of a server (raw-nats: rawws --nats, the baseline; mega:
# megaserver --nats; mega-before with BEFORE), HOP_CLIENTS subscribers half on
# each, the publisher on the first at HOP_RATE broadcasts/s. What the second
# instance's subscribers wait more than the first's is the hop; the servers
# are interleaved run by run.
hop() {
  mkdir -p "$OUT/hop"
  "$BIN/natscluster" --nodes 1 --port 4622 --route-port 6622 >"$OUT/logs/hop-nats.log" 2>&1 &
  local nats=$!
  SERVERS+=("$nats")
  for _ in $(seq 100); do [ -s "$OUT/logs/hop-nats.log" ] && break; sleep 0.1; done
  for rep in $(seq "$REPS"); do
    for label in $HOP; do
      local pids=() urls=() bin
      for i in 0 1; do
        case $label in
          raw-nats) "$BIN/rawws" --addr "127.0.0.1:838$i" --nats nats://127.0.0.1:4622 >>"$OUT/logs/hop-$label-$i.log" 2>&1 &
                    urls+=("ws://127.0.0.1:838$i/ws?c=i$i-{i}") ; ready="http://127.0.0.1:838$i/debug/mem" proto=raw ;;
          mega | mega-before)
                    bin="$BIN/megaserver"; [ "$label" = mega-before ] && bin=${BEFORE:?set BEFORE to a megaserver binary}
                    "$bin" --addr "127.0.0.1:838$i" --nats nats://127.0.0.1:4622 >>"$OUT/logs/hop-$label-$i.log" 2>&1 &
                    urls+=("ws://127.0.0.1:838$i/ws/chat?name=i$i-{i}") ; ready="http://127.0.0.1:838$i/readyz" proto=mega ;;
          *) echo "unknown hop server $label" >&2; exit 2 ;;
        esac
        pids+=("$!")
        SERVERS+=("$!")
        for _ in $(seq 100); do curl -fsS -o /dev/null "$ready" 2>/dev/null && break; sleep 0.1; done
      done
      say "hop: $label, $HOP_CLIENTS subscribers on 2 instances, $HOP_RATE broadcasts/s, run $rep/$REPS"
      bench "$OUT/logs/hop-$label-$rep.txt" --protocol "$proto" --url "$(IFS=,; echo "${urls[*]}")" --pub-url "${urls[0]}" \
        --clients "$HOP_CLIENTS" --rate "$HOP_RATE" --duration "$DURATION" --warmup 2s \
        --pid "$(IFS=,; echo "${pids[*]}"),$nats" --label "$label" --progress 0 --json "$OUT/hop/$label-$rep.json"
      for p in "${pids[@]}"; do stop "$p"; done
    done
  done
  stop "$nats"
  "$BIN/megabench" table --baselines "${BASELINES:-raw-nats}" "$OUT"/hop/*.json | tee "$OUT/hop.md"
}

# storm: N clients connect at once to one room of the generated app
# (sample/crud: every client joins presence and gets a welcome carrying the
# whole roster, every join is a presence frame to the others); the run waits
# until every client has its welcome (the storm's end), lets it settle, then
# measures RSS per idle connection against a raw coder/websocket
# reader-only server measured in the same run.
storm() {
  mkdir -p "$OUT/storm"
  for n in $STORM_SIZES; do
    enough_memory "$((n * 4))" || continue # welcomes of n members: the client holds more
    for rep in $(seq "$REPS"); do
      for label in $STORM; do
        say "storm: $label, $n clients at once, run $rep/$REPS"
        start "$label"
        local stats=() await=()
        case $label in
          crud*) await=(--await welcome --await-for "${STORM_AWAIT:-3m}" --read-limit 67108864) ;;
          *) stats=(--stats-url "$STATS") ;;
        esac
        bench "$OUT/logs/storm-$label-$n-$rep.txt" --idle --protocol "$PROTO" --url "$URL" --clients "$n" \
          --connect-concurrency 500 "${await[@]}" "${stats[@]}" --duration 5s --settle 3s --pid "$PID" \
          --label "$label" --progress 0 --json "$OUT/storm/$label-$n-$rep.json"
        stop "$PID"
      done
    done
  done
  "$BIN/megabench" table --baselines raw-reader "$OUT"/storm/*.json | tee "$OUT/storm.md"
}

for s in $SCENARIOS; do
  case $s in
    fanout | latency | idle | cluster | roster | hop | storm) "$s" ;;
    *) echo "unknown scenario $s (fanout, latency, idle, cluster, roster, hop, storm)" >&2; exit 2 ;;
  esac
done
say "reports and tables in $OUT"
