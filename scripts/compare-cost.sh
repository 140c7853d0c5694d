#!/usr/bin/env bash
# Side-by-side cost of two gridcast builds (e.g. this one vs an older main): same load, same machine, one run.
# Usage: AFTER=path/to/gridcast BEFORE=path/to/old/gridcast scripts/compare-cost.sh  (CLIENTS, RATE, DUR optional)
set -euo pipefail
# free_port, wait_port, cpu_ticks; every background process is stopped on exit.
. "$(dirname "$0")/common.sh"
AFTER=${AFTER:-$T/gridcast}
BEFORE=${BEFORE:?set BEFORE to the gridcast binary to compare with}
CLIENTS=${CLIENTS:-200}; RATE=${RATE:-200}; DUR=${DUR:-20s}
rstat() { redis-cli -p $1 INFO all | tr -d '\r' | awk -F: -v k="$2" '$1==k{print $2}'; }
ra=$(free_port); rb=$(free_port)
for p in $ra $rb; do redis-server --port $p --save '' --appendonly no --loglevel warning >/dev/null & wait_port $p; done
a1=$(free_port); a2=$(free_port); b1=$(free_port); b2=$(free_port)
RUST_LOG=warn $AFTER serve --ports $a1,$a2 --redis-url redis://127.0.0.1:$ra --static-dir /x >/tmp/m-after.log 2>&1 & apid=$!
RUST_LOG=warn $BEFORE serve --ports $b1,$b2 --redis-url redis://127.0.0.1:$rb --static-dir /x >/tmp/m-before.log 2>&1 & bpid=$!
for p in $a1 $a2 $b1 $b2; do wait_port $p; done
sleep 1
A="http://127.0.0.1:$a1,http://127.0.0.1:$a2"; B="http://127.0.0.1:$b1,http://127.0.0.1:$b2"
for order in after-first before-first; do
  ca=$(cpu_ticks $apid); cb=$(cpu_ticks $bpid)
  qa=$(rstat $ra total_commands_processed); qb=$(rstat $rb total_commands_processed)
  ua=$(rstat $ra used_cpu_user); sa=$(rstat $ra used_cpu_sys); ub=$(rstat $rb used_cpu_user); sb=$(rstat $rb used_cpu_sys)
  if [ $order = after-first ]; then
    $AFTER bench --quiet --urls $A --against $B --labels after,before --clients $CLIENTS --rate $RATE --duration $DUR > /tmp/m-$order.txt || true
  else
    $AFTER bench --quiet --urls $B --against $A --labels before,after --clients $CLIENTS --rate $RATE --duration $DUR > /tmp/m-$order.txt || true
  fi
  ca2=$(cpu_ticks $apid); cb2=$(cpu_ticks $bpid)
  qa2=$(rstat $ra total_commands_processed); qb2=$(rstat $rb total_commands_processed)
  ua2=$(rstat $ra used_cpu_user); sa2=$(rstat $ra used_cpu_sys); ub2=$(rstat $rb used_cpu_user); sb2=$(rstat $rb used_cpu_sys)
  msgs=$(python3 -c "import re;t=open('/tmp/m-$order.txt').read();print(re.search(r'^sent\s+(\d+)',t,re.M).group(1))")
  cat /tmp/m-$order.txt
  python3 - <<PY
msgs=$msgs; clients=$CLIENTS
for name,c0,c1,q0,q1,u0,u1,s0,s1 in [("after",$ca,$ca2,$qa,$qa2,$ua,$ua2,$sa,$sa2),("before",$cb,$cb2,$qb,$qb2,$ub,$ub2,$sb,$sb2)]:
    cpu=(c1-c0)/100.0; rcpu=(u1-u0)+(s1-s0)
    print(f"[$order] {name:6}: server CPU {cpu:.2f} s = {cpu/msgs*1e6:.0f} us/msg = {cpu/(msgs*clients)*1e6:.2f} us/delivery; redis commands {q1-q0} = {(q1-q0)/msgs:.2f}/msg; redis CPU {rcpu:.2f} s = {rcpu/msgs*1e6:.0f} us/msg")
PY
  for p in $ra $rb; do echo "redis :$p commandstats:"; redis-cli -p $p INFO commandstats | tr -d '\r' | grep -E "xadd|xread|spublish|publish|xtrim|xrange|pexpire|set:|hset|sadd" | sed 's/,usec_per_call.*//' ; done
done
