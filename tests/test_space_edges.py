"""The edges of model spaces (issue 8): counts and the k largest beyond
2**128, exactly; equal options refused in linear time; max_bytes bounding
what compiling, counting and searching allocate, checked before it is
allocated; Ctrl-C stopping the table building at once."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import archsweep as asw
from archsweep import _model, _space

L = asw.layers
WIDTHS = (16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096)
BACKENDS = ["rust", "python"]


def dense_chain(inputs, widths, layers, backend="auto"):
    return asw.Model((inputs,), [L.Dense(asw.choice(*widths)) for _ in range(layers)], backend=backend)


def dense_chain_counts(inputs, widths, layers, budget):
    """How many models of ``dense_chain`` cost each total up to ``budget``:
    a dynamic program over (last width, total) in Python ints (numpy object
    arrays), independent of archsweep's tables."""
    ways = {}
    for w in widths:
        row = np.zeros(budget + 1, dtype=object)
        if w * (inputs + 1) <= budget:
            row[w * (inputs + 1)] = 1
        ways[w] = row
    for _ in range(layers - 1):
        nxt = {w: np.zeros(budget + 1, dtype=object) for w in widths}
        for f, row in ways.items():
            for u in widths:
                c = u * (f + 1)
                if c <= budget:
                    nxt[u][c:] += row[: budget + 1 - c]
        ways = nxt
    return sum(ways.values())  # by total


# -- counts beyond 2**128 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_and_the_k_largest_beyond_2_pow_128_against_a_big_int_dp(backend):
    widths, layers, budget = (1, 2, 3, 4, 5, 6), 50, 1_400
    space = dense_chain(8, widths, layers, backend)
    assert space.size == 6**50 > 2**128
    by_total = dense_chain_counts(8, widths, layers, budget)
    fitting = int(by_total.sum())
    assert fitting > 2**128
    got = asw.count_models(space, budget)
    assert type(got) is int and got == fitting
    totals = [t for t in range(budget, -1, -1) for _ in range(min(int(by_total[t]), 7))]
    for k in (1, 3, 7):
        df = asw.search_models(space, budget, limit=k)
        assert df["params"].to_list() == totals[:k]
        for row in df.iter_rows():  # each row is a real model of that count
            units = row[:-1]
            assert sum(u * (f + 1) for f, u in zip((8, *units[:-1]), units)) == row[-1]
    fitting_all, df = _model._search_models(space, budget, 5, None, False)
    assert fitting_all == fitting and df.height == 5


def test_count_beyond_2_pow_128_in_closed_form():
    # 10**60 architectures, all within the budget; and a repeat of free layers: 3 + 3**2 + ... + 3**200.
    space = dense_chain(8, range(1, 11), 60)
    assert asw.count_models(space, 10**9) == 10**60 == space.size
    free = asw.Model((8,), [asw.repeat(asw.choice(L.Dropout(0.1), L.Dropout(0.2), L.ReLU()), 1, 200), L.Dense(1)])
    expected = (3**201 - 3) // 2
    assert asw.count_models(free, 9) == expected == free.size
    assert asw.count_models(free, 8) == 0
    df = asw.search_models(free, 9, limit=3)
    assert df["params"].to_list() == [9, 9, 9] and df["0.depth"].to_list() == [200, 200, 200]
    # Ties come in the order of the options: the first three differ only in the last repetition.
    assert [row[-1] for row in df.drop("params").iter_rows()] == ["Dropout(0.1)", "Dropout(0.2)", "ReLU()"]


# -- equal options ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b",
    [(3, 3.0), (3, np.int64(3)), (3, np.float32(3)), (3, Fraction(3)), (3, Decimal(3)), (np.uint8(7), 7.0),
     ((3, 5), (3.0, 5)), ((3, 5), (np.int16(3), 5)), ((3, 5), np.array([3, 5])), (True, np.True_), (None, None),
     ("same", "same"), (L.Dense(3), L.Dense(3.0)), (L.Dense(3), L.Dense(3, bias=True)), ([1, 2], [1, 2])],
)  # fmt: skip
def test_equal_options_are_refused(a, b):
    with pytest.raises(asw.InvalidArgumentError, match="choice options must differ; .* is given twice"):
        asw.choice(a, b)
    with pytest.raises(asw.InvalidArgumentError, match="given twice"):
        asw.choice(a, 99, b)


