// Standalone gradient check for ggml's backward passes: builds op(params) for each case, loss = sum(w * out) with
// random weights w (so that a gradient that is wrong by a per-row constant, e.g. of NORM, does not cancel), takes
// the gradients from ggml_build_backward_expand on the CPU backend, and compares them with central differences of a
// double-precision host model of the op (h = 1e-6 relative). The host model's forward is compared with ggml's too.
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>
#include <array>
#include <algorithm>

struct In {            // an op input: a (possibly strided) view of a param tensor
    int p;             // param index
    int64_t ne[4];
    int64_t st[4];     // strides in elements
    int64_t off;       // offset in elements
};

using Acc = std::function<double(int, int64_t, int64_t, int64_t, int64_t)>; // input k, i0..i3

struct Case {
    std::string group, name;
    std::vector<std::array<int64_t, 4>> pne;     // param shapes
    std::vector<std::pair<float, float>> range;  // init range per param
    std::vector<In> in;
    std::function<ggml_tensor *(ggml_context *, std::vector<ggml_tensor *> &)> build; // from the input views
    std::function<void(const Acc &, std::vector<double> &)> host; // out in ggml order (contiguous)
    double tol = 1e-4;                // forward, and gradients unless ptol says otherwise
    std::vector<double> ptol;         // per param gradient tolerance (empty: tol)
    std::vector<int32_t> ids; int64_t ids_ne[2] = {0, 0}; int64_t ids_used = 0; // MUL_MAT_ID: [ne0, ne1], a view of ids_used columns
    std::vector<bool> pparam;         // whether a param is a parameter (empty: all); others are frozen inputs
    std::vector<ggml_type> ptype;     // param types (empty: all F32); non-F32 only for frozen inputs
    // analytic reference gradients (host layout of each param), used instead of central differences where given
    std::function<void(const Acc &, const std::vector<float> &, std::vector<std::vector<double>> &)> gref;
    bool zero_first = false;
    ggml_op needs = GGML_OP_NONE;     // an op the backward graph must have (the path under test)
};

static In full(int p, std::array<int64_t, 4> ne) {
    return In{p, {ne[0], ne[1], ne[2], ne[3]}, {1, ne[0], ne[0]*ne[1], ne[0]*ne[1]*ne[2]}, 0};
}
// the first ne[0] of each row of a param with 3x longer rows (as test-backend-ops' v=1)
static In rowview(int p, std::array<int64_t, 4> ne) {
    const int64_t r = 3*ne[0];
    return In{p, {ne[0], ne[1], ne[2], ne[3]}, {1, r, r*ne[1], r*ne[1]*ne[2]}, 0};
}

static double gelu_t(double x) { return 0.5*x*(1.0 + std::tanh(0.7978845608028654*x*(1.0 + 0.044715*x*x))); }
static double gelu_e(double x) { return 0.5*x*(1.0 + std::erf(x/std::sqrt(2.0))); }
static double gelu_q(double x) { return x/(1.0 + std::exp(-1.702*x)); }
static double silu(double x)   { return x/(1.0 + std::exp(-x)); }
static double sigm(double x)   { return 1.0/(1.0 + std::exp(-x)); }
static double relu(double x)   { return x > 0 ? x : 0; }

static std::mt19937 rng(getenv("GC_SEED") ? atoi(getenv("GC_SEED")) : 1234);

