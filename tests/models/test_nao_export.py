"""ONNX export of NAO: parity with torch, rejection of a corrupted graph, the ORT runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from archsampler.errors import InvalidArgumentError
from archsampler.predictor import NAOPredictor
from archsampler.predictor.scaling import unscale
from archsampler.spaces.nb201 import NB201Space
from archsampler_models import NAOConfig
from archsampler_models import NAOModel
from archsampler_models import train_nao
from archsampler_models.export import ParityError
from archsampler_models.export import check_parity
from archsampler_models.export import export_nao
from archsampler_models.export import random_tokens

SMALL = NAOConfig(embed_dim=16, hidden_dim=32, mlp_width=32, batch_size=32, epochs=15, min_steps=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[NAOModel, Path]:
    torch.set_num_threads(1)
    space = NB201Space()
    rng = np.random.default_rng(0)
    tokens = np.array([space.to_tokens(space.sample(rng)) for _ in range(64)])
    values = 80 + 5 * np.sin(tokens).sum(axis=1)
    model = train_nao(tokens, values, space.token_spec(), SMALL)
    out = export_nao(
        model, tmp_path_factory.mktemp("nao") / "model", space_spec=space.spec(), n_parity=200
    )
    return model, out


def test_export_writes_graphs_and_metadata(trained: tuple[NAOModel, Path]) -> None:
    model, out = trained
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["space"] == {"builtin": "nb201"}
    assert meta["token_spec"]["length"] == 6 and meta["token_spec"]["vocab_size"] == 5
    assert meta["train_size"] == 64
    assert meta["scaling"] == model.scaling
    assert meta["parity"]["prediction"] <= 1e-5 and meta["parity"]["gradient"] <= 1e-5
    assert {p.name for p in out.iterdir()} == {
        "metadata.json",
        "encode_predict_grad.onnx",
        "predict_from_embedding.onnx",
        "decode.onnx",
    }
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_corrupted_graph_fails_parity(trained: tuple[NAOModel, Path], tmp_path: Path) -> None:
    model, out = trained
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    proto = onnx.load(str(tmp_path / "encode_predict_grad.onnx"))
    init = max(proto.graph.initializer, key=lambda t: np.prod(t.dims))
    arr = numpy_helper.to_array(init).copy()
    arr.flat[0] += 0.05
    init.CopyFrom(numpy_helper.from_array(arr, init.name))
    onnx.save(proto, str(tmp_path / "encode_predict_grad.onnx"))
    tokens = random_tokens(model.spec, 100, np.random.default_rng(1))
    check_parity(model, out, tokens)  # the intact export still passes
    with pytest.raises(ParityError, match="differs from torch"):
        check_parity(model, tmp_path, tokens)


def test_runtime_matches_torch(trained: tuple[NAOModel, Path]) -> None:
    model, out = trained
    pred = NAOPredictor.load(out, threads=1)
    tokens = random_tokens(model.spec, 300, np.random.default_rng(2))
    with torch.no_grad():
        emb, t_pred, t_grad = model.encode_predict_grad(torch.as_tensor(tokens))
        t_dec = model.decode(emb).numpy()
    values = unscale(t_pred.numpy(), model.scaling)
    np.testing.assert_allclose(pred.predict(tokens), values, atol=1e-4)
    np.testing.assert_allclose(pred.gradient(tokens), t_grad.numpy(), atol=1e-5)
    np.testing.assert_array_equal(pred.decode(pred.encode(tokens)), t_dec)
    np.testing.assert_array_equal(pred.nao_step(tokens, 0.0), t_dec)
    with pytest.raises(InvalidArgumentError):
        pred.predict(tokens[:, :3])


def test_nao_step_moves_uphill(trained: tuple[NAOModel, Path]) -> None:
    _, out = trained
    pred = NAOPredictor.load(out, threads=1)
    tokens = random_tokens(pred.spec, 50, np.random.default_rng(3))
    emb, _, grad = pred.encode_predict_grad(tokens)
    before, _ = pred.predict_embedding(emb)
    after, _ = pred.predict_embedding(emb + 0.01 * grad)
    assert (after >= before).all()
    stepped = pred.nao_step(tokens, np.full(50, 10.0, dtype=np.float32))
    assert stepped.shape == tokens.shape and stepped.dtype == np.int64
