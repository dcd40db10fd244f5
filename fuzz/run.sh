#!/usr/bin/env bash
# Runs each fuzz target for a bounded time on stable Rust: cargo-fuzz with `--sanitizer none`
# (libFuzzer's coverage guidance works on stable; only the sanitizers need nightly).
#
#   cargo install cargo-fuzz             # once
#   fuzz/run.sh                          # every target, 60 s each
#   fuzz/run.sh 300 process_image        # one target, 5 minutes
#
# process_image is seeded from ../shared/corpus (images, SVGs, broken files: read in place, not
# copied into the repository); svg_render and animated_decode from the corpus's SVGs or
# animations plus fuzz/seeds/<target>; the other targets from fuzz/seeds/<target>. Crashes land
# in fuzz/artifacts/<target>/; turn each into a regression test (see docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("${@:-process_image upload_arguments inline_data svg_render animated_decode}")
read -r -a TARGETS <<<"${TARGETS[*]}"
SHARED="../../shared/corpus"

for target in "${TARGETS[@]}"; do
  mkdir -p "corpus/$target"
  seeds=()
  if [[ "$target" == process_image ]]; then
    seeds+=("$SHARED/bad")
    # Small images only: big photos make executions slow without adding coverage.
    mkdir -p corpus/process_image_seeds
    find "$SHARED/images" -type f -size -200k -exec cp -n {} corpus/process_image_seeds/ \;
    seeds+=("corpus/process_image_seeds")
  elif [[ "$target" == svg_render || "$target" == animated_decode ]]; then
    # The corpus's SVGs or animations and fuzz/seeds/<target>, each behind an options byte
    # (svg_render: rasterize; animated_decode: defaults).
    if [[ "$target" == svg_render ]]; then
      knobs='\x40' match=(-name '*.svg')
    else
      knobs='\x00' match=(-name '*.gif' -o -name '*.webp')
    fi
    mkdir -p "corpus/${target}_seeds"
    while IFS= read -r -d '' file; do
      { printf '%b' "$knobs"; cat "$file"; } >"corpus/${target}_seeds/$(basename "$file")"
    done < <(find "$SHARED/images" "seeds/$target" -type f \( "${match[@]}" \) -size -200k -print0)
    seeds+=("corpus/${target}_seeds")
  else
    seeds+=("seeds/$target")
  fi
  echo "== $target for ${SECONDS_PER_TARGET}s"
  cargo fuzz run --sanitizer none -O "$target" "corpus/$target" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
