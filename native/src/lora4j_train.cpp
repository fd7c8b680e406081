// lora4j shim, LoRA training — see include/lora4j.h. Every entry point catches every C++ exception.
// Uses llama.cpp's internal headers (the patched source, native/patches): the adapter's tensors and the
// training step llama_context::opt_step_lora4j.
#include "lora4j.h"
#include "lora4j_internal.h"

#include "ggml-backend.h"
#include "llama-adapter.h"
#include "llama-context.h"
#include "llama-model.h"

#include <algorithm>
#include <cfloat>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// ggml-opt state accessors added by native/patches/0004-*.patch
extern "C" {
void    ggml_opt_lora4j_set_iter(ggml_opt_context_t opt_ctx, int64_t iter);
int32_t ggml_opt_lora4j_get_opt_i(ggml_opt_context_t opt_ctx);
void    ggml_opt_lora4j_set_opt_i(ggml_opt_context_t opt_ctx, int32_t opt_i);
int32_t ggml_opt_lora4j_n_momenta(ggml_opt_context_t opt_ctx);
void    ggml_opt_lora4j_momenta(ggml_opt_context_t opt_ctx, int32_t i, struct ggml_tensor ** m, struct ggml_tensor ** v);
// added by native/patches/0006-*.patch
void    ggml_opt_lora4j_set_max_grad_norm(ggml_opt_context_t opt_ctx, float max_grad_norm);
// added by native/patches/0017-*.patch
void    ggml_opt_lora4j_set_accuracy(ggml_opt_context_t opt_ctx, bool accuracy);
}

using lora4j::fail;
using lora4j::guarded;

