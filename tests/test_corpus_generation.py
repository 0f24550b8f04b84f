"""The corpus end to end: generate a few sentences on worker processes, read the
manifest, load both splits as training Sequences; the plan keeps held-out voices out of
training; the size request, the seed and the worker count behave."""

from __future__ import annotations

import json

import numpy as np
import pytest

from meshtalk_blender.core.audio import TARGET_MEAN_ABS, frame_count
from meshtalk_blender.core.face import load_bundled_head
from meshtalk_blender.training.corpus import CorpusRequest, generate_corpus, load_corpus, read_manifest, read_sequence
from meshtalk_blender.training.corpus.__main__ import main as corpus_main
from meshtalk_blender.training.corpus.plan import VALIDATION, VoicePool, corpus_job
from meshtalk_blender.training.speech.split import assert_no_held_out, is_held_out
from meshtalk_blender.training.speech.utterance import check_tiling
from meshtalk_blender.training.temperature import CANDIDATES, nearest_to_teacher

FAST_ENGINES = ("espeak-ng",)  # tests stay quick; the plan test below covers every engine


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    request = CorpusRequest(utterances=5, seed=3, validation_fraction=0.4, engines=FAST_ENGINES)
    generate_corpus(folder, request, workers=2, report=lambda line: None)
    return folder


def test_manifest_lists_every_sequence_with_its_split(small_corpus):
    manifest = read_manifest(small_corpus)
    records = manifest["sequences"]
    assert [r["index"] for r in records] == list(range(5))
    assert {r["split"] for r in records} == {"train", "validation"}
    for record in records:
        assert (small_corpus / record["file"]).exists()
        assert is_held_out(record["voice_id"], record["language"]) == (record["split"] == VALIDATION)
    assert manifest["totals"]["all"]["sequences"] == 5
    assert manifest["vertex_count"] == load_bundled_head().vertex_count
    assert not list(small_corpus.rglob("*.partial"))
    json.dumps(manifest)  # plain JSON all the way down


def test_load_corpus_gives_sequences_consistent_with_their_audio(small_corpus):
    vertex_count = load_bundled_head().vertex_count
    loaded = {split: load_corpus(small_corpus, split) for split in ("train", "validation")}
    assert len(loaded["train"]) + len(loaded["validation"]) == 5
    assert loaded["validation"]
    checked_seals = 0
    for split, sequences in loaded.items():
        for sequence in sequences:
            duration = len(sequence.waveform) / 16000
            frames = frame_count(duration, 30)
            assert sequence.vertices.shape == (frames, vertex_count, 3)
            assert sequence.template.shape == (vertex_count, 3)
            assert sequence.metadata["arkit"].shape == (frames, 52)
            assert sequence.metadata["split"] == split
            assert abs(np.abs(sequence.waveform).mean() - TARGET_MEAN_ABS) < 1e-4
            phonemes = sequence.metadata["phonemes"]
            check_tiling([type("P", (), {"start": s, "end": e, "symbol": p})() for p, s, e in phonemes], duration,
                         tolerance=1e-5)
            # Stored float16 meshes still seal the lips through every bilabial hold.
            head = load_bundled_head()
            upper, lower = head.index_sets["upper_inner_lip"], head.index_sets["lower_inner_lip"]
            seals = [c for c in sequence.metadata["events"]["contacts"] if c["kind"] == "seal" and c["strength"] == 1]
            for seal in seals:
                frames = np.arange(int(np.ceil(seal["hold_start"] * 30)), int(np.floor(seal["hold_end"] * 30)) + 1)
                held = sequence.vertices[frames].astype(np.float32)
                assert np.linalg.norm(held[:, upper] - held[:, lower], axis=2).max() < 0.001
            checked_seals += len(seals)
    assert checked_seals >= 10
    # Meshes are rebuilt exactly from the ARKit weights: the stored float16 positions agree
    # to their rounding, and the still skull has exactly zero offset (float16 would not).
    files = {r["name"]: r["file"] for r in read_manifest(small_corpus)["sequences"]}
    for sequence in loaded["train"]:
        stored = read_sequence(small_corpus / files[sequence.name])
        assert np.abs(sequence.vertices - stored.vertices.astype(np.float32)).max() < 1e-4
        still = np.abs(sequence.offsets.astype(np.float32)).max(axis=(0, 2)) == 0
        assert still.sum() > 500
    assert_no_held_out({"voice_id": s.metadata["voice_id"], "language": s.metadata["language"]}
                       for s in loaded["train"])