static bool run(Case & c, std::map<std::string, std::pair<int, int>> & tally) {
    fprintf(stderr, "[%s %s]\n", c.group.c_str(), c.name.c_str());
    const int np = c.pne.size();
    ggml_init_params ip = { ggml_tensor_overhead()*4096 + 2*ggml_graph_overhead_custom(8192, true), NULL, true };
    ggml_context * ctx = ggml_init(ip);
    std::vector<ggml_tensor *> P(np), V;
    for (int p = 0; p < np; ++p) {
        const ggml_type type = c.ptype.empty() ? GGML_TYPE_F32 : c.ptype[p];
        P[p] = ggml_new_tensor_4d(ctx, type, c.pne[p][0], c.pne[p][1], c.pne[p][2], c.pne[p][3]);
        if (c.pparam.empty() || c.pparam[p]) ggml_set_param(P[p]);
    }
    for (auto & in : c.in) {
        ggml_tensor * t = P[in.p];
        bool same = in.off == 0;
        for (int d = 0; d < 4; ++d) same = same && in.ne[d] == t->ne[d];
        if (!same) {
            t = ggml_view_4d(ctx, t, in.ne[0], in.ne[1], in.ne[2], in.ne[3], in.st[1]*4, in.st[2]*4, in.st[3]*4, in.off*4);
        }
        V.push_back(t);
    }
    ggml_tensor * ids = nullptr;
    if (!c.ids.empty()) {
        ids = ggml_new_tensor_2d(ctx, GGML_TYPE_I32, c.ids_ne[0], c.ids_ne[1]);
        ggml_tensor * iv = ids;
        if (c.ids_used < c.ids_ne[0]) iv = ggml_view_2d(ctx, ids, c.ids_used, c.ids_ne[1], ids->nb[1], 0);
        V.push_back(iv);
    }
    ggml_tensor * out = c.build(ctx, V);
    ggml_tensor * w = ggml_new_tensor(ctx, GGML_TYPE_F32, 4, out->ne);
    ggml_tensor * loss = ggml_sum(ctx, ggml_mul(ctx, out, w));
    ggml_set_loss(loss);
    ggml_cgraph * gf = ggml_new_graph_custom(ctx, 8192, true);
    ggml_build_forward_expand(gf, loss);
    ggml_cgraph * gb = ggml_graph_dup(ctx, gf, true);
    ggml_build_backward_expand(ctx, gb, nullptr);
    bool has_op = c.needs == GGML_OP_NONE;
    for (int i = 0; i < ggml_graph_n_nodes(gb); ++i) has_op = has_op || ggml_graph_node(gb, i)->op == c.needs;
    std::vector<ggml_tensor *> G(np, nullptr); // the gradients, contiguous (a param's may be a permuted view)
    for (int p = 0; p < np; ++p) {
        ggml_tensor * g = (P[p]->flags & GGML_TENSOR_FLAG_PARAM) ? ggml_graph_get_grad(gb, P[p]) : nullptr;
        if (g && !ggml_is_contiguous(g)) { g = ggml_cont(ctx, g); ggml_build_forward_expand(gb, g); }
        G[p] = g;
    }

    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, be);

    std::vector<std::vector<float>> pd(np);
    for (int p = 0; p < np; ++p) {
        std::uniform_real_distribution<float> ud(c.range[p].first, c.range[p].second);
        pd[p].resize(ggml_nelements(P[p]));
        for (auto & x : pd[p]) x = ud(rng);
        if (c.zero_first) pd[p][0] = 0.0f;
        if (P[p]->type == GGML_TYPE_F32) {
            ggml_backend_tensor_set(P[p], pd[p].data(), 0, ggml_nbytes(P[p]));
        } else { // quantised: the host model sees the dequantised values
            std::vector<uint8_t> q(ggml_nbytes(P[p]));
            ggml_quantize_chunk(P[p]->type, pd[p].data(), q.data(), 0, ggml_nrows(P[p]), P[p]->ne[0], nullptr);
            ggml_backend_tensor_set(P[p], q.data(), 0, q.size());
            ggml_get_type_traits(P[p]->type)->to_float(q.data(), pd[p].data(), pd[p].size());
        }
    }
    std::vector<float> wd(ggml_nelements(w));
    { std::uniform_real_distribution<float> ud(-1, 1); for (auto & x : wd) x = ud(rng); }
    ggml_backend_tensor_set(w, wd.data(), 0, ggml_nbytes(w));
    if (ids) ggml_backend_tensor_set(ids, c.ids.data(), 0, ggml_nbytes(ids));

    ggml_graph_reset(gb);
    ggml_backend_graph_compute(be, gb);

    std::vector<float> of(ggml_nelements(out));
    ggml_backend_tensor_get(out, of.data(), 0, ggml_nbytes(out));

    // the host model
    std::vector<std::vector<double>> hd(np);
    for (int p = 0; p < np; ++p) hd[p].assign(pd[p].begin(), pd[p].end());
    Acc acc = [&](int k, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
        const In & in = c.in[k];
        return hd[in.p][in.off + i0*in.st[0] + i1*in.st[1] + i2*in.st[2] + i3*in.st[3]];
    };
    std::vector<double> ho(of.size());
    c.host(acc, ho);
    double fe = 0, fm = 0;
    for (size_t i = 0; i < ho.size(); ++i) { fe = std::max(fe, std::fabs(ho[i] - of[i])); fm = std::max(fm, std::fabs(ho[i])); }
    const double ferr = fe/(fm + 1e-30);

    auto hloss = [&]() { c.host(acc, ho); double s = 0; for (size_t i = 0; i < ho.size(); ++i) s += wd[i]*ho[i]; return s; };
    double gerr = 0; bool finite = true, gok = true;
    std::vector<std::vector<double>> gr;
    if (c.gref) { gr.resize(np); for (int p = 0; p < np; ++p) gr[p].assign(pd[p].size(), 0.0); c.gref(acc, wd, gr); }
    for (int p = 0; p < np; ++p) {
        if (!(P[p]->flags & GGML_TENSOR_FLAG_PARAM)) continue;
        std::vector<float> ga(pd[p].size());
        ggml_tensor * g = G[p];
        if (g) ggml_backend_tensor_get(g, ga.data(), 0, ggml_nbytes(g));
        double em = 0, gm = 0;
        for (size_t i = 0; i < ga.size(); ++i) {
            double gn;
            if (c.gref) {
                gn = gr[p][i];
            } else {
                const double x0 = hd[p][i], h = 1e-6*std::max(1.0, std::fabs(x0));
                hd[p][i] = x0 + h; const double lu = hloss();
                hd[p][i] = x0 - h; const double ld = hloss();
                hd[p][i] = x0;
                gn = (lu - ld)/(2*h);
            }
            if (!std::isfinite(ga[i])) finite = false;
            if (getenv("GC_DEBUG") && std::fabs(gn - ga[i]) > 1e-3*std::max(1.0, std::fabs(gn))) {
                fprintf(stderr, "    p%d[%zu] x=%.9g analytic %.9g reference %.9g\n", p, i, pd[p][i], ga[i], gn);
            }
            em = std::max(em, std::fabs(gn - ga[i])); gm = std::max(gm, std::fabs(gn));
        }
        const double e = em/std::max(gm, 1e-3), t = c.ptol.empty() ? c.tol : c.ptol[p];
        gerr = std::max(gerr, e);
        gok = gok && e <= t;
    }
    const bool ok = finite && gok && ferr <= c.tol && has_op;
    printf("  %-5s %-12s %-48s fwd %.2e grad %.2e (tol %.0e%s)%s%s\n", ok ? "OK" : "FAIL", c.group.c_str(), c.name.c_str(),
        ferr, gerr, c.tol, c.ptol.empty() ? "" : ", per param", finite ? "" : " NON-FINITE", has_op ? "" : " NO BACKWARD NODE OF THE OP");
    tally[c.group].first += ok; tally[c.group].second++;
    ggml_backend_buffer_free(buf);
    ggml_backend_free(be);
    ggml_free(ctx);
    return ok;
}

