// lora4j shim — see include/lora4j.h. Every entry point catches every C++ exception.
#include "lora4j.h"

#include "ggml-cpu.h"

#include <climits>
#include <exception>
#include <string>

namespace {

thread_local std::string g_last_error;

void set_error(const std::string & msg) { g_last_error = msg; }

void set_error_from_current_exception() {
    try {
        throw;
    } catch (const std::exception & e) {
        set_error(e.what());
    } catch (...) {
        set_error("unknown C++ exception");
    }
}

// checks every token and seq id of a batch: llama.cpp asserts on some out-of-range ids
bool check_batch(const llama_context * ctx, const llama_batch & batch) {
    if (batch.n_tokens <= 0) {
        set_error("batch is empty");
        return false;
    }
    const llama_model * model = llama_get_model(ctx);
    if (batch.token) {
        const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
        for (int32_t i = 0; i < batch.n_tokens; i++) {
            if (batch.token[i] < 0 || batch.token[i] >= n_vocab) {
                set_error("token id " + std::to_string(batch.token[i]) + " at batch position " + std::to_string(i) +
                          " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
                return false;
            }
        }
    }
    if (batch.seq_id && batch.n_seq_id) {
        const int32_t n_seq_max = (int32_t) llama_n_seq_max(ctx);
        for (int32_t i = 0; i < batch.n_tokens; i++) {
            for (int32_t s = 0; s < batch.n_seq_id[i]; s++) {
                const llama_seq_id id = batch.seq_id[i][s];
                if (id < 0 || id >= n_seq_max) {
                    set_error("sequence id " + std::to_string(id) + " at batch position " + std::to_string(i) +
                              " is outside [0, " + std::to_string(n_seq_max) + ")");
                    return false;
                }
            }
        }
    }
    return true;
}

template <typename F, typename R>
R guarded(R on_exception, F && f) {
    g_last_error.clear();
    try {
        return f();
    } catch (...) {
        set_error_from_current_exception();
        return on_exception;
    }
}

} // namespace

extern "C" {

int32_t lora4j_shim_version(void) { return LORA4J_SHIM_VERSION; }

const char * lora4j_last_error(void) { return g_last_error.c_str(); }

void lora4j_clear_error(void) { g_last_error.clear(); }

struct llama_model * lora4j_model_load(const char * path, struct llama_model_params params) {
    return guarded<>((llama_model *) nullptr, [&] {
        llama_model * m = llama_model_load_from_file(path, params);
        if (!m) {
            set_error("llama.cpp could not load the model (see the log for the reason)");
        }
        return m;
    });
}

struct llama_context * lora4j_context_init(struct llama_model * model, struct llama_context_params params) {
    return guarded<>((llama_context *) nullptr, [&] {
        llama_context * c = llama_init_from_model(model, params);
        if (!c) {
            set_error("llama.cpp could not create the context (see the log for the reason)");
        }
        return c;
    });
}

int32_t lora4j_decode(struct llama_context * ctx, struct llama_batch batch) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (!check_batch(ctx, batch)) {
            return (int32_t) LORA4J_ERR_ARGUMENT;
        }
        return llama_decode(ctx, batch);
    });
}

int32_t lora4j_encode(struct llama_context * ctx, struct llama_batch batch) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (!check_batch(ctx, batch)) {
            return (int32_t) LORA4J_ERR_ARGUMENT;
        }
        return llama_encode(ctx, batch);
    });
}

int32_t lora4j_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len,
                        llama_token * tokens, int32_t n_tokens_max, bool add_special, bool parse_special) {
    return guarded<>((int32_t) INT32_MIN, [&] {
        return llama_tokenize(vocab, text, text_len, tokens, n_tokens_max, add_special, parse_special);
    });
}

int32_t lora4j_token_to_piece(const struct llama_vocab * vocab, llama_token token, char * buf, int32_t length,
                              int32_t lstrip, bool special) {
    return guarded<>((int32_t) INT32_MIN, [&] {
        if (token < 0 || token >= llama_vocab_n_tokens(vocab)) {
            set_error("token id " + std::to_string(token) + " is outside the vocabulary");
            return (int32_t) INT32_MIN;
        }
        return llama_token_to_piece(vocab, token, buf, length, lstrip, special);
    });
}

int32_t lora4j_detokenize(const struct llama_vocab * vocab, const llama_token * tokens, int32_t n_tokens,
                          char * text, int32_t text_len_max, bool remove_special, bool unparse_special) {
    return guarded<>((int32_t) INT32_MIN, [&] {
        const int32_t n_vocab = llama_vocab_n_tokens(vocab);
        for (int32_t i = 0; i < n_tokens; i++) {
            if (tokens[i] < 0 || tokens[i] >= n_vocab) {
                set_error("token id " + std::to_string(tokens[i]) + " at position " + std::to_string(i) +
                          " is outside the vocabulary");
                return (int32_t) INT32_MIN;
            }
        }
        return llama_detokenize(vocab, tokens, n_tokens, text, text_len_max, remove_special, unparse_special);
    });
}

int32_t lora4j_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat, size_t n_msg,
                                   bool add_ass, char * buf, int32_t length) {
    return guarded<>((int32_t) INT32_MIN, [&] {
        return llama_chat_apply_template(tmpl, chat, n_msg, add_ass, buf, length);
    });
}

uint32_t lora4j_model_quantize(const char * fname_inp, const char * fname_out,
                               const struct llama_model_quantize_params * params) {
    return guarded<>((uint32_t) 1, [&] {
        const uint32_t rc = llama_model_quantize(fname_inp, fname_out, params);
        if (rc != 0) {
            set_error("llama.cpp could not quantize the model (see the log for the reason)");
        }
        return rc;
    });
}

llama_token lora4j_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx, int32_t idx) {
    return guarded<>((llama_token) LLAMA_TOKEN_NULL, [&] { return llama_sampler_sample(smpl, ctx, idx); });
}

struct llama_adapter_lora * lora4j_adapter_lora_init(struct llama_model * model, const char * path_lora) {
    return guarded<>((llama_adapter_lora *) nullptr, [&] {
        llama_adapter_lora * a = llama_adapter_lora_init(model, path_lora);
        if (!a) {
            set_error("llama.cpp could not load the adapter (see the log for the reason)");
        }
        return a;
    });
}

int32_t lora4j_set_adapters_lora(struct llama_context * ctx, struct llama_adapter_lora ** adapters, size_t n_adapters,
                                 float * scales) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] { return llama_set_adapters_lora(ctx, adapters, n_adapters, scales); });
}

struct ggml_threadpool * lora4j_threadpool_new(int32_t n_threads) {
    return guarded<>((ggml_threadpool *) nullptr, [&] {
        if (n_threads < 1 || n_threads > GGML_MAX_N_THREADS) {
            set_error("n_threads must be in [1, " + std::to_string(GGML_MAX_N_THREADS) + "], got " + std::to_string(n_threads));
            return (ggml_threadpool *) nullptr;
        }
        ggml_threadpool_params p = ggml_threadpool_params_default(n_threads);
        ggml_threadpool * tp = ggml_threadpool_new(&p);
        if (!tp) {
            set_error("ggml could not create a threadpool of " + std::to_string(n_threads) + " threads");
        }
        return tp;
    });
}

void lora4j_threadpool_free(struct ggml_threadpool * threadpool) {
    guarded<>(0, [&] {
        ggml_threadpool_free(threadpool);
        return 0;
    });
}

} // extern "C"
