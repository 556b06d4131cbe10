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
from archsampler.predictor.parity import check_sessions
from archsampler.predictor.parity import decode_flips
from archsampler.predictor.parity import greedy_margins
from archsampler.predictor.providers import select_providers
from archsampler.predictor.scaling import unscale
from archsampler.spaces.nb201 import NB201Space
from archsampler_models import NAOConfig
from archsampler_models import NAOModel
from archsampler_models import train_nao
from archsampler_models.export import ParityError
from archsampler_models.export import check_parity
from archsampler_models.export import export_nao
from archsampler_models.export import random_tokens

SMALL = NAOConfig(
    embed_dim=16, hidden_dim=32, mlp_width=32, batch_size=32, epochs=15, min_steps=0, gate_folds=0
)


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
        "parity.npz",
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


def test_gradient_equals_autograd(trained: tuple[NAOModel, Path]) -> None:
    # The hand-written gradient of the predictor (exported to ONNX) is the true derivative.
    model, out = trained
    tokens = torch.as_tensor(random_tokens(model.spec, 64, np.random.default_rng(5)))
    with torch.no_grad():
        emb = model.encoder(tokens)
    for point in (emb, emb + 0.3 * torch.randn_like(emb)):  # on and off the encoder's sphere
        x = point.detach().double().requires_grad_(True)
        model64 = model.predictor.double()
        try:
            pred, grad = model64(x)
            (auto,) = torch.autograd.grad(pred.sum(), x)
        finally:
            model.predictor.float()
        assert auto.abs().max() > 1e-3  # a non-trivial gradient
        torch.testing.assert_close(grad, auto, rtol=1e-9, atol=1e-12)
    onnx_grad = NAOPredictor.load(out, threads=1).gradient(tokens.numpy())
    x = emb.detach().clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(model.predictor(x)[0].sum(), x)
    np.testing.assert_allclose(onnx_grad, auto.numpy(), atol=1e-5)


def test_parity_is_checked_on_the_serving_provider(
    trained: tuple[NAOModel, Path], tmp_path: Path
) -> None:
    _, out = trained
    pred = NAOPredictor.load(out, threads=1)
    assert pred.provider == pred.sessions["decode"].get_providers()[0]
    assert pred.provider in select_providers()
    assert pred.serving_parity is not None and pred.serving_parity["architectures"] == 200
    assert pred.serving_parity["prediction"] <= 1e-5
    # A reference the sessions do not reproduce: the load is refused, with the folder named.
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    ref = dict(np.load(tmp_path / "parity.npz"))
    ref["prediction"] = ref["prediction"] + 1e-3
    np.savez(tmp_path / "parity.npz", **ref)
    with pytest.raises(ParityError, match="prediction differs") as info:
        NAOPredictor.load(tmp_path, threads=1)
    assert info.value.path == tmp_path
    assert NAOPredictor.load(tmp_path, threads=1, verify=False).serving_parity is None


def test_decode_flips_at_near_ties_pass_and_real_flips_fail(
    trained: tuple[NAOModel, Path], tmp_path: Path
) -> None:
    _, out = trained
    ref = dict(np.load(out / "parity.npz"))
    sessions = NAOPredictor.load(out, threads=1).sessions
    # A torch reference that, for three sequences, took another token than ONNX at step 2
    # (ONNX's token being torch's second best there), as a float-rounding flip would.
    dec, margin = ref["decode"].copy(), ref["decode_margin"].copy()
    dec[:3, 2:] = ref["decode_second"][:3, 2:3]
    ref_tie = {**ref, "decode": dec, "decode_second": ref["decode"], "decode_margin": margin}
    margin[:3, 2] = 1e-7  # torch's top two were within float tolerance: counted, not refused
    parity = check_sessions(sessions, ref_tie)
    assert parity["decode_near_ties"] == 3
    margin[:3, 2] = 0.5  # a clear winner in torch: ONNX picking another token is a failure
    with pytest.raises(ParityError, match="decode differs from torch on 3 of 200"):
        check_sessions(sessions, {**ref_tie, "decode_margin": margin})


def test_greedy_margins_and_flip_judgement() -> None:
    logits = np.array([[[2.0, 2.0 - 1e-6, -np.inf], [0.0, 3.0, 1.0]]])
    margin, second, tie = greedy_margins(logits)
    np.testing.assert_allclose(margin, [[1e-6, 2.0]], rtol=1e-6)
    assert second.tolist() == [[1, 2]] and tie[0, 1] == pytest.approx(3e-4)
    ref = np.array([[0, 1]])
    assert decode_flips(ref, np.array([[1, 2]]), margin, second, tie) == (1, 0)  # near-tie
    assert decode_flips(ref, np.array([[0, 2]]), margin, second, tie) == (0, 1)  # margin 2
    assert decode_flips(ref, np.array([[0, 1]]), margin, second, tie) == (0, 0)
