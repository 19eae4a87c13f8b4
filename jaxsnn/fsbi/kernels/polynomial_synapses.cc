// The polynomial-rule fSBI network (see jaxsnn/fsbi/simulator.py) as CPU custom calls of XLA (the FFI).
//
// JaxsnnPolynomialSynapses: steps 3-4 of one time step for a batch of R rules: transmission with on-pre
// plasticity through the four recurrent projections, transmission of the external Poisson spikes, then
// on-post plasticity.
// JaxsnnPolynomialBlock: a whole block of time steps (every step of the module docstring of simulator.py:
// neurons, blow-up guard, delay ring, external input, synaptic events, traces), rule by rule, in place on
// the network state.
//
// The arithmetic is the XLA path's in float32. XLA's CPU backend fuses a multiply feeding an add into one
// fused multiply-add where the processor has one; the block kernel does the same at the same places
// (FusedMath, chosen at run time) or not at all (PlainMath), and the library is built with
// -ffp-contract=off so the compiler adds no fusions of its own. Conductance increments are summed in a
// different order than in XLA's scatter, so results agree to float32 rounding, not bit for bit.
//
// JaxsnnPolynomialSynapses operands, in order (R rules; E, I, X = excitatory, inhibitory, external sizes):
//   0-4    arrived_E [R,E], arrived_I [R,I], spikes_E [R,E], spikes_I [R,I], sources [R,X]   (0/1)
//   5-12   traces ee_pre [R,E], ei_pre [R,E], ie_pre [R,I], ii_pre [R,I],
//                 ee_post [R,E], ei_post [R,I], ie_post [R,E], ii_post [R,I]
//   13-16  alpha, beta, gamma, kappa [R,4] (projections ee, ei, ie, ii)
//   17-20  weights ee [R,Nee], ei [R,Nei], ie [R,Nie], ii [R,Nii]  (aliased to results 4-7)
//   21-36  per projection ee, ei, ie, ii: out_post, out_syn [n_pre+1,k_out], in_pre, in_syn [n_post+1,k_in]
//   37-38  ext_e out_post [X+1,k], ext_i out_post [X+1,k]
// Attributes: eta, w_max, w_ext (float32).
// Results: exc_E [R,E], inh_E [R,E], exc_I [R,I], inh_I [R,I], then the four weight arrays.
//
// JaxsnnPolynomialBlock operands (B steps; D delay steps; C external spikes drawn per step):
//   0-32   the state, each aliased to the result of the same number:
//          0-4 E neurons v, g_ampa, g_nmda, g_gaba, theta_dyn [R,E]; 5-9 the same for I [R,I];
//          10-13 pending exc_E, inh_E [R,E], exc_I, inh_I [R,I]; 14-15 ring_E [D,R,E], ring_I [D,R,I];
//          16-19 weights ee, ei, ie, ii; 20-27 traces in the order of operands 5-12 above;
//          28 rate_guard [R] f32; 29 alive [R] pred; 30 stop_time [R] f32; 31 ext_overflow [R] s32;
//          32 step [] s32
//   33     ext_ids [B,R,C] s32: the external sources spiking in each step (ascending; X where none)
//   34     ext_over [B,R] s32: 1 if the step's draw may have been cut short by C
//   35-38  alpha, beta, gamma, kappa [R,4]
//   39     trace decay factors [R,8] (order of operands 20-27)
//   40     neuron constants [15] (see NeuronConstants)
//   41-58  connectivity as operands 21-38 above
// Attributes: eta, w_max, w_ext, dt, guard_decay, guard_scale, guard_limit (float32); allow_fma (bool:
// false computes without FMAs, as on processors without them).
// Results: the 33 state arrays, then, if asked for, the spikes of the first n_rec_E E and n_rec_I I
// neurons in every step: rec_E [B,R,n_rec_E], rec_I [B,R,n_rec_I] (pred).
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