namespace {

struct pending_state {
    int64_t steps_done = 0;
    std::map<std::string, std::pair<std::vector<float>, std::vector<float>>> moments; // param name -> (m, v)
};

struct train_state {
    int32_t n_tokens = 0;
    std::unique_ptr<pending_state> pending;
};

std::mutex g_train_mutex;
std::map<const llama_context *, train_state> g_train;

train_state & state_of(const llama_context * ctx) {
    std::lock_guard<std::mutex> lock(g_train_mutex);
    auto it = g_train.find(ctx);
    if (it == g_train.end()) {
        throw std::runtime_error("training is not initialised on this context (lora4j_train_init)");
    }
    return it->second;
}

std::vector<std::string> sorted_names(const llama_adapter_lora * adapter) {
    std::vector<std::string> out;
    for (auto & kv : adapter->ab_map) {
        out.push_back(kv.first);
    }
    std::sort(out.begin(), out.end());
    return out;
}

const char * MOMENT_PREFIX = "AdamW m for ";

// ggml-opt names the moments "AdamW m for <param>" / "AdamW v for <param>"
std::string param_name_of(const ggml_tensor * m) {
    const size_t n = strlen(MOMENT_PREFIX);
    return strncmp(m->name, MOMENT_PREFIX, n) == 0 ? std::string(m->name + n) : std::string(m->name);
}

template <typename F>
void for_each_moment(ggml_opt_context_t opt, F && f) {
    const int32_t n = ggml_opt_lora4j_n_momenta(opt);
    for (int32_t i = 0; i < n; i++) {
        ggml_tensor * m = nullptr;
        ggml_tensor * v = nullptr;
        ggml_opt_lora4j_momenta(opt, i, &m, &v);
        if (m && v) {
            f(m, v);
        }
    }
}

void apply_pending(ggml_opt_context_t opt, pending_state & p) {
    size_t applied = 0;
    for_each_moment(opt, [&](ggml_tensor * m, ggml_tensor * v) {
        const std::string name = param_name_of(m);
        auto it = p.moments.find(name);
        if (it == p.moments.end()) {
            throw std::runtime_error("the checkpoint has no optimizer state for parameter " + name);
        }
        const size_t bytes = ggml_nbytes(m);
        if (it->second.first.size() * sizeof(float) != bytes || it->second.second.size() * sizeof(float) != bytes) {
            throw std::runtime_error("the checkpoint's optimizer state for " + name + " has the wrong size");
        }
        ggml_backend_tensor_set(m, it->second.first.data(), 0, bytes);
        ggml_backend_tensor_set(v, it->second.second.data(), 0, bytes);
        applied++;
    });
    if (applied != p.moments.size()) {
        throw std::runtime_error("the checkpoint has optimizer state for " + std::to_string(p.moments.size()) +
                                 " parameters, the adapter being trained has " + std::to_string(applied));
    }
    ggml_opt_lora4j_set_iter(opt, p.steps_done + 1);
}

// why ctx cannot be initialised for training with params, or "" when it can
std::string check_params(llama_context * ctx, const lora4j_train_params * params) {
    if (ctx->opt_context_lora4j()) {
        return "training was already initialised on this context; use a new context";
    }
    const int32_t n = params->n_tokens;
    if (n < 2) {
        return "samples need at least 2 tokens";
    }
    if ((int64_t) llama_n_ctx(ctx) < n || (int64_t) llama_n_batch(ctx) < n || (int64_t) llama_n_ubatch(ctx) < n) {
        return "the context needs n_ctx, n_batch and n_ubatch >= " + std::to_string(n) + " (have " +
               std::to_string(llama_n_ctx(ctx)) + ", " + std::to_string(llama_n_batch(ctx)) + ", " +
               std::to_string(llama_n_ubatch(ctx)) + ")";
    }
    if (params->grad_accum < 1) {
        return "grad_accum must be >= 1";
    }
    if (params->optimizer != GGML_OPT_OPTIMIZER_TYPE_ADAMW && params->optimizer != GGML_OPT_OPTIMIZER_TYPE_SGD) {
        return "unknown optimizer " + std::to_string(params->optimizer);
    }
    if (!(params->max_grad_norm >= 0.0f) || params->max_grad_norm > FLT_MAX) {
        return "max_grad_norm must be finite and >= 0";
    }
    if (params->base_copies < LORA4J_BASE_COPIES_NONE || params->base_copies > LORA4J_BASE_COPIES_ALL) {
        return "unknown base_copies " + std::to_string(params->base_copies);
    }
    if (params->base_copies_budget < 0) {
        return "base_copies_budget must be >= 0";
    }
    return "";
}

// llama_context::opt_init for samples of n_tokens, leaving the shared model's n_ctx_train as it was
void opt_init(llama_context * ctx, const lora4j_train_params * params, ggml_opt_optimizer_params * opt_params,
              llama_opt_param_filter filter) {
    llama_model * model = const_cast<llama_model *>(llama_get_model(ctx));
    const uint32_t n_ctx_train = model->hparams.n_ctx_train;
    llama_opt_params lp = {};
    lp.n_ctx_train     = (uint32_t) params->n_tokens;
    lp.param_filter    = filter;
    lp.param_filter_ud = nullptr;
    lp.get_opt_pars    = ggml_opt_get_constant_optimizer_params;
    lp.get_opt_pars_ud = opt_params;
    lp.optimizer_type  = (ggml_opt_optimizer_type) params->optimizer;
    ctx->opt_grad_accum_lora4j = (uint32_t) params->grad_accum;
    try {
        ctx->opt_init(model, lp);
    } catch (...) {
        model->hparams.n_ctx_train = n_ctx_train;
        throw;
    }
    model->hparams.n_ctx_train = n_ctx_train; // opt_init overwrites it
    ggml_opt_lora4j_set_max_grad_norm(ctx->opt_context_lora4j(), params->max_grad_norm);
    ggml_opt_lora4j_set_accuracy(ctx->opt_context_lora4j(), false); // lora4j reports the loss, not the accuracy
    ctx->set_weight_copies_lora4j(params->base_copies, (size_t) params->base_copies_budget);
    std::lock_guard<std::mutex> lock(g_train_mutex);
    g_train[ctx].n_tokens = params->n_tokens;
}

} // namespace

extern "C" {

int32_t lora4j_adapter_n_pairs(const struct llama_adapter_lora * adapter) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] { return (int32_t) adapter->ab_map.size(); });
}

