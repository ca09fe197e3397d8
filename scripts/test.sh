#!/usr/bin/env bash
# The test command (`npm test`): fetches the models the tests use (from $CAMLABEL_MODELS_FROM when set,
# else from their URLs), builds the renderer when the browser tests will run, then runs the vitest
# projects (all, or those named: `npm test -- --project unit`) and prints one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/data ]; then
  echo "camlabel tests: ../shared/data is missing (real photos and ground truth the tests use)." >&2
  echo "  Place the shared folder beside this checkout, then run npm test again." >&2
  exit 1
fi

node bin/camlabel.mjs models squeezenet1.1-fp16 mobilenetv2-12-int8 || exit 1
# The browser tests drive the production build of the renderer.
if [[ " $* " != *" --project "* || " $* " == *" e2e "* ]]; then
  npx electron-vite build --logLevel warn || exit 1
fi

mkdir -p test-results
rm -f test-results/vitest.json
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?
if [ -f test-results/vitest.json ]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"))
    const skipped = r.numPendingTests + r.numTodoTests
    console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`)
  '
fi
exit $status
