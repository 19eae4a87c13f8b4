// The fSBI networks (see jaxsnn/fsbi/simulator.py) as CPU custom calls of XLA (the FFI).
//
// JaxsnnPolynomialBlock: a whole block of time steps (every step of the module docstring of simulator.py:
// neurons, blow-up guard, delay ring, external input, synaptic events, traces), rule by rule, in place on
// the network state.
//
// The arithmetic is the XLA path's in float32. XLA's CPU backend fuses a multiply feeding an add into one
// fused multiply-add where the processor has one; the block kernel does the same at the same places
// (FusedMath, chosen at run time) or not at all (PlainMath), and the library is built with
// -ffp-contract=off so the compiler adds no fusions of its own.
//
// JaxsnnPolynomialBlock operands (B steps; D delay steps; C external spikes drawn per step):
//   0-32   the state, each aliased to the result of the same number:
//          0-4 E neurons v, g_ampa, g_nmda, g_gaba, theta_dyn [R,E]; 5-9 the same for I [R,I];
//          10-13 pending exc_E, inh_E [R,E], exc_I, inh_I [R,I]; 14-15 ring_E [D,R,E], ring_I [D,R,I];
//          16-19 weights ee, ei, ie, ii; 20-27 traces ee_pre, ei_pre, ie_pre, ii_pre [R,pre size],
//          ee_post, ei_post, ie_post, ii_post [R,post size];
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
//
// JaxsnnMlpBlock: the block for MLP rules (task "mlp": CVAIF neurons, EE and IE plastic under the MLP
// rule, EI and II static). The MLP is evaluated for 16 synaptic events of one row at once (one per
// vector lane); its sigmoids use a polynomial exp, so it agrees with XLA to float32 rounding.
// Operands:
//   0-36   the state, each aliased to the result of the same number:
//          0-8 E neurons v, g_ampa, g_nmda, g_gaba, theta_dyn, g_adapt, cexc, cinh, vtrace [R,E];
//          9-17 the same for I [R,I]; 18-21 pending exc_E, inh_E [R,E], exc_I, inh_I [R,I];
//          22-23 ring_E [D,R,E], ring_I [D,R,I]; 24-25 weights ee, ie; 26-31 traces E_pre1, E_pre2 [R,E],
//          I_pre1, I_pre2 [R,I], E_post1, E_post2 [R,E]; 32 rate_guard; 33 alive; 34 stop_time;
//          35 ext_overflow; 36 step (as operands 28-32 of the polynomial block)
//   37-38  ext_ids [B,R,C], ext_over [B,R] (as above)
//   39-42  eta [R,2] (ee, ie); last layers [R,2,2,5] (projection ee/ie, side pre/post, 4 weights + bias);
//          hidden1 [H,6]; hidden2 [4,H]
//   43     trace decay factors [R,6] (order of operands 26-31)
//   44     neuron constants [20] (see CvaifConstants)
//   45-62  connectivity as operands 41-58 of the polynomial block
// Attributes: w_max, w_ext, w_ei, w_ii (the static weights), dt, guard_decay, guard_scale, guard_limit
// (float32); allow_fma (bool).
// Results: the 37 state arrays, then, if asked for, rec_E, rec_I as above.
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

// Eight float32 lanes (GCC/Clang vector extensions; one AVX register, two SSE registers).
typedef float Vec __attribute__((vector_size(32)));
typedef int32_t IntVec __attribute__((vector_size(32)));
constexpr int kVec = 8;

inline Vec splat(float x) { return Vec{} + x; }