@pytest.mark.parametrize(
    "a, b", [(1, True), (0, False), (3, 3.5), ((3, 5), (5, 3)), ("same", "valid"), (L.Dense(3), L.Dense(3, bias=False))]
)
def test_different_options_are_kept(a, b):
    assert asw.choice(a, b).options == (a, b)


numbers = st.one_of(
    st.integers(-3, 3), st.integers(-3, 3).map(float), st.integers(-3, 3).map(np.int32),
    st.integers(-3, 3).map(Fraction), st.sampled_from([0.5, 1.5, Fraction(1, 3)]), st.booleans(),
)  # fmt: skip


@given(st.lists(numbers, min_size=1, max_size=6))
def test_choice_refuses_exactly_the_repeated_values(values):
    # A bool is its own kind; other numbers are equal when Python says so.
    keys = [("bool", v) if isinstance(v, bool) else ("number", v) for v in values]
    if len(set(keys)) < len(keys):
        with pytest.raises(asw.InvalidArgumentError, match="given twice"):
            asw.choice(*values)
    else:
        assert asw.choice(*values).options == tuple(values)


def test_equal_options_are_found_in_linear_time(monkeypatch):
    calls = []
    from archsweep import layers

    key = layers.value_key
    monkeypatch.setattr(layers, "value_key", lambda v: calls.append(v) or key(v))
    assert len(asw.choice(range(20_001)).options) == 20_001
    assert len(calls) == 20_001  # one key per option, no pairwise comparison
    with pytest.raises(asw.InvalidArgumentError, match=r"19999.0 is given twice \(the same as 19999\)"):
        asw.choice(*range(20_000), 19_999.0)


def test_options_that_normalize_to_one_layer_are_refused():
    with pytest.raises(asw.InvalidArgumentError, match=r"layer 0 \(Conv2D\): the choices 0.kernel=3 and "
                       r"0.kernel=\(3, 3\) give the same layer"):  # fmt: skip
        asw.Model((8, 8, 3), [L.Conv2D(4, asw.choice(3, (3, 3)))])
    with pytest.raises(asw.InvalidArgumentError, match="padding='same' and 0.padding='SAME' give the same layer"):
        asw.Model((8, 8, 3), [L.Conv2D(4, 3, padding=asw.choice("same", "SAME"))])
    with pytest.raises(asw.InvalidArgumentError, match="give the same layer Dense"):
        asw.Model((8,), [asw.choice(L.Dense(asw.choice(1, 2)), L.Dense(asw.choice(2, 3)))])
    # Equal layers hash alike, whatever the numeric type of their arguments.
    assert L.Dense(3) == L.Dense(np.int64(3)) and hash(L.Dense(3)) == hash(L.Dense(3.0))
    assert L.Dense(1) != L.Dense(True)


# -- memory bounds ------------------------------------------------------------------------------------------------


def test_a_huge_repeat_is_refused_before_it_is_built(monkeypatch):
    built = []
    position = _model._position
    monkeypatch.setattr(_model, "_position", lambda *a: built.append(a) or position(*a))
    pair = [L.Dense(8), L.Dropout(0.5)]
    for make in (lambda: asw.Model((8,), [asw.repeat(L.Dense(8), 1, 10**9)]),
                 lambda: asw.Model((8,), [asw.repeat(pair, 0, 10**6)], max_bytes=10**8)):  # fmt: skip
        built.clear()
        with pytest.raises(asw.SweepTooLargeError, match=r"needs more than max_bytes=[\d,]+ bytes to compile: the "
                           r"1,000,000(,000)? repetitions of layer 0 take about [\d,]+ bytes"):  # fmt: skip
            make()
        assert len(built) <= 2  # the first repetition only
    with pytest.raises(asw.SweepTooLargeError, match="the 1,000,000,000 options of layer 0"):
        asw.Model((64, 64, 3), [L.Conv2D(asw.choice(range(1, 1001)), asw.choice(range(1, 1001)),
                                         strides=asw.choice(range(1, 1001)))])  # fmt: skip


