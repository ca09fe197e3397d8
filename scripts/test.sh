#!/usr/bin/env bash
# The test command (`npm test`): fetches the models the tests use (from $CAMLABEL_MODELS_FROM when set,
# else from their URLs), builds the app (the browser tests drive its renderer, the command-line tests
# run its bundle, the packaging test packs it), then runs the vitest projects (all, or those named:
# `npm test -- --project unit`) and prints one summary line.
#
# A full run then runs the store, crash, worker and packaging tests a second time on the other SQLite
# path (src/main/store/sqlite.ts): on a Node without node:sqlite (20, 21: the command line's
# better-sqlite3) the second pass runs on Node $RUNTIME_NODE — the Node line of Electron 41, the
# app's runtime — fetched once from the npm registry into .cache/; on a Node with node:sqlite it runs
# with better-sqlite3 when that is installed. CAMLABEL_TEST_RUNTIME=skip leaves the pass out;
# CAMLABEL_TEST_RUNTIME=required (CI) fails when it cannot run.
set -uo pipefail
cd "$(dirname "$0")/.."

RUNTIME_NODE=24.22.3
RUNTIME_FILES=(
  tests/unit/store.test.ts
  tests/unit/store.learning.test.ts
  tests/integration/crash.test.ts
  tests/integration/learn.crash.test.ts
  tests/integration/security.test.ts
  tests/integration/project.test.ts
  tests/integration/worker.test.ts
  tests/integration/imagePool.test.ts
  tests/integration/propose.test.ts
  tests/integration/reviewLearning.test.ts
  tests/integration/shards.test.ts
  tests/integration/packaging.test.ts
)

if [ ! -d ../shared/data ]; then
  echo "camlabel tests: ../shared/data is missing (real photos and ground truth the tests use)." >&2
  echo "  Place the shared folder beside this checkout, then run npm test again." >&2
  exit 1
fi

node bin/camlabel.mjs models squeezenet1.1-fp16 mobilenetv2-12-int8 || exit 1
npx electron-vite build --logLevel warn || exit 1

mkdir -p test-results
rm -f test-results/vitest*.json

summary() { # $1: json report, $2: what ran
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
    const skipped = r.numPendingTests + r.numTodoTests
    console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped (${process.argv[2]})`)
  ' "$1" "$2"
}

# A Node binary of the app's runtime line, from the npm registry's node-<os>-<arch> package.
runtime_node() {
  local os arch dir tgz
  case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) return 1 ;; esac
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) return 1 ;; esac
  dir=.cache/node-$RUNTIME_NODE-$os-$arch
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p .cache "$dir"
    tgz=$(npm pack --silent --pack-destination .cache "node-$os-$arch@$RUNTIME_NODE") || return 1
    tar -xzf ".cache/$tgz" -C "$dir" --strip-components=1 && rm -f ".cache/$tgz" || return 1
  fi
  echo "$dir/bin/node"
}

driver() { "$1" -e 'process.stdout.write(process.getBuiltinModule?.("node:sqlite") ? "node:sqlite" : "better-sqlite3")' 2>/dev/null; }

npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?
main_line="Node $(node --version), $(driver node)"

second_line=""
if [ $# -eq 0 ] && [ "${CAMLABEL_TEST_RUNTIME:-}" != skip ]; then
  runner="" env_sqlite=""
  if [ "$(driver node)" = better-sqlite3 ]; then
    if runner=$(runtime_node); then
      second_line="Node $("$runner" --version), node:sqlite: the app's runtime"
    else
      why="Node $RUNTIME_NODE could not be fetched from the npm registry"
    fi
  elif node -e 'require("better-sqlite3")(":memory:").close()' 2>/dev/null; then
    runner=node env_sqlite=better-sqlite3
    second_line="Node $(node --version), better-sqlite3: the command line on Node 20/21"
  else
    why="better-sqlite3 is not installed (it serves only Node 20/21)"
  fi
  if [ -n "$second_line" ]; then
    echo
    echo "camlabel tests: again on $second_line"
    CAMLABEL_SQLITE=$env_sqlite "$runner" node_modules/vitest/vitest.mjs run --reporter=default \
      --reporter=json --outputFile.json=test-results/vitest-runtime.json "${RUNTIME_FILES[@]}" ||
      status=1
  else
    echo "camlabel tests: the second SQLite pass did not run: $why." >&2
    [ "${CAMLABEL_TEST_RUNTIME:-}" = required ] && status=1
  fi
fi

echo
[ -f test-results/vitest.json ] && summary test-results/vitest.json "$main_line"
[ -f test-results/vitest-runtime.json ] && summary test-results/vitest-runtime.json "$second_line"
exit $status
