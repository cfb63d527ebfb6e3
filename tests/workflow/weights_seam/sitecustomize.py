"""Test seam, only on PYTHONPATH in workflow tests (tests/fixtures_weights.seam_env).

When ``ECGCWT_TEST_WEIGHTS_URLS`` holds a JSON map backbone -> URL, every
Python process of the snakemake run (its job scripts included) gets
``ecgcwt.learn.cnn2d.weights.imagenet_weights_url`` answering from that map, so a test
weights file named after its own SHA-256 passes the hash check. Nothing is
imported before ``ecgcwt.learn.cnn2d.weights`` itself is.
"""

import importlib.abc
import importlib.machinery
import json
import os
import sys

_URLS = json.loads(os.environ.get("ECGCWT_TEST_WEIGHTS_URLS") or "{}")


class _PatchWeightsUrl(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "ecgcwt.learn.cnn2d.weights":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            real = module.imagenet_weights_url
            module.imagenet_weights_url = lambda backbone: _URLS.get(backbone) or real(backbone)

        spec.loader.exec_module = exec_and_patch
        return spec


if _URLS:
    sys.meta_path.insert(0, _PatchWeightsUrl())