def test_loading_refuses_meshes_that_the_rig_does_not_reproduce(small_corpus, tmp_path):
    from meshtalk_blender.training.corpus.loader import exact_offsets
    record = read_manifest(small_corpus)["sequences"][0]
    stored = read_sequence(small_corpus / record["file"])
    exact_offsets(stored, record["file"])  # the real corpus passes
    stored.identity = stored.identity + 0.2  # another face than the one stored
    with pytest.raises(ValueError, match="regenerate the corpus"):
        exact_offsets(stored, record["file"])


def test_clean_audio_is_kept_beside_augmented_audio(small_corpus):
    records = read_manifest(small_corpus)["sequences"]
    for record in records:
        stored = read_sequence(small_corpus / record["file"])
        assert (stored.audio_clean is not None) == record["augmented"]
        if record["augmented"]:
            assert stored.audio_clean.shape == stored.audio.shape
            assert not np.array_equal(stored.audio_clean, stored.audio)


def test_prefix_and_worker_count_do_not_change_the_sequences(small_corpus, tmp_path):
    request = CorpusRequest(utterances=2, seed=3, validation_fraction=0.4, engines=FAST_ENGINES)
    generate_corpus(tmp_path, request, workers=1, report=lambda line: None)
    for record in read_manifest(tmp_path)["sequences"]:
        again = read_sequence(tmp_path / record["file"])
        first = read_sequence(small_corpus / record["file"])
        np.testing.assert_array_equal(again.audio, first.audio)
        # Bit for bit: the teacher's vertices once differed in the last float16 step between
        # a worker process and this one (OpenBLAS's sums depend on its thread count; see
        # rig.apply_arkit).
        np.testing.assert_array_equal(again.arkit, first.arkit)
        np.testing.assert_array_equal(again.template, first.template)
        np.testing.assert_array_equal(again.vertices, first.vertices)
        assert again.info["seed"] == first.info["seed"]


def test_minutes_request_stops_at_the_first_prefix_long_enough(tmp_path):
    request = CorpusRequest(minutes=0.25, seed=5, engines=FAST_ENGINES)
    manifest = generate_corpus(tmp_path, request, workers=1, report=lambda line: None)
    durations = [r["duration"] for r in manifest["sequences"]]
    assert sum(durations) >= 15.0 > sum(durations[:-1])
    assert len(list((tmp_path / "sequences").glob("*.npz"))) == len(durations)


def test_plan_keeps_held_out_voices_and_language_out_of_training():
    pool = VoicePool()  # every engine on this machine
    jobs = [corpus_job(i, 0, pool, 0.1, 0.5) for i in range(3000)]
    training = [j for j in jobs if j.split == "train"]
    validation = [j for j in jobs if j.split == VALIDATION]
    language = {voice_id: voice_language for voice_id, voice_language in _voice_languages().items()}
    assert assert_no_held_out({"voice_id": j.voice_id, "language": language[j.voice_id]} for j in training) == 2700
    assert all(is_held_out(j.voice_id, language[j.voice_id]) for j in validation)
    assert len(validation) == 300
    assert len({j.voice_id for j in training}) > 40  # many voices
    assert {language[j.voice_id] for j in validation} >= {"it"}
    assert len({j.seed for j in jobs}) == len(jobs)


def _voice_languages() -> dict[str, str]:
    from meshtalk_blender.training.speech.voices import all_voices

    return {voice.id: voice.language for voice in all_voices()}


def test_command_line_refuses_to_overwrite_without_asking(tmp_path, capsys):
    arguments = ["--out", str(tmp_path), "--utterances", "1", "--workers", "1", "--engines", "espeak-ng"]
    assert corpus_main(arguments) == 0
    assert corpus_main(arguments) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert corpus_main(arguments + ["--overwrite"]) == 0
    assert corpus_main(["--out", str(tmp_path / "x"), "--utterances", "1", "--engines", "nonsense"]) == 2
    assert not (tmp_path / "x").exists()


