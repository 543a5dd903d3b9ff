#!/usr/bin/env bash
# Makes the venv of the clients the tests drive in a subprocess, each needing versions that cannot share
# our venv: `fairseq` writes real fairseq checkpoints (tests/test_fairseq_written.py); `hf4` is
# transformers 4.57 with optimum-onnx, which loads our ONNX folders (tests/test_optimum_client.py), and
# with HF's TF classes, which write real tf_model.h5 files (tests/test_h5_checkpoint.py).
# On success it writes VENV/.installed; on failure it removes VENV and leaves VENV-install.log, and
# the tests that need it skip, naming the log.
#
# usage: make_client_venv.sh fairseq|hf4 VENV [PYTHON3.11]
set -uo pipefail
client=$1
venv=$2
python311=${3:-python3}
log="$venv-install.log"

# fairseq 0.12.2, measured facts behind each choice:
# - Python 3.8: the last Python with a fairseq 0.12.2 wheel. Its sdist does not build (a C++ source,
#   clib/libbase/balanced_assignment.cpp, is missing from it) and on 3.11 its dataclasses fail to import.
# - torch 1.13.1 from PyPI: the only x86_64 Linux 1.x wheels there are CUDA builds (887 MB, plus the
#   cuDNN and cuBLAS wheels it will not import without): about 1.75 GB to download, 3.3 GB on disk.
#   No GPU is used.
# - fairseq with --no-deps: its torchaudio requirement would pull another torch; the rest is listed.
# - pip < 24.1: newer pip rejects omegaconf 2.0.6's metadata, and hydra-core 1.0.7 needs that omegaconf.
install_fairseq() {
    local python
    python=$(ls /root/.pyenv/versions/3.8.*/bin/python3.8 2>/dev/null | tail -1)
    python=${python:-$(command -v python3.8)}
    [ -n "$python" ] || { echo "no python3.8 on this machine"; return 1; }
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q "pip<24.1"
    "$venv/bin/pip" install -q torch==1.13.1 "numpy<1.25"
    "$venv/bin/pip" install -q --no-deps fairseq==0.12.2
    "$venv/bin/pip" install -q hydra-core==1.0.7 omegaconf==2.0.6 regex sacrebleu bitarray tqdm cffi cython
    "$venv/bin/python" -c "import fairseq, torch; print('fairseq', fairseq.__version__, 'torch', torch.__version__)"
}

# hf4: optimum-onnx 0.1.0 pins transformers<4.58 (ours is 5.x, which also dropped the TF classes).
# optimum requires torch, so torch==2.13.0 goes in first: pinned exactly, it resolves to the local CPU
# wheel. HF's TF classes need Keras 2: tf-keras, with --no-deps since it asks for `tensorflow`, which
# would pull a second TensorFlow beside tensorflow-cpu.
install_hf4() {
    "$python311" -c "import sys; assert sys.version_info[:2] == (3, 11), sys.version"
    "$python311" -m venv "$venv"
    "$venv/bin/pip" install -q torch==2.13.0
    "$venv/bin/pip" install -q "optimum-onnx[onnxruntime]==0.1.0" onnxruntime==1.32.0 "transformers>=4.57,<4.58" \
        tensorflow-cpu==2.21.0 h5py
    "$venv/bin/pip" install -q --no-deps tf-keras==2.21.0
    "$venv/bin/python" -c "import optimum.onnxruntime, tf_keras, transformers; print('transformers', transformers.__version__)"
}

case $client in
    fairseq|hf4) ;;
    *) echo "unknown client '$client'; allowed: fairseq, hf4"; exit 2 ;;
esac
mkdir -p "$(dirname "$venv")"
rm -rf "$venv"
( set -ex; "install_$client" ) >"$log" 2>&1
if [ $? -ne 0 ]; then
    rm -rf "$venv"
    echo "$client venv not made (see $log); the tests that need it will skip"
    exit 0
fi
touch "$venv/.installed"
rm -f "$log"