int32_t lora4j_adapter_pair(const struct llama_adapter_lora * adapter, int32_t i, const char ** name,
                            struct ggml_tensor ** a, struct ggml_tensor ** b) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (i < 0 || (size_t) i >= adapter->ab_map.size()) {
            return fail(LORA4J_ERR_ARGUMENT, "pair index " + std::to_string(i) + " out of range");
        }
        // ab_map is unordered: find the i-th name in sorted order, then point into the map's own key
        auto it = adapter->ab_map.find(sorted_names(adapter)[i]);
        *name = it->first.c_str();
        *a = it->second.a;
        *b = it->second.b;
        return (int32_t) 0;
    });
}

int32_t lora4j_train_init(struct llama_context * ctx, struct llama_adapter_lora * adapter,
                          const struct lora4j_train_params * params, struct ggml_opt_optimizer_params * opt_params) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (!ctx || !adapter || !params || !opt_params) {
            return fail(LORA4J_ERR_ARGUMENT, "null argument");
        }
        const std::string why = check_params(ctx, params);
        if (!why.empty()) {
            return fail(LORA4J_ERR_ARGUMENT, why);
        }
        if (adapter->ab_map.empty()) {
            return fail(LORA4J_ERR_ARGUMENT, "the adapter has no tensors");
        }
        for (auto & kv : adapter->ab_map) {
            if (kv.second.a->type != GGML_TYPE_F32 || kv.second.b->type != GGML_TYPE_F32) {
                return fail(LORA4J_ERR_ARGUMENT, "the tensors of " + kv.first + " are not F32: only an F32 adapter can be trained");
            }
        }
        for (auto & kv : adapter->ab_map) {
            ggml_set_param(kv.second.a);
            ggml_set_param(kv.second.b);
        }
        // the whole base stays frozen: only the adapter's tensors, marked above, are parameters
        opt_init(ctx, params, opt_params, [](const ggml_tensor *, void *) { return false; });
        return (int32_t) 0;
    });
}

int32_t lora4j_train_step(struct llama_context * ctx, const llama_token * tokens, const llama_token * labels,
                          int32_t n_tokens, bool train, double * loss, int32_t * n_counted) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        train_state & st = state_of(ctx);
        if (n_tokens != st.n_tokens) {
            return fail(LORA4J_ERR_ARGUMENT, "every sample must have " + std::to_string(st.n_tokens) + " tokens, got " + std::to_string(n_tokens));
        }
        const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(llama_get_model(ctx)));
        int32_t counted = 0;
        for (int32_t i = 0; i < n_tokens; i++) {
            if (tokens[i] < 0 || tokens[i] >= n_vocab) {
                return fail(LORA4J_ERR_ARGUMENT, "token " + std::to_string(tokens[i]) + " at position " + std::to_string(i) + " is outside the vocabulary");
            }
            if (labels[i] < -1 || labels[i] >= n_vocab) {
                return fail(LORA4J_ERR_ARGUMENT, "label " + std::to_string(labels[i]) + " at position " + std::to_string(i) + " is outside [-1, n_vocab)");
            }
            counted += labels[i] >= 0;
        }
        if (counted == 0) {
            return fail(LORA4J_ERR_ARGUMENT, "every label of the sample is masked: nothing to learn from it");
        }
        std::unique_ptr<ggml_opt_result, void (*)(ggml_opt_result_t)> result(ggml_opt_result_init(), ggml_opt_result_free);
        std::function<void(ggml_opt_context_t)> before;
        if (train && st.pending) {
            before = [&](ggml_opt_context_t opt) {
                if (ggml_opt_lora4j_n_momenta(opt) > 0) {
                    apply_pending(opt, *st.pending);
                    st.pending.reset();
                }
            };
        }
        // ggml_opt_eval counts every evaluation, forward-only ones too, towards the accumulation period: an
        // evaluation (validation, loss) between steps would make the next optimizer step come early, after fewer
        // samples, and apply a stale gradient sum. Keep a forward-only evaluation out of the count.
        ggml_opt_context_t opt = ctx->opt_context_lora4j();
        const int32_t opt_i = opt ? ggml_opt_lora4j_get_opt_i(opt) : 0;
        struct restore_opt_i {
            ggml_opt_context_t opt;
            int32_t opt_i;
            bool active;
            ~restore_opt_i() {
                if (active && opt) {
                    ggml_opt_lora4j_set_opt_i(opt, opt_i);
                }
            }
        } restore{opt, opt_i, !train};
        ctx->opt_step_lora4j(tokens, labels, (uint32_t) n_tokens, train, result.get(), before);
        double l = 0.0;
        ggml_opt_result_loss(result.get(), &l, nullptr);
        // ggml's cross-entropy is averaged over all n_tokens rows, and masked rows add 0
        *loss = l * n_tokens / counted;
        *n_counted = counted;
        return (int32_t) 0;
    });
}

