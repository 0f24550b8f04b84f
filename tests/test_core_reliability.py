"""Issue 18's core items that have no file of their own: OBJ templates with numbers the
model cannot use, audio that is a folder, cut short or damaged, and the warnings a clip
can carry."""

import subprocess
import sys

import numpy as np
import pytest
import soundfile
from audio_fixtures import speech_like
from conftest import ROOT, TINY, random_model

from meshtalk_blender.core import audio
from meshtalk_blender.core.cache_io import read_cache
from meshtalk_blender.core.checkpoints import read_template, save_bundle
from meshtalk_blender.core.errors import MeshTalkError
from meshtalk_blender.core.obj_io import read_obj

GOOD_OBJ = "# a triangle\nv 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 0 1\nf 1/1 2/2 3/3\n"


@pytest.mark.parametrize("line, message", [
    ("v nan 0 0", "line 3: nan 0 0 is not a finite coordinate"),
    ("v 0 inf 0", "line 3: 0 inf 0 is not a finite coordinate"),
    ("v 0 0 -1e39", "line 3: 0 0 -1e39 is not a finite coordinate"),  # beyond float32: infinity in the model
    ("v 1 2", r"line 3: a vertex needs x, y and z \(2 numbers given\)"),
    ("v 1 two 3", "line 3: could not convert string to float"),
    ("f 1 2 0", "line 3: index 0 does not exist"),
    ("f 1 2 9", "a face naming a vertex it does not have"),
    ("vt 0 nan", "line 3: 0 nan is not a finite coordinate"),
])
def test_an_obj_line_the_model_cannot_use_is_named_with_its_number(tmp_path, line, message):
    path = tmp_path / "t.obj"
    lines = GOOD_OBJ.splitlines()
    path.write_text("\n".join(lines[:2] + [line] + lines[2:]) + "\n")
    with pytest.raises(MeshTalkError, match=message):
        read_obj(path)
    with pytest.raises(MeshTalkError, match=message):
        read_template(path, 4)


def test_a_valid_obj_still_reads_exactly(tmp_path):
    path = tmp_path / "t.obj"
    path.write_text(GOOD_OBJ.replace("vt 0 1", "vt 0") + "v 3.4028234e38 -5 1e-45\nf -1 -2 -3\n")
    mesh = read_obj(path)
    assert mesh.vertices.shape == (4, 3) and mesh.vertices[3, 0] == 3.4028234e38
    assert mesh.faces == [[0, 1, 2], [3, 2, 1]] and mesh.uvs is None  # the second face has no uvs
    np.testing.assert_array_equal(read_template(path, 4)[:3], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])


def test_a_folder_given_as_the_template_is_named_a_folder(tmp_path):
    with pytest.raises(MeshTalkError, match="is a folder; give the path of an .obj file"):
        read_obj(tmp_path)


# ---------------------------------------------------------------- audio


def _speech_file(path, seconds=4.0, rate=44100, **options):
    soundfile.write(path, speech_like(seconds, rate, seed=2), rate, **options)
    return path


def _cut(path, fraction):
    """Keeps the first ``fraction`` of the file's bytes: its header still claims it all."""
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * fraction)])
    return path


