"""Issue 18's core items that have no file of their own: OBJ templates with numbers the
model cannot use, audio that is a folder, cut short or damaged, and the warnings a clip
can carry."""

import numpy as np
import pytest

from meshtalk_blender.core.checkpoints import read_template
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
