"""Run a built-in filter-SBI pipeline (jaxsnn.sbi.CONFIGS) and write its report.

    python experiments/fsbi_pipeline.py --config polynomial-small --out results/fsbi-small
    python experiments/fsbi_pipeline.py --config polynomial-full --out results/fsbi-full   # GPU scale

The stores of every round are resumable: rerunning the same command skips finished chunks.
"""

from __future__ import annotations

import argparse
import json

from jaxsnn.sbi import CONFIGS, run_and_report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), default="polynomial-small")
    p.add_argument("--out", default=None, help="output folder (default: results/<config>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args()
    summary = run_and_report(CONFIGS[args.config], args.out or f"results/{args.config}", progress=not args.quiet)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
