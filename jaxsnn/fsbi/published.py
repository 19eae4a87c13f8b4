"""Published fSBI rules (Confavreux et al. 2023), as θ rows of their task (last entry r_ext, Hz)."""

import numpy as np

#: A plausible polynomial rule: EE, EI, IE, II × [τ_pre, τ_post, α, β, γ, κ], then r_ext = 6 Hz. The
#: original's runs give rate ≈ 3.5 Hz, rate_i ≈ 1.8 Hz, cv_isi ≈ 0.93, w_creep ≈ 0.02 (plausible).
PUBLISHED_POLYNOMIAL_RULE = np.array([
    0.04660005, 0.02327882, 0.49659052, -0.35899994, -0.37540221, -1.278193,
    0.0707294, 0.07955258, 0.63596439, -1.72025657, 0.56049812, 0.06629736,
    0.03651253, 0.04398145, -0.31592822, -0.04090761, 1.60054791, 1.11010623,
    0.09858324, 0.04056259, -1.94945908, 1.7757206, 0.19681023, 1.9772824, 6.0])
PUBLISHED_POLYNOMIAL_RULE.flags.writeable = False

#: The MLP rule of the paper's Figure 4: [η_EE, η_IE, W_pre,EE(4 weights, bias), W_post,EE(5),
#: W_pre,IE(5), W_post,IE(5), r_ext = 8.757 Hz]. The original's run (released trace constants, 1 s):
#: rate 11.87 Hz, rate_i 6.75 Hz, cv_isi 0.707, weef 0.157, wief 1.00, w_creep 0.108.
PUBLISHED_MLP_RULE = np.array([
    0.129939720, 0.000479347276,
    0.296384186, -0.467114270, 0.424380839, 0.647823513, 0.0348782279,
    0.341926664, 0.347279757, 0.347070426, -0.315040410, -0.694070637,
    0.187801853, -0.209873557, -0.375144660, 0.885631084, 0.143499836,
    0.642546713, -0.299585074, 0.586552262, -0.938091934, -0.0376303978,
    8.75709915])
PUBLISHED_MLP_RULE.flags.writeable = False

__all__ = ["PUBLISHED_MLP_RULE", "PUBLISHED_POLYNOMIAL_RULE"]
