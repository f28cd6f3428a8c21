"""vc.data.FeatureDataset: shapes, normalisation, crop/pad policy, references, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vc.data import Dump, FeatureDataset, collate
from vc.errors import DataError


@pytest.fixture(scope="module")
def dump(prepared_dump) -> Dump:
    cfg, dump_dir = prepared_dump
    return Dump(dump_dir, cfg.features)


def test_item_shapes(dump):
    ds = FeatureDataset(dump, "train", crop_frames=32)
    assert len(ds) == 12
    item = ds[0]
    assert item["x"].shape == item["x_ref"].shape == item["x_ref2"].shape == (1, 80, 32)
    assert item["x"].dtype == torch.float32
    assert item["f0n"].shape == item["voiced"].shape == (32,)
    assert item["y"].dtype == item["y_ref"].dtype == torch.long and item["y"].dim() == 0
    assert set(torch.unique(item["voiced"]).tolist()) <= {0.0, 1.0}
    assert torch.all(item["f0n"][item["voiced"] == 0] == 0)
    assert "x_ref" not in FeatureDataset(dump, "train", 32, reference=False)[0]


def test_features_are_normalised(dump):
    ds = FeatureDataset(dump, "train", crop_frames=None, reference=False)
    x = torch.cat([ds[i]["x"][0] for i in range(len(ds))], dim=1)  # (Q, all frames)
    assert x.mean(dim=1).abs().max() < 1e-3
    live = dump.stats.scale > 1e-3
    assert torch.allclose(x.std(dim=1, unbiased=False)[torch.from_numpy(live)], torch.tensor(1.0), atol=1e-3)
    f0n = torch.cat([ds[i]["f0n"][ds[i]["voiced"] > 0] for i in range(len(ds))])
    assert abs(f0n.mean()) < 0.3 and 0.5 < f0n.std() < 1.5  # per-domain z-scores, pooled


def test_short_clips_are_tiled(dump):
    ds = FeatureDataset(dump, "train", crop_frames=400, reference=False)  # clips are ~80 frames
    item = ds[0]
    n = len(dump.load(ds.utts[0].utt_id).f0)
    assert n < 400
    x = item["x"][0]
    assert torch.equal(x[:, n : 2 * n], x[:, :n])
    assert torch.equal(item["f0n"][n : 2 * n], item["f0n"][:n])
    full = FeatureDataset(dump, "train", crop_frames=None, reference=False)[0]["x"]
    assert torch.equal(x[:, :n], full[0])


def test_random_crops_follow_torch_seed(dump):
    ds = FeatureDataset(dump, "train", crop_frames=20)
    torch.manual_seed(3)
    a = [ds[i] for i in range(4)]
    torch.manual_seed(3)
    b = [ds[i] for i in range(4)]
    torch.manual_seed(4)
    c = [ds[i] for i in range(4)]
    for key in ("x", "x_ref", "x_ref2", "y_ref"):
        assert all(torch.equal(p[key], q[key]) for p, q in zip(a, b))
    assert not all(torch.equal(p["x"], q["x"]) and torch.equal(p["y_ref"], q["y_ref"]) for p, q in zip(a, c))


def test_dev_items_are_deterministic(dump):
    ds = FeatureDataset(dump, "dev", crop_frames=20)
    assert not ds.random_crop
    first = [ds[i] for i in range(len(ds))]
    torch.manual_seed(123)
    second = [ds[i] for i in range(len(ds))]
    for p, q in zip(first, second):
        assert all(torch.equal(p[k], q[k]) for k in p)


def _is_window_of(crop: torch.Tensor, full: torch.Tensor) -> bool:
    n = crop.shape[-1]
    tiled = full[:, torch.arange(max(n, full.shape[1]) + n) % full.shape[1]]
    return any(torch.equal(tiled[:, s : s + n], crop) for s in range(full.shape[1]))


def test_references_come_from_the_reference_domain(dump):
    ds = FeatureDataset(dump, "train", crop_frames=24)
    full = FeatureDataset(dump, "train", crop_frames=None, reference=False)
    torch.manual_seed(0)
    seen = set()
    for i in range(12):
        item = ds[i % len(ds)]
        y_ref = int(item["y_ref"])
        seen.add(y_ref)
        pool = [full[j]["x"][0] for j in ds.by_domain[y_ref]]
        for key in ("x_ref", "x_ref2"):
            assert any(_is_window_of(item[key][0], f) for f in pool)
    assert len(seen) >= 2


def test_dataloader_and_collate(dump):
    loader = DataLoader(FeatureDataset(dump, "train", 16), batch_size=4, shuffle=True)
    batch = next(iter(loader))
    assert batch["x"].shape == (4, 1, 80, 16) and batch["y"].shape == (4,)
    ds = FeatureDataset(dump, "train", crop_frames=None, reference=False)
    batch = collate([ds[0], ds[5]])
    lengths = batch["lengths"].tolist()
    assert batch["x"].shape == (2, 1, 80, max(lengths)) and batch["f0n"].shape == (2, max(lengths))
    short = int(np.argmin(lengths))
    assert torch.equal(batch["x"][short, ..., : lengths[short]], [ds[0], ds[5]][short]["x"])


def test_cache_off_gives_the_same_items(dump):
    a = FeatureDataset(dump, "test", 30, cache=True)
    b = FeatureDataset(dump, "test", 30, cache=False)
    assert all(torch.equal(a[i][k], b[i][k]) for i in range(len(a)) for k in a[i])


def test_empty_split_and_bad_crop(tmp_path, make_config, tiny_corpus):
    from vc.data import prepare

    cfg = make_config(tiny_corpus, tmp_path / "dump", dev_per_domain=0, domains=["low"])
    prepare(cfg, progress=False)
    with pytest.raises(DataError, match="dev split is empty"):
        FeatureDataset(Dump(tmp_path / "dump"), "dev", 16)
    with pytest.raises(DataError, match="crop_frames"):
        FeatureDataset(Dump(tmp_path / "dump"), "train", 0)
