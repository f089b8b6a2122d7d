"""sweep: row order, schema, nulls, filtering, and files."""

import itertools

import numpy as np
import polars as pl
import pytest

import archsweep as asw
from archsweep import _kinds


def test_issue_example_size_and_order(backend):
    if backend == "python":
        f, u = range(1, 9), range(1, 17)  # the pure-Python core is slow; same shape of sweep
    else:
        f, u = range(1, 513), range(1, 1025)
    df = asw.sweep(layer=["rnn", "lstm", "gru"], n_features=f, n_units=u, bidirectional=[False, True], backend=backend)
    assert df.height == 3 * len(f) * len(u) * 2
    # Layer kinds in the order given, then n_features, n_units, bidirectional (fastest).
    expected = [
        (layer, fi, ui, bd)
        for layer in ["rnn", "lstm", "gru"]
        for fi, ui, bd in itertools.product(f, u, [False, True])
    ]
    got = df.select("layer", "n_features", "n_units", "bidirectional").rows()
    assert got[:5] == expected[:5] and got[-5:] == expected[-5:]
    assert got[:: len(got) // 97] == expected[:: len(got) // 97]
    sample = df[:: df.height // 50]
    for row in sample.iter_rows(named=True):
        assert row["params"] == asw.count_params(row["layer"], row["n_features"], row["n_units"],
                                                 bidirectional=row["bidirectional"])  # fmt: skip


def test_schema_and_nulls(backend):
    df = asw.sweep(["dense", "conv1d", "conv3d", "gru"], [3, 300], [8, 70000],
                   kernel=[2, (1, 2, 300)], convention=["keras", "torch"], backend=backend)  # fmt: skip
    assert df.columns == ["layer", "n_features", "n_units", "kernel_d", "kernel_h", "kernel_w", "bias",
                          "bidirectional", "convention", "reset_after", "groups", "num_layers", "params"]  # fmt: skip
    schema = dict(df.schema)
    assert schema["layer"] == pl.Enum(_kinds.all_names())
    assert schema["convention"] == pl.Enum(list(asw.CONVENTIONS))
    assert schema["n_features"] == pl.UInt16 and schema["n_units"] == pl.UInt32
    assert schema["kernel_d"] == pl.UInt8 and schema["kernel_w"] == pl.UInt16 and schema["groups"] == pl.UInt8
    assert schema["bias"] == schema["bidirectional"] == schema["reset_after"] == pl.Boolean
    assert schema["params"] == pl.Int64

    by = {k: g for (k,), g in df.group_by("layer", maintain_order=True)}
    assert by["dense"].height == 2 * 2 * 2  # kernel does not multiply dense rows
    assert by["conv1d"].height == 2 * 2 * 1 * 2  # only the square kernel fits conv1d
    assert by["conv3d"].height == 2 * 2 * 2 * 2
    assert by["gru"].height == 2 * 2 * 2
    d = by["dense"]
    assert d["kernel_w"].null_count() == d.height and d["groups"].null_count() == d.height
    assert d["bidirectional"].null_count() == d.height and d["reset_after"].null_count() == d.height
    c1 = by["conv1d"]
    assert c1["kernel_d"].null_count() == c1["kernel_h"].null_count() == c1.height
    assert c1["kernel_w"].to_list() == [2] * c1.height and c1["groups"].to_list() == [1] * c1.height
    c3 = by["conv3d"]
    assert set(c3.select("kernel_d", "kernel_h", "kernel_w").rows()) == {(2, 2, 2), (1, 2, 300)}
    g = by["gru"]
    assert g.select("convention", "reset_after", "num_layers").rows()[:2] == [("keras", True, None), ("torch", None, 1)]
    assert d["num_layers"].null_count() == d.height  # only the torch recurrent kinds have it


def test_reset_after_axis_multiplies_only_keras_gru(backend):
    df = asw.sweep(["lstm", "gru"], 4, 5, convention=["keras", "torch", "tf1"], reset_after=[False, True],
                   backend=backend)  # fmt: skip
    assert df.filter(pl.col("layer") == "lstm").height == 3
    gru = df.filter(pl.col("layer") == "gru")
    assert gru.select("convention", "reset_after").rows() == [
        ("keras", False), ("keras", True), ("torch", None), ("tf1", None)]  # fmt: skip
    assert gru["params"].to_list() == [
        asw.count_params("gru", 4, 5, reset_after=False),
        asw.count_params("gru", 4, 5, reset_after=True),
        asw.count_params("gru", 4, 5, convention="torch"),
        asw.count_params("gru", 4, 5, convention="tf1"),
    ]


def test_budget_filters_inside_the_kernel(backend):
    kw = dict(layer="conv2d", n_features=[3, 16, 64], n_units=range(8, 513, 8),
              kernel=[1, 3, (1, 7), (5, 5)], bias=[True, False], backend=backend)  # fmt: skip
    full = asw.sweep(**kw)
    cut = asw.sweep(**kw, budget=100_000)
    assert full.height == 3 * 64 * 4 * 2
    assert cut.equals(full.filter(pl.col("params") <= 100_000))
    assert 0 < cut.height < full.height
    assert asw.sweep(**kw, budget=0).height == 0
    assert asw.sweep(**kw, budget=0).schema == full.schema


def test_groups_that_do_not_divide_are_skipped(backend):
    df = asw.sweep("conv1d", [4, 6], [8, 12], kernel=3, groups=[1, 2, 4], backend=backend)
    got = df.select("n_features", "n_units", "groups").rows()
    expected = [(f, u, g) for f in (4, 6) for u in (8, 12) for g in (1, 2, 4) if f % g == 0 and u % g == 0]
    assert got == expected
    assert df["params"].to_list() == [asw.count_params("conv1d", f, u, kernel=3, groups=g) for f, u, g in expected]


def test_overflowing_rows_do_not_fit_a_budget(backend):
    df = asw.sweep("lstm", 1, [5, 3_037_000_499], budget=2**63 - 1, backend=backend)
    assert df["n_units"].to_list() == [5]


def test_collections_of_every_kind(backend):
    a = asw.sweep("dense", np.array([2, 3]), pl.Series([4, 5]), backend=backend)
    b = asw.sweep("dense", (2, 3), range(4, 6), backend=backend)
    assert a.equals(b) and a.height == 4


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_table_writes_to_csv_and_parquet(tmp_path, suffix, backend):
    df = asw.sweep(["dense", "conv2d", "gru"], [3, 5], [4, 6], kernel=[3, (1, 7)],
                   convention=["keras", "torch"], reset_after=[True, False], backend=backend)  # fmt: skip
    path = tmp_path / f"t.{suffix}"
    getattr(df, f"write_{suffix}")(path)
    back = pl.read_parquet(path) if suffix == "parquet" else pl.read_csv(path, schema=df.schema)
    assert back.equals(df)


SPACES = [
    dict(layer=["dense", "conv2d", "gru"], n_features=[3, 4, 6], n_units=range(1, 40), kernel=[3, (1, 7)],
         convention=["keras", "torch"], reset_after=[True, False], groups=[1, 2]),
    dict(layer="lstm", n_features=range(1, 30), n_units=list(range(50, 0, -1)), bidirectional=[False, True]),
]  # fmt: skip


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("budget", [None, 5_000, 0])
def test_count_fitting_counts_the_sweep_rows(space, budget, backend):
    rows = asw.sweep(**space, budget=budget, backend=backend).height
    assert asw.count_fitting(**space, budget=budget, backend=backend) == rows


def test_count_fitting_on_a_grid_larger_than_memory():
    # 1e11 grid points (1.2 TB as a table): counted, never stored. Sorted
    # sizes make each row a prefix under the budget, found by binary search.
    n = asw.count_fitting("dense", range(1, 10**5 + 1), range(1, 10**6 + 1), budget=10**6)
    expected = sum(min(10**6, 10**6 // (f + 1)) for f in range(1, 10**5 + 1))  # f·u + u <= B
    assert n == expected


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_sweep_to_file_writes_the_sweep_in_pieces(tmp_path, monkeypatch, space, suffix, backend):
    from archsweep import _sink

    monkeypatch.setattr(_sink, "PIECE", 777)  # many pieces, boundaries mid-row
    for budget in (None, 5_000, 0):
        path = tmp_path / f"t.{suffix}"
        n = asw.sweep_to_file(path, **space, budget=budget, backend=backend, progress=False)
        expected = asw.sweep(**space, budget=budget, backend=backend)
        back = pl.read_parquet(path) if suffix == "parquet" else pl.read_csv(path, schema=expected.schema)
        assert n == expected.height and back.equals(expected)
    assert [p.name for p in tmp_path.iterdir()] == [f"t.{suffix}"]


def test_sweep_to_file_gives_the_mode_a_plain_open_would(tmp_path):
    import os

    mask = os.umask(0o022)
    try:
        asw.sweep_to_file(tmp_path / "t.parquet", "lstm", 3, 4, progress=False)
    finally:
        os.umask(mask)
    assert (tmp_path / "t.parquet").stat().st_mode & 0o777 == 0o644


def test_sweep_to_file_refuses_bad_paths(tmp_path):
    with pytest.raises(asw.InvalidArgumentError, match="extension"):
        asw.sweep_to_file(tmp_path / "t.json", "lstm", 3, 4)
    with pytest.raises(asw.InvalidArgumentError, match="folder"):
        asw.sweep_to_file(tmp_path / "missing" / "t.csv", "lstm", 3, 4)
    assert not list(tmp_path.iterdir())


def test_an_argument_of_another_convention_is_null_whatever_varies(backend):
    """The variant axis lists reset_after (keras) with num_layers (torch): under torch alone it is null."""
    for conventions in ("torch", ["torch"], ["torch", "tf1"]):
        df = asw.sweep("gru", 4, 5, convention=conventions, num_layers=[1, 2], backend=backend)
        assert df.schema["reset_after"] == pl.Boolean and df["reset_after"].null_count() == df.height
        assert df.filter(pl.col("convention") == "torch")["num_layers"].to_list() == [1, 2]
    df = asw.sweep("mha", 8, num_heads=2, key_dim=4, kdim=[None, 3], convention="keras", backend=backend)
    assert df["kdim"].to_list() == [None, 3] and df["params"].to_list() == [
        asw.count("mha", 8, num_heads=2, key_dim=4), asw.count("mha", 8, num_heads=2, key_dim=4, kdim=3)]


def test_count_fitting_refuses_an_overflow_behind_a_none_as_sweep_does(backend):
    """kdim=None means kdim = n_features: that row overflows int64 where kdim=3 does not."""
    kw = dict(num_heads=1, key_dim=2**20, vdim=3, kdim=[None, 3], backend=backend)
    for call in (asw.sweep, asw.count_fitting):
        with pytest.raises(asw.ParamOverflowError, match="kdim=None"):
            call("mha", [3_340_000_000_000], **kw)
    assert asw.count_fitting("mha", [3_340_000_000_000], **{**kw, "kdim": [3]}) == 1
