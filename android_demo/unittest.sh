#!/usr/bin/env bash
# Unit tests of the app's plain-Java core on a desktop JVM: android_demo/unittest.sh
# Compiles android_demo/core (main and test sources) and runs org.prelnedge.core.CoreTest, which
# prints `UNITTEST PASS n` (exit 0) or each failure and `UNITTEST FAIL k of n` (exit 1).
# PRELNEDGE_JAVA_CLASSES=DIR uses classes compiled beforehand (main and test sources).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if [[ -n "${PRELNEDGE_JAVA_CLASSES:-}" ]]; then
    classes=$PRELNEDGE_JAVA_CLASSES
else
    classes=$(mktemp -d)
    trap 'rm -rf "$classes"' EXIT
    mapfile -t sources < <(find "$here/core/src/main/java" "$here/core/src/test/java" -name '*.java')
    javac --release 8 -encoding UTF-8 -d "$classes" "${sources[@]}"
fi

status=0
java -cp "$classes" org.prelnedge.core.CoreTest || status=$?
exit "$status"
