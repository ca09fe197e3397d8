#!/usr/bin/env bash
# The test command (`npm test`): fetches the models the tests use (from $CAMLABEL_MODELS_FROM when set,
# else from their URLs), builds the renderer for the browser tests, then runs every vitest project and
# prints one summary line.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ ! -d ../shared/data ]; then
  echo "camlabel tests: ../shared/data is missing (real photos and ground truth the tests use)." >&2
  echo "  Place the shared folder beside this checkout, then run npm test again." >&2
  exit 1
fi

node bin/camlabel.mjs models squeezenet1.1-fp16 mobilenetv2-12-int8 || exit 1
npx electron-vite build --logLevel warn || exit 1

mkdir -p test-results
npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"))
  const skipped = r.numPendingTests + r.numTodoTests
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`)
' || true
exit $status
