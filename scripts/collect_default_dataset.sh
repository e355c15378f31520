#!/usr/bin/env bash
# Regenerates (or resumes) the raw collection behind the shipped default dataset
# (src/deepprune/data/qwen25coder05b_math_gsm8k.jsonl.gz; see its datasheet).
# Safe to kill and rerun at any time: `deepprune collect` resumes where it stopped.
#   SHARED=../shared/data  OUT=~/.cache/deepprune/collect/default.jsonl  scripts/collect_default_dataset.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/data}
OUT=${OUT:-${DEEPPRUNE_CACHE:-$HOME/.cache/deepprune}/collect/default.jsonl}
PORT=${PORT:-8077}
NP=${NP:-16}
THREADS=${THREADS:-2}
PY=${PY:-.venv/bin/python}
mkdir -p "$(dirname "$OUT")"
"$PY" -m deepprune local-server --port "$PORT" --parallel "$NP" --ctx $((NP * 1536)) \
    --threads "$THREADS" --log "$(dirname "$OUT")/server.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null' EXIT
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do sleep 1; kill -0 $SERVER; done
# On a shared Linux machine with scheduler autogroups, give the server's group priority (optional).
if [ -n "${AUTOGROUP_NICE:-}" ]; then
  for pid in $(pgrep -f "llama-server .*--port $PORT"); do echo "$AUTOGROUP_NICE" > "/proc/$pid/autogroup" || true; done
fi
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  if "$PY" -m deepprune -v collect --base-url "http://127.0.0.1:$PORT/v1" --model qwen2.5-coder-0.5b-instruct \
      --problems "$SHARED/benchmarks/math500.jsonl" --problems "$SHARED/benchmarks/gsm8k_test.jsonl" \
      --select level=2,3,4 --shuffle-seed 0 --limit 20 \
      --n 32 --rounds 4,8,12,16,20,24,28,32 --max-tokens 512 --temperature 0.8 --top-p 0.95 --top-logprobs 20 \
      --seed 0 --concurrency "$NP" --stall-timeout 600 --no-progress --out "$OUT"; then
    exit 0
  fi
  echo "collect exited with $?; resuming in 10 s (attempt $attempt)" >&2
  sleep 10
done
