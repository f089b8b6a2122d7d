"""plot: both kinds render to valid PNG and SVG files, draw the table they
return, and refuse bad input before writing anything."""

import xml.etree.ElementTree as ET

import numpy as np

import pytest

import archsweep as asw

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def check_picture(path):
    data = path.read_bytes()
    assert len(data) > 10_000
    if path.suffix == ".png":
        assert data.startswith(PNG)
    else:
        assert ET.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"
    return data


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_heatmap(tmp_path, suffix, backend):
    out = tmp_path / f"heat.{suffix}"
    kw = dict(layer="conv2d", n_features=range(2, 65, 2), n_units=[8, 16, 32, 64, 128], kernel=(3, 3), groups=2)
    table = asw.plot("heatmap", **kw, budget=20_000, output=out, backend=backend)
    assert table.equals(asw.sweep(**kw, backend=backend))  # every cell, not only those under the budget
    data = check_picture(out)
    if suffix == "svg":
        assert b'id="budget"' in data  # the budget's contour is drawn
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_heatmap_budget_outside_the_counts_draws_no_contour(tmp_path):
    out = tmp_path / "heat.svg"
    asw.plot("heatmap", "gru", [4, 8], [4, 8], budget=10**12, output=str(out))
    assert b'id="budget"' not in check_picture(out)


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_frontier(tmp_path, suffix, backend):
    out = tmp_path / f"front.{suffix}"
    f = range(1, 1025, 37) if backend == "python" else range(1, 1025)
    kw = dict(layer=["dense", "lstm", "gru"], n_features=f, n_units=range(1, 10**9), bidirectional=[False, True])
    table = asw.plot("frontier", **kw, budget=1_000_000, output=out, backend=backend)
    assert table.equals(asw.search(**kw, budget=1_000_000, backend=backend))
    data = check_picture(out)
    if suffix == "svg":
        # One line per layer kind, and per value of an option that varies within a kind.
        lines = {e.get("id") for e in ET.fromstring(data).iter() if (e.get("id") or "").startswith("frontier")}
        assert lines == {"frontier dense", "frontier lstm, bidirectional=False", "frontier lstm, bidirectional=True",
                         "frontier gru, bidirectional=False", "frontier gru, bidirectional=True"}  # fmt: skip


def test_errors_leave_files_alone(tmp_path):
    out = tmp_path / "picture.png"
    out.write_bytes(b"precious")
    kw = dict(layer="lstm", n_features=[4, 8], n_units=range(1, 100), budget=10_000, output=out)

    def refuses(exc_type, *names, **changes):
        with pytest.raises(exc_type) as info:
            asw.plot(**{"kind": "heatmap", **kw, **changes})
        for name in names:
            assert name in str(info.value)

    refuses(asw.InvalidArgumentError, "kind", "'pie'", "heatmap, frontier", kind="pie")
    refuses(asw.InvalidArgumentError, "output", ".png or .svg", output=tmp_path / "p.pdf")
    refuses(asw.InvalidArgumentError, "output", "does not exist", output=tmp_path / "missing" / "p.png")
    refuses(asw.InvalidArgumentError, "budget", "-1", budget=-1)
    refuses(asw.InvalidArgumentError, "bias", "one value", bias=[False, True])
    refuses(asw.InvalidArgumentError, "n_features", "at least 2", n_features=[8])
    refuses(asw.InvalidArgumentError, "budget=1", "nothing fits", kind="frontier", budget=1)
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["picture.png"]


def test_frontier_axes_go_log_only_over_two_decades():
    from matplotlib.figure import Figure

    from archsweep._plot import _frontier

    def scales(n_features):
        fig = Figure()
        table = asw.search(["dense", "lstm"], n_features, range(1, 10**9), budget=10**6)
        _frontier(fig, table, 10**6, "t", ("params",))
        return fig.axes[0].get_xscale(), fig.axes[0].get_yscale()

    # n_features 3..255 (a UInt8 column: 100 · 3 must not wrap around) spans less than 100×.
    assert scales(range(3, 256)) == ("linear", "log")  # dense widths dwarf LSTM widths
    assert scales(range(1, 1025)) == ("log", "log")


# Big grids: drawn cheaply, ranges never listed, memory bounded.


def test_a_big_heatmap_is_one_image_of_at_most_drawn_values_an_axis(tmp_path):
    from archsweep._plot import DRAWN

    out = tmp_path / "big.svg"
    table = asw.plot("heatmap", "lstm", range(1, 2001), range(1, 3001), budget=10**6, output=out)
    assert table.height == 2000 * 3000  # the table returned is the whole sweep
    svg = ET.fromstring(out.read_bytes())
    images = [e for e in svg.iter() if e.tag.endswith("image")]
    assert len(images) == 2  # the cells and the colour bar: one raster each, never a path per cell
    assert len(out.read_bytes()) < 2_000_000
    assert DRAWN < 2000