int64_t lora4j_train_base_copies_bytes(struct llama_context * ctx) {
    return guarded<>((int64_t) LORA4J_ERR_EXCEPTION, [&] {
        return ctx ? (int64_t) ctx->weight_copies_bytes_lora4j() : (int64_t) fail(LORA4J_ERR_ARGUMENT, "null context");
    });
}

int32_t lora4j_train_n_moments(struct llama_context * ctx) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        ggml_opt_context_t opt = ctx->opt_context_lora4j();
        int32_t count = 0;
        if (opt) {
            for_each_moment(opt, [&](ggml_tensor *, ggml_tensor *) { count++; });
        }
        return count;
    });
}

int32_t lora4j_train_moments(struct llama_context * ctx, int32_t i, const char ** param_name,
                             struct ggml_tensor ** m, struct ggml_tensor ** v) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        ggml_opt_context_t opt = ctx->opt_context_lora4j();
        if (!opt) {
            return fail(LORA4J_ERR_ARGUMENT, "training is not initialised on this context");
        }
        int32_t k = 0;
        bool found = false;
        for_each_moment(opt, [&](ggml_tensor * mm, ggml_tensor * vv) {
            if (k++ == i) {
                *param_name = mm->name + strlen(MOMENT_PREFIX);
                *m = mm;
                *v = vv;
                found = true;
            }
        });
        if (!found) {
            return fail(LORA4J_ERR_ARGUMENT, "moments index " + std::to_string(i) + " out of range");
        }
        return (int32_t) 0;
    });
}

int32_t lora4j_train_restore(struct llama_context * ctx, int64_t steps_done, int32_t n, const char * const * names,
                             const float * const * m, const float * const * v, const int64_t * n_elements) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        train_state & st = state_of(ctx);
        if (steps_done < 0 || n < 0) {
            return fail(LORA4J_ERR_ARGUMENT, "negative steps or count");
        }
        auto p = std::make_unique<pending_state>();
        p->steps_done = steps_done;
        for (int32_t i = 0; i < n; i++) {
            p->moments[names[i]] = {std::vector<float>(m[i], m[i] + n_elements[i]), std::vector<float>(v[i], v[i] + n_elements[i])};
        }
        ggml_opt_context_t opt = ctx->opt_context_lora4j();
        if (opt && ggml_opt_lora4j_n_momenta(opt) > 0) {
            apply_pending(opt, *p);
        } else {
            st.pending = std::move(p); // the moments are created by the first optimizer build
        }
        return (int32_t) 0;
    });
}

int32_t lora4j_train_init_full(struct llama_context * ctx, const struct lora4j_train_params * params,
                               struct ggml_opt_optimizer_params * opt_params) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (!ctx || !params || !opt_params) {
            return fail(LORA4J_ERR_ARGUMENT, "null argument");
        }
        const std::string why = check_params(ctx, params);
        if (!why.empty()) {
            return fail(LORA4J_ERR_ARGUMENT, why);
        }
        // every F32 weight except token_embd (llama.cpp's rule)
        opt_init(ctx, params, opt_params, llama_opt_param_filter_all);
        return (int32_t) 0;
    });
}

struct ggml_tensor * lora4j_model_tensor(const struct llama_model * model, const char * name) {
    return guarded<>((ggml_tensor *) nullptr, [&] {
        ggml_tensor * t = const_cast<ggml_tensor *>(model->get_tensor(name));
        if (!t) {
            fail(LORA4J_ERR_ARGUMENT, std::string("the model has no tensor ") + name);
        }
        return t;
    });
}

void lora4j_train_free(struct llama_context * ctx) {
    std::lock_guard<std::mutex> lock(g_train_mutex);
    g_train.erase(ctx);
    ctx->set_weight_copies_lora4j(LORA4J_BASE_COPIES_NONE, 0);
}

} // extern "C"
