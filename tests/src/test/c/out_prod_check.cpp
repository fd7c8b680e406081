// OUT_PROD of the GPU training path (native/patches/cuda), checked two ways. Built and run by GpuIT.
//
//   out_prod_check ref       CPU only. Computes OUT_PROD(src0, src1) the way the patched ggml_cuda_out_prod does —
//                            src0 converted to a contiguous F32 copy (ggml's to_float, the CPU twin of ggml-cuda's
//                            to_fp32), then column-major GEMMs driven by ggml_cuda_out_prod_make_plan (the patch's own
//                            out-prod-plan.h) in the same three branches (single, strided batched, pointer batched) —
//                            and compares it with ggml's CPU OUT_PROD for F32/F16/Q8_0/Q4_0/Q4_K src0. Negative
//                            controls check that the comparison catches a wrong transposition, a wrong src0 layout
//                            and a 1% scaling error.
//   out_prod_check backend   every non-CPU device of the build (CUDA): the device must support each OUT_PROD
//                            (ggml_backend_supports_op, i.e. the patch is in) and match the CPU backend
//                            (normalised mean squared error, as test-backend-ops measures). Exit 77 without one.
//   out_prod_check bench     ms per OUT_PROD(W[2048,2048], grad^T[512 tokens]) on each device (Q8_0, Q4_0, F16).
//
// Prints one line per check and "N passed, N failed"; exit 0 when all passed.
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "out-prod-plan.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

static int n_pass = 0, n_fail = 0;

static void report(bool ok, const std::string & what) {
    std::printf("%s %s\n", ok ? "PASS" : "FAIL", what.c_str());
    (ok ? n_pass : n_fail)++;
}

struct Case {
    const char * name;
    int64_t n, k, p;   // dst [n, p]: src0 [n, k], src1 [p, k]
    int64_t ne2, ne3;  // batches
    int64_t ne02;      // src0 matrices along dim 2 (ne2 % ne02 == 0: broadcast)
    bool transposed;   // src1 = ggml_transpose(grad [k, p]) as in the backward of MUL_MAT; else a plain [p, k]
};

// the tensors of one OUT_PROD: host data and a no_alloc ggml context holding their metadata
struct Problem {
    ggml_context * ctx = nullptr;
    ggml_tensor * w = nullptr;     // src0 (type under test)
    ggml_tensor * g = nullptr;     // the F32 tensor holding src1's data (src1 itself or the tensor it transposes)
    ggml_tensor * out = nullptr;
    std::vector<float> w_f32;      // src0 before conversion
    std::vector<uint8_t> w_data;   // src0 in its type
    std::vector<float> g_data;
    ~Problem() { if (ctx) ggml_free(ctx); }
};

static void build(Problem & pr, ggml_type type, const Case & c, uint32_t seed) {
    ggml_init_params ip = { 16*ggml_tensor_overhead() + ggml_graph_overhead(), nullptr, true };
    pr.ctx = ggml_init(ip);
    pr.w = ggml_new_tensor_4d(pr.ctx, type, c.n, c.k, c.ne02, c.ne3);
    ggml_tensor * src1;
    if (c.transposed) {
        pr.g = ggml_new_tensor_4d(pr.ctx, GGML_TYPE_F32, c.k, c.p, c.ne2, c.ne3);
        src1 = ggml_transpose(pr.ctx, pr.g);
    } else {
        pr.g = ggml_new_tensor_4d(pr.ctx, GGML_TYPE_F32, c.p, c.k, c.ne2, c.ne3);
        src1 = pr.g;
    }
    pr.out = ggml_out_prod(pr.ctx, pr.w, src1);

    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    pr.w_f32.resize(ggml_nelements(pr.w));
    for (float & x : pr.w_f32) x = u(rng);
    pr.g_data.resize(ggml_nelements(pr.g));
    for (float & x : pr.g_data) x = u(rng);
    pr.w_data.resize(ggml_nbytes(pr.w));
    const int64_t rows = ggml_nrows(pr.w);
    ggml_quantize_chunk(type, pr.w_f32.data(), pr.w_data.data(), 0, rows, c.n, nullptr);
}