def test_drawn_axes_are_spread_evenly_and_ranges_are_never_listed():
    from archsweep._axis import Chain
    from archsweep._plot import DRAWN, _drawn_axis, _two_values

    huge = _drawn_axis("n_units", range(1, 10**18, 3))  # listing it would never end
    assert len(huge) == DRAWN and huge[0] == 1 and huge[-1] == 10**18 - 3
    assert (np.diff(huge) > 0).all() and ((huge - 1) % 3 == 0).all()
    assert _drawn_axis("n", range(10, 0, -2)).tolist() == [2, 4, 6, 8, 10]  # sorted
    chain = Chain([range(5000, 4000, -1), range(1, 101)])  # disjoint ranges, in any order
    drawn = _drawn_axis("n", chain)
    assert len(drawn) == DRAWN and drawn[0] == 1 and drawn[-1] == 5000 and (np.diff(drawn) > 0).all()
    assert _drawn_axis("n", Chain([range(1, 11), range(5, 16)])).tolist() == list(range(1, 16))  # overlapping
    assert _drawn_axis("n", [8, 3, 8, 5]).tolist() == [3, 5, 8]
    _two_values("n_units", range(1, 10**18))  # by arithmetic
    for one in (range(7, 8), range(0), [4, 4], Chain([range(3, 4), range(3, 4)])):
        with pytest.raises(asw.InvalidArgumentError, match="at least 2 values of n_units"):
            _two_values("n_units", one)


def test_an_uneven_axis_is_drawn_with_its_own_cell_widths(tmp_path):
    from matplotlib.figure import Figure

    from archsweep._plot import _drawn_axis, _heatmap

    fs, us = _drawn_axis("n_features", [4, 8]), _drawn_axis("n_units", [1, 2, 4, 64])
    table = asw.sweep("dense", fs, us)
    fig = Figure()
    _heatmap(fig, table, table, fs, us, 100, "t", "params")
    image = fig.axes[0].images[0]
    assert type(image).__name__ == "PcolorImage"
    assert fig.axes[0].get_xlim() == (0.5, 94.0)  # half a step beyond each end, borders halfway


def test_max_bytes_bounds_the_table_and_the_drawing(tmp_path, backend):
    from archsweep._plot import DRAWING_BYTES

    out = tmp_path / "p.png"
    out.write_bytes(b"precious")
    kw = dict(layer="lstm", n_features=range(1, 101), n_units=range(1, 101), budget=10**5, output=out,
              backend=backend)  # fmt: skip
    table = asw.sweep("lstm", range(1, 101), range(1, 101)).estimated_size()
    fixed, each = DRAWING_BYTES["heatmap"]
    drawing = fixed + 100 * 100 * each
    with pytest.raises(asw.SweepTooLargeError, match="10,000 rows"):  # the table, as sweep refuses it
        asw.plot("heatmap", **kw, max_bytes=table - 1)
    with pytest.raises(asw.SweepTooLargeError, match=f"draw 100 × 100 cells, taking about {drawing:,} bytes"):
        asw.plot("heatmap", **kw, max_bytes=table + drawing - 1)
    with pytest.raises(asw.SweepTooLargeError, match=r"draw 100 points.*max_bytes=5,000"):
        asw.plot("frontier", **kw | {"max_bytes": 5_000})
    with pytest.raises(asw.InvalidArgumentError, match="max_bytes"):
        asw.plot("heatmap", **kw, max_bytes=0)
    assert out.read_bytes() == b"precious"
    asw.plot("heatmap", **kw, max_bytes=table + drawing)
    assert out.read_bytes().startswith(PNG)


def test_a_heatmap_whose_cells_groups_all_skip_is_refused(tmp_path):
    with pytest.raises(asw.InvalidArgumentError, match="groups=3 divides no"):
        asw.plot("heatmap", "conv2d", [4, 8], [4, 8], kernel=3, groups=3, budget=10, output=tmp_path / "p.png")


def test_a_signal_while_matplotlib_loads_stays_a_signal(monkeypatch):
    """pybind11 reports any error in a compiled module's initialisation, a
    KeyboardInterrupt included, as an ImportError: plot must not turn it into
    'needs matplotlib'."""
    import builtins
    import signal

    from archsweep import _plot
    from archsweep._signals import Terminated

    real = builtins.__import__

    def interrupted(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            try:
                raise Terminated(signal.SIGTERM)
            except Terminated as exc:
                raise ImportError("initialization failed") from exc
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted)
    with pytest.raises(Terminated):
        _plot._matplotlib()
