#!/usr/bin/env bash
# A 100-point sweep of the e-commerce surge scenario as a Slurm job array of 10 shards, then a
# merge that runs when every shard succeeded:
#   jid=$(sbatch --parsable deploy/slurm-sweep.sh)
#   sbatch --dependency=afterok:$jid --wrap "tessera sweep merge sweeps/ecommerce/shard-* --out sweeps/ecommerce/merged"
# Run from the repository root (or any folder with scenarios/) on a shared file system.
#SBATCH --job-name=tessera-sweep
#SBATCH --array=0-9
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=01:00:00
#SBATCH --output=sweeps/ecommerce/slurm-%A_%a.log
set -euo pipefail
n=10   # must equal the array's size
mkdir -p sweeps/ecommerce
exec tessera sweep scenarios/ecommerce-surge.toml \
  --vary pools.crowd.count=45..135:10 --vary pools.newcomers.count=5..50:5 \
  --replications 10 --quiet \
  --shard "${SLURM_ARRAY_TASK_ID}/${n}" \
  --out "sweeps/ecommerce/shard-${SLURM_ARRAY_TASK_ID}"
