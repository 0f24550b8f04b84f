"""Small shared facts about the running add-on: its preferences and version."""

from __future__ import annotations

import tomllib
from pathlib import Path

import bpy

from . import ADDON_ID
from .model_source import ModelChoice

# Installed (and linked for development): beside the package's files; in a checkout: at
# its top level.
MANIFESTS = (Path(__file__).parents[1] / "blender_manifest.toml",
             Path(__file__).resolve().parents[2] / "blender_manifest.toml")


def version() -> str:
    """The one version number, kept in blender_manifest.toml."""
    manifest = next((path for path in MANIFESTS if path.is_file()), MANIFESTS[-1])
    with open(manifest, "rb") as handle:
        return tomllib.load(handle)["version"]


def preferences():
    """The add-on's AddonPreferences, or None when it is not enabled as an add-on (a
    script that imported the package directly): then the defaults apply."""
    addon = bpy.context.preferences.addons.get(ADDON_ID)
    return addon.preferences if addon is not None else None


def model_choice() -> ModelChoice:
    prefs = preferences()
    if prefs is None:
        return ModelChoice()
    return ModelChoice(prefs.model_source, bpy.path.abspath(prefs.model_folder) if prefs.model_folder else "",
                       bpy.path.abspath(prefs.template_obj) if prefs.template_obj else "")


def device_preference() -> str:
    prefs = preferences()
    return prefs.device.lower() if prefs is not None else "auto"
