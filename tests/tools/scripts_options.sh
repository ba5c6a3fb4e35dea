#!/usr/bin/env bash
# The scripts' command lines: scripts/quickstart.sh checks --models before any work and runs
# from any directory; bench/run_all.sh takes `--flag v` as `--flag=v` and, by default, writes
# its results outside docs/results/.
#
#   tests/tools/scripts_options.sh BIN_DIR SOURCE_DIR
bin=$1 src=$2
. "$(dirname "$0")/expect.sh"
build=$(dirname "$bin")

# quickstart, started outside the checkout: a wrong model name is refused at once (it was
# refused after preprocessing 10 000 images), whether or not the dataset is installed
expect 1 "quickstart: --models: no committed model 'foo'" timeout 10 bash "$src/scripts/quickstart.sh" --models=foo --build="$build"
expect 1 "quickstart: --models: no committed model 'foo'" timeout 10 bash "$src/scripts/quickstart.sh" --models mobilenet_v1,foo
expect 1 "quickstart: .*/nowhere/bin/qint8-eval not found" timeout 10 bash "$src/scripts/quickstart.sh" --models=mobilenet_v1 --build=nowhere
checks=$((checks + 1)); [ -z "$(ls -A)" ] || { fails=$((fails + 1)); echo "FAIL: a refused quickstart wrote $(ls -A)"; }

# run_all.sh: `--threads 1` is `--threads=1` (the next word is its value, not an unknown option)
expect 1 "run_all.sh: unknown option --bogus" bash "$src/bench/run_all.sh" --threads 1 --batch 1 --bogus
expect 1 "run_all.sh: --threads, --batch, --iterations: expected positive integers, found 'x'" bash "$src/bench/run_all.sh" --threads x
expect 1 "run_all.sh: --threads needs a value" bash "$src/bench/run_all.sh" --threads
expect 0 "bench-results/DATE-TIME/ in the" bash "$src/bench/run_all.sh" --help
checks=$((checks + 1)); [ -z "$(ls -A)" ] || { fails=$((fails + 1)); echo "FAIL: a refused run_all.sh wrote $(ls -A)"; }

finish