def test_evaluation_report_has_every_number_baseline_and_figure(small_corpus, tmp_path):
    """The evaluation script end to end on the small corpus with a small random model of
    the bundled head's size (the numbers are meaningless; their presence and the
    reference's zero error are checked)."""
    from dataclasses import replace

    from conftest import TINY, random_model

    from meshtalk_blender.core.checkpoints import save_bundle
    from meshtalk_blender.training.evaluate import NO_REST, NO_SEAL, markdown
    from meshtalk_blender.training.evaluate import main as evaluate_main

    head = load_bundled_head()
    model = random_model(replace(TINY, num_vertices=head.vertex_count, vertex_space="offsets"), scale=3.0)
    save_bundle(tmp_path / "model", model, head.vertices, description="test", licence="test",
                mouth_heads=(0, 1), vertex_masks={"mouth": head.masks["mouth"]})
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(entry) + "\n" for entry in [
        {"stage": "stage1", "step": 50, "reconstruction": 1.0, "cross_modality": 4.0, "eyelid": 0.3,
         "val_reconstruction": 1.1, "val_cross_modality": 4.2, "val_eyelid": 0.3},
        {"stage": "stage2", "step": 50, "nll": 2.0, "val_nll": 2.1}]))
    out = tmp_path / "report"
    assert evaluate_main(["--model", str(tmp_path / "model"), "--corpus", str(small_corpus), "--out", str(out),
                          "--seeds", "2", "--no-real", "--device", "cpu", "--training-log", str(log)]) == 0
    report = json.loads((out / "report.json").read_text())
    summary = report["summary"]
    assert set(summary) == {"model", NO_REST, NO_SEAL, "static template", "loudness jaw", "teacher (reference)"}
    assert summary[NO_SEAL] == summary["model"], "a bundle without a lip-closure detector: the switch changes nothing"
    # The pause rest closes the (random, wildly moving) model's mouth in the corpus's
    # silences where they are quiet enough to find (measured 0.42 vs 0.0).
    assert summary["model"]["closed_in_silence_rate"] > summary[NO_REST]["closed_in_silence_rate"] + 0.3
    assert summary["teacher (reference)"]["lip_vertex_error_mm"] == 0
    assert summary["static template"]["lip_vertex_error_mm"] > 1
    assert summary["teacher (reference)"]["bilabial_seal_rate"] > 0.9
    assert len(report["seeds"]["blink_onsets_s"]) == 2
    # The redrawn upper face moves the random model's own lips; the lip lock keeps them.
    seeds = report["seeds"]
    assert seeds["lip_vertex_error_between_seeds_mm"] < 1e-4 < seeds["lip_vertex_error_between_seeds_model_alone_mm"]
    for name in report["figures"].values():
        assert (out / name).stat().st_size > 5000
    assert set(report["figures"]) == {"lip gap", "blink durations", "blinks across seeds", "training curves"}
    assert "| static template |" in (out / "report.md").read_text()
    assert "lip_closure_detector" not in report, "no detector in this bundle: nothing to report"
    detector = {"bilabials": 12, "heard_over_0.3": 0.75, "false_alarm_frames": 0.043, "heard_at_4%_false_alarms": 0.5}
    text = markdown(report | {"lip_closure_detector": detector})
    assert "(12 p/b/m;" in text and "heard_over_0.3 75.0%, false_alarm_frames 4.3%, heard_at_4%_false_alarms 50.0%" in text


def test_bundled_recipe_runs_end_to_end_in_a_few_steps(small_corpus, tmp_path):
    """The bundled model's own command (--quick: 20 steps per stage) on the small corpus:
    both stages log, the heads are measured, the bundle loads and is half precision."""
    from safetensors.torch import load_file

    from meshtalk_blender.core.checkpoints import load_model
    from meshtalk_blender.training.bundled import main as bundled_main

    assert bundled_main(["--corpus", str(small_corpus), "--out", str(tmp_path), "--quick", "--device", "cpu"]) == 0
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert {entry["stage"] for entry in log} == {"stage1", "stage2"}
    assert any("val_reconstruction" in entry for entry in log) and any("val_nll" in entry for entry in log)
    heads = json.loads((tmp_path / "heads.json").read_text())
    assert len(heads["mouth_share"]) == 16 and heads["region_motion_mm"]["mouth"] > 0
    loaded = load_model(tmp_path / "model")
    assert loaded.config.vertex_space == "offsets" and loaded.config.audio_normalisation == "utterance"
    assert loaded.mouth_heads == tuple(range(9)), "head 0 held and heads 1-8 the mouth's (training.mouth_heads)"
    assert any("mouth_invariance" in entry and "audio_lip_shape" in entry for entry in log)
    assert loaded.lip_closure is not None, "the recipe trains the p/b/m detector into the bundle"
    assert loaded.lip_tuck is not None, "the f/v detector"
    assert loaded.tongue is not None, "and then the tongue detector"
    assert (loaded.lip_closure.width, loaded.lip_tuck.width, loaded.tongue.width) == (256, 128, 128), "each its recipe"
    assert load_file(str(tmp_path / "model" / "model.safetensors"))["decoder.decoder.2.weight"].dtype.itemsize == 2
    # Its temperature: the candidate whose blinks on the held-out voices come nearest the teacher's.
    rates = loaded.metadata["temperature_blinks_per_minute"]
    assert set(rates) == {"teacher", *(f"{t:g}" for t in CANDIDATES)}
    assert loaded.temperature == nearest_to_teacher(rates)


