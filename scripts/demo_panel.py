"""Draws the MeshTalk sidebar panel into docs/images/panel_*.png, headless.

The bpy module cannot open Blender's UI, so a screen capture is impossible here. This
runs the panel's real ``draw()`` on a real scene (the head, the sample speech, an
animated take with variants) against a recording layout, then draws what it recorded
(labels, fields with their current values, buttons, the takes list) with Blender's own
text objects in a Workbench render, in the colours of Blender's default dark theme.
The layout is simplified (no icons, fixed row heights); the content is the panel's.

    .venv/bin/python scripts/demo_panel.py [--out docs/images]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo  # noqa: E402  (sets BLENDER_USER_RESOURCES, imports bpy)

bpy = demo.bpy
FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
WIDTH, ROW, PAD, TEXT = 380, 26, 8, 11.5
THEME = {"region": (0.19, 0.19, 0.19), "box": (0.16, 0.16, 0.16), "field": (0.11, 0.11, 0.11),
         "button": (0.33, 0.33, 0.33), "active": (0.28, 0.45, 0.70), "text": (0.90, 0.90, 0.90),
         "alert": (0.95, 0.35, 0.30), "dim": (0.55, 0.55, 0.55), "header": (0.24, 0.24, 0.24)}
MARKS = {"CHECKMARK": "\u2713 ", "ERROR": "\u26a0 ", "CANCEL": "\u2715 "}


# ---------------------------------------------------------------- recording the draw


@dataclass
class Item:
    kind: str  # label, field, button, list, progress
    text: str
    value: str = ""
    alert: bool = False
    enabled: bool = True
    scale: float = 1.0
    rows: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class Layout:
    """Records UILayout calls: a column (or a row, or a box) of items and children."""

    kind: str = "column"
    children: list = field(default_factory=list)
    alert: bool = False
    enabled: bool = True
    scale_y: float = 1.0

    def _child(self, kind):
        child = Layout(kind, alert=self.alert, enabled=self.enabled)
        self.children.append(child)
        return child

    def column(self, align=False):
        return self._child("column")

    def row(self, align=False):
        return self._child("row")

    def box(self):
        return self._child("box")

    def _add(self, item: Item):
        item.alert, item.enabled, item.scale = self.alert, self.enabled, self.scale_y
        self.children.append(item)

    def label(self, text="", icon="NONE"):
        self._add(Item("label", MARKS.get(icon, "") + text))

    def prop(self, data, name, text=None, expand=False, **_):
        rna = data.bl_rna.properties[name]
        value = getattr(data, name)
        if rna.type == "ENUM":
            value = rna.enum_items[value].name
        elif rna.type == "FLOAT":
            value = f"{value:.3f}"
        self._add(Item("field", rna.name if text is None else text, str(value)))

    def prop_search(self, data, name, search_data, search_name, text=None, **_):
        self._add(Item("field", text or data.bl_rna.properties[name].name, getattr(data, name) or "(automatic)"))

    def operator(self, idname, icon="NONE", text=None, **_):
        module, name = idname.split(".")
        self._add(Item("button", text or getattr(bpy.ops, module).__getattr__(name).get_rna_type().name))

    def progress(self, factor=0.0, type="BAR", text=""):
        self._add(Item("progress", text, f"{factor:.3f}"))

    def template_list(self, list_type, list_id, data, name, active_data, active_name, rows=3, **_):
        items = getattr(data, name)
        active = getattr(active_data, active_name)
        self._add(Item("list", "", rows=[(item.name, index == active) for index, item in enumerate(items)]))


# ---------------------------------------------------------------- drawing what was recorded


class Canvas:
    """Rectangles and text as objects in an orthographic Workbench scene, 1 unit = 1 px,
    y down from the top of the panel."""

    def __init__(self):
        bpy.ops.wm.read_homefile(use_empty=True)
        self.scene = bpy.context.scene
        self.font = bpy.data.fonts.load(str(FONT_FILE)) if FONT_FILE.is_file() else None
        self.depth = 0.0

    def rect(self, x, y, width, height, colour):
        mesh = bpy.data.meshes.new("rect")
        mesh.from_pydata([(x, -y, 0), (x + width, -y, 0), (x + width, -y - height, 0), (x, -y - height, 0)], [],
                         [(0, 1, 2, 3)])
        self._link(bpy.data.objects.new("rect", mesh), colour)

    def text(self, x, y, body, colour, align="LEFT", size=TEXT):
        curve = bpy.data.curves.new("text", type="FONT")
        curve.body, curve.size, curve.align_x = body, size, align
        if self.font is not None:
            curve.font = self.font
        self._link(bpy.data.objects.new("text", curve), colour, (x, -y - size * 0.95, 0))

    def _link(self, obj, colour, location=(0, 0, 0)):
        self.depth += 0.01  # later things in front
        obj.location = (location[0], location[1], self.depth)
        obj.color = (*(channel ** 2.2 for channel in colour), 1.0)  # theme colours are sRGB
        self.scene.collection.objects.link(obj)

    def render(self, height: int, path: Path) -> None:
        scene = self.scene
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.display.shading.light = "FLAT"
        scene.display.shading.color_type = "OBJECT"
        scene.display.render_aa = "16"
        scene.view_settings.view_transform = "Standard"
        scene.render.resolution_x, scene.render.resolution_y = WIDTH, height
        camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
        camera.data.type, camera.data.ortho_scale = "ORTHO", max(WIDTH, height)
        camera.location = (WIDTH / 2, -height / 2, 10.0)
        scene.collection.objects.link(camera)
        scene.camera = camera
        self.depth = -1.0
        self.rect(-1, -1, WIDTH + 2, height + 2, THEME["region"])  # the region's background
        scene.render.filepath = str(path)
        with demo.quiet_stdout():
            bpy.ops.render.render(write_still=True)


def measure(node, width) -> int:
    if isinstance(node, Item):
        rows = len(node.rows) + 1 if node.kind == "list" else 1
        return int(ROW * node.scale) * rows
    heights = [measure(child, width) for child in node.children]
    if node.kind == "row":
        inner = max(heights, default=0)
    else:
        inner = sum(heights)
    return inner + (2 * PAD if node.kind == "box" else 0)


def draw(canvas: Canvas, node, x, y, width) -> int:
    """Draws ``node`` at (x, y) within ``width``; returns its height."""
    if isinstance(node, Item):
        return draw_item(canvas, node, x, y, width)
    if node.kind == "box":
        height = measure(node, width)
        canvas.rect(x, y + 2, width, height - 4, THEME["box"])
        x, y, width = x + PAD, y + PAD, width - 2 * PAD
    top = y
    if node.kind == "row" and node.children:
        part = width / len(node.children)
        heights = [draw(canvas, child, x + i * part, y, part - 2) for i, child in enumerate(node.children)]
        y += max(heights)
    else:
        for child in node.children:
            y += draw(canvas, child, x, y, width)
    return (y - top) + (2 * PAD if node.kind == "box" else 0)


def draw_item(canvas: Canvas, item: Item, x, y, width) -> int:
    height = int(ROW * item.scale)
    text = THEME["alert"] if item.alert else (THEME["text"] if item.enabled else THEME["dim"])
    middle = y + (height - TEXT) / 2 - 1
    if item.kind == "label":
        canvas.text(x + 2, middle, item.text, text)
    elif item.kind == "button":
        canvas.rect(x, y + 2, width, height - 4, THEME["button"])
        canvas.text(x + width / 2, middle, item.text, text, align="CENTER")
    elif item.kind == "field":
        canvas.rect(x, y + 2, width, height - 4, THEME["field"])
        canvas.text(x + 6, middle, item.text, THEME["dim"])
        canvas.text(x + width - 6, middle, item.value, text, align="RIGHT")
    elif item.kind == "progress":
        canvas.rect(x, y + 2, width, height - 4, THEME["field"])
        canvas.rect(x, y + 2, width * float(item.value), height - 4, THEME["active"])
        canvas.text(x + width / 2, middle, item.text, text, align="CENTER")
    elif item.kind == "list":
        rows = len(item.rows) + 1
        canvas.rect(x, y + 2, width, ROW * rows - 4, THEME["field"])
        for index, (name, active) in enumerate(item.rows):
            if active:
                canvas.rect(x + 2, y + 3 + index * ROW, width - 4, ROW - 2, THEME["active"])
            canvas.text(x + 8, y + index * ROW + (ROW - TEXT) / 2 - 1, name, THEME["text"])
        return ROW * rows
    return height


def record_panel(progress: tuple[str, float] | None = None) -> Layout:
    panel_module = sys.modules[f"{demo.ADDON}.blender.panel"]
    runner = sys.modules[f"{demo.ADDON}.blender.job_runner"]
    recorder = Layout()
    fake_job = None
    if progress is not None:
        fake_job = type("Job", (), {"stage": progress[0], "progress": progress[1], "finished": False})()
        runner._running = fake_job
    try:
        panel_module.MESHTALK_PT_panel.draw(type("Panel", (), {"layout": recorder})(), bpy.context)
    finally:
        runner._running = None
    return recorder


def render_panel(recorder: Layout, path: Path, title: str = "MeshTalk") -> None:
    height = measure(recorder, WIDTH - 2 * PAD) + ROW + 2 * PAD
    canvas = Canvas()
    canvas.rect(0, 0, WIDTH, ROW, THEME["header"])
    canvas.text(PAD, (ROW - TEXT) / 2 - 1, "\u25be " + title, THEME["text"])
    draw(canvas, recorder, PAD, ROW + PAD, WIDTH - 2 * PAD)
    canvas.render(height, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=demo.ROOT / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    demo.enable_extension()
    with tempfile.TemporaryDirectory() as folder:
        scene, face, _ = demo.build_scene(Path(folder))
        scene.meshtalk.variant_count = 2
        bpy.ops.meshtalk.make_variants()
        face.meshtalk.active_take = 0
        animated = record_panel()
        running = record_panel(("Animating", 0.42))
        bpy.ops.mesh.primitive_cube_add()
        other = record_panel()
    render_panel(animated, args.out / "panel_animated.png")
    render_panel(running, args.out / "panel_running.png")
    render_panel(other, args.out / "panel_other_mesh.png")
    for name in ("panel_animated", "panel_running", "panel_other_mesh"):
        print(f"demo_panel: wrote {args.out / (name + '.png')}", flush=True)
    return 0


if __name__ == "__main__":
    from bpy_exit import run_then_exit

    run_then_exit(main)
