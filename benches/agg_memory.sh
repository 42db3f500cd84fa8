#!/usr/bin/env bash
# Peak memory (max RSS, /usr/bin/time -v) and seconds of `tessera aggregate` for every method on
# two generated answer files whose shape once made the dense layouts blow up (figures in
# benches/RESULTS.md, "Aggregation memory"):
#   labels.csv   2,000 answers from 300 workers on 2,000 tasks, labels drawn from 0..1999 (1,112
#                distinct): DS kept workers x K x K confusion tables
#   distinct.csv 2,000 answers from 300 workers on 1,000 tasks, every answer its own label (2,000)
#   workers.csv  120,000 answers from 60,000 workers on 40,000 tasks, 2 labels: M-MSR kept
#                workers x workers tables
#   benches/agg_memory.sh BINARY [METHODS (default: all)] [LIMIT_KB (ulimit -v; default none)]
set -euo pipefail
bin=$(realpath "$1"); methods=${2:-"mv wawa zbs ds one-coin-ds glad mace kos mmsr"}; limit=${3:-}
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'EOF'
import random, sys
def gen(path, n_answers, n_workers, n_tasks, n_labels, seed=1):
    # one-coin workers (accuracy U(.5, .95)), every worker answers at least once, tasks uniform
    rng = random.Random(seed)
    acc = [rng.uniform(0.5, 0.95) for _ in range(n_workers)]
    truth = [rng.randrange(n_labels) for _ in range(n_tasks)]
    with open(path, "w") as f:
        f.write("task,worker,label\n")
        for i in range(n_answers):
            w = i % n_workers if i < n_workers else rng.randrange(n_workers)
            t = rng.randrange(n_tasks)
            l = truth[t] if rng.random() < acc[w] else rng.randrange(n_labels)
            f.write(f"t{t},w{w},{l}\n")
gen(sys.argv[1] + "/labels.csv", 2000, 300, 2000, 2000)
gen(sys.argv[1] + "/workers.csv", 120000, 60000, 40000, 2)
rng = random.Random(2)
with open(sys.argv[1] + "/distinct.csv", "w") as f:
    f.write("task,worker,label\n")
    for i in range(2000):
        f.write(f"t{i // 2},w{i if i < 300 else rng.randrange(300)},{i}\n")
EOF
printf "%-8s %-12s %12s %9s  %s\n" file method max_rss_kb seconds note
for f in labels distinct workers; do
  for m in $methods; do
    note=""
    ( [ -n "$limit" ] && ulimit -v "$limit"; /usr/bin/time -v "$bin" aggregate "$tmp/$f.csv" --method "$m" --format json --out /dev/null ) \
      >"$tmp/out" 2>"$tmp/time" || note=$(grep -m1 -E "error|failed|memory" "$tmp/time" || echo failed)
    rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$tmp/time")
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tmp/time")
    printf "%-8s %-12s %12s %9s  %s\n" "$f" "$m" "$rss" "$secs" "$note"
  done
done
