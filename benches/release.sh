# Sourced by the benchmark scripts: builds the release binary once and sets `churn` to its path.
#
#   . benches/release.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/churn-target}"
cargo build --release --quiet --bin churn
churn="$CARGO_TARGET_DIR/release/churn"
