"""N-to-1 connection inference from the membrane voltage of an AdEx neuron (spec: adex_nto1.md).

Reproduces the reference's table for N = 6500 inputs and 10 minutes of recording (regression test
at α = 0.001, 1e-4, 8e-7), scores the STA shuffle test and our prewhitened-voltage test on the same
simulations, and writes figures to ``results/nto1/``: example STAs, ROC curves of every test, and
the true-positive rate at 5 % false positives against N.

Every real input is tested, plus ``--n-unconnected`` unconnected trains made by ISI-shuffling
randomly chosen real inputs. The STA test costs (surrogates + 1)·1000 additions per spike, so by
default it runs on a random subset of ``--sta-inputs`` excitatory and as many inhibitory inputs plus
all unconnected trains (``--sta-inputs 0`` tests every input); the ROC figure compares all tests on
that subset too.

    python experiments/nto1_conntest.py                    # full: N = 6500, 10 min
    python experiments/nto1_conntest.py --n 400 --minutes 1 --json
    python experiments/nto1_conntest.py --noise-mV 0.1 --ar-order 40 --whitened-window 20 --no-sweep

With ``--json`` the last line printed is one JSON object: the regression test's rates at α = 0.001,
the best test's and the regression test's excitatory TPR at FPR ≤ 5 % (tests run on every input),
``sim_s`` (wall time of the main simulation, including compilation) and ``tests_s`` (wall time of
the regression test on all trains, including compilation).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from jaxsnn.conntest import (  # noqa: E402
    EXCITATORY,
    INHIBITORY,
    UNCONNECTED,
    classify,
    concatenate,
    confusion_matrix,
    innovations,
    performance,
    regression_test,
    roc_curve,
    shuffled_trains,
    sta_test,
    tpr_at_fpr,
    whitened_test,
)
from jaxsnn.neurons import AdEx  # noqa: E402
from jaxsnn.nto1 import SCALING, simulate_nto1_seeds  # noqa: E402

TESTS = ("regression", "whitened", "sta")
LABELS = {"regression": "regression (reference)", "whitened": "prewhitened z-test (ours)", "sta": "STA shuffle test"}
COLORS = {"regression": "C0", "whitened": "C2", "sta": "C1"}


def log(*args) -> None:
    print(*args, flush=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def sta_subset(rng: np.random.Generator, real: np.ndarray, per_type: int) -> np.ndarray:
    """Indices for the STA test: ``per_type`` random excitatory and inhibitory inputs, all unconnected."""
    if per_type == 0:
        return np.arange(len(real))
    parts = []
    for kind in (EXCITATORY, INHIBITORY):
        idx = np.flatnonzero(real == kind)
        parts.append(np.sort(rng.choice(idx, min(per_type, len(idx)), replace=False)))
    return np.concatenate(parts + [np.flatnonzero(real == UNCONNECTED)])


def run_network(args, n_inputs: int, key) -> dict:
    """Simulate ``--seeds`` networks of ``n_inputs`` and run all tests; returns pooled scores and timings."""
    sim_key, shuffle_key, sta_key, noise_key = jax.random.split(key, 4)
    model = AdEx(a=args.a_nS * 1e-9)
    sims, sim_s = timed(
        simulate_nto1_seeds, jax.random.split(sim_key, args.seeds), n_inputs, args.minutes * 60.0, model=model
    )
    rng = np.random.default_rng(int(jax.random.randint(shuffle_key, (), 0, 2**31 - 1)))
    pooled = {name: [] for name in ("real", "p_regression", "sign_regression", "score_regression", "p_whitened",
                                     "score_whitened", "p_sta", "sign_sta", "score_sta", "sta_index")}
    times = {"regression": 0.0, "whitened": 0.0, "sta": 0.0}
    examples = None
    offset = 0
    for s, sim in enumerate(sims):
        if args.noise_mV > 0:
            noise = args.noise_mV * 1e-3 * jax.random.normal(jax.random.fold_in(noise_key, s), sim.voltage.shape)
            sim = sim._replace(voltage=sim.voltage + np.asarray(noise))
        sources = rng.integers(0, n_inputs, args.n_unconnected)
        unconnected = shuffled_trains(jax.random.fold_in(shuffle_key, s), sim.trains, sources)
        trains = concatenate([sim.trains, unconnected])
        real = np.r_[np.where(sim.is_excitatory, EXCITATORY, INHIBITORY), np.full(args.n_unconnected, UNCONNECTED)]
        reg, t_reg = timed(regression_test, sim.voltage, trains, window=args.regression_window)
        wh, t_wh = timed(whitened_test, sim.voltage, trains, ar_order=args.ar_order, window=args.whitened_window)
        subset = sta_subset(rng, real, args.sta_inputs)
        sta, t_sta = timed(
            sta_test, jax.random.fold_in(sta_key, s), sim.voltage, trains.select(subset),
            window=args.sta_window, n_surrogates=args.surrogates,
        )
        times["regression"] += t_reg
        times["whitened"] += t_wh
        times["sta"] += t_sta
        log(f"  N={n_inputs} seed {s}: output rate {sim.output_spikes / (args.minutes * 60):.2f} Hz; "
            f"{trains.steps.size} input spikes; tests: regression {t_reg:.1f} s ({trains.n_trains} trains), "
            f"whitened {t_wh:.1f} s, STA {t_sta:.1f} s ({len(subset)} trains)")
        for name, value in (("real", real), ("p_regression", reg.p_value), ("sign_regression", np.sign(reg.t)),
                            ("score_regression", reg.t), ("p_whitened", wh.p_value), ("score_whitened", wh.score),
                            ("p_sta", sta.p_value), ("sign_sta", sta.sign), ("score_sta", sta.score),
                            ("sta_index", subset + offset)):
            pooled[name].append(value)
        offset += trains.n_trains
        if examples is None:
            examples = {"ar_order": args.ar_order, "sim": sim, "trains": trains, "real": real, "subset": subset, "sta": sta, "z": wh.z}
    out = {k: np.concatenate(v) for k, v in pooled.items()}
    out.update(sim_s=sim_s, times=times, examples=examples, n_inputs=n_inputs)
    return out


def scores_on(result: dict, test: str, subset: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(real, p, sign, score) of ``test``, on all trains or on the STA subset."""
    idx = result["sta_index"]
    if test == "sta":
        return result["real"][idx], result["p_sta"], result["sign_sta"], result["score_sta"]
    p, score = result[f"p_{test}"], result[f"score_{test}"]
    sign = result["sign_regression"] if test == "regression" else np.sign(score)
    real = result["real"]
    if subset:
        return real[idx], p[idx], sign[idx], score[idx]
    return real, p, sign, score