def test_model_max_bytes_bounds_compiling():
    layers = [L.Dense(asw.choice(range(1, 301))), L.Dense(asw.choice(range(1, 301)))]
    with pytest.raises(asw.SweepTooLargeError, match=r"the tables of layer 1 \(300 shape states x 300 options\)"):
        asw.Model((784,), layers, max_bytes=10**6)
    assert asw.Model((784,), layers, max_bytes=10**7).size == 90_000
    with pytest.raises(asw.ArgumentTypeError, match="max_bytes"):
        asw.Model((784,), layers, max_bytes=True)
    with pytest.raises(asw.InvalidArgumentError, match="max_bytes must be at least 1"):
        asw.Model((784,), layers, max_bytes=0)


def test_search_refusals_name_the_layer_states_and_bytes():
    space = dense_chain(784, WIDTHS, 6)
    with pytest.raises(asw.SweepTooLargeError, match=r"count_models under budget=5,000,000 needs more than "
                       r"max_bytes=100,000 bytes: its tables of completion costs reach [\d,]+ bytes at layer \d "
                       r"\(10 shape states there\)"):  # fmt: skip
        asw.count_models(space, 5_000_000, max_bytes=100_000)
    with pytest.raises(asw.SweepTooLargeError, match=r"a copy of the space's tables \(61 shape states\) takes"):
        asw.search_models(space, 5_000_000, max_bytes=1_000)
    # The result counts with what the search holds.
    needed = asw.search_models(space, 30_000).height * _model._row_bytes(space, space._columns(), 1)
    with pytest.raises(asw.SweepTooLargeError, match=r"would return [\d,]+ models taking about [\d,]+ bytes, "
                       r"besides the [\d,]+ bytes of its tables"):  # fmt: skip
        asw.search_models(space, 30_000, max_bytes=needed)


def run_python(code, timeout=60):
    env = dict(os.environ)  # the installed archsweep, as a user runs it
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


UNDER_A_LIMIT = """
    import resource, archsweep as asw
    L = asw.layers
    W = (16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096)
    space = asw.Model((784,), [L.Dense(asw.choice(*W)) for _ in range(12)] + [L.Dense(10)])
    asw.count_models(space, 30_000)  # starts the threads: their stacks and heaps are mapped before the limit
    asw.search_models(space, 30_000, limit=1)
    size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (size + 100 * 2**20, resource.RLIM_INFINITY))
    try:
        print({call})
    except asw.SweepTooLargeError as exc:
        print("refused:", exc)
"""


@pytest.mark.parametrize("call", ["asw.count_models(space, 10_000_000{})",
                                  "asw.search_models(space, 4_000_000, limit=3{})"])  # fmt: skip
def test_max_bytes_refuses_before_allocating_under_an_address_space_limit(call):
    # 100 MB beyond what is mapped: the searches need more (200–300 MB), so it must stop at max_bytes.
    bounded = run_python(UNDER_A_LIMIT.format(call=call.format(", max_bytes=20 * 2**20")))
    assert bounded.returncode == 0, bounded.stderr
    assert bounded.stdout.startswith("refused: ") and "needs more than max_bytes=20,971,520 bytes" in bounded.stdout
    unbounded = run_python(UNDER_A_LIMIT.format(call=call.format(", max_bytes=2**40")))
    assert unbounded.returncode != 0 and not unbounded.stdout  # ignoring the bound fails: out of memory