// Multiply-add as XLA's CPU backend computes it: fused where the processor has FMA, else rounded twice
// (scalars; vmadd: on eight lanes).
struct PlainMath {
  static inline float madd(float a, float b, float c) { return a * b + c; }
  static inline Vec vmadd(Vec a, Vec b, Vec c) { return a * b + c; }
};
struct FusedMath {
  static inline float madd(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
#if defined(__x86_64__)
  __attribute__((target("avx2,fma"))) static inline Vec vmadd(Vec a, Vec b, Vec c) {
    return __builtin_ia32_vfmaddps256(a, b, c);
  }
#else
  static inline Vec vmadd(Vec a, Vec b, Vec c) {
    Vec r;
    for (int l = 0; l < kVec; ++l) r[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return r;
  }
#endif
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

// The operand buffers and the results' data of a call. Results from index ``n_state`` on are recorded
// spikes ``[B, R, n]``: their ``n`` go to ``rec_size`` (left 0 where none is asked for).
ffi::Error gather_buffers(ffi::RemainingArgs args, ffi::RemainingRets rets, size_t n_state,
                          std::vector<ffi::AnyBuffer>& a, std::vector<void*>& out, int64_t rec_size[2]) {
  a.reserve(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    auto b = args.get<ffi::AnyBuffer>(k);
    if (!b.has_value()) return ffi::Error::InvalidArgument("operand is not a buffer");
    a.push_back(*b);
  }
  for (size_t k = 0; k < rets.size(); ++k) {
    auto r = rets.get<ffi::AnyBuffer>(k);
    if (!r.has_value()) return ffi::Error::InvalidArgument("result is not a buffer");
    out.push_back((*r)->untyped_data());
    if (k >= n_state) rec_size[k - n_state] = (*r)->dimensions()[2];
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
// Auryn's low-pass as two in-place saxpy calls, x += rate * target; x -= rate * x.
template <typename Math>
inline float low_pass(float x, float target, float rate) {
  const float y = Math::madd(rate, target, x);
  return Math::madd(-rate, y, y);
}

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
    g_nmda[i] = low_pass<Math>(nmda, ampa, c.nmda_rate);
    g_ampa[i] = ampa * c.ampa_decay;
    g_gaba[i] = gaba * c.gaba_decay;
    const float theta = theta_dyn[i] * c.thr_decay;
    float v_new = Math::madd(c.dt_tau, i_syn - (v_old - c.e_rest), v_old);
    v_new = std::min(std::max(v_new, c.v_min), c.v_max);
    const float spike = v_new - (c.theta_rest + theta) > 0.0f ? 1.0f : 0.0f;
    v[i] = spike > 0.0f ? c.v_reset : v_new;
    theta_dyn[i] = spike > 0.0f ? c.theta_jump : theta;  // set, not increased (Auryn's thr->set)
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

// Shared by the polynomial and MLP blocks: one rule's external-source rows ``ids`` (``[C]``, padded with
// ``nX``), asked for from memory while the neurons update.
inline void prefetch_external(const int32_t* ids, int64_t C, int64_t nX, const Matrix ext_out[2]) {
  for (int64_t s = 0; s < C && ids[s] < nX; ++s)
    for (int q = 0; q < 2; ++q) prefetch_row(ext_out[q].row(ids[s]), ext_out[q].cols);
}

// Step 2: the blow-up guard of rule m after a step with ``n_spikes`` E spikes; a running rule whose
// guard leaves (0, limit) stops at the end of step k.
template <typename Math>
inline void guard_step(float& guard, bool& alive, float& stop_time, bool alive_now, int64_t n_spikes, int32_t k,
                       float dt, float decay, float scale, float limit) {
  guard = Math::madd(guard, decay, static_cast<float>(n_spikes) / scale);
  if (alive_now && (guard >= limit || guard <= 0.0f)) {
    stop_time = static_cast<float>(k + 1) * dt;
    alive = false;
  }
}

// Step 3, external part: the spikes of sources ``ids`` add ``w_ext`` to their targets' excitatory
// increments ``exc[q]``, summed apart first and then added, as in the XLA path (same rounding).
inline void transmit_external(const int32_t* ids, int64_t C, int64_t nX, const Matrix ext_out[2],
                              const int64_t size[2], float w_ext, std::vector<float> ext_acc[2], float* const exc[2]) {
  int64_t n_ext = 0;
  while (n_ext < C && ids[n_ext] < nX) ++n_ext;
  if (n_ext == 0) return;
  for (int q = 0; q < 2; ++q) {
    std::fill(ext_acc[q].begin(), ext_acc[q].end(), 0.0f);
    for (int64_t s = 0; s < n_ext; ++s) transmit_static_one(ext_out[q], ids[s], size[q], w_ext, ext_acc[q].data());
    const float* ext = ext_acc[q].data();
    for (int64_t i = 0; i < size[q]; ++i) exc[q][i] += ext[i];
  }
}

// End of a step: this step's spikes replace the ring slot just read, and the recorded neurons' spikes
// (the first ``rec_size[q]``) go to ``rec[q]`` row ``row`` when recording.
inline void enter_ring(float* const arrived[2], float* const spikes[2], const int64_t size[2], bool* const rec[2],
                       const int64_t rec_size[2], int64_t row) {
  for (int q = 0; q < 2; ++q) {
    std::memcpy(arrived[q], spikes[q], sizeof(float) * size[q]);
    if (rec[q] != nullptr) {
      bool* out = rec[q] + row * rec_size[q];
      for (int64_t i = 0; i < rec_size[q]; ++i) out[i] = spikes[q][i] != 0.0f;
    }
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
      if (alive_now) prefetch_external(ids, C, nX, ext_out);  // read in step 3
      // 1. neurons
      for (int q = 0; q < 2; ++q) neuron_step<Math>(pop[q], c, alive_now, spikes[q], spiked[q]);
      for (int p = 0; p < 4; ++p) prefetch_post(spiked[post_pop[p]], in_pre[p], in_syn[p], pre_size[p], w[p]);
      // the spikes emitted D steps ago arrive now
      const int64_t slot = k % D;
      float* arrived[2] = {f(14) + (slot * R + m) * nE, f(15) + (slot * R + m) * nI};
      for (int q = 0; q < 2; ++q) list_spikes(arrived[q], size[q], arrived_list[q]);
      // 2. blow-up guard, on the arriving E spikes (as the original counts them)
      guard_step<Math>(guard[m], alive[m], stop_time[m], alive_now, arrived_list[0].size(), k, dt, guard_decay,
                       guard_scale, guard_limit);
      // 3. arrivals, and external spikes
      for (int p = 0; p < 4; ++p)
        transmit_plastic<Math>(arrived_list[pre_pop[p]], out_post[p], out_syn[p], post_size[p], w[p], target[p],
                               x_post[p], eta, alpha[4 * m + p], kappa[4 * m + p], w_max);
      if (alive_now) {
        float* const exc[2] = {pop[0].exc, pop[1].exc};
        transmit_external(ids, C, nX, ext_out, size, w_ext, ext_acc, exc);
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
      enter_ring(arrived, spikes, size, rec, rec_size, b * R + m);
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
  std::vector<void*> out;
  int64_t rec_size[2] = {0, 0};
  if (auto e = gather_buffers(args, rets, 33, a, out, rec_size); e.failure()) return e;
  if (a[40].element_count() != kNeuronConstants) return ffi::Error::InvalidArgument("expected 15 neuron constants");
  if (allow_fma && fused_multiply_add())
    run_block_fused(a, out, rec_size, eta, w_max, w_ext, dt, guard_decay, guard_scale, guard_limit);
  else
    run_block<PlainMath>(a, out, rec_size, eta, w_max, w_ext, dt, guard_decay, guard_scale, guard_limit);
  return ffi::Error::Success();
}

// ---- MLP-rule networks (task "mlp": CVAIF neurons, EE and IE plastic under the MLP rule) -------------

// The CVAIF constants (jaxsnn/neurons/conductance_if.py), computed by JAX as in its step: the 15 of
// NeuronConstants (with nmda_rate = dt/tau_nmda, CVAIF's Euler factor), then exp(-dt/tau_adapt),
// adapt_jump, dt/tau_cexc, dt/tau_cinh, dt/tau_vtrace.
struct CvaifConstants {
  NeuronConstants base;
  float adapt_decay, adapt_jump, cexc_rate, cinh_rate, vtrace_rate;
};
constexpr int kCvaifConstants = 20;

// Step 1 for one CVAIF population of one rule: CVAIF.step in its order (conductances first, then the
// currents, the three traces from V before the update, adaptation), then the spikes masked by ``mask``.
template <typename Math>
inline void cvaif_loop(float* __restrict v, float* __restrict g_ampa, float* __restrict g_nmda,
                       float* __restrict g_gaba, float* __restrict theta_dyn, float* __restrict g_adapt,
                       float* __restrict cexc, float* __restrict cinh, float* __restrict vtrace,
                       float* __restrict exc, float* __restrict inh, int64_t n, const CvaifConstants k, float mask,
                       float* __restrict spikes) {
  const NeuronConstants& c = k.base;
  for (int64_t i = 0; i < n; ++i) {
    const float v_old = v[i];
    const float ampa = g_ampa[i] + exc[i];
    const float gaba = g_gaba[i] + inh[i];
    const float nmda_old = g_nmda[i];
    exc[i] = 0.0f;
    inh[i] = 0.0f;
    const float ampa_new = ampa * c.ampa_decay;
    const float gaba_new = gaba * c.gaba_decay;
    const float adapt = g_adapt[i] * k.adapt_decay;
    const float nmda = low_pass<Math>(nmda_old, ampa_new, c.nmda_rate);  // reads the decayed AMPA
    g_nmda[i] = nmda;
    g_ampa[i] = ampa_new;
    g_gaba[i] = gaba_new;
    // XLA computes each output in its own loop and fuses the products there into multiply-adds, not
    // always the same ones: I_exc of the C_exc trace fuses the NMDA term, that of V the AMPA term
    const float g_exc = Math::madd(c.a_ampa, ampa_new, c.a_nmda * nmda);
    const float g_exc_trace = Math::madd(c.a_nmda, nmda, c.a_ampa * ampa_new);
    const float g_inh = Math::madd(gaba, c.gaba_decay, adapt);  // g_gaba + g_adapt
    const float i_inh = (v_old - c.e_inh) * g_inh;
    cexc[i] = low_pass<Math>(cexc[i], g_exc_trace * (c.e_exc - v_old), k.cexc_rate);
    cinh[i] = low_pass<Math>(cinh[i], (v_old - c.e_inh) * g_inh, k.cinh_rate);
    vtrace[i] = low_pass<Math>(vtrace[i], v_old, k.vtrace_rate);
    const float theta = theta_dyn[i] * c.thr_decay;
    float v_new = Math::madd(c.dt_tau, Math::madd(g_exc, c.e_exc - v_old, -i_inh) - (v_old - c.e_rest), v_old);
    v_new = std::min(std::max(v_new, c.v_min), c.v_max);
    const float spike = v_new - Math::madd(theta_dyn[i], c.thr_decay, c.theta_rest) > 0.0f ? 1.0f : 0.0f;
    v[i] = spike > 0.0f ? c.v_reset : v_new;
    theta_dyn[i] = spike > 0.0f ? c.theta_jump : theta;  // set, not increased (CVAIFGroup's thr->set)
    g_adapt[i] = Math::madd(spike, k.adapt_jump, adapt);
    spikes[i] = spike * mask;
  }
}

struct CvaifPopulation {
  float *v, *g_ampa, *g_nmda, *g_gaba, *theta_dyn, *g_adapt, *cexc, *cinh, *vtrace, *exc, *inh;  // [n]
  int64_t n;
};

template <typename Math>
inline void cvaif_step(const CvaifPopulation& p, const CvaifConstants& k, bool alive, float* spikes, SpikeList& list) {
  cvaif_loop<Math>(p.v, p.g_ampa, p.g_nmda, p.g_gaba, p.theta_dyn, p.g_adapt, p.cexc, p.cinh, p.vtrace, p.exc, p.inh,
                   p.n, k, alive ? 1.0f : 0.0f, spikes);
  list_spikes(spikes, p.n, list);
}

// exp(x) on eight lanes in float32 (Cephes' expf: x = n ln2 + r, a degree-5 polynomial in r, times 2^n;
// about 1 ulp), without branches. x is clamped to [-87.3, 88.3].
template <typename Math>
inline Vec exp_vec(Vec x) {
  const Vec lo = splat(-87.3f), hi = splat(88.3f);
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const Vec round = splat(12582912.0f);  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const Vec n = Math::vmadd(x, splat(1.44269504088896341f), round) - round;
  Vec r = Math::vmadd(n, splat(-0.693359375f), x);
  r = Math::vmadd(n, splat(2.12194440e-4f), r);
  Vec p = splat(1.9875691500e-4f);
  p = Math::vmadd(p, r, splat(1.3981999507e-3f));
  p = Math::vmadd(p, r, splat(8.3334519073e-3f));
  p = Math::vmadd(p, r, splat(4.1665795894e-2f));
  p = Math::vmadd(p, r, splat(1.6666665459e-1f));
  p = Math::vmadd(p, r, splat(5.0000001201e-1f));
  const Vec y = Math::vmadd(p, r * r, r + 1.0f);
  const IntVec bits = (__builtin_convertvector(n, IntVec) + 127) << 23;
  Vec scale;  // 2^n
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

template <typename Math>
inline Vec sigmoid_vec(Vec z) { return 1.0f / (1.0f + exp_vec<Math>(-z)); }

// Synaptic events evaluated together by the MLP, one per lane (vectorised over events, not units).
constexpr int kLanes = 16, kBlocks = kLanes / kVec;
constexpr int kInputs = 6, kHidden2 = 4;

// The fixed hidden layers: h1 [n_hidden, 6], h2 [4, n_hidden].
struct MlpNet {
  const float* h1;
  const float* h2;
  int64_t n_hidden;
};

// The inputs an event's MLP reads that differ between the events of one row: on a presynaptic spike
// (a row of targets) 2 x_post1, w, 15 V, 15 C_exc, 15 C_inh; on a postsynaptic spike (a row of sources)
// 2 x_pre1, w. The others are the row's, folded into each hidden unit's starting value.
constexpr int kPreColumns[] = {1, 2, 3, 4, 5};
constexpr int kPostColumns[] = {0, 2};

// out[l] = last[0:4] . sigmoid(h2 sigmoid(start + h1[:, cols] x[:, l])) + last[4] for every lane l.
template <typename Math, int kVarying>
inline void mlp_lanes(const MlpNet& net, const float* start, const int* cols, const float (&x)[kVarying][kLanes],
                      const float* last, float (&out)[kLanes]) {
  Vec xv[kVarying][kBlocks];
  std::memcpy(xv, x, sizeof xv);
  Vec o[kHidden2][kBlocks] = {};
  for (int64_t h = 0; h < net.n_hidden; ++h) {
    const float* w1 = net.h1 + kInputs * h;
    Vec w[kVarying];
    for (int c = 0; c < kVarying; ++c) w[c] = splat(w1[cols[c]]);
    Vec w2[kHidden2];
    for (int m = 0; m < kHidden2; ++m) w2[m] = splat(net.h2[m * net.n_hidden + h]);
    for (int b = 0; b < kBlocks; ++b) {
      Vec z = splat(start[h]);
      for (int c = 0; c < kVarying; ++c) z = Math::vmadd(w[c], xv[c][b], z);
      const Vec s = sigmoid_vec<Math>(z);
      for (int m = 0; m < kHidden2; ++m) o[m][b] = Math::vmadd(w2[m], s, o[m][b]);
    }
  }
  for (int b = 0; b < kBlocks; ++b) {
    Vec y = splat(last[kHidden2]);
    for (int m = 0; m < kHidden2; ++m) y = Math::vmadd(splat(last[m]), sigmoid_vec<Math>(o[m][b]), y);
    std::memcpy(out + b * kVec, &y, sizeof y);
  }
}

// What the MLP reads of the postsynaptic population (E for both plastic projections), [n] each.
struct PostView {
  const float *v, *cexc, *cinh;  // vtrace, cexc, cinh of the neuron state after this step's update
  const float *x_post1, *x_post2;
};

// A batch of up to kLanes events of one row: their synapses and varying inputs (column 1 of x: w).
template <int kVarying>
struct EventLanes {
  float x[kVarying][kLanes] = {};
  int32_t syn[kLanes] = {};
  int n = 0;
};

// Evaluate the lanes' events and write w <- clip(w + eta MLP, 0, w_max) (w is column ``w_col`` of x).
template <typename Math, int kVarying>
inline void flush_lanes(EventLanes<kVarying>& lanes, const MlpNet& net, const float* start, const int* cols, int w_col,
                        const float* last, float eta, float w_max, float* weights) {
  if (lanes.n == 0) return;
  float out[kLanes];
  mlp_lanes<Math, kVarying>(net, start, cols, lanes.x, last, out);
  for (int l = 0; l < lanes.n; ++l) weights[lanes.syn[l]] = clip(Math::madd(eta, out[l], lanes.x[w_col][l]), w_max);
  lanes.n = 0;
}

// Transmit the arrived spikes of one rule through a plastic projection, then update each synapse on-pre
// with the MLP (inputs 2 x_pre2 of the source, 2 x_post1, w, 15 V, 15 C_exc, 15 C_inh of the target).
template <typename Math>
void transmit_mlp(const SpikeList& arrived, const Matrix& out_post, const Matrix& out_syn, int64_t n_post,
                  float* weights, float* acc, const float* x_pre2, const PostView& post, const MlpNet& net,
                  const float* last, float eta, float w_max, float* start) {
  EventLanes<5> lanes;
  for (const int32_t j : arrived) {
    const float in0 = 2.0f * x_pre2[j];
    for (int64_t h = 0; h < net.n_hidden; ++h) start[h] = net.h1[kInputs * h] * in0;
    const int32_t* targets = out_post.row(j);
    const int32_t* syn = out_syn.row(j);
    for (int64_t k = 0; k < out_post.cols; ++k) {
      const int32_t i = targets[k];
      if (i >= n_post) break;  // rows are padded at their end
      const float w = weights[syn[k]];
      acc[i] += w;
      const int l = lanes.n++;
      lanes.syn[l] = syn[k];
      lanes.x[0][l] = 2.0f * post.x_post1[i];
      lanes.x[1][l] = w;
      lanes.x[2][l] = 15.0f * post.v[i];
      lanes.x[3][l] = 15.0f * post.cexc[i];
      lanes.x[4][l] = 15.0f * post.cinh[i];
      if (lanes.n == kLanes) flush_lanes<Math, 5>(lanes, net, start, kPreColumns, 1, last, eta, w_max, weights);
    }
    flush_lanes<Math, 5>(lanes, net, start, kPreColumns, 1, last, eta, w_max, weights);
  }
}

// On-post MLP updates for the spikes of one rule's postsynaptic population (inputs 2 x_pre1 of the
// source, 2 x_post2, w, 15 V, 15 C_exc, 15 C_inh of the spiking neuron).
template <typename Math>
void update_post_mlp(const SpikeList& spikes, const Matrix& in_pre, const Matrix& in_syn, int64_t n_pre,
                     float* weights, const float* x_pre1, const PostView& post, const MlpNet& net, const float* last,
                     float eta, float w_max, float* start) {
  EventLanes<2> lanes;
  for (const int32_t i : spikes) {
    const float in1 = 2.0f * post.x_post2[i], in3 = 15.0f * post.v[i], in4 = 15.0f * post.cexc[i],
                in5 = 15.0f * post.cinh[i];
    for (int64_t h = 0; h < net.n_hidden; ++h) {
      const float* w1 = net.h1 + kInputs * h;
      start[h] = Math::madd(w1[5], in5, Math::madd(w1[4], in4, Math::madd(w1[3], in3, w1[1] * in1)));
    }
    const int32_t* pre = in_pre.row(i);
    const int32_t* syn = in_syn.row(i);
    for (int64_t k = 0; k < in_pre.cols; ++k) {
      const int32_t j = pre[k];
      if (j >= n_pre) break;
      const int l = lanes.n++;
      lanes.syn[l] = syn[k];
      lanes.x[0][l] = 2.0f * x_pre1[j];
      lanes.x[1][l] = weights[syn[k]];
      if (lanes.n == kLanes) flush_lanes<Math, 2>(lanes, net, start, kPostColumns, 1, last, eta, w_max, weights);
    }
    flush_lanes<Math, 2>(lanes, net, start, kPostColumns, 1, last, eta, w_max, weights);
  }
}

struct MlpAttrs {
  float w_max, w_ext, w_ei, w_ii, dt, guard_decay, guard_scale, guard_limit;
};

// Advance every MLP rule by B steps (the order of the module docstring of jaxsnn/fsbi/simulator.py),
// rule after rule as in run_block. Operand numbers: see the file's header.
template <typename Math>
void run_mlp_block(const std::vector<ffi::AnyBuffer>& a, const std::vector<void*>& out, const int64_t rec_size[2],
                   const MlpAttrs& at) {
  const int64_t R = a[0].dimensions()[0], nE = a[0].dimensions()[1], nI = a[9].dimensions()[1];
  const int64_t D = a[22].dimensions()[0];  // ring_E [D, R, E]
  const int64_t B = a[37].dimensions()[0], C = a[37].dimensions()[2];
  const int64_t nX = a[61].dimensions()[0] - 1;
  const int64_t size[2] = {nE, nI};
  auto f = [&](int k) { return reinterpret_cast<float*>(out[k]); };
  // projections 0-3: ee, ei, ie, ii (operands 45 + 4p ...)
  Matrix out_post[4], out_syn[4], in_pre[4], in_syn[4];
  for (int p = 0; p < 4; ++p) {
    out_post[p] = as_matrix(a[45 + 4 * p]);
    out_syn[p] = as_matrix(a[46 + 4 * p]);
    in_pre[p] = as_matrix(a[47 + 4 * p]);
    in_syn[p] = as_matrix(a[48 + 4 * p]);
  }
  const Matrix ext_out[2] = {as_matrix(a[61]), as_matrix(a[62])};
  const int64_t n_syn[2] = {a[24].dimensions()[1], a[25].dimensions()[1]};  // ee, ie
  const int32_t* ext_ids = reinterpret_cast<const int32_t*>(a[37].untyped_data());
  const int32_t* ext_over = reinterpret_cast<const int32_t*>(a[38].untyped_data());
  const float* eta = as_floats(a[39]);   // [R, 2]
  const float* last = as_floats(a[40]);  // [R, 2, 2, 5]
  const MlpNet net{as_floats(a[41]), as_floats(a[42]), a[41].dimensions()[0]};
  const float* decays = as_floats(a[43]);  // [R, 6]
  CvaifConstants c;
  std::memcpy(&c, as_floats(a[44]), sizeof c);
  float* guard = f(32);
  bool* alive = reinterpret_cast<bool*>(out[33]);
  float* stop_time = f(34);
  int32_t* ext_overflow = reinterpret_cast<int32_t*>(out[35]);
  int32_t* step = reinterpret_cast<int32_t*>(out[36]);
  const int32_t step0 = *step;
  const bool record = rec_size[0] + rec_size[1] > 0;
  bool* rec[2] = {record ? reinterpret_cast<bool*>(out[37]) : nullptr,
                  record ? reinterpret_cast<bool*>(out[38]) : nullptr};
  std::vector<float> spikes_E(nE), spikes_I(nI), start(net.n_hidden);
  float* spikes[2] = {spikes_E.data(), spikes_I.data()};
  std::vector<float> ext_acc[2] = {std::vector<float>(nE), std::vector<float>(nI)};
  SpikeList spiked[2], arrived_list[2];
  for (int64_t m = 0; m < R; ++m) {
    CvaifPopulation pop[2];
    for (int q = 0; q < 2; ++q) {
      const int64_t o = m * size[q];
      float* s[9];
      for (int v = 0; v < 9; ++v) s[v] = f(9 * q + v) + o;
      pop[q] = CvaifPopulation{s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8],
                               f(18 + 2 * q) + o, f(19 + 2 * q) + o, size[q]};
    }
    float* w_ee = f(24) + m * n_syn[0];
    float* w_ie = f(25) + m * n_syn[1];
    float* x_E_pre1 = f(26) + m * nE;
    float* x_E_pre2 = f(27) + m * nE;
    float* x_I_pre1 = f(28) + m * nI;
    float* x_I_pre2 = f(29) + m * nI;
    float* x_E_post1 = f(30) + m * nE;
    float* x_E_post2 = f(31) + m * nE;
    const PostView post{pop[0].vtrace, pop[0].cexc, pop[0].cinh, x_E_post1, x_E_post2};
    const float* decay = decays + 6 * m;
    const float* last_m = last + 20 * m;  // [projection ee/ie][side pre/post][5]
    const float eta_ee = eta[2 * m], eta_ie = eta[2 * m + 1];
    for (int64_t b = 0; b < B; ++b) {
      const int32_t k = step0 + static_cast<int32_t>(b);
      const bool alive_now = alive[m];
      const int32_t* ids = ext_ids + (b * R + m) * C;
      if (alive_now) prefetch_external(ids, C, nX, ext_out);
      // 1. neurons
      for (int q = 0; q < 2; ++q) cvaif_step<Math>(pop[q], c, alive_now, spikes[q], spiked[q]);
      prefetch_post(spiked[0], in_pre[0], in_syn[0], nE, w_ee);
      prefetch_post(spiked[0], in_pre[2], in_syn[2], nI, w_ie);
      // the spikes emitted D steps ago arrive now
      const int64_t slot = k % D;
      float* arrived[2] = {f(22) + (slot * R + m) * nE, f(23) + (slot * R + m) * nI};
      for (int q = 0; q < 2; ++q) list_spikes(arrived[q], size[q], arrived_list[q]);
      // 2. blow-up guard, on the arriving E spikes (as the original counts them)
      guard_step<Math>(guard[m], alive[m], stop_time[m], alive_now, arrived_list[0].size(), k, at.dt, at.guard_decay,
                       at.guard_scale, at.guard_limit);
      // 3. arrivals: EE and IE transmit and learn, EI and II are static; then the external spikes
      transmit_mlp<Math>(arrived_list[0], out_post[0], out_syn[0], nE, w_ee, pop[0].exc, x_E_pre2, post, net,
                         last_m + 0, eta_ee, at.w_max, start.data());
      for (const int32_t j : arrived_list[0]) transmit_static_one(out_post[1], j, nI, at.w_ei, pop[1].exc);
      transmit_mlp<Math>(arrived_list[1], out_post[2], out_syn[2], nE, w_ie, pop[0].inh, x_I_pre2, post, net,
                         last_m + 10, eta_ie, at.w_max, start.data());
      for (const int32_t j : arrived_list[1]) transmit_static_one(out_post[3], j, nI, at.w_ii, pop[1].inh);
      if (alive_now) {
        float* const exc[2] = {pop[0].exc, pop[1].exc};
        transmit_external(ids, C, nX, ext_out, size, at.w_ext, ext_acc, exc);
        ext_overflow[m] += ext_over[b * R + m];
      }
      // 4. on-post MLP updates for this step's E spikes (both plastic projections end on E)
      update_post_mlp<Math>(spiked[0], in_pre[0], in_syn[0], nE, w_ee, x_E_pre1, post, net, last_m + 5, eta_ee,
                            at.w_max, start.data());
      update_post_mlp<Math>(spiked[0], in_pre[2], in_syn[2], nI, w_ie, x_I_pre1, post, net, last_m + 15, eta_ie,
                            at.w_max, start.data());
      // 5. traces (E_pre1, E_pre2 on E arrivals; I_pre1, I_pre2 on I arrivals; E_post1, E_post2 on E
      // spikes), then this step's spikes enter the ring
      decay_traces(x_E_pre1, x_E_pre2, arrived[0], nE, decay[0], decay[1]);
      decay_traces(x_I_pre1, x_I_pre2, arrived[1], nI, decay[2], decay[3]);
      decay_traces(x_E_post1, x_E_post2, spikes[0], nE, decay[4], decay[5]);
      enter_ring(arrived, spikes, size, rec, rec_size, b * R + m);
    }
  }
  *step = step0 + static_cast<int32_t>(B);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"), flatten)) void run_mlp_block_fused(
    const std::vector<ffi::AnyBuffer>& a, const std::vector<void*>& out, const int64_t rec_size[2],
    const MlpAttrs& at) {
  run_mlp_block<FusedMath>(a, out, rec_size, at);
}
#else
void run_mlp_block_fused(const std::vector<ffi::AnyBuffer>& a, const std::vector<void*>& out,
                         const int64_t rec_size[2], const MlpAttrs& at) {
  run_mlp_block<FusedMath>(a, out, rec_size, at);
}
#endif

constexpr size_t kMlpOperands = 63, kMlpState = 37;

ffi::Error MlpBlock(ffi::RemainingArgs args, ffi::RemainingRets rets, float w_max, float w_ext, float w_ei, float w_ii,
                    float dt, float guard_decay, float guard_scale, float guard_limit, bool allow_fma) {
  if (args.size() != kMlpOperands || (rets.size() != kMlpState && rets.size() != kMlpState + 2))
    return ffi::Error::InvalidArgument("expected 63 operands and 37 or 39 results");
  std::vector<ffi::AnyBuffer> a;
  std::vector<void*> out;
  int64_t rec_size[2] = {0, 0};
  if (auto e = gather_buffers(args, rets, kMlpState, a, out, rec_size); e.failure()) return e;
  if (a[44].element_count() != kCvaifConstants) return ffi::Error::InvalidArgument("expected 20 neuron constants");
  if (a[41].dimensions().size() != 2 || a[41].dimensions()[1] != kInputs || a[42].dimensions().size() != 2 ||
      a[42].dimensions()[0] != kHidden2 || a[42].dimensions()[1] != a[41].dimensions()[0])
    return ffi::Error::InvalidArgument("expected hidden layers [n, 6] and [4, n]");
  const MlpAttrs at{w_max, w_ext, w_ei, w_ii, dt, guard_decay, guard_scale, guard_limit};
  if (allow_fma && fused_multiply_add())
    run_mlp_block_fused(a, out, rec_size, at);
  else
    run_mlp_block<PlainMath>(a, out, rec_size, at);
  return ffi::Error::Success();
}
}  // namespace

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

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsnnMlpBlock, MlpBlock,
                              ffi::Ffi::Bind()
                                  .RemainingArgs()
                                  .RemainingRets()
                                  .Attr<float>("w_max")
                                  .Attr<float>("w_ext")
                                  .Attr<float>("w_ei")
                                  .Attr<float>("w_ii")
                                  .Attr<float>("dt")
                                  .Attr<float>("guard_decay")
                                  .Attr<float>("guard_scale")
                                  .Attr<float>("guard_limit")
                                  .Attr<bool>("allow_fma"));