// Multiply-add as XLA's CPU backend computes it: fused where the processor has FMA, else rounded twice.
struct PlainMath {
  static inline float madd(float a, float b, float c) { return a * b + c; }
};
struct FusedMath {
  static inline float madd(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
};

// The neurons that spiked, in increasing order (each step's masks are read once, then the lists).
using SpikeList = std::vector<int32_t>;

inline void list_spikes(const float* x, int64_t n, SpikeList& out) {
  out.clear();
  for_each_spike(x, n, [&](int64_t j) { out.push_back(static_cast<int32_t>(j)); });
}

// Transmit the spikes of one member through one projection, then update each synapse on-pre.
template <typename Math>
inline void transmit_plastic(const SpikeList& arrived, const Matrix& out_post, const Matrix& out_syn,
                             int64_t n_post, float* weights, float* acc, const float* x_post, float eta, float alpha,
                             float kappa, float w_max) {
  for (const int32_t j : arrived) {
    const int32_t* post = out_post.row(j);
    const int32_t* syn = out_syn.row(j);
    for (int64_t k = 0; k < out_post.cols; ++k) {
      const int32_t i = post[k];
      if (i >= n_post) break;  // rows are padded at their end
      const float w = weights[syn[k]];
      acc[i] += w;
      weights[syn[k]] = clip(Math::madd(eta, Math::madd(kappa, x_post[i], alpha), w), w_max);
    }
  }
}

// Transmit one spike of a static source (weight ``weight``) through its row of ``out_post``.
inline void transmit_static_one(const Matrix& out_post, int64_t j, int64_t n_post, float weight, float* acc) {
  const int32_t* post = out_post.row(j);
  for (int64_t k = 0; k < out_post.cols; ++k) {
    const int32_t i = post[k];
    if (i >= n_post) break;
    acc[i] += weight;
  }
}

void transmit_static(const float* sources, int64_t n_pre, const Matrix& out_post, int64_t n_post, float weight,
                     float* acc) {
  for_each_spike(sources, n_pre, [&](int64_t j) { transmit_static_one(out_post, j, n_post, weight, acc); });
}

// On-post plasticity for the spikes of one member.
template <typename Math>
inline void update_post(const SpikeList& spikes, const Matrix& in_pre, const Matrix& in_syn, int64_t n_pre,
                        float* weights, const float* x_pre, float eta, float beta, float gamma, float w_max) {
  for (const int32_t i : spikes) {
    const int32_t* pre = in_pre.row(i);
    const int32_t* syn = in_syn.row(i);
    constexpr int64_t kAhead = 16;  // in case prefetch_post's requests were dropped or evicted
    for (int64_t k = 0; k < std::min<int64_t>(kAhead, in_pre.cols); ++k)
      if (pre[k] < n_pre) __builtin_prefetch(weights + syn[k], 1);
    for (int64_t k = 0; k < in_pre.cols; ++k) {
      const int32_t j = pre[k];
      if (j >= n_pre) break;
      if (k + kAhead < in_pre.cols && pre[k + kAhead] < n_pre) __builtin_prefetch(weights + syn[k + kAhead], 1);
      float& w = weights[syn[k]];
      w = clip(Math::madd(eta, Math::madd(gamma, x_pre[j], beta), w), w_max);
    }
  }
}

// The weights of the synapses onto a neuron are scattered over the weight array (it is ordered by
// presynaptic neuron), so on-post updates wait on memory: ask for them as soon as the spikes are known,
// to arrive while the step's other work runs.
inline void prefetch_post(const SpikeList& spikes, const Matrix& in_pre, const Matrix& in_syn, int64_t n_pre,
                          const float* weights) {
  for (const int32_t i : spikes) {
    const int32_t* pre = in_pre.row(i);
    const int32_t* syn = in_syn.row(i);
    for (int64_t k = 0; k < in_pre.cols && pre[k] < n_pre; ++k) __builtin_prefetch(weights + syn[k], 0, 3);
  }
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
  SpikeList arrived_E, arrived_I, spikes_E, spikes_I;
  for (int64_t m = 0; m < R; ++m) {
    list_spikes(as_floats(a[0]) + m * nE, nE, arrived_E);
    list_spikes(as_floats(a[1]) + m * nI, nI, arrived_I);
    list_spikes(as_floats(a[2]) + m * nE, nE, spikes_E);
    list_spikes(as_floats(a[3]) + m * nI, nI, spikes_I);
    const SpikeList* arrived[4] = {&arrived_E, &arrived_E, &arrived_I, &arrived_I};
    const SpikeList* spikes_post[4] = {&spikes_E, &spikes_I, &spikes_E, &spikes_I};
    for (int p = 0; p < 4; ++p) {
      const float* x_post = as_floats(a[9 + p]) + m * post_size[p];
      transmit_plastic<PlainMath>(*arrived[p], out_post[p], out_syn[p], post_size[p], weights[p] + m * n_syn[p],
                                  target[p] + m * post_size[p], x_post, eta, alpha[4 * m + p], kappa[4 * m + p], w_max);
    }
    const float* sources = as_floats(a[4]) + m * nX;
    transmit_static(sources, nX, ext_e, nE, w_ext, exc_E + m * nE);
    transmit_static(sources, nX, ext_i, nI, w_ext, exc_I + m * nI);
    for (int p = 0; p < 4; ++p) {
      const float* x_pre = as_floats(a[5 + p]) + m * pre_size[p];
      update_post<PlainMath>(*spikes_post[p], in_pre[p], in_syn[p], pre_size[p], weights[p] + m * n_syn[p], x_pre, eta,
                             beta[4 * m + p], gamma[4 * m + p], w_max);
    }
  }
  return ffi::Error::Success();
}

// Ask for the cache lines of one row of an index matrix.
inline void prefetch_row(const int32_t* row, int64_t n) {
  for (int64_t k = 0; k < n; k += 64 / sizeof(int32_t)) __builtin_prefetch(row + k, 0, 2);
}

// The ConductanceIF constants (jaxsnn/neurons/conductance_if.py), computed by JAX as in its step so the
// float32 values are the same: a_ampa, a_nmda, e_exc, e_inh, e_rest, 1 - exp(-dt/tau_nmda),
// exp(-dt/tau_ampa), exp(-dt/tau_gaba), exp(-dt/tau_thr), dt/tau_mem, v_min, v_max, theta_rest,
// v_reset, theta_jump.
struct NeuronConstants {
  float a_ampa, a_nmda, e_exc, e_inh, e_rest, nmda_rate, ampa_decay, gaba_decay, thr_decay, dt_tau, v_min, v_max,
      theta_rest, v_reset, theta_jump;
};
constexpr int kNeuronConstants = 15;

struct Population {
  float *v, *g_ampa, *g_nmda, *g_gaba, *theta_dyn, *exc, *inh;  // one rule's rows, [n]
  int64_t n;
};

// Step 1 for one population of one rule: ConductanceIF.step in its order, then the spikes masked by
// ``mask`` (1 while the rule runs, else 0). The pending increments are consumed (set to 0 for this
// step's transmission). The arrays do not overlap (restrict), so the loop is vectorised.
template <typename Math>
inline void neuron_loop(float* __restrict v, float* __restrict g_ampa, float* __restrict g_nmda,
                        float* __restrict g_gaba, float* __restrict theta_dyn, float* __restrict exc,
                        float* __restrict inh, int64_t n, const NeuronConstants c, float mask,
                        float* __restrict spikes) {
  for (int64_t i = 0; i < n; ++i) {
    const float v_old = v[i];
    const float ampa = g_ampa[i] + exc[i];
    const float gaba = g_gaba[i] + inh[i];
    const float nmda = g_nmda[i];
    exc[i] = 0.0f;
    inh[i] = 0.0f;
    const float g_exc = Math::madd(c.a_ampa, ampa, c.a_nmda * nmda);
    const float i_inh = (v_old - c.e_inh) * gaba;
    const float i_syn = Math::madd(g_exc, c.e_exc - v_old, -i_inh);  // I_exc - I_inh
    g_nmda[i] = Math::madd(c.nmda_rate, ampa - nmda, nmda);
    g_ampa[i] = ampa * c.ampa_decay;
    g_gaba[i] = gaba * c.gaba_decay;
    const float theta = theta_dyn[i] * c.thr_decay;
    float v_new = Math::madd(c.dt_tau, i_syn - (v_old - c.e_rest), v_old);
    v_new = std::min(std::max(v_new, c.v_min), c.v_max);
    const float spike = v_new - (c.theta_rest + theta) > 0.0f ? 1.0f : 0.0f;
    v[i] = spike > 0.0f ? c.v_reset : v_new;
    theta_dyn[i] = Math::madd(spike, c.theta_jump, theta);
    spikes[i] = spike * mask;
  }
}

// Step 1 (see neuron_loop), with the list of the neurons that spiked.
template <typename Math>
inline void neuron_step(const Population& p, const NeuronConstants& c, bool alive, float* spikes, SpikeList& list) {
  neuron_loop<Math>(p.v, p.g_ampa, p.g_nmda, p.g_gaba, p.theta_dyn, p.exc, p.inh, p.n, c, alive ? 1.0f : 0.0f,
                    spikes);
  list_spikes(spikes, p.n, list);
}

// Step 5 for one population of one rule: x <- (x + events) * decay for two traces sharing the events.
inline void decay_traces(float* x1, float* x2, const float* events, int64_t n, float d1, float d2) {
  for (int64_t i = 0; i < n; ++i) {
    x1[i] = (x1[i] + events[i]) * d1;
    x2[i] = (x2[i] + events[i]) * d2;
  }
}

// Advance every rule by B steps (the order of the module docstring of jaxsnn/fsbi/simulator.py). Rules
// are independent, so each runs its whole block before the next: over a long block, the scattered
// on-post updates find much of the rule's weight array in cache.
template <typename Math>
void run_block(const std::vector<ffi::AnyBuffer>& a, const std::vector<void*>& out, const int64_t rec_size[2],
               float eta, float w_max, float w_ext, float dt, float guard_decay, float guard_scale,
               float guard_limit) {
  const int64_t R = a[0].dimensions()[0], nE = a[0].dimensions()[1], nI = a[5].dimensions()[1];
  const int64_t D = a[14].dimensions()[0];  // ring_E [D, R, E]
  const int64_t B = a[33].dimensions()[0], C = a[33].dimensions()[2];
  const int64_t nX = a[57].dimensions()[0] - 1;
  const int64_t size[2] = {nE, nI};
  const int64_t pre_size[4] = {nE, nE, nI, nI}, post_size[4] = {nE, nI, nE, nI};
  const int pre_pop[4] = {0, 0, 1, 1}, post_pop[4] = {0, 1, 0, 1};
  auto f = [&](int k) { return reinterpret_cast<float*>(out[k]); };
  int64_t n_syn[4];
  for (int p = 0; p < 4; ++p) n_syn[p] = a[16 + p].dimensions()[1];
  Matrix out_post[4], out_syn[4], in_pre[4], in_syn[4];
  for (int p = 0; p < 4; ++p) {
    out_post[p] = as_matrix(a[41 + 4 * p]);
    out_syn[p] = as_matrix(a[42 + 4 * p]);
    in_pre[p] = as_matrix(a[43 + 4 * p]);
    in_syn[p] = as_matrix(a[44 + 4 * p]);
  }
  const Matrix ext_out[2] = {as_matrix(a[57]), as_matrix(a[58])};
  const int32_t* ext_ids = reinterpret_cast<const int32_t*>(a[33].untyped_data());
  const int32_t* ext_over = reinterpret_cast<const int32_t*>(a[34].untyped_data());
  const float* alpha = as_floats(a[35]); const float* beta = as_floats(a[36]);
  const float* gamma = as_floats(a[37]); const float* kappa = as_floats(a[38]);
  const float* decays = as_floats(a[39]);
  NeuronConstants c;
  std::memcpy(&c, as_floats(a[40]), sizeof c);
  float* guard = f(28);
  bool* alive = reinterpret_cast<bool*>(out[29]);
  float* stop_time = f(30);
  int32_t* ext_overflow = reinterpret_cast<int32_t*>(out[31]);
  int32_t* step = reinterpret_cast<int32_t*>(out[32]);
  const int32_t step0 = *step;
  const bool record = rec_size[0] + rec_size[1] > 0;
  bool* rec[2] = {record ? reinterpret_cast<bool*>(out[33]) : nullptr,
                  record ? reinterpret_cast<bool*>(out[34]) : nullptr};
  std::vector<float> spikes_E(nE), spikes_I(nI);
  float* spikes[2] = {spikes_E.data(), spikes_I.data()};
  std::vector<float> ext_acc[2] = {std::vector<float>(nE), std::vector<float>(nI)};
  SpikeList spiked[2], arrived_list[2];
  for (int64_t m = 0; m < R; ++m) {
    Population pop[2];
    for (int q = 0; q < 2; ++q) {
      const int64_t o = m * size[q];
      pop[q] = Population{f(5 * q) + o, f(5 * q + 1) + o, f(5 * q + 2) + o, f(5 * q + 3) + o, f(5 * q + 4) + o,
                          f(10 + 2 * q) + o, f(11 + 2 * q) + o, size[q]};
    }
    // pending: ee -> exc_E, ei -> exc_I, ie -> inh_E, ii -> inh_I
    float* target[4] = {pop[0].exc, pop[1].exc, pop[0].inh, pop[1].inh};
    float* w[4];
    for (int p = 0; p < 4; ++p) w[p] = f(16 + p) + m * n_syn[p];
    float* x_pre[4];
    float* x_post[4];
    for (int p = 0; p < 4; ++p) {
      x_pre[p] = f(20 + p) + m * pre_size[p];
      x_post[p] = f(24 + p) + m * post_size[p];
    }
    const float* decay = decays + 8 * m;
    for (int64_t b = 0; b < B; ++b) {
      const int32_t k = step0 + static_cast<int32_t>(b);
      const bool alive_now = alive[m];
      const int32_t* ids = ext_ids + (b * R + m) * C;
      if (alive_now)  // the external sources' target lists, read in step 3, load during the neuron update
        for (int64_t s = 0; s < C && ids[s] < nX; ++s)
          for (int q = 0; q < 2; ++q) prefetch_row(ext_out[q].row(ids[s]), ext_out[q].cols);
      // 1. neurons
      for (int q = 0; q < 2; ++q) neuron_step<Math>(pop[q], c, alive_now, spikes[q], spiked[q]);
      for (int p = 0; p < 4; ++p) prefetch_post(spiked[post_pop[p]], in_pre[p], in_syn[p], pre_size[p], w[p]);
      // 2. blow-up guard
      guard[m] = Math::madd(guard[m], guard_decay, static_cast<float>(spiked[0].size()) / guard_scale);
      if (alive_now && (guard[m] >= guard_limit || guard[m] <= 0.0f)) {
        stop_time[m] = static_cast<float>(k + 1) * dt;
        alive[m] = false;
      }
      // 3. arrivals of the spikes emitted D steps ago, and external spikes
      const int64_t slot = k % D;
      float* arrived[2] = {f(14) + (slot * R + m) * nE, f(15) + (slot * R + m) * nI};
      for (int q = 0; q < 2; ++q) list_spikes(arrived[q], size[q], arrived_list[q]);
      for (int p = 0; p < 4; ++p)
        transmit_plastic<Math>(arrived_list[pre_pop[p]], out_post[p], out_syn[p], post_size[p], w[p], target[p],
                               x_post[p], eta, alpha[4 * m + p], kappa[4 * m + p], w_max);
      if (alive_now) {
        // summed apart and added to the recurrent increments, as in the XLA path (same rounding)
        int64_t n_ext = 0;
        while (n_ext < C && ids[n_ext] < nX) ++n_ext;
        if (n_ext > 0) {
          for (int q = 0; q < 2; ++q) {
            std::fill(ext_acc[q].begin(), ext_acc[q].end(), 0.0f);
            for (int64_t s = 0; s < n_ext; ++s) transmit_static_one(ext_out[q], ids[s], size[q], w_ext, ext_acc[q].data());
            float* exc = pop[q].exc;
            const float* ext = ext_acc[q].data();
            for (int64_t i = 0; i < size[q]; ++i) exc[i] += ext[i];
          }
        }
        ext_overflow[m] += ext_over[b * R + m];
      }
      // 4. on-post plasticity for this step's spikes
      for (int p = 0; p < 4; ++p)
        update_post<Math>(spiked[post_pop[p]], in_pre[p], in_syn[p], pre_size[p], w[p], x_pre[p], eta,
                          beta[4 * m + p], gamma[4 * m + p], w_max);
      // 5. traces (ee_pre, ei_pre on E arrivals; ie_pre, ii_pre on I arrivals; ee_post, ie_post on E
      // spikes; ei_post, ii_post on I spikes), then this step's spikes enter the ring
      decay_traces(x_pre[0], x_pre[1], arrived[0], nE, decay[0], decay[1]);
      decay_traces(x_pre[2], x_pre[3], arrived[1], nI, decay[2], decay[3]);
      decay_traces(x_post[0], x_post[2], spikes[0], nE, decay[4], decay[6]);
      decay_traces(x_post[1], x_post[3], spikes[1], nI, decay[5], decay[7]);
      for (int q = 0; q < 2; ++q) {
        std::memcpy(arrived[q], spikes[q], sizeof(float) * size[q]);
        if (record) {
          const int64_t n = rec_size[q];
          bool* row = rec[q] + (b * R + m) * n;
          for (int64_t i = 0; i < n; ++i) row[i] = spikes[q][i] != 0.0f;
        }
      }
    }
  }
  *step = step0 + static_cast<int32_t>(B);
}

#if defined(__x86_64__)
// The block compiled for x86 processors with FMA (every call inlined, so FusedMath becomes one instruction).
__attribute__((target("avx2,fma"), flatten)) void run_block_fused(
    const std::vector<ffi::AnyBuffer>& a, const std::vector<void*>& out, const int64_t rec_size[2], float eta,
    float w_max, float w_ext, float dt, float guard_decay, float guard_scale, float guard_limit) {
  run_block<FusedMath>(a, out, rec_size, eta, w_max, w_ext, dt, guard_decay, guard_scale, guard_limit);
}

bool fused_multiply_add() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}
#else
// Elsewhere (e.g. aarch64) FMA is part of the base instruction set.
void run_block_fused(const std::vector<ffi::AnyBuffer>& a, const std::vector<void*>& out, const int64_t rec_size[2],
                     float eta, float w_max, float w_ext, float dt, float guard_decay, float guard_scale,
                     float guard_limit) {
  run_block<FusedMath>(a, out, rec_size, eta, w_max, w_ext, dt, guard_decay, guard_scale, guard_limit);
}