static double act_of(ggml_glu_op op, double g) {
    switch (op) {
        case GGML_GLU_OP_REGLU:       return relu(g);
        case GGML_GLU_OP_GEGLU:       return gelu_t(g);
        case GGML_GLU_OP_SWIGLU:      return silu(g);
        case GGML_GLU_OP_GEGLU_ERF:   return gelu_e(g);
        case GGML_GLU_OP_GEGLU_QUICK: return gelu_q(g);
        default: abort();
    }
}
static double glu_of(ggml_glu_op op, double g, double u, float alpha, float limit) {
    if (op == GGML_GLU_OP_SWIGLU_OAI) {
        const double x = std::min(g, (double) limit), y = std::clamp(u, (double) -limit, (double) limit);
        return x/(1.0 + std::exp(-alpha*x))*(y + 1.0);
    }
    if (op == GGML_GLU_OP_SWIGLU_CLAMP) {
        const double x = std::min(g, (double) limit), y = std::clamp(u, (double) -limit, (double) limit);
        return silu(x)*y;
    }
    return act_of(op, g)*u;
}

static void add_mul_mat_id_cases(std::vector<Case> & cases) {
    // as [k, m, E] (param, or frozen of type ta), b [k, nb1, n] (nb1 = 1 or n_used), ids a view of n_used of E
    // columns [E, n]; distinct experts per token unless dup
    struct M { int64_t k, m, E, n_used, n; bool bcast; ggml_type ta; bool as_param; bool dup; bool analytic; };
    std::vector<M> ms = {
        {8, 6, 4, 2, 5, true,  GGML_TYPE_F32, true, false, false},
        {8, 6, 4, 2, 5, false, GGML_TYPE_F32, true, false, false},
        {8, 6, 4, 4, 5, false, GGML_TYPE_F32, true, false, false},
        {8, 6, 4, 4, 5, true,  GGML_TYPE_F32, true, false, false},
        {8, 6, 4, 3, 5, false, GGML_TYPE_F32, true, true,  false},
        {16, 4, 8, 2, 7, true, GGML_TYPE_F32, true, false, false}, // LoRA A-like: long k, short m
        {4, 16, 8, 2, 7, false, GGML_TYPE_F32, true, false, false}, // LoRA B-like
        {64, 32, 4, 2, 3, true, GGML_TYPE_Q8_0, false, false, false}, // frozen quantised experts: d b only
        {64, 32, 4, 2, 3, false, GGML_TYPE_F16, false, false, false},
        {512, 512, 8, 2, 48, true, GGML_TYPE_F32, true, false, true}, // d as in 2 chunks of slots (k*m*S = 25M)
        {256, 1024, 80, 4, 4, true, GGML_TYPE_Q8_0, false, false, true}, // d b in 2 slices of rows (k*m*E = 21M)
    };
    for (const M & t : ms) {
        Case c;
        c.group = "MUL_MAT_ID";
        c.name = "k=" + std::to_string(t.k) + " m=" + std::to_string(t.m) + " E=" + std::to_string(t.E) + " used=" +
            std::to_string(t.n_used) + " n=" + std::to_string(t.n) + (t.bcast ? " b=[k,1,n]" : " b=[k,used,n]") + " as=" +
            ggml_type_name(t.ta) + (t.as_param ? "" : " frozen") + (t.dup ? " dup-ids" : "") + (t.analytic ? " (analytic ref)" : "");
        const int64_t nb1 = t.bcast ? 1 : t.n_used;
        c.pne = {{t.k, t.m, t.E, 1}, {t.k, nb1, t.n, 1}};
        c.ptype = {t.ta, GGML_TYPE_F32};
        c.pparam = {t.as_param, true};
        c.range = {{-1.0f, 1.0f}, {-1.0f, 1.0f}};
        c.in = {full(0, c.pne[0]), full(1, c.pne[1])};
        c.tol = t.ta == GGML_TYPE_F32 ? 1e-4 : 2e-2; // forward with a quantised/F16 as: b goes to its dot type
        c.ptol = {1e-4, 1e-4};
        c.ids_ne[0] = t.E; c.ids_ne[1] = t.n; c.ids_used = t.n_used;
        c.ids.resize(t.E*t.n);
        for (int64_t i = 0; i < t.n; ++i) {
            std::vector<int32_t> perm(t.E);
            for (int64_t e = 0; e < t.E; ++e) perm[e] = e;
            std::shuffle(perm.begin(), perm.end(), rng);
            for (int64_t e = 0; e < t.E; ++e) c.ids[i*t.E + e] = t.dup ? (int32_t) (rng() % t.E) : perm[e];
        }
        const std::vector<int32_t> ids = c.ids;
        c.build = [](ggml_context * ctx, std::vector<ggml_tensor *> & V) { return ggml_mul_mat_id(ctx, V[0], V[1], V[2]); };
        c.host = [t, nb1, ids](const Acc & a, std::vector<double> & o) {
            size_t i = 0;
            for (int64_t tt = 0; tt < t.n; ++tt) for (int64_t s = 0; s < t.n_used; ++s) {
                const int e = ids[tt*t.E + s];
                for (int64_t j = 0; j < t.m; ++j) {
                    double acc = 0;
                    for (int64_t l = 0; l < t.k; ++l) acc += a(0, l, j, e, 0)*a(1, l, s % nb1, tt, 0);
                    o[i++] = acc;
                }
            }
        };
        if (t.analytic) {
            c.gref = [t, nb1, ids](const Acc & a, const std::vector<float> & w, std::vector<std::vector<double>> & g) {
                // out index (j, s, tt) = j + m*(s + n_used*tt); d loss/d out = w
                for (int64_t tt = 0; tt < t.n; ++tt) for (int64_t s = 0; s < t.n_used; ++s) {
                    const int e = ids[tt*t.E + s];
                    for (int64_t j = 0; j < t.m; ++j) {
                        const double gw = w[j + t.m*(s + t.n_used*tt)];
                        for (int64_t l = 0; l < t.k; ++l) {
                            g[0][l + t.k*(j + t.m*e)] += a(1, l, s % nb1, tt, 0)*gw;
                            g[1][l + t.k*((s % nb1) + nb1*tt)] += a(0, l, j, e, 0)*gw;
                        }
                    }
                }
            };
        }
        cases.push_back(c);
    }
}