// ggml's OUT_PROD on one backend
static std::vector<float> run_on(ggml_backend_t backend, Problem & pr, bool * supported, double * ms_per_op, int reps) {
    *supported = ggml_backend_supports_op(backend, pr.out);
    if (!*supported) return {};
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(pr.ctx, backend);
    ggml_backend_tensor_set(pr.w, pr.w_data.data(), 0, pr.w_data.size());
    ggml_backend_tensor_set(pr.g, pr.g_data.data(), 0, pr.g_data.size()*sizeof(float));
    ggml_cgraph * gf = ggml_new_graph(pr.ctx);
    ggml_build_forward_expand(gf, pr.out);
    ggml_backend_graph_compute(backend, gf);  // warm-up (cuBLAS handle, pool)
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; i++) ggml_backend_graph_compute(backend, gf);
    ggml_backend_synchronize(backend);
    auto t1 = std::chrono::steady_clock::now();
    if (ms_per_op) *ms_per_op = std::chrono::duration<double, std::milli>(t1 - t0).count() / reps;
    std::vector<float> r(ggml_nelements(pr.out));
    ggml_backend_tensor_get(pr.out, r.data(), 0, r.size()*sizeof(float));
    ggml_backend_buffer_free(buf);  // a Problem runs once: its tensors now point into freed memory
    return r;
}

// cublasSgemm semantics (column-major, alpha = 1, beta = 0, transa = N), bounds-checked so that a wrong plan fails
// instead of reading outside the arrays
static bool gemm(const float * A, size_t na, const float * B, size_t nb, float * C, size_t nc,
                 bool op_t, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
    for (int64_t j = 0; j < n; j++) {
        for (int64_t i = 0; i < m; i++) {
            float s = 0.0f;
            for (int64_t l = 0; l < k; l++) {
                const int64_t ia = i + l*lda;
                const int64_t ib = op_t ? j + l*ldb : l + j*ldb;
                if (ia < 0 || (size_t) ia >= na || ib < 0 || (size_t) ib >= nb) return false;
                s += A[ia]*B[ib];
            }
            const int64_t ic = i + j*ldc;
            if (ic < 0 || (size_t) ic >= nc) return false;
            C[ic] = s;
        }
    }
    return true;
}

// the patched ggml_cuda_out_prod, on the host: returns false when the plan reads or writes out of bounds
static bool emulate(const ggml_cuda_out_prod_plan & p, const std::vector<float> & a, const std::vector<float> & b,
                    std::vector<float> & c) {
    auto at = [](const std::vector<float> & v, int64_t off) { return off >= 0 && (size_t) off <= v.size(); };
    for (int64_t i3 = 0; i3 < p.ne3; i3++) {
        for (int64_t i2 = 0; i2 < p.ne2; i2++) {
            // strided batched: src0 + (i3/dps3)*s03 + i2*s02 (dps2 == 1); pointer batched and single GEMM: as
            // k_compute_out_prod_ptrs, which is the same expression with i2/dps2
            const int64_t oa = (i3/p.dps3)*p.s03 + (p.dps2 == 1 && p.ne2 > 1 ? i2 : i2/p.dps2)*p.s02;
            const int64_t ob = i3*p.s13 + i2*p.s12;
            const int64_t oc = i3*p.s3  + i2*p.s2;
            if (!at(a, oa) || !at(b, ob) || !at(c, oc)) return false;
            if (!gemm(a.data() + oa, a.size() - oa, b.data() + ob, b.size() - ob, c.data() + oc, c.size() - oc,
                      p.src1_op_t, p.m, p.n, p.k, p.lda, p.ldb, p.ldc)) return false;
        }
    }
    return true;
}

