"""PC2 and MDD files: the exact byte layouts Blender's Mesh Cache modifier reads."""

import os
import struct

import numpy as np
import pytest
from fault_support import read_only_folder, small_disk

from meshtalk_blender.core.cache_io import CacheWriter, read_cache, write_cache
from meshtalk_blender.core.errors import MeshTalkError


def test_pc2_layout_byte_for_byte(tmp_path):
    vertices = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    write_cache(tmp_path / "a.pc2", vertices, fps=24, start_frame=5)
    data = (tmp_path / "a.pc2").read_bytes()
    assert data[:12] == b"POINTCACHE2\0"
    assert struct.unpack_from("<iiffi", data, 12) == (1, 3, 5.0, 1.0, 2)
    np.testing.assert_array_equal(np.frombuffer(data, "<f4", offset=32), vertices.ravel())
    np.testing.assert_array_equal(read_cache(tmp_path / "a.pc2"), vertices)


def test_mdd_layout_byte_for_byte(tmp_path):
    vertices = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    write_cache(tmp_path / "a.mdd", vertices, fps=25)
    data = (tmp_path / "a.mdd").read_bytes()
    assert struct.unpack_from(">ii", data) == (4, 5)
    np.testing.assert_allclose(np.frombuffer(data, ">f4", count=4, offset=8), np.arange(4) / 25)
    np.testing.assert_array_equal(read_cache(tmp_path / "a.mdd"), vertices)


def test_unfinished_writer_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with CacheWriter(tmp_path / "a.pc2", 10, 3, 30) as writer:
            writer.write(np.zeros((4, 3, 3), np.float32))
            raise RuntimeError("cancelled half way")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="wrote 4 frames"):
        with CacheWriter(tmp_path / "b.pc2", 10, 3, 30) as writer:
            writer.write(np.zeros((4, 3, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_only_when_the_new_one_is_complete(tmp_path):
    path = tmp_path / "a.pc2"
    write_cache(path, np.ones((2, 3, 3), np.float32), fps=30)
    with pytest.raises(RuntimeError):
        with CacheWriter(path, 2, 3, 30) as writer:
            raise RuntimeError("fail")
    np.testing.assert_array_equal(read_cache(path), np.ones((2, 3, 3)))


def test_unknown_extension_and_truncated_file(tmp_path):
    with pytest.raises(MeshTalkError, match="extension"):
        CacheWriter(tmp_path / "a.abc", 1, 1, 30)
    write_cache(tmp_path / "a.pc2", np.ones((2, 3, 3), np.float32), fps=30)
    (tmp_path / "a.pc2").write_bytes((tmp_path / "a.pc2").read_bytes()[:-4])
    with pytest.raises(MeshTalkError, match="truncated"):
        read_cache(tmp_path / "a.pc2")


def test_two_writers_of_the_same_cache_never_share_a_temporary_file(tmp_path):
    """Interleaved as two runs on one output are: each writes its own temporary file, and
    the cache is the complete output of the one that finished last."""
    path = tmp_path / "a.pc2"
    first, second = np.full((6, 3, 3), 1.0, np.float32), np.full((6, 3, 3), 2.0, np.float32)
    with CacheWriter(path, 6, 3, 30) as one:
        one.write(first[:3])
        with CacheWriter(path, 6, 3, 30) as two:
            two.write(second)
        one.write(first[3:])
    np.testing.assert_array_equal(read_cache(path), first)
    assert os.listdir(tmp_path) == ["a.pc2"]


@pytest.mark.parametrize("kind", [".pc2", ".mdd"])
def test_a_full_disk_is_a_message_and_the_previous_cache_stays(tmp_path, kind):
    folder = tmp_path / "disk"
    with small_disk(folder, "256k"):
        path = folder / f"a{kind}"
        write_cache(path, np.ones((2, 3, 3), np.float32), fps=30)
        previous = path.read_bytes()
        with pytest.raises(MeshTalkError, match=f"Cannot write .*a{kind} \\(the disk is full\\); nothing was written"):
            with CacheWriter(path, 100, 1000, 30) as writer:  # 1.2 MB
                for _ in range(10):
                    writer.write(np.zeros((10, 1000, 3), np.float32))
        assert path.read_bytes() == previous and os.listdir(folder) == [f"a{kind}"]


def test_a_read_only_folder_is_a_message(tmp_path):
    with read_only_folder(tmp_path / "ro") as folder:
        with pytest.raises(MeshTalkError, match="the file system is read-only"):
            write_cache(folder / "a.pc2", np.ones((2, 3, 3), np.float32), fps=30)