int main(int argc, char ** argv) {
    const char * only = argc > 1 ? argv[1] : nullptr;
    std::vector<Case> cases;
    const std::array<int64_t, 4> ne = {10, 3, 2, 2};

    // unary
    struct U { ggml_unary_op op; const char * n; double (*f)(double); bool table; };
    for (U u : {U{GGML_UNARY_OP_GELU, "GELU", gelu_t, true}, U{GGML_UNARY_OP_GELU_ERF, "GELU_ERF", gelu_e, false},
                U{GGML_UNARY_OP_GELU_QUICK, "GELU_QUICK", gelu_q, true},
                U{GGML_UNARY_OP_TANH, "TANH", [](double x) { return std::tanh(x); }, false},
                U{GGML_UNARY_OP_SIGMOID, "SIGMOID", sigm, false}, U{GGML_UNARY_OP_SILU, "SILU", silu, false}}) {
        for (int v : {0, 1}) {
            for (float r : {6.0f, 100.0f}) {
                Case c;
                c.group = "UNARY"; c.name = std::string(u.n) + " v=" + std::to_string(v) + " range=" + std::to_string((int) r);
                c.pne = {v ? std::array<int64_t, 4>{3*ne[0], ne[1], ne[2], ne[3]} : ne};
                c.range = {{-r, r}};
                c.in = {v ? rowview(0, ne) : full(0, ne)};
                c.zero_first = true;
                c.tol = u.table ? 3e-3 : 1e-4; // the CPU forward of GELU/GELU_QUICK looks up an F16 table
                c.ptol = {1e-4};               // the gradient does not
                const ggml_unary_op op = u.op; auto f = u.f;
                c.build = [op](ggml_context * ctx, std::vector<ggml_tensor *> & V) { return ggml_unary(ctx, V[0], op); };
                c.host = [f, ne](const Acc & a, std::vector<double> & o) {
                    size_t i = 0;
                    for (int64_t i3 = 0; i3 < ne[3]; ++i3) for (int64_t i2 = 0; i2 < ne[2]; ++i2)
                    for (int64_t i1 = 0; i1 < ne[1]; ++i1) for (int64_t i0 = 0; i0 < ne[0]; ++i0) o[i++] = f(a(0, i0, i1, i2, i3));
                };
                cases.push_back(c);
            }
        }
    }

    // GLU, split and fused
    struct G { ggml_glu_op op; const char * n; bool table; };
    for (G gl : {G{GGML_GLU_OP_REGLU, "REGLU", false}, G{GGML_GLU_OP_GEGLU, "GEGLU", true}, G{GGML_GLU_OP_SWIGLU, "SWIGLU", false},
                 G{GGML_GLU_OP_GEGLU_ERF, "GEGLU_ERF", false}, G{GGML_GLU_OP_GEGLU_QUICK, "GEGLU_QUICK", true},
                 G{GGML_GLU_OP_SWIGLU_OAI, "SWIGLU_OAI", false}, G{GGML_GLU_OP_SWIGLU_CLAMP, "SWIGLU_CLAMP", false}}) {
        for (int fused : {0, 1}) for (int swapped : {0, 1}) for (int v : {0, 1}) for (float r : {6.0f, 100.0f}) {
            if (!fused && swapped) continue;
            const bool clampy = gl.op == GGML_GLU_OP_SWIGLU_OAI || gl.op == GGML_GLU_OP_SWIGLU_CLAMP;
            const float alpha = 1.702f, limit = 3.0f;
            Case c;
            c.group = "GLU";
            c.name = std::string(gl.n) + (fused ? " fused" : " split") + (swapped ? " swapped" : "") + " v=" + std::to_string(v) +
                " range=" + std::to_string((int) r);
            c.tol = gl.table ? 3e-3 : 1e-4;
            const ggml_glu_op op = gl.op;
            if (fused) {
                const std::array<int64_t, 4> nf = {2*ne[0], ne[1], ne[2], ne[3]};
                c.pne = {v ? std::array<int64_t, 4>{3*nf[0], ne[1], ne[2], ne[3]} : nf};
                c.range = {{-r, r}};
                c.in = {v ? rowview(0, nf) : full(0, nf)};
                c.build = [=](ggml_context * ctx, std::vector<ggml_tensor *> & V) {
                    ggml_tensor * t = clampy ? (op == GGML_GLU_OP_SWIGLU_OAI ? ggml_swiglu_oai(ctx, V[0], nullptr, alpha, limit)
                                                                              : ggml_swiglu_clamp(ctx, V[0], nullptr, limit))
                                             : ggml_glu(ctx, V[0], op, swapped);
                    if (clampy && swapped) ((int32_t *) t->op_params)[1] = 1;
                    return t;
                };
                c.host = [=](const Acc & a, std::vector<double> & o) {
                    size_t i = 0; const int64_t nc = ne[0];
                    for (int64_t i3 = 0; i3 < ne[3]; ++i3) for (int64_t i2 = 0; i2 < ne[2]; ++i2)
                    for (int64_t i1 = 0; i1 < ne[1]; ++i1) for (int64_t i0 = 0; i0 < nc; ++i0) {
                        const double g = a(0, i0 + (swapped ? nc : 0), i1, i2, i3), u = a(0, i0 + (swapped ? 0 : nc), i1, i2, i3);
                        o[i++] = glu_of(op, g, u, alpha, limit);
                    }
                };
            } else {
                const std::array<int64_t, 4> np = v ? std::array<int64_t, 4>{3*ne[0], ne[1], ne[2], ne[3]} : ne;
                c.pne = {np, np};
                c.range = {{-r, r}, {-r, r}};
                c.ptol = {1e-4, c.tol}; // d gate: exact formulas; d up = act(gate) as the forward computes it
                c.in = {v ? rowview(0, ne) : full(0, ne), v ? rowview(1, ne) : full(1, ne)};
                c.build = [=](ggml_context * ctx, std::vector<ggml_tensor *> & V) {
                    return clampy ? (op == GGML_GLU_OP_SWIGLU_OAI ? ggml_swiglu_oai(ctx, V[0], V[1], alpha, limit)
                                                                  : ggml_swiglu_clamp(ctx, V[0], V[1], limit))
                                  : ggml_glu_split(ctx, V[0], V[1], op);
                };
                c.host = [=](const Acc & a, std::vector<double> & o) {
                    size_t i = 0;
                    for (int64_t i3 = 0; i3 < ne[3]; ++i3) for (int64_t i2 = 0; i2 < ne[2]; ++i2)
                    for (int64_t i1 = 0; i1 < ne[1]; ++i1) for (int64_t i0 = 0; i0 < ne[0]; ++i0)
                        o[i++] = glu_of(op, a(0, i0, i1, i2, i3), a(1, i0, i1, i2, i3), alpha, limit);
                };
            }
            cases.push_back(c);
        }
    }

    // NORM
    for (int v : {0, 1, 2}) for (float eps : {1e-6f, 1e-1f}) for (int64_t n : {7, 64}) {
        const std::array<int64_t, 4> nn = {n, 5, 4, 3};
        Case c;
        c.group = "NORM";
        c.name = std::string("n=") + std::to_string(n) + " eps=" + std::to_string(eps) + (v == 1 ? " rowview" : v == 2 ? " permuted" : "");
        c.range = {{-3.0f, 5.0f}};
        if (v == 2) { // rows not contiguous: a permuted param, as test-backend-ops' noncontig_rows
            c.pne = {{nn[1], nn[0], nn[2], nn[3]}};
            c.in = {full(0, c.pne[0])};
        } else {
            c.pne = {v ? std::array<int64_t, 4>{3*n, 5, 4, 3} : nn};
            c.in = {v ? rowview(0, nn) : full(0, nn)};
        }
        c.tol = 1e-4;
        c.build = [=](ggml_context * ctx, std::vector<ggml_tensor *> & V) {
            ggml_tensor * x = V[0];
            if (v == 2) x = ggml_permute(ctx, x, 1, 0, 2, 3);
            return ggml_norm(ctx, x, eps);
        };
        c.host = [=](const Acc & a0, std::vector<double> & o) {
            auto a = [&](int k, int64_t i0, int64_t i1, int64_t i2, int64_t i3) { return v == 2 ? a0(k, i1, i0, i2, i3) : a0(k, i0, i1, i2, i3); };
            size_t i = 0;
            for (int64_t i3 = 0; i3 < nn[3]; ++i3) for (int64_t i2 = 0; i2 < nn[2]; ++i2) for (int64_t i1 = 0; i1 < nn[1]; ++i1) {
                double m = 0, var = 0;
                for (int64_t i0 = 0; i0 < n; ++i0) m += a(0, i0, i1, i2, i3);
                m /= n;
                for (int64_t i0 = 0; i0 < n; ++i0) { const double d = a(0, i0, i1, i2, i3) - m; var += d*d; }
                var /= n;
                for (int64_t i0 = 0; i0 < n; ++i0) o[i++] = (a(0, i0, i1, i2, i3) - m)/std::sqrt(var + eps);
            }
        };
        cases.push_back(c);
    }

    add_mul_mat_id_cases(cases);

    // MUL_MAT as attention's KQ*V (V [n_kv, d, H] times KQ [n_kv, p, 2H], grouped heads): a [n, k, H], b [n, p, 2H],
    // reduced over n. d b is reduced over the head size k = 16 < 32: a MUL_MAT of a's transposed copy (patch 0021,
    // ggml_mul_mat_back_short_k; before it an OUT_PROD), which ggml-cpu's short-row GEMM computes
    for (int64_t p : {16, 40}) {
        Case c;
        c.group = "MUL_MAT";
        const int64_t n = 64, k = 16, H = 2;
        c.name = "a=[64,16,2] b=[64," + std::to_string(p) + ",4] (KQ*V, grouped heads)";
        c.pne = {{n, k, H, 1}, {n, p, 2*H, 1}};
        c.range = {{-1.0f, 1.0f}, {-1.0f, 1.0f}};
        c.in = {full(0, c.pne[0]), full(1, c.pne[1])};
        c.build = [](ggml_context * ctx, std::vector<ggml_tensor *> & V) { return ggml_mul_mat(ctx, V[0], V[1]); };
        c.host = [n, k, p, H](const Acc & a, std::vector<double> & o) {
            size_t i = 0;
            for (int64_t h = 0; h < 2*H; ++h) for (int64_t q = 0; q < p; ++q) for (int64_t j = 0; j < k; ++j) {
                double acc = 0;
                for (int64_t l = 0; l < n; ++l) acc += a(0, l, j, h/2, 0)*a(1, l, q, h, 0);
                o[i++] = acc;
            }
        };
        cases.push_back(c);
    }

    // MUL_MAT of a frozen BF16 weight as training on its copies builds it (patch 0022): the forward reads the weight
    // transposed, from its transposed copy (ggml_mul_mat_t_lora4j); d b is a MUL_MAT of that copy (src[2]), or the
    // weight's rows read transposed (src[3]: ggml_mul_mat_t_lora4j). b and the gradient go to BF16 on the way
    // (errors ~1.5e-3)
    for (bool rows : {false, true}) {
        Case c;
        c.group = "MUL_MAT";
        const int64_t k = 67, m = 40, n = 13;
        c.name = std::string("a=[67,40] bf16 frozen b=[67,13] (forward on a's transposed copy, d b on ") +
            (rows ? "a's rows read transposed)" : "the transposed copy)");
        c.pne = {{k, m, 1, 1}, {k, n, 1, 1}};
        c.ptype = {GGML_TYPE_BF16, GGML_TYPE_F32};
        c.pparam = {false, true};
        c.range = {{-1.0f, 1.0f}, {-1.0f, 1.0f}};
        c.in = {full(0, c.pne[0]), full(1, c.pne[1])};
        c.tol = 5e-3;
        c.build = [rows](ggml_context * ctx, std::vector<ggml_tensor *> & V) {
            ggml_tensor * at = ggml_cont(ctx, ggml_transpose(ctx, V[0]));
            ggml_tensor * out = ggml_mul_mat_t_lora4j(ctx, at, V[1]);
            out->src[2] = at;
            out->src[3] = rows ? V[0] : nullptr;
            return out;
        };
        c.host = [k, m, n](const Acc & a, std::vector<double> & o) {
            size_t i = 0;
            for (int64_t q = 0; q < n; ++q) for (int64_t j = 0; j < m; ++j) {
                double acc = 0;
                for (int64_t l = 0; l < k; ++l) acc += a(0, l, j, 0, 0)*a(1, l, q, 0, 0);
                o[i++] = acc;
            }
        };
        cases.push_back(c);
    }

    // GET_ROWS: the 2-D form (a [n, R], rows b [r]) and the 3-D form of MoE routers (a [n, E, T], b [used, T] picks
    // rows of the t-th matrix: the expert weights); b a view of `used` of E columns, repeated rows where dup
    struct R { int64_t n, E, used, T; bool three; bool dup; };
    for (R r : {R{5, 7, 4, 1, false, false}, R{5, 7, 9, 1, false, true}, R{1, 8, 2, 6, true, false},
                R{1, 8, 8, 3, true, false}, R{3, 4, 3, 5, true, true}}) {
        Case c;
        c.group = "GET_ROWS";
        c.name = std::string(r.three ? "3-D" : "2-D") + " n=" + std::to_string(r.n) + " E=" + std::to_string(r.E) + " used=" +
            std::to_string(r.used) + " T=" + std::to_string(r.T) + (r.dup ? " dup" : "");
        c.pne = {{r.n, r.E, r.three ? r.T : 1, 1}};
        c.range = {{-1.0f, 1.0f}};
        c.in = {full(0, c.pne[0])};
        const int64_t cols = std::max(r.E, r.used);
        c.ids_ne[0] = cols; c.ids_ne[1] = r.T; c.ids_used = r.used;
        c.ids.resize(cols*r.T);
        for (int64_t t = 0; t < r.T; ++t) {
            std::vector<int32_t> perm(cols);
            for (int64_t e = 0; e < cols; ++e) perm[e] = e % r.E;
            std::shuffle(perm.begin(), perm.end(), rng);
            for (int64_t e = 0; e < cols; ++e) c.ids[t*cols + e] = r.dup ? (int32_t) (rng() % r.E) : perm[e];
        }
        const std::vector<int32_t> ids = c.ids;
        c.build = [](ggml_context * ctx, std::vector<ggml_tensor *> & V) { return ggml_get_rows(ctx, V[0], V[1]); };
        c.host = [r, cols, ids](const Acc & a, std::vector<double> & o) {
            size_t i = 0;
            for (int64_t t = 0; t < r.T; ++t) for (int64_t s = 0; s < r.used; ++s) for (int64_t j = 0; j < r.n; ++j)
                o[i++] = a(0, j, ids[t*cols + s], r.three ? t : 0, 0);
        };
        cases.push_back(c);
    }

    // CROSS_ENTROPY_LOSS with sparse labels (I32 class indices, one per row; < 0: the row is left out), as the
    // training loss GGML_OPT_LOSS_TYPE_CROSS_ENTROPY_SPARSE builds it: -(1/rows) sum over counted rows of log softmax.
    // Rows of 256 logits in [-60, 60] take the SIMD maximum (patch 0020): a wrong maximum overflows exp() there.
    for (std::array<int64_t, 4> nl : {std::array<int64_t, 4>{12, 7, 1, 1}, {5, 3, 2, 1}, {256, 3, 1, 1}}) for (int masked : {0, 2}) {
        const float span = nl[0] >= 64 ? 60.0f : 4.0f;
        Case c;
        c.group = "CROSS_ENTROPY_SPARSE";
        c.name = "[" + std::to_string(nl[0]) + "," + std::to_string(nl[1]) + "," + std::to_string(nl[2]) + "] masked=" + std::to_string(masked) +
            " logits in +-" + std::to_string((int) span);
        c.pne = {nl};
        c.range = {{-span, span}};
        c.in = {full(0, nl)};
        const int64_t nc = nl[0], nr = nl[1]*nl[2]*nl[3];
        c.ids_ne[0] = nr; c.ids_ne[1] = 1; c.ids_used = nr;
        c.ids.resize(nr);
        for (int64_t r = 0; r < nr; ++r) c.ids[r] = r < masked ? -1 : (int32_t) (rng() % nc);
        std::shuffle(c.ids.begin(), c.ids.end(), rng);
        const std::vector<int32_t> ids = c.ids;
        c.build = [](ggml_context * ctx, std::vector<ggml_tensor *> & V) { return ggml_cross_entropy_loss(ctx, V[0], V[1]); };
        c.host = [nl, nc, ids](const Acc & a, std::vector<double> & o) {
            double sum = 0;
            int64_t r = 0;
            for (int64_t i2 = 0; i2 < nl[2]; ++i2) for (int64_t i1 = 0; i1 < nl[1]; ++i1, ++r) {
                if (ids[r] < 0) continue;
                double mx = -INFINITY, se = 0;
                for (int64_t i0 = 0; i0 < nc; ++i0) mx = std::max(mx, a(0, i0, i1, i2, 0));
                for (int64_t i0 = 0; i0 < nc; ++i0) se += std::exp(a(0, i0, i1, i2, 0) - mx);
                sum += a(0, ids[r], i1, i2, 0) - mx - std::log(se);
            }
            o[0] = -sum/(double) r;
        };
        cases.push_back(c);
    }

    // SUB and DIV with a broadcast src1 (the MoE weights divided by their sum): src1's gradient sums over its repeats
    for (int div : {0, 1}) for (std::array<int64_t, 4> nb : {std::array<int64_t, 4>{1, 3, 2, 2}, {10, 1, 2, 1}, {10, 3, 2, 2}}) {
        Case c;
        c.group = div ? "DIV" : "SUB";
        c.name = "src1 [" + std::to_string(nb[0]) + "," + std::to_string(nb[1]) + "," + std::to_string(nb[2]) + "," +
            std::to_string(nb[3]) + "]";
        c.pne = {ne, nb};
        c.range = {{-1.0f, 1.0f}, div ? std::pair<float, float>{0.5f, 2.0f} : std::pair<float, float>{-1.0f, 1.0f}};
        c.in = {full(0, ne), full(1, nb)};
        c.build = [div](ggml_context * ctx, std::vector<ggml_tensor *> & V) { return div ? ggml_div(ctx, V[0], V[1]) : ggml_sub(ctx, V[0], V[1]); };
        c.host = [div, ne, nb](const Acc & a, std::vector<double> & o) {
            size_t i = 0;
            for (int64_t i3 = 0; i3 < ne[3]; ++i3) for (int64_t i2 = 0; i2 < ne[2]; ++i2)
            for (int64_t i1 = 0; i1 < ne[1]; ++i1) for (int64_t i0 = 0; i0 < ne[0]; ++i0) {
                const double x = a(0, i0, i1, i2, i3), y = a(1, i0 % nb[0], i1 % nb[1], i2 % nb[2], i3 % nb[3]);
                o[i++] = div ? x/y : x - y;
            }
        };
        cases.push_back(c);
    }

    // CLAMP (the MoE weights' sum is clamped from below)
    for (std::pair<float, float> mm : {std::pair<float, float>{-1.0f, 1.0f}, {0.25f, INFINITY}, {-INFINITY, -0.5f}}) {
        Case c;
        c.group = "CLAMP";
        c.name = "min=" + std::to_string(mm.first) + " max=" + std::to_string(mm.second);
        c.pne = {ne};
        c.range = {{-3.0f, 3.0f}};
        c.in = {full(0, ne)};
        c.build = [mm](ggml_context * ctx, std::vector<ggml_tensor *> & V) { return ggml_clamp(ctx, V[0], mm.first, mm.second); };
        c.host = [mm, ne](const Acc & a, std::vector<double> & o) {
            size_t i = 0;
            for (int64_t i3 = 0; i3 < ne[3]; ++i3) for (int64_t i2 = 0; i2 < ne[2]; ++i2)
            for (int64_t i1 = 0; i1 < ne[1]; ++i1) for (int64_t i0 = 0; i0 < ne[0]; ++i0)
                o[i++] = std::min<double>(std::max<double>(a(0, i0, i1, i2, i3), mm.first), mm.second);
        };
        cases.push_back(c);
    }

    // lora4j's LoRA product s*(B*(A*x)) added to W*x (res), whose backward pass is one LORA_BACK node: odd sizes (the
    // kernel's ranges of 16), one token, x trained or frozen (no gradient of x made), x shared by two adapters (their
    // gradients of x added)
    struct L { int64_t n_in, r, n_out, n; float s; };
    for (L l : {L{10, 3, 7, 5, 2.0f}, L{33, 8, 20, 17, -0.5f}, L{64, 16, 48, 1, 1.0f}, L{130, 4, 35, 9, 0.25f}})
    for (int variant : {0, 1, 2}) {
        Case c;
        c.group = "LORA_BACK";
        c.name = "n_in=" + std::to_string(l.n_in) + " r=" + std::to_string(l.r) + " n_out=" + std::to_string(l.n_out) +
            " n=" + std::to_string(l.n) + (variant == 1 ? " x frozen" : variant == 2 ? " two adapters" : "");
        const std::array<int64_t, 4> nres = {l.n_out, l.n, 1, 1}, nx = {l.n_in, l.n, 1, 1}, na = {l.n_in, l.r, 1, 1}, nb = {l.r, l.n_out, 1, 1};
        c.pne = {nres, nx, na, nb, na, nb};
        c.range = std::vector<std::pair<float, float>>(6, {-1.0f, 1.0f});
        c.in = {full(0, nres), full(1, nx), full(2, na), full(3, nb), full(4, na), full(5, nb)};
        if (variant != 2) c.pparam = {true, variant == 0, true, true, false, false};
        c.needs = GGML_OP_LORA_BACK;
        const float s = l.s;
        const bool two = variant == 2;
        c.build = [s, two](ggml_context * ctx, std::vector<ggml_tensor *> & V) {
            ggml_tensor * y = ggml_add(ctx, V[0], ggml_lora_mm_lora4j(ctx, V[2], V[3], V[1], s));
            return two ? ggml_add(ctx, y, ggml_lora_mm_lora4j(ctx, V[4], V[5], V[1], -s)) : y;
        };
        c.host = [l, s, two](const Acc & a, std::vector<double> & o) {
            for (int64_t k = 0; k < l.n; ++k) for (int64_t j = 0; j < l.n_out; ++j) {
                double y = a(0, j, k, 0, 0);
                for (int ad = 0; ad < (two ? 2 : 1); ++ad) {
                    for (int64_t i = 0; i < l.r; ++i) {
                        double t = 0;
                        for (int64_t m = 0; m < l.n_in; ++m) t += a(2 + 2*ad, m, i, 0, 0)*a(1, m, k, 0, 0);
                        y += (ad ? -s : s)*a(3 + 2*ad, i, j, 0, 0)*t;
                    }
                }
                o[j + k*l.n_out] = y;
            }
        };
        cases.push_back(c);
    }

    std::map<std::string, std::pair<int, int>> tally;
    for (auto & c : cases) {
        if (only && c.group != only) continue;
        run(c, tally);
    }
    bool all = true;
    for (auto & [g, t] : tally) {
        printf("%s: %d/%d passed\n", g.c_str(), t.first, t.second);
        all = all && t.first == t.second;
    }
    return all ? 0 : 1;
}