def test_model_max_bytes_under_an_address_space_limit():
    r = run_python("""
        import resource, archsweep as asw
        L, Model = asw.layers, asw.Model  # imports polars: before the cap
        size = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size + 60 * 2**20, resource.RLIM_INFINITY))
        try:
            Model((8,), [asw.repeat(L.Dense(asw.choice(1, 2, 3)), 1, 10**6)], max_bytes=40 * 2**20)
        except asw.SweepTooLargeError as exc:
            print("refused:", exc)
    """)
    assert r.returncode == 0, r.stderr
    assert "refused: this model needs more than max_bytes=41,943,040 bytes to compile" in r.stdout


def test_cli_models_passes_max_bytes_to_the_space(tmp_path):
    spec = tmp_path / "huge.toml"
    spec.write_text('input_shape = [8]\n[[layers]]\nrepeat = { type = "Dense", units = 8 }\nmin = 1\n'
                    "max = 1000000000\n")  # fmt: skip
    env = dict(os.environ)  # the installed archsweep, as a user runs it
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "archsweep", "models", str(spec), "--budget", "1M", "--max-bytes", "1G"],
                       capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "needs more than max_bytes=1,000,000,000 bytes to compile: the 1,000,000,000 repetitions" in r.stderr
    assert time.perf_counter() - start < 10  # refused before building, not after a billion layers


# -- Ctrl-C ---------------------------------------------------------------------------------------------------------


def interrupted(argv_or_code, wait=0.3):
    """Runs a long table building, sends SIGINT once it has started, and
    returns the process and how long it took to end after the signal."""
    env = dict(os.environ)  # the installed archsweep, as a user runs it
    argv = argv_or_code if isinstance(argv_or_code, list) else [sys.executable, "-c", textwrap.dedent(argv_or_code)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "go\n"
    time.sleep(wait)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return proc, time.perf_counter() - sent, out, err


LONG_BUILD = """
    import archsweep as asw
    L = asw.layers
    W = (16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096)
    space = asw.Model((784,), [L.Dense(asw.choice(*W)) for _ in range(16)] + [L.Dense(10)])
    print("go", flush=True)
    try:
        {call}
    except KeyboardInterrupt:
        raise SystemExit(130)
    print("finished")
"""


@pytest.mark.parametrize("call", ["asw.count_models(space, 20_000_000)",
                                  "asw.search_models(space, 20_000_000, limit=3)"])  # fmt: skip
def test_ctrl_c_stops_the_table_building_at_once(call):
    proc, after, out, err = interrupted(LONG_BUILD.format(call=call))
    assert proc.returncode == 130 and "finished" not in out, err
    assert after < 0.5 + 0.3  # the building stops within 0.5 s (and the interpreter exits)


def test_ctrl_c_in_the_cli_exits_130(tmp_path):
    spec = tmp_path / "space.toml"
    layer = '[[layers]]\ntype = "Dense"\nunits = { choice = %s }\n' % list(WIDTHS)
    spec.write_text("input_shape = [784]\n" + layer * 16)
    code = f"""
        import sys
        from archsweep.cli import main
        print("go", flush=True)
        sys.exit(main(["models", {str(spec)!r}, "--budget", "20M", "--count"]))
    """
    proc, after, out, err = interrupted(code)
    assert proc.returncode == 130, err
    assert after < 0.5 + 0.3
    assert "Traceback" not in err and not out.strip()


def test_the_stop_reaches_a_building_in_rust():
    """What run_in_worker's stop does: a build asked to stop ends with the
    'stopped' refusal, soon, on whatever thread it runs."""
    import threading

    from archsweep import _core

    search = _core.SpaceSearch(*_model._tables(dense_chain(784, WIDTHS, 16)), [20_000_000], 2**40)
    errors = []
    worker = threading.Thread(target=lambda: errors.append(pytest.raises(_core.KernelError, search.count_only)))
    worker.start()
    time.sleep(0.2)
    sent = time.perf_counter()
    search.stop()
    worker.join(10)
    assert not worker.is_alive() and time.perf_counter() - sent < 0.5
    assert errors[0].value.args[0] == "stopped"