static double max_rel_err(const std::vector<float> & x, const std::vector<float> & ref) {
    double mx = 0, md = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        mx = std::fmax(mx, std::fabs(ref[i]));
        md = std::fmax(md, std::fabs((double) x[i] - ref[i]));
    }
    return mx > 0 ? md / mx : md;
}

static double nmse(const std::vector<float> & x, const std::vector<float> & ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        const double d = (double) x[i] - ref[i];
        num += d*d;
        den += (double) ref[i]*ref[i];
    }
    return den > 0 ? num/den : num;
}

static const ggml_type TYPES[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_K };

static std::vector<Case> cases(ggml_type type) {
    std::vector<Case> cs = {
        { "backward(src1=grad^T)", 512, 96, 40, 1, 1, 1, true  },  // the node the patch is for
        { "plain-src1",            512, 96, 40, 1, 1, 1, false },
        { "batched-dim2",          256, 64, 24, 2, 1, 2, true  },  // strided batched GEMM
        { "batched-dim3",          256, 64, 24, 1, 2, 1, true  },  // pointer batched GEMM
    };
    if (type == GGML_TYPE_F32) {
        cs.push_back({ "broadcast-dim2", 256, 64, 24, 2, 1, 1, true });  // src0 broadcast (CPU: F32 only)
    }
    return cs;
}

static int run_ref(ggml_backend_t cpu) {
    const double tol = 2e-5;  // both sum the same F32 products; only the order of additions may differ
    uint32_t seed = 1;
    for (ggml_type type : TYPES) {
        for (const Case & c : cases(type)) {
            Problem pr;
            build(pr, type, c, seed++);
            bool sup = false;
            const std::vector<float> ref = run_on(cpu, pr, &sup, nullptr, 0);
            const std::string what = std::string(ggml_type_name(type)) + " " + c.name;
            if (!sup) { report(false, what + ": the CPU backend does not support this OUT_PROD"); continue; }

            // src0 as the CUDA path sees it: a contiguous F32 copy (to_fp32), or the F32 tensor itself
            const bool converted = type != GGML_TYPE_F32;
            std::vector<float> a(ggml_nelements(pr.w));
            if (converted) {
                ggml_get_type_traits(type)->to_float(pr.w_data.data(), a.data(), a.size());
            } else {
                std::memcpy(a.data(), pr.w_data.data(), a.size()*sizeof(float));
            }
            std::vector<float> dst(ggml_nelements(pr.out), NAN);
            const ggml_cuda_out_prod_plan plan = ggml_cuda_out_prod_make_plan(pr.out, converted);
            const bool inb = emulate(plan, a, pr.g_data, dst);
            const double err = inb ? max_rel_err(dst, ref) : INFINITY;
            char buf[160];
            std::snprintf(buf, sizeof buf, ": plan (op(B)=%s, lda=%lld, ldb=%lld) vs CPU OUT_PROD, max rel err %.2e (tol %.0e)",
                          plan.src1_op_t ? "B^T" : "B", (long long) plan.lda, (long long) plan.ldb, err, tol);
            report(err <= tol, what + buf);

            // negative controls: each deliberate mistake must be caught
            ggml_cuda_out_prod_plan bad = plan;
            bad.src1_op_t = !bad.src1_op_t;
            std::vector<float> d2(dst.size(), NAN);
            bool caught = !emulate(bad, a, pr.g_data, d2) || max_rel_err(d2, ref) > tol;
            report(caught, what + ": control: the opposite transposition of src1 is caught");
            if (converted) {
                // the strides of the unconverted src0 (its own row size in bytes) on the converted copy
                const ggml_cuda_out_prod_plan raw = ggml_cuda_out_prod_make_plan(pr.out, false);
                std::fill(d2.begin(), d2.end(), NAN);
                caught = raw.lda == plan.lda || !emulate(raw, a, pr.g_data, d2) || max_rel_err(d2, ref) > tol;
                report(caught, what + ": control: src0 strides of the unconverted tensor are caught");
            }
            std::vector<float> a2(a);
            for (float & x : a2) x *= 1.01f;
            std::fill(d2.begin(), d2.end(), NAN);
            caught = !emulate(plan, a2, pr.g_data, d2) || max_rel_err(d2, ref) > tol;
            report(caught, what + ": control: a 1% scaling error of src0 is caught");
        }
    }
    return n_fail == 0 ? 0 : 1;
}