bool fused_multiply_add() { return true; }
#endif

ffi::Error PolynomialBlock(ffi::RemainingArgs args, ffi::RemainingRets rets, float eta, float w_max, float w_ext,
                           float dt, float guard_decay, float guard_scale, float guard_limit, bool allow_fma) {
  if (args.size() != 59 || (rets.size() != 33 && rets.size() != 35))
    return ffi::Error::InvalidArgument("expected 59 operands and 33 or 35 results");
  std::vector<ffi::AnyBuffer> a;
  a.reserve(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    auto b = args.get<ffi::AnyBuffer>(k);
    if (!b.has_value()) return ffi::Error::InvalidArgument("operand is not a buffer");
    a.push_back(*b);
  }
  std::vector<void*> out;
  int64_t rec_size[2] = {0, 0};
  for (size_t k = 0; k < rets.size(); ++k) {
    auto r = rets.get<ffi::AnyBuffer>(k);
    if (!r.has_value()) return ffi::Error::InvalidArgument("result is not a buffer");
    out.push_back((*r)->untyped_data());
    if (k >= 33) rec_size[k - 33] = (*r)->dimensions()[2];
  }
  if (a[40].element_count() != kNeuronConstants) return ffi::Error::InvalidArgument("expected 15 neuron constants");
  if (allow_fma && fused_multiply_add())
    run_block_fused(a, out, rec_size, eta, w_max, w_ext, dt, guard_decay, guard_scale, guard_limit);
  else
    run_block<PlainMath>(a, out, rec_size, eta, w_max, w_ext, dt, guard_decay, guard_scale, guard_limit);
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

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsnnPolynomialBlock, PolynomialBlock,
                              ffi::Ffi::Bind()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<float>("eta")
                                  .Attr<float>("w_max")
                                  .Attr<float>("w_ext")
                                  .Attr<float>("dt")
                                  .Attr<float>("guard_decay")
                                  .Attr<float>("guard_scale")
                                  .Attr<float>("guard_limit")
                                  .Attr<bool>("allow_fma"));
