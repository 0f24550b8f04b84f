"""Outputs are the old file or the complete new one: unique temporary names, refusals
before any work."""

import errno
import os

import pytest

from meshtalk_blender.core.atomic_files import check_writable_output, is_temporary, replacing, temporary_path
from meshtalk_blender.core.errors import MeshTalkError
from fault_support import read_only_folder, small_disk


def test_each_run_gets_its_own_temporary_name_beside_the_output(tmp_path):
    names = {temporary_path(tmp_path / "out.pc2") for _ in range(50)}
    assert len(names) == 50
    assert all(name.parent == tmp_path and is_temporary(name) and str(os.getpid()) in name.name for name in names)


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("previous")
    with pytest.raises(KeyboardInterrupt):
        with replacing(out) as temporary:
            temporary.write_text("half")
            raise KeyboardInterrupt
    assert out.read_text() == "previous" and os.listdir(tmp_path) == ["out.txt"]


def test_a_full_disk_is_a_user_message_and_the_previous_file_stays(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("previous")
    with pytest.raises(MeshTalkError, match="disk is full"):
        with replacing(out) as temporary:
            temporary.write_text("half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert out.read_text() == "previous" and os.listdir(tmp_path) == ["out.txt"]


def test_a_complete_write_replaces_the_file(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("previous")
    with replacing(out) as temporary:
        temporary.write_text("new")
    assert out.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_outputs_that_cannot_be_written_are_refused_before_any_work(tmp_path):
    audio = tmp_path / "line.wav"
    audio.write_bytes(b"RIFF")
    with pytest.raises(MeshTalkError, match="is a folder"):
        check_writable_output(tmp_path)
    with pytest.raises(MeshTalkError, match="does not exist"):
        check_writable_output(tmp_path / "missing" / "out.pc2")
    with pytest.raises(MeshTalkError, match="also an input"):
        check_writable_output(tmp_path / "." / "line.wav", inputs=(audio,))
    assert check_writable_output(tmp_path / "out.pc2", inputs=(audio,)) == tmp_path / "out.pc2"


def test_a_read_only_folder_is_refused(tmp_path):
    with read_only_folder(tmp_path / "locked") as folder:
        with pytest.raises(MeshTalkError, match="not writable"):
            check_writable_output(folder / "out.pc2")


def test_a_full_disk_during_a_real_write_keeps_the_previous_file(tmp_path):
    with small_disk(tmp_path / "small", "64k") as folder:
        out = folder / "out.bin"
        out.write_bytes(b"previous")
        with pytest.raises(MeshTalkError, match="disk is full"):
            with replacing(out) as temporary:
                temporary.write_bytes(bytes(1 << 20))
        assert out.read_bytes() == b"previous" and os.listdir(folder) == ["out.bin"]
