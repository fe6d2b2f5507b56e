"""CLIP prompt ensembling: the 80 ImageNet templates and the averaging rule."""

from __future__ import annotations

import numpy as np

from finebench.tasks.clip_templates import IMAGENET_TEMPLATES, SINGLE_TEMPLATE, ensemble_text_embeddings


def test_the_80_templates_are_distinct_and_take_one_class_name():
    assert len(IMAGENET_TEMPLATES) == 80 and len(set(IMAGENET_TEMPLATES)) == 80
    assert all(t.count("{}") == 1 for t in IMAGENET_TEMPLATES)
    assert SINGLE_TEMPLATE == ("a photo of a {}.",) and SINGLE_TEMPLATE[0] in IMAGENET_TEMPLATES


def test_ensembling_averages_then_renormalises():
    a = np.array([[1.0, 0.0]], dtype=np.float32)
    b = np.array([[0.0, 1.0]], dtype=np.float32)
    out = ensemble_text_embeddings(np.stack([a, b]))
    assert np.allclose(out, [[np.sqrt(0.5), np.sqrt(0.5)]])
    same = ensemble_text_embeddings(np.stack([a, a, a]))
    assert np.allclose(same, a)
    rng = np.random.default_rng(0)
    many = rng.normal(size=(80, 5, 16))
    many /= np.linalg.norm(many, axis=-1, keepdims=True)
    assert np.allclose(np.linalg.norm(ensemble_text_embeddings(many), axis=-1), 1.0, atol=1e-6)
