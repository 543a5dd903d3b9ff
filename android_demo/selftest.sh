#!/usr/bin/env bash
# Check an Android bundle (LiteRT or ONNX Runtime) on a desktop JVM, without Android:
#
#   android_demo/selftest.sh ASSETS [RECORDED]   (ASSETS: a folder from `prelnedge bundle OUT --platform android`;
#                                                 RECORDED: outputs a real runtime gave for its golden inputs)
#
# Compiles the app's plain-Java core (android_demo/core) with javac into a temporary folder and runs
# org.prelnedge.core.SelfTest: every golden example is tokenised by the Java tokenizer (ids, mask and
# offsets must equal Python's) and the Java post-processing of the stored outputs must reproduce
# Python's decoded answers. The model (model.tflite or model.ort) is only checked to be a file of its
# runtime's format: running it needs LiteRT's or ONNX Runtime's Android libraries, which the app
# does on the device. With RECORDED (tests/android_recorded.py writes one from a real Python run),
# those outputs go through the app's golden check as the device's would. Prints `SELFTEST PASS ...`
# and exits 0, or `SELFTEST FAIL <reason>` and exits 1; bad usage exits 2.
#
# PRELNEDGE_JAVA_CLASSES=DIR uses classes compiled beforehand instead of compiling (the tests do).
set -euo pipefail

if [[ $# -ne 1 && $# -ne 2 ]]; then
    echo "usage: $0 ASSETS [RECORDED]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)

if [[ -n "${PRELNEDGE_JAVA_CLASSES:-}" ]]; then
    classes=$PRELNEDGE_JAVA_CLASSES
else
    if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
        echo "SELFTEST FAIL java and javac (JDK 9 or later) are needed on PATH"
        exit 1
    fi
    classes=$(mktemp -d)
    trap 'rm -rf "$classes"' EXIT
    mapfile -t sources < <(find "$here/core/src/main/java" -name '*.java')
    # --release 8: the core must stay within the Java APIs Android offers (no java.nio.file, List.of, ...).
    if ! javac --release 8 -encoding UTF-8 -d "$classes" "${sources[@]}" >&2; then
        echo "SELFTEST FAIL the Java core does not compile"
        exit 1
    fi
fi

status=0
java -cp "$classes" org.prelnedge.core.SelfTest "$@" || status=$?
exit "$status"