def print_table(result: dict, alphas: list[float]) -> dict:
    log("\nTable (rates in %; 'STA' on its subset):")
    log(f"{'test':<12}{'alpha':>9}{'FPR':>7}{'TPR_e':>7}{'TPR_i':>7}{'prec_e':>8}{'prec_i':>8}   confusion [real u/e/i × pred u/e/i]")
    headline = {}
    for test in TESTS:
        real, p, sign, _ = scores_on(result, test, subset=False)
        for alpha in alphas:
            cm = confusion_matrix(real, classify(p, sign, alpha))
            perf = performance(cm)
            if test == "regression" and alpha == alphas[0]:
                headline = perf._asdict()
            pct = [100 * x for x in (perf.fpr, perf.tpr_exc, perf.tpr_inh, perf.precision_exc, perf.precision_inh)]
            log(f"{test:<12}{alpha:>9.0e}" + "".join(f"{x:>7.1f}" if i < 3 else f"{x:>8.1f}" for i, x in enumerate(pct))
                + f"   {cm.tolist()}")
    return headline


def roc_summary(result: dict, subset: bool) -> dict:
    out = {}
    for test in TESTS:
        if test == "sta" and not subset and len(result["sta_index"]) != len(result["real"]):
            continue
        real, _, _, score = scores_on(result, test, subset)
        roc = roc_curve(score, real)
        out[test] = (roc, tpr_at_fpr(roc, 0.05))
    return out


