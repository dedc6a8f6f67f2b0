#!/usr/bin/env bash
# Fault run judged from outside the scheduler, as an operator's audit would: a master (heartbeat
# 500 ms, dead-after 3 s) and three workers on loopback run JOBS forking agents (each writes a
# ledger line at start and end, and records its pid and two children's, one escaping with setsid).
# Under load: SIGTERM w1, kill -9 w2, SIGSTOP w3; w1 and w2 restart, w3 is thawed. Then it prints
# jobs by state, jobs whose work ended twice, attempts that started while another still ran, and
# processes left. Bounded: every process it starts is stopped at the end (trap), within minutes.
#   ./build.sh build && tests/faults/worker-faults.sh [JOBS]
set -u
cd "$(dirname "$0")/../.."
A=$PWD/artifacts/bin
R=$(mktemp -d /tmp/worker-faults.XXXXXX)
JOBS=${1:-300}
trap 'kill -CONT ${P3:-0} 2>/dev/null; kill -9 ${P1:-0} ${P2:-0} ${P3:-0} ${MP:-0} 2>/dev/null' EXIT
echo "run folder: $R"
M="dotnet $A/Scheduler.Master/release/Scheduler.Master.dll"
W="dotnet $A/Scheduler.Worker/release/Scheduler.Worker.dll"
S="dotnet $A/Scheduler.Cli/release/schedctl.dll"
$M --listen 127.0.0.1:0 --data-dir $R/master --heartbeat-interval-ms 500 --dead-after-ms 3000 > $R/master.log 2>&1 &
MP=$!
for i in $(seq 1 100); do [ -f $R/master/master.addr ] && break; sleep 0.1; done
URL=$(cat $R/master/master.addr)
startw() { $W --master $URL --node-id $1 --data-dir $R/$1 --gpu-probe simulated --cpu-millis 8000 --memory-mib 16000 >> $R/$1.log 2>&1 & echo $!; }
P1=$(startw w1); P2=$(startw w2); P3=$(startw w3)
sleep 3
SCRIPT='R='$R'; J=$SCHEDULER_JOB_ID; A=$SCHEDULER_ATTEMPT; for f in $R/pids-$J-*; do [ -e "$f" ] || continue; for p in $(cat "$f"); do s=$(cut -d")" -f2 /proc/$p/stat 2>/dev/null | cut -c2); if [ -n "$s" ] && [ "$s" != Z ]; then echo "$J $A $p" >> $R/overlaps; fi; done; done; echo "$J $A $SCHEDULER_NODE_ID $$ start" >> $R/ledger; echo $$ >> $R/pids-$J-$A; sleep 600 & c1=$!; echo $c1 >> $R/pids-$J-$A; setsid sleep 600 & c2=$!; echo $c2 >> $R/pids-$J-$A; sleep $((RANDOM % 15 + 15)); echo "$J $A $SCHEDULER_NODE_ID $$ end" >> $R/ledger; kill $c1 $c2'
subs=(); for i in $(seq 1 $JOBS); do $S --master $URL submit --cpu 200m --memory 64Mi -o json -- /bin/bash -c "$SCRIPT" > /dev/null 2>&1 & subs+=($!); if [ $((i % 8)) -eq 0 ]; then wait "${subs[@]}"; subs=(); fi; done; [ ${#subs[@]} -eq 0 ] || wait "${subs[@]}"
echo "submitted $(date +%T)"
sleep 4; kill -TERM $P1; echo "TERM w1 $(date +%T)"
sleep 3; kill -9 $P2; echo "KILL w2 $(date +%T)"
sleep 2; kill -STOP $P3; echo "STOP w3 $(date +%T)"
sleep 5; P1=$(startw w1); P2=$(startw w2); echo "restarted w1 w2"
sleep 3; kill -CONT $P3; echo "CONT w3 $(date +%T)"
for i in $(seq 1 240); do
  n=$($S --master $URL jobs -o json --limit 0 2>/dev/null | python3 -c 'import sys,json; d=json.load(sys.stdin); js=d if isinstance(d,list) else d.get("jobs",[]); print(sum(1 for j in js if j.get("state") not in ("JOB_STATE_SUCCEEDED","JOB_STATE_FAILED","JOB_STATE_CANCELLED")))' 2>/dev/null)
  [ "$n" = "0" ] && break; sleep 2
done
echo "settled $(date +%T) open=$n"
$S --master $URL jobs -o json --limit 0 > $R/jobs.json 2>/dev/null
kill -TERM $P1 $P2 $P3; sleep 8; kill -TERM $MP; sleep 3
R=$R python3 - <<'PY'
import json,collections,os
R=os.environ['R']
d=json.load(open(R+'/jobs.json')); js=d if isinstance(d,list) else d.get('jobs',[])
states=collections.Counter(j.get('state') for j in js)
print('jobs',len(js),dict(states))
ends=collections.Counter(l.split()[0] for l in open(R+'/ledger') if l.split()[-1]=='end')
print('jobs with end:',len(ends),'ended twice:',[k for k,v in ends.items() if v>1])
ov=open(R+'/overlaps').read().split('\n') if os.path.exists(R+'/overlaps') else []
print('overlaps:',[o for o in ov if o])
alive=[]
for f in os.listdir(R):
  if f.startswith('pids-'):
    for p in open(R+'/'+f).read().split():
      try:
        st=open(f'/proc/{p}/stat').read().split(')')[1].split()[0]
        if st not in 'ZX': alive.append((f,p))
      except: pass
print('survivors:',alive[:10],len(alive))
failed=[(j['id'],j.get('message')) for j in js if j.get('state')=='JOB_STATE_FAILED']
print('failed:',failed[:10])
PY
