"""Small edits to a neural voice's ONNX graph before it is loaded.

Two things the released graphs do not offer: the per-token durations (an internal
tensor), and reproducible randomness (``RandomNormalLike`` draws from a generator that
the caller cannot seed per call). We add the durations as a graph output, and replace
each random node by a slice of a noise input that we fill from a seeded numpy generator.
"""
from __future__ import annotations

import onnx
from onnx import TensorProto, helper

NOISE_CHANNELS = 256  # at least the widest tensor that a replaced node draws noise for


def expose_output(model: onnx.ModelProto, tensor_name: str, elem_type: int) -> None:
    """Make an internal tensor a graph output (in place)."""
    produced = {name for node in model.graph.node for name in node.output}
    if tensor_name not in produced:
        raise KeyError(f"no node produces {tensor_name!r}; the voice's graph changed")
    model.graph.output.append(helper.make_tensor_value_info(tensor_name, elem_type, None))


def seedable_noise(model: onnx.ModelProto) -> list[str]:
    """Replace every RandomNormalLike of a 3-D tensor by a slice of a new noise input.

    Each new input has shape (1, NOISE_CHANNELS, frames); the replacement takes the
    leading (1, C, T) block, T being the like-tensor's length. The caller passes standard
    normal noise with at least T frames. Returns the new input names, in graph order.
    """
    names = []
    for node in [n for n in model.graph.node if n.op_type == "RandomNormalLike"]:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attributes.get("mean", 0.0) != 0.0 or attributes.get("scale", 1.0) != 1.0:
            raise ValueError(f"{node.name}: only standard normal noise can be replaced")
        noise_name = f"meshtalk_noise_{len(names)}"
        shape_name = f"{noise_name}_shape"
        starts_name = f"{noise_name}_starts"
        model.graph.input.append(
            helper.make_tensor_value_info(noise_name, TensorProto.FLOAT, [1, NOISE_CHANNELS, None])
        )
        model.graph.initializer.append(helper.make_tensor(starts_name, TensorProto.INT64, [3], [0, 0, 0]))
        replacement = [
            helper.make_node("Shape", [node.input[0]], [shape_name]),
            helper.make_node("Slice", [noise_name, starts_name, shape_name], [node.output[0]]),
        ]
        position = list(model.graph.node).index(node)
        model.graph.node.remove(node)
        for offset, new_node in enumerate(replacement):
            model.graph.node.insert(position + offset, new_node)
        names.append(noise_name)
    return names