def plot_rocs(full: dict, sub: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    for ax, rocs, title in ((axes[0], full, "all trains"), (axes[1], sub, "STA subset")):
        for test, (roc, _) in rocs.items():
            ax.plot(roc.fpr, roc.tpr_exc, color=COLORS[test], label=f"{LABELS[test]} exc (AUC {roc.auc_exc:.2f})")
            ax.plot(roc.fpr, roc.tpr_inh, color=COLORS[test], ls="--", label=f"inh (AUC {roc.auc_inh:.2f})")
        ax.axvline(0.05, color="0.7", lw=0.8)
        ax.plot([0, 1], [0, 1], color="0.85", lw=0.8)
        ax.set(xlabel="false positive rate", title=title, xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("true positive rate (right sign)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_examples(result: dict, path: Path, sta_window: int) -> None:
    ex = result["examples"]
    sim, trains, real, subset, sta = ex["sim"], ex["trains"], ex["real"], ex["subset"], ex["sta"]
    innov = innovations(sim.voltage, ex["ar_order"])
    e = np.asarray(innov.e)
    before, after = 20, 100
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for col, (kind, name) in enumerate(((EXCITATORY, "excitatory"), (INHIBITORY, "inhibitory"), (UNCONNECTED, "unconnected"))):
        rows = np.flatnonzero(real[subset] == kind)[:3]
        for r in rows:
            i = subset[r]
            t_ms = np.arange(sta_window) * sim.dt * 1e3
            label = f"#{i}: {trains.counts[i]} spikes, p={sta.p_value[r]:.2f}, z={ex['z'][i]:.1f}"
            axes[0, col].plot(t_ms, sta.sta[r] * 1e3, lw=1, label=label)
            steps = trains.train(i)
            steps = steps[(steps >= before) & (steps < len(e) - after)]
            white = np.mean([e[s - before : s + after] for s in steps], axis=0)
            axes[1, col].plot((np.arange(-before, after)) * sim.dt * 1e3, white, lw=1)
        axes[0, col].set(title=f"{name} inputs", xlabel="time after input spike (ms)")
        axes[0, col].legend(fontsize=7)
        axes[1, col].set(xlabel="time after input spike (ms)")
    axes[0, 0].set_ylabel("STA of V (mV)")
    axes[1, 0].set_ylabel("STA of prewhitened dV (SD units)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_tpr_vs_n(points: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ns = sorted(points)
    for test in TESTS:
        ax.plot(ns, [points[n][test][0] for n in ns], "o-", color=COLORS[test], label=f"{LABELS[test]} exc")
        ax.plot(ns, [points[n][test][1] for n in ns], "s--", color=COLORS[test], label="inh")
    ax.set(xscale="log", xlabel="number of inputs N", ylabel="TPR at FPR ≤ 5 %", ylim=(-0.02, 1.02),
           title="detection vs N (STA test on its subset)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6500, help=f"number of inputs, one of {sorted(SCALING)}")
    parser.add_argument("--minutes", type=float, default=10.0, help="recording length (min)")
    parser.add_argument("--seeds", type=int, default=1, help="networks simulated together (results pooled)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--a-nS", type=float, default=0.8, help="AdEx a (nS): +0.8 as the notebook ran, -0.8 Naud's table")
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e-3, 1e-4, 8e-7])
    parser.add_argument("--n-unconnected", type=int, default=100)
    parser.add_argument("--regression-window", type=int, default=100, help="steps (100 = 10 ms)")
    parser.add_argument("--sta-window", type=int, default=1000, help="steps (1000 = 100 ms)")
    parser.add_argument("--surrogates", type=int, default=100)
    parser.add_argument("--sta-inputs", type=int, default=100, help="exc and inh inputs each for the STA test; 0 = all")
    parser.add_argument("--ar-order", type=int, default=2, help="AR order of the prewhitened test")
    parser.add_argument("--whitened-window", type=int, default=1,
                        help="innovation steps summed per spike (with recording noise, try --ar-order 40 --whitened-window 20)")
    parser.add_argument("--noise-mV", type=float, default=0.0,
                        help="white recording noise (SD, mV) added to the voltage before testing")
    parser.add_argument("--no-sweep", action="store_true", help="skip the other N of the table (TPR-vs-N figure)")
    parser.add_argument("--out", type=Path, default=Path("results/nto1"))
    parser.add_argument("--json", action="store_true", help="print the summary JSON as the last line")
    args = parser.parse_args(argv)
    if args.n not in SCALING:
        parser.error(f"--n must be one of {sorted(SCALING)} (the reference's scaling table)")
    args.out.mkdir(parents=True, exist_ok=True)
    key = jax.random.key(args.seed)

    log(f"N = {args.n}, {args.minutes} min, {args.seeds} seed(s), a = {args.a_nS} nS, "
        f"recording noise {args.noise_mV} mV")
    main_result = run_network(args, args.n, jax.random.fold_in(key, args.n))
    log(f"simulation: {main_result['sim_s']:.1f} s (incl. compilation)")
    headline = print_table(main_result, args.alphas)
    full, sub = roc_summary(main_result, subset=False), roc_summary(main_result, subset=True)
    log("\nROC (exc / inh AUC; TPR exc / inh at FPR <= 5 %):")
    for name, rocs in (("all trains", full), ("STA subset", sub)):
        for test, (roc, (te, ti, f)) in rocs.items():
            log(f"  {name:<11}{test:<11} AUC {roc.auc_exc:.3f} / {roc.auc_inh:.3f}   TPR {te:.3f} / {ti:.3f} at FPR {f:.2f}")
    plot_rocs(full, sub, args.out / "roc.png")
    plot_examples(main_result, args.out / "example_stas.png", args.sta_window)

    points = {args.n: {test: sub[test][1] if test == "sta" else full[test][1] for test in TESTS}}
    if not args.no_sweep:
        for n in sorted(k for k in SCALING if k < args.n):
            result = run_network(args, n, jax.random.fold_in(key, n))
            f, s = roc_summary(result, subset=False), roc_summary(result, subset=True)
            points[n] = {test: s[test][1] if test == "sta" else f[test][1] for test in TESTS}
            log(f"  N={n}: TPR exc/inh at FPR<=5%: " + ", ".join(f"{t} {points[n][t][0]:.2f}/{points[n][t][1]:.2f}" for t in TESTS))
    plot_tpr_vs_n(points, args.out / "tpr_vs_n.png")
    log(f"figures written to {args.out}/")

    best = max(full, key=lambda t: full[t][1][0])
    summary = {
        "n": args.n,
        "minutes": int(args.minutes) if float(args.minutes).is_integer() else args.minutes,
        "alpha": args.alphas[0],
        "fpr": headline["fpr"],
        "tpr_exc": headline["tpr_exc"],
        "tpr_inh": headline["tpr_inh"],
        "precision_exc": headline["precision_exc"],
        "precision_inh": headline["precision_inh"],
        "best_test": best,
        "best_tpr_exc_at_fpr5": full[best][1][0],
        "regression_tpr_exc_at_fpr5": full["regression"][1][0],
        "sim_s": round(main_result["sim_s"], 2),
        "tests_s": round(main_result["times"]["regression"], 2),
    }
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