static std::vector<ggml_backend_dev_t> gpu_devices() {
    std::vector<ggml_backend_dev_t> d;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU) d.push_back(dev);
    }
    return d;
}

static int run_backend(ggml_backend_t cpu) {
    const double max_nmse = 1e-5;  // cuBLAS runs these SGEMMs with TF32 tensor cores (ggml-cuda's math mode)
    const std::vector<ggml_backend_dev_t> devs = gpu_devices();
    if (devs.empty()) {
        std::printf("SKIP: this build has no GPU device (ggml_backend_dev_count()=%zu, all CPU): a CPU-only build\n",
                    ggml_backend_dev_count());
        return 77;
    }
    for (ggml_backend_dev_t dev : devs) {
        ggml_backend_t be = ggml_backend_dev_init(dev, nullptr);
        uint32_t seed = 100;
        for (ggml_type type : TYPES) {
            for (const Case & c : cases(type)) {
                Problem pc, pg;  // the same problem twice (same seed), one per backend
                build(pc, type, c, seed);
                build(pg, type, c, seed++);
                bool sup_cpu = false, sup = false;
                const std::vector<float> ref = run_on(cpu, pc, &sup_cpu, nullptr, 0);
                const std::vector<float> got = run_on(be, pg, &sup, nullptr, 0);
                const std::string what = std::string(ggml_backend_dev_name(dev)) + " " + ggml_type_name(type) + " " + c.name;
                if (!sup) { report(false, what + ": not supported by the device (is native/patches/cuda applied?)"); continue; }
                const double e = nmse(got, ref);
                char buf[96];
                std::snprintf(buf, sizeof buf, ": vs CPU OUT_PROD, NMSE %.2e (max %.0e)", e, max_nmse);
                report(e <= max_nmse, what + buf);
            }
        }
        ggml_backend_free(be);
    }
    return n_fail == 0 ? 0 : 1;
}

static int run_bench(ggml_backend_t cpu) {
    const Case c = { "bench", 2048, 2048, 512, 1, 1, 1, true };
    std::vector<ggml_backend_t> bes = { cpu };
    for (ggml_backend_dev_t dev : gpu_devices()) bes.push_back(ggml_backend_dev_init(dev, nullptr));
    for (ggml_type type : { GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_F16 }) {
        for (ggml_backend_t be : bes) {
            Problem pr;
            build(pr, type, c, 7);
            bool sup = false;
            double ms = 0;
            run_on(be, pr, &sup, &ms, be == cpu ? 2 : 20);
            std::printf("BENCH out_prod %s W[2048,2048] x grad^T[512] on %s: %s\n", ggml_type_name(type),
                        ggml_backend_name(be), sup ? (std::to_string(ms) + " ms").c_str() : "not supported");
        }
    }
    for (size_t i = 1; i < bes.size(); i++) ggml_backend_free(bes[i]);
    return 0;
}

int main(int argc, char ** argv) {
    const std::string mode = argc > 1 ? argv[1] : "ref";
    ggml_backend_t cpu = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (!cpu) { std::printf("FAIL no CPU backend\n"); return 1; }
    int rc;
    if (mode == "ref") rc = run_ref(cpu);
    else if (mode == "backend") rc = run_backend(cpu);
    else if (mode == "bench") rc = run_bench(cpu);
    else { std::fprintf(stderr, "usage: %s ref|backend|bench\n", argv[0]); return 2; }
    ggml_backend_free(cpu);
    if (rc != 77 && mode != "bench") std::printf("%d passed, %d failed\n", n_pass, n_fail);
    return rc;
}
