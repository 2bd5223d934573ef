# Sourced by the scripts: sets up the Python tools the tests and benchmarks use (DuckDB, pinned)
# in a virtualenv outside the clone, and exports REPLAYLAKE_PYTHON. Idempotent and quick when done.
VENV="${REPLAYLAKE_VENV:-$HOME/.cache/replaylake/venv}"
REQS="duckdb==2.0.0 pyspark==4.3.0"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import duckdb, pyspark" 2>/dev/null \
   || [ "$(cat "$VENV/.reqs" 2>/dev/null)" != "$REQS" ]; then
  echo "setting up $VENV ($REQS)" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $REQS
  echo "$REQS" > "$VENV/.reqs"
fi
export REPLAYLAKE_PYTHON="$VENV/bin/python"
# Keep cargo's target directory outside the clone so DataFusion is not rebuilt for every clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/replaylake-target}"
