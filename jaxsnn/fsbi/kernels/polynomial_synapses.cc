// Steps 3-4 of one fSBI time step for a batch of R polynomial rules (see jaxsnn/fsbi/simulator.py):
// transmission with on-pre plasticity through the four recurrent projections, transmission of the
// external Poisson spikes, then on-post plasticity. A CPU custom call of XLA (the FFI), the same
// arithmetic as the XLA path in float32 (only the summation order of conductance increments differs).
//
// Operands, in order (R rules; E, I, X = excitatory, inhibitory, external sizes):
//   0-4    arrived_E [R,E], arrived_I [R,I], spikes_E [R,E], spikes_I [R,I], sources [R,X]   (0/1)
//   5-12   traces ee_pre [R,E], ei_pre [R,E], ie_pre [R,I], ii_pre [R,I],
//                 ee_post [R,E], ei_post [R,I], ie_post [R,E], ii_post [R,I]
//   13-16  alpha, beta, gamma, kappa [R,4] (projections ee, ei, ie, ii)
//   17-20  weights ee [R,Nee], ei [R,Nei], ie [R,Nie], ii [R,Nii]  (aliased to results 4-7)
//   21-36  per projection ee, ei, ie, ii: out_post, out_syn [n_pre+1,k_out], in_pre, in_syn [n_post+1,k_in]
//   37-38  ext_e out_post [X+1,k], ext_i out_post [X+1,k]
// Attributes: eta, w_max, w_ext (float32).
// Results: exc_E [R,E], inh_E [R,E], exc_I [R,I], inh_I [R,I], then the four weight arrays.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Matrix {
  const int32_t* data;
  int64_t rows, cols;
  const int32_t* row(int64_t r) const { return data + r * cols; }
};

Matrix as_matrix(const ffi::AnyBuffer& b) {
  auto dims = b.dimensions();
  return Matrix{reinterpret_cast<const int32_t*>(b.untyped_data()), dims[0], dims.size() > 1 ? dims[1] : 1};
}

const float* as_floats(const ffi::AnyBuffer& b) { return reinterpret_cast<const float*>(b.untyped_data()); }

inline float clip(float w, float w_max) { return std::min(std::max(w, 0.0f), w_max); }

// Calls visit(j) for every j with x[j] != 0, in increasing order. Spikes are rare (~0.1 % of
// entries per step), so blocks of 16 are first tested together by OR-ing their bit patterns
// (+0.0f is all zero bits; spike masks hold only 0 and 1).
template <typename Visit>
inline void for_each_spike(const float* x, int64_t n, Visit visit) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    uint32_t any = 0;
    for (int k = 0; k < 16; ++k) {
      uint32_t word;  // the float's bits, read without breaking strict aliasing
      std::memcpy(&word, x + j + k, sizeof word);
      any |= word;
    }
    if (any == 0) continue;
    for (int k = 0; k < 16; ++k)
      if (x[j + k] != 0.0f) visit(j + k);
  }
  for (; j < n; ++j)
    if (x[j] != 0.0f) visit(j);
}

// Transmit the spikes of one member through one projection, then update each synapse on-pre.
void transmit_plastic(const float* arrived, int64_t n_pre, const Matrix& out_post, const Matrix& out_syn,
                      int64_t n_post, float* weights, float* acc, const float* x_post, float eta, float alpha,
                      float kappa, float w_max) {
  for_each_spike(arrived, n_pre, [&](int64_t j) {
    const int32_t* post = out_post.row(j);
    const int32_t* syn = out_syn.row(j);
    for (int64_t k = 0; k < out_post.cols; ++k) {
      const int32_t i = post[k];
      if (i >= n_post) break;  // rows are padded at their end
      const float w = weights[syn[k]];
      acc[i] += w;
      weights[syn[k]] = clip(w + eta * (alpha + kappa * x_post[i]), w_max);
    }
  });
}

void transmit_static(const float* sources, int64_t n_pre, const Matrix& out_post, int64_t n_post, float weight,
                     float* acc) {
  for_each_spike(sources, n_pre, [&](int64_t j) {
    const int32_t* post = out_post.row(j);
    for (int64_t k = 0; k < out_post.cols; ++k) {
      const int32_t i = post[k];
      if (i >= n_post) break;
      acc[i] += weight;
    }
  });
}

void update_post(const float* spikes, int64_t n_post, const Matrix& in_pre, const Matrix& in_syn, int64_t n_pre,
                 float* weights, const float* x_pre, float eta, float beta, float gamma, float w_max) {
  for_each_spike(spikes, n_post, [&](int64_t i) {
    const int32_t* pre = in_pre.row(i);
    const int32_t* syn = in_syn.row(i);
    for (int64_t k = 0; k < in_pre.cols; ++k) {
      const int32_t j = pre[k];
      if (j >= n_pre) break;
      float& w = weights[syn[k]];
      w = clip(w + eta * (beta + gamma * x_pre[j]), w_max);
    }
  });
}

