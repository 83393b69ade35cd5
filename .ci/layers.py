#!/usr/bin/env python3
"""Check that each layer of src/ uses only the layers below it.

    python3 .ci/layers.py [SRC_DIR]

The layers, from the ground up, are the top folders of src/ (docs/architecture.md). A `crate::<layer>` path in a file of a lower layer is reported (test
modules included); exit status 1 if there is one.
"""
import os
import re
import sys

LAYERS = ["base", "spec", "storage", "engine", "extract", "run", "serve", "cmd", "cli"]
src = sys.argv[1] if len(sys.argv) > 1 else "src"
strip = re.compile(r'//[^\n]*|"(?:\\.|[^"\\])*"')
bad = []
for root, _, names in os.walk(src):
    for name in sorted(names):
        if not name.endswith(".rs"):
            continue
        path = os.path.join(root, name)
        top = os.path.relpath(path, src).split(os.sep)[0]
        if top not in LAYERS:
            continue  # lib.rs, main.rs: the crate's root sees everything
        text = strip.sub("", open(path, encoding="utf-8").read())
        for used in sorted(set(re.findall(r"\bcrate::([a-z_]+)", text))):
            if used in LAYERS and LAYERS.index(used) > LAYERS.index(top):
                bad.append(f"{path}: `{top}` uses `crate::{used}`, a layer above it")
for line in bad:
    print(line)
if bad:
    sys.exit(1)
print("layers: " + " <- ".join(LAYERS) + " (each uses only those before it)")
