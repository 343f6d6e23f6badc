#!/usr/bin/env sh
# Submit tonight's report to a running Ray cluster as a job with a per-date submission id:
# Ray refuses a second job with the same id, so one date is submitted once; a rerun of the
# same date needs a new id (e.g. append -rerun1), and the date lock prevents interleaving.
set -eu
DATE="${1:-$(date -u +%F)}"
ROOT="${2:-s3://YOUR-BUCKET/lab/nightly}"
RAY_AUTH_MODE=token ray job submit \
  --address "${RAY_JOB_ADDRESS:-http://127.0.0.1:8265}" \
  --submission-id "mlab-nightly-${DATE}" \
  --working-dir . \
  -- python workflows/nightly.py --root "${ROOT}" --date "${DATE}"