ffi::Error PolynomialSynapses(ffi::RemainingArgs args, ffi::RemainingRets rets, float eta, float w_max, float w_ext) {
  if (args.size() != 39 || rets.size() != 8) return ffi::Error::InvalidArgument("expected 39 operands and 8 results");
  std::vector<ffi::AnyBuffer> a;
  a.reserve(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    auto b = args.get<ffi::AnyBuffer>(k);
    if (!b.has_value()) return ffi::Error::InvalidArgument("operand is not a buffer");
    a.push_back(*b);
  }
  std::vector<float*> out;
  for (size_t k = 0; k < rets.size(); ++k) {
    auto r = rets.get<ffi::AnyBuffer>(k);
    if (!r.has_value()) return ffi::Error::InvalidArgument("result is not a buffer");
    out.push_back(reinterpret_cast<float*>((*r)->untyped_data()));
  }
  const int64_t R = a[0].dimensions()[0];
  const int64_t nE = a[0].dimensions()[1], nI = a[1].dimensions()[1], nX = a[4].dimensions()[1];
  const int64_t pre_size[4] = {nE, nE, nI, nI}, post_size[4] = {nE, nI, nE, nI};
  int64_t n_syn[4];
  for (int p = 0; p < 4; ++p) n_syn[p] = a[17 + p].dimensions()[1];
  // pending increments: ee -> exc_E, ei -> exc_I, ie -> inh_E, ii -> inh_I
  float* exc_E = out[0]; float* inh_E = out[1]; float* exc_I = out[2]; float* inh_I = out[3];
  std::memset(exc_E, 0, sizeof(float) * R * nE);
  std::memset(inh_E, 0, sizeof(float) * R * nE);
  std::memset(exc_I, 0, sizeof(float) * R * nI);
  std::memset(inh_I, 0, sizeof(float) * R * nI);
  float* target[4] = {exc_E, exc_I, inh_E, inh_I};
  // weights were copied into the results by aliasing: work in place on the results
  float* weights[4] = {out[4], out[5], out[6], out[7]};
  Matrix out_post[4], out_syn[4], in_pre[4], in_syn[4];
  for (int p = 0; p < 4; ++p) {
    out_post[p] = as_matrix(a[21 + 4 * p]);
    out_syn[p] = as_matrix(a[22 + 4 * p]);
    in_pre[p] = as_matrix(a[23 + 4 * p]);
    in_syn[p] = as_matrix(a[24 + 4 * p]);
  }
  const Matrix ext_e = as_matrix(a[37]), ext_i = as_matrix(a[38]);
  const float* alpha = as_floats(a[13]); const float* beta = as_floats(a[14]);
  const float* gamma = as_floats(a[15]); const float* kappa = as_floats(a[16]);
  for (int64_t m = 0; m < R; ++m) {
    const float* arrived[4] = {as_floats(a[0]) + m * nE, as_floats(a[0]) + m * nE, as_floats(a[1]) + m * nI,
                               as_floats(a[1]) + m * nI};
    const float* spikes_post[4] = {as_floats(a[2]) + m * nE, as_floats(a[3]) + m * nI, as_floats(a[2]) + m * nE,
                                   as_floats(a[3]) + m * nI};
    for (int p = 0; p < 4; ++p) {
      const float* x_post = as_floats(a[9 + p]) + m * post_size[p];
      transmit_plastic(arrived[p], pre_size[p], out_post[p], out_syn[p], post_size[p], weights[p] + m * n_syn[p],
                       target[p] + m * post_size[p], x_post, eta, alpha[4 * m + p], kappa[4 * m + p], w_max);
    }
    const float* sources = as_floats(a[4]) + m * nX;
    transmit_static(sources, nX, ext_e, nE, w_ext, exc_E + m * nE);
    transmit_static(sources, nX, ext_i, nI, w_ext, exc_I + m * nI);
    for (int p = 0; p < 4; ++p) {
      const float* x_pre = as_floats(a[5 + p]) + m * pre_size[p];
      update_post(spikes_post[p], post_size[p], in_pre[p], in_syn[p], pre_size[p], weights[p] + m * n_syn[p], x_pre,
                  eta, beta[4 * m + p], gamma[4 * m + p], w_max);
    }
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsnnPolynomialSynapses, PolynomialSynapses,
                              ffi::Ffi::Bind()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<float>("eta")
                                  .Attr<float>("w_max")
                                  .Attr<float>("w_ext"));
