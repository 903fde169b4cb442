"""Read an LV2 plugin's presets as an LV2 host does: through lilv (ctypes on liblilv-0.so.0).

``python tests/lv2_presets.py PLUGIN_URI`` prints, as JSON, every preset lilv finds for the
plugin on ``LV2_PATH`` -- ``[{"uri", "label", "ports": {symbol: value}}]`` -- with the port
values lilv's own ``lilv_state_new_from_world`` / ``lilv_state_emit_port_values`` give, the
calls hosts such as jalv make to apply a preset. Run as a separate process by
tests/test_export.py, so that a crash in the C library fails one test rather than the run.
Needs Debian's liblilv-0-0 (installed with lilv-utils).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import struct
import sys

PRESET_CLASS = "http://lv2plug.in/ns/ext/presets#Preset"
ATOM = "http://lv2plug.in/ns/ext/atom#"

URID_MAP_FUNC = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_char_p)
SET_PORT_VALUE_FUNC = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint32,
                                       ctypes.c_uint32)


class URIDMap(ctypes.Structure):
    _fields_ = [("handle", ctypes.c_void_p), ("map", URID_MAP_FUNC)]


def _lib():
    name = ctypes.util.find_library("lilv-0") or "liblilv-0.so.0"
    lib = ctypes.CDLL(name)
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    for fn, res, args in (
        ("lilv_world_new", vp, []), ("lilv_world_load_all", None, [vp]), ("lilv_world_free", None, [vp]),
        ("lilv_world_get_all_plugins", vp, [vp]), ("lilv_new_uri", vp, [vp, cp]), ("lilv_node_free", None, [vp]),
        ("lilv_plugins_get_by_uri", vp, [vp, vp]), ("lilv_plugin_get_related", vp, [vp, vp]),
        ("lilv_nodes_begin", vp, [vp]), ("lilv_nodes_get", vp, [vp, vp]), ("lilv_nodes_next", vp, [vp, vp]),
        ("lilv_nodes_is_end", ctypes.c_bool, [vp, vp]), ("lilv_nodes_free", None, [vp]),
        ("lilv_node_as_uri", cp, [vp]), ("lilv_world_load_resource", ctypes.c_int, [vp, vp]),
        ("lilv_state_new_from_world", vp, [vp, ctypes.POINTER(URIDMap), vp]),
        ("lilv_state_emit_port_values", None, [vp, SET_PORT_VALUE_FUNC, vp]),
        ("lilv_state_get_label", cp, [vp]), ("lilv_state_free", None, [vp]),
    ):
        f = getattr(lib, fn)
        f.restype, f.argtypes = res, args
    return lib


def presets(plugin_uri: str) -> list[dict]:
    lib = _lib()
    uris: list[str] = []

    @URID_MAP_FUNC
    def urid_map(handle, uri):
        text = uri.decode()
        if text not in uris:
            uris.append(text)
        return uris.index(text) + 1

    urid = URIDMap(None, urid_map)
    world = lib.lilv_world_new()
    lib.lilv_world_load_all(world)
    plugin_node = lib.lilv_new_uri(world, plugin_uri.encode())
    plugin = lib.lilv_plugins_get_by_uri(lib.lilv_world_get_all_plugins(world), plugin_node)
    if not plugin:
        raise SystemExit(f"plugin not found on LV2_PATH: {plugin_uri}")
    preset_class = lib.lilv_new_uri(world, PRESET_CLASS.encode())
    related = lib.lilv_plugin_get_related(plugin, preset_class)
    found = []
    it = lib.lilv_nodes_begin(related)
    while not lib.lilv_nodes_is_end(related, it):
        node = lib.lilv_nodes_get(related, it)
        uri = lib.lilv_node_as_uri(node).decode()
        lib.lilv_world_load_resource(world, node)
        state = lib.lilv_state_new_from_world(world, ctypes.byref(urid), node)
        ports: dict[str, float] = {}

        @SET_PORT_VALUE_FUNC
        def set_value(symbol, user_data, value, size, type_urid):
            kind = uris[type_urid - 1] if 0 < type_urid <= len(uris) else "?"
            raw = ctypes.string_at(value, size)
            formats = {ATOM + "Float": "f", ATOM + "Double": "d", ATOM + "Int": "i", ATOM + "Long": "q",
                       ATOM + "Bool": "i"}
            if kind not in formats:
                raise SystemExit(f"port {symbol.decode()}: value of unexpected type {kind}")
            ports[symbol.decode()] = float(struct.unpack(formats[kind], raw)[0])

        label = None
        if state:
            lib.lilv_state_emit_port_values(state, set_value, None)
            label = lib.lilv_state_get_label(state)
            label = label.decode() if label else None
            lib.lilv_state_free(state)
        found.append({"uri": uri, "label": label, "ports": ports, "loaded": bool(state)})
        it = lib.lilv_nodes_next(related, it)
    lib.lilv_nodes_free(related)
    lib.lilv_node_free(preset_class)
    lib.lilv_node_free(plugin_node)
    lib.lilv_world_free(world)
    return found


if __name__ == "__main__":
    json.dump(presets(sys.argv[1]), sys.stdout)