def test_the_temperature_kept_is_the_one_that_blinks_nearest_the_teacher():
    assert nearest_to_teacher({"teacher": 21.0, "0.6": 5.0, "0.8": 12.0, "1": 19.5, "1.2": 31.0}) == 1.0
    assert nearest_to_teacher({"teacher": 21.0, "0.6": 23.0, "0.8": 37.0, "1": 41.0}) == 0.6
    assert nearest_to_teacher({"teacher": 20.0, "0.6": 18.0, "0.8": 22.0}) == 0.6  # a tie: the calmer


def test_evaluation_reports_a_detector_that_reads_the_speech_encoder(small_corpus, tmp_path):
    """The evaluation's detector report hears the held-out lines through the bundle's
    speech encoder when its p/b/m detector reads that."""
    from dataclasses import replace

    import torch
    from conftest import TINY, random_model

    from meshtalk_blender.core.checkpoints import save_bundle
    from meshtalk_blender.core.model.lip_closure import CLOSURE_FILE, LipClosureDetector, save_detector
    from meshtalk_blender.core.model.speech_encoder import SPEECH_ENCODER_FILE, SpeechEncoder, save_speech_encoder
    from meshtalk_blender.training.evaluate import main as evaluate_main

    head = load_bundled_head()
    model = random_model(replace(TINY, num_vertices=head.vertex_count, vertex_space="offsets",
                                 audio_normalisation="utterance"), scale=3.0)
    save_bundle(tmp_path / "model", model, head.vertices, description="test", licence="test",
                vertex_masks={"mouth": head.masks["mouth"]})
    torch.manual_seed(0)
    save_speech_encoder(SpeechEncoder(width=16, layers=1, heads=2), tmp_path / "model" / SPEECH_ENCODER_FILE)
    save_detector(LipClosureDetector(width=8, dilations=(2,), inputs="speech", input_channels=16),
                  tmp_path / "model" / CLOSURE_FILE)
    out = tmp_path / "report"
    assert evaluate_main(["--model", str(tmp_path / "model"), "--corpus", str(small_corpus), "--out", str(out),
                          "--seeds", "1", "--no-real", "--device", "cpu"]) == 0
    detector = json.loads((out / "report.json").read_text())["lip_closure_detector"]
    assert detector["bilabials"] > 0 and 0 <= detector["heard_over_0.3"] <= 1


def test_detectors_trained_beside_the_model_are_those_trained_after_it(small_corpus, tmp_path):
    """On a CPU with two cores the recipe trains the three detectors in a second process
    while the model trains; they must be the very files a run in series writes."""
    from meshtalk_blender.core.lip_tuck import TUCK_FILE
    from meshtalk_blender.core.model.lip_closure import CLOSURE_FILE
    from meshtalk_blender.core.tongue import TONGUE_FILE
    from meshtalk_blender.training.bundled import train_bundled, train_detectors

    beside = train_bundled(small_corpus, tmp_path / "beside", device="cpu", quick=True, detectors_beside=True)
    train_detectors(small_corpus, (), None, tmp_path / "after", device="cpu", quick=True)
    for name in (CLOSURE_FILE, TUCK_FILE, TONGUE_FILE):
        assert (beside / name).read_bytes() == (tmp_path / "after" / name).read_bytes(), name


def test_detectors_read_the_speech_encoder_where_the_model_folder_has_one(small_corpus, tmp_path):
    """scripts/train_bundled.sh writes the speech encoder into the model folder first; the
    recipe's p/b/m detector then reads its features, by its own settings."""
    import torch

    from meshtalk_blender.core.lip_gap import GAP_FILE, load_lip_gap_regressor
    from meshtalk_blender.core.lip_tuck import TUCK_FILE, load_tuck_detector
    from meshtalk_blender.core.model.lip_closure import CLOSURE_FILE, load_detector
    from meshtalk_blender.core.model.speech_encoder import SPEECH_ENCODER_FILE, SpeechEncoder, save_speech_encoder
    from meshtalk_blender.core.tongue import TONGUE_FILE, load_tongue_detector
    from meshtalk_blender.training.bundled import train_detectors

    torch.manual_seed(0)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    save_speech_encoder(SpeechEncoder(width=16, layers=1, heads=2), model_dir / SPEECH_ENCODER_FILE)
    train_detectors(small_corpus, (), None, model_dir, device="cpu", quick=True)
    detector = load_detector(model_dir / CLOSURE_FILE)
    assert (detector.inputs, detector.input_channels, detector.width) == ("speech", 16, 128)
    assert load_tuck_detector(model_dir / TUCK_FILE).inputs == "speech"
    assert load_tongue_detector(model_dir / TONGUE_FILE).inputs == "mel"
    assert load_lip_gap_regressor(model_dir / GAP_FILE).inputs == "speech", "and the lip-gap regressor joins them"
    train_detectors(small_corpus, (), None, tmp_path / "mel", device="cpu", quick=True)
    assert load_detector(tmp_path / "mel" / CLOSURE_FILE).inputs == "mel"
    assert load_tuck_detector(tmp_path / "mel" / TUCK_FILE).inputs == "mel"
    assert not (tmp_path / "mel" / GAP_FILE).exists(), "the lip-gap regressor reads only the speech encoder"


