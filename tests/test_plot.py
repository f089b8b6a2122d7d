"""plot: both kinds render to valid PNG and SVG files, draw the table they
return, and refuse bad input before writing anything."""

import xml.etree.ElementTree as ET

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
        _frontier(fig, table, 10**6, "t")
        return fig.axes[0].get_xscale(), fig.axes[0].get_yscale()

    # n_features 3..255 (a UInt8 column: 100 · 3 must not wrap around) spans less than 100×.
    assert scales(range(3, 256)) == ("linear", "log")  # dense widths dwarf LSTM widths
    assert scales(range(1, 1025)) == ("log", "log")