def test_a_wav_cut_short_is_animated_as_far_as_it_goes_with_a_warning(tmp_path, template_vertices):
    path = tmp_path / "line.wav"
    soundfile.write(path, speech_like(4.0, 16000, seed=2), 16000, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:44 + 2 * 16000 * 32 // 10])  # header + 3.20 s of the 4.00 s it claims
    info = audio.probe(audio.AudioClip(path))
    assert info.num_samples == 51200 and info.warnings == (
        "line.wav ends at 3.20 s although its header says 4.00 s; it is cut short, animating what is there.",)
    model = tmp_path / "model"
    save_bundle(model, random_model(TINY), template_vertices, description="t", licence="MIT")
    result = subprocess.run([sys.executable, "-m", "meshtalk_blender", "animate", str(path), "--checkpoint", str(model),
                             "--out", str(tmp_path / "a.pc2"), "--quiet"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"meshtalk: warning: {info.warnings[0]}\n"
    assert len(read_cache(tmp_path / "a.pc2")) == audio.frame_count(3.2, 30) == 97


def test_an_intact_file_has_no_warning_and_a_duration_ends_before_the_cut(tmp_path):
    assert audio.probe(audio.AudioClip(_speech_file(tmp_path / "a.wav"))).warnings == ()
    cut = _cut(_speech_file(tmp_path / "b.wav"), 0.5)
    assert audio.probe(audio.AudioClip(cut, start=0.5, duration=1.0)).warnings == ()


def test_an_mp3_cut_short_is_animated_as_far_as_it_goes(tmp_path):
    """libsndfile takes an MP3's length from its Xing header: 4 s; half the file decodes
    to about 2 s, which used to end in 'ends early' (an error)."""
    info = audio.probe(audio.AudioClip(_cut(_speech_file(tmp_path / "line.mp3"), 0.5)))
    assert 1.5 < info.duration < 2.5
    assert len(info.warnings) == 1 and "although its header says 4.00 s; it is cut short" in info.warnings[0]
    _, samples = audio.load_normalised(audio.AudioClip(tmp_path / "line.mp3"))
    assert len(samples) == info.num_samples and np.isfinite(samples).all()


def test_an_ogg_cut_short_gets_a_warning(tmp_path):
    info = audio.probe(audio.AudioClip(_cut(_speech_file(tmp_path / "line.ogg", subtype="VORBIS"), 0.5)))
    assert len(info.warnings) == 1 and "without its end-of-stream mark; it is cut short" in info.warnings[0]


@pytest.mark.parametrize("start", [0.0, 3.0])
def test_a_damaged_flac_is_one_message_wherever_the_clip_starts(tmp_path, start):
    """Its header claims 4 s; past the cut the decoder loses sync (reading) or cannot seek
    (a clip that starts there: that seek sat outside the error handling)."""
    path = _cut(_speech_file(tmp_path / "line.flac"), 0.5)
    with pytest.raises(MeshTalkError, match="line.flac is damaged or cut short: it cannot be decoded after"):
        audio.probe(audio.AudioClip(path, start=start))


@pytest.mark.parametrize("extension, options", [(".wav", {}), (".flac", {}), (".ogg", {"subtype": "VORBIS"}),
                                                (".mp3", {})])
def test_a_file_cut_inside_its_header_says_truncated_or_damaged(tmp_path, extension, options):
    path = _speech_file(tmp_path / f"line{extension}", **options)
    path.write_bytes(path.read_bytes()[:40])
    message = f"Cannot decode audio file line{extension}.*: it is truncated, damaged"
    with pytest.raises(MeshTalkError, match=message) as refused:
        audio.probe(audio.AudioClip(path))
    assert "does not exist" not in str(refused.value)  # libsndfile says so of an MP3 it cannot parse


def test_a_folder_given_as_the_audio_is_named_a_folder(tmp_path):
    with pytest.raises(MeshTalkError, match="is a folder; give an audio file"):
        audio.probe(audio.AudioClip(tmp_path))


@pytest.mark.parametrize("left, right, message", [(np.nan, 0.0, "invalid samples"), (np.inf, -np.inf, "invalid samples"),
                                                  (3e38, 3e38, "far beyond full scale")])
def test_a_float_file_with_samples_that_are_not_numbers_is_one_message_without_warnings(tmp_path, left, right, message):
    """NaN, infinity, or finite values that overflow when averaged or resampled: refused
    before any arithmetic warns on stderr (which would break the command line's one line)."""
    import warnings

    samples = np.stack([speech_like(1.0, 44100, seed=2)] * 2, axis=1)
    samples[20000:20010] = left, right
    soundfile.write(tmp_path / "float.wav", samples, 44100, subtype="FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(MeshTalkError, match=message):
            audio.probe(audio.AudioClip(tmp_path / "float.wav"))


def test_a_few_samples_short_of_the_header_is_decoder_padding_not_damage(tmp_path):
    """MP3s (Common Voice's, for one) decode a few hundred samples fewer than their
    header claims: normal decoder padding, accepted everywhere without a word. A WAV
    whose header claims 300 samples more than it holds (6.8 ms at 44.1 kHz) stands in."""
    path = tmp_path / "line.wav"
    soundfile.write(path, speech_like(2.0, 44100, seed=2), 44100, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:-600])  # 300 samples of 2 bytes
    info = audio.probe(audio.AudioClip(path))
    assert info.warnings == () and info.file_frames == 2 * 44100 - 300