def test_the_detector_commands_take_the_speech_recipe_with_a_speech_encoder(small_corpus, tmp_path):
    import torch

    from meshtalk_blender.core.lip_tuck import load_tuck_detector
    from meshtalk_blender.core.model.lip_closure import load_detector
    from meshtalk_blender.core.model.speech_encoder import SpeechEncoder, save_speech_encoder
    from meshtalk_blender.training.lip_closure import main as closure_main
    from meshtalk_blender.core.lip_gap import load_lip_gap_regressor
    from meshtalk_blender.training.lip_gap import main as gap_main
    from meshtalk_blender.training.lip_tuck import main as tuck_main

    torch.manual_seed(0)
    save_speech_encoder(SpeechEncoder(width=16, layers=1, heads=2), tmp_path / "encoder.safetensors")
    for main, load in ((closure_main, load_detector), (tuck_main, load_tuck_detector),
                       (gap_main, load_lip_gap_regressor)):
        out = tmp_path / f"{main.__module__}.safetensors"
        assert main(["--corpus", str(small_corpus), "--out", str(out), "--steps", "2", "--device", "cpu",
                     "--speech-encoder", str(tmp_path / "encoder.safetensors")]) == 0
        detector = load(out)
        assert (detector.inputs, detector.input_channels, detector.width) == ("speech", 16, 128)


def test_lip_closure_command_is_repeatable_for_a_seed(small_corpus, tmp_path):
    """The detector's own command: the same --seed writes the same bytes (the shipped file
    is reproducible), another seed another detector (the model card reports seeds)."""
    from meshtalk_blender.core.model.lip_closure import LipClosureDetector, load_detector
    from meshtalk_blender.training.lip_closure import main as closure_main

    files = {name: tmp_path / f"{name}.safetensors" for name in ("a", "again", "other")}
    for name, seed in (("a", 0), ("again", 0), ("other", 1)):
        arguments = ["--corpus", str(small_corpus), "--out", str(files[name]), "--steps", "4", "--device", "cpu"]
        assert closure_main(arguments + ["--seed", str(seed)]) == 0
    assert files["a"].read_bytes() == files["again"].read_bytes()
    assert files["a"].read_bytes() != files["other"].read_bytes()
    for file in files.values():  # each is a detector the pipeline accepts, 256 channels wide, calibrated
        detector = load_detector(file)
        assert detector.width == 256 and detector.thresholds != LipClosureDetector.thresholds
    narrow = tmp_path / "narrow.safetensors"
    assert closure_main(arguments[:2] + ["--out", str(narrow), "--steps", "4", "--device", "cpu", "--width", "24"]) == 0
    assert load_detector(narrow).width == 24


def test_lazy_offsets_are_the_rigs_offsets_made_when_read(small_corpus):
    exact = load_corpus(small_corpus, "train")
    lazy = load_corpus(small_corpus, "train", lazy=True)
    for a, b in zip(exact, lazy):
        assert len(b.offsets) == a.num_frames and b.offsets.shape == a.offsets.shape
        # float16 deltas: within 20 um of the float32 rig (float16 offsets: within 10 um)
        assert np.abs(b.vertices - a.vertices).max() < 2e-5
        picks = np.array([0, 3, 7])
        np.testing.assert_allclose(b.offsets[picks], b.offsets.astype(np.float32)[picks])


def test_lip_tuck_command_writes_a_detector_the_pipeline_reads(small_corpus, tmp_path):
    from meshtalk_blender.core.lip_tuck import load_tuck_detector
    from meshtalk_blender.training.lip_tuck import main as tuck_main

    out = tmp_path / "lip_tuck.safetensors"
    assert tuck_main(["--corpus", str(small_corpus), "--out", str(out), "--steps", "4", "--device", "cpu"]) == 0
    assert load_tuck_detector(out).outputs == 5
