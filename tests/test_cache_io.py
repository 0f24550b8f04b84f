"""PC2 and MDD files: the exact byte layouts Blender's Mesh Cache modifier reads."""

import struct

import numpy as np
import pytest

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
