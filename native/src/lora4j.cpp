// lora4j shim — see include/lora4j.h. Every entry point catches every C++ exception. Training: lora4j_train.cpp.
#include "lora4j.h"
#include "lora4j_internal.h"

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "llama-adapter.h"   // per-sequence adapters (native/patches/0012-*.patch)
#include "llama-context.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using lora4j::fail;
using lora4j::guarded;

namespace {

// checks every token and seq id of a batch: llama.cpp asserts on some out-of-range ids
bool check_batch(const llama_context * ctx, const llama_batch & batch) {
    if (batch.n_tokens <= 0) {
        fail(LORA4J_ERR_ARGUMENT, "batch is empty");
        return false;
    }
    const llama_model * model = llama_get_model(ctx);
    if (batch.token) {
        const int32_t n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
        for (int32_t i = 0; i < batch.n_tokens; i++) {
            if (batch.token[i] < 0 || batch.token[i] >= n_vocab) {
                fail(LORA4J_ERR_ARGUMENT, "token id " + std::to_string(batch.token[i]) + " at batch position " + std::to_string(i) +
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
                    fail(LORA4J_ERR_ARGUMENT, "sequence id " + std::to_string(id) + " at batch position " + std::to_string(i) +
                              " is outside [0, " + std::to_string(n_seq_max) + ")");
                    return false;
                }
            }
        }
    }
    // per-sequence adapters: a token in several sequences takes the first one's adapter, so they must agree
    const llama_adapter_seq_loras * seq_loras = ctx->seq_adapters_lora4j();
    if (seq_loras && batch.seq_id && batch.n_seq_id) {
        for (int32_t i = 0; i < batch.n_tokens; i++) {
            for (int32_t s = 1; s < batch.n_seq_id[i]; s++) {
                const llama_seq_id a = batch.seq_id[i][0];
                const llama_seq_id b = batch.seq_id[i][s];
                if (seq_loras->seq_slot[a] != seq_loras->seq_slot[b] || seq_loras->seq_scale[a] != seq_loras->seq_scale[b]) {
                    fail(LORA4J_ERR_ARGUMENT, "the token at batch position " + std::to_string(i) + " belongs to sequences " +
                              std::to_string(a) + " and " + std::to_string(b) + ", which have different adapters");
                    return false;
                }
            }
        }
    }
    return true;
}

// llama.cpp's "buffer too small" answer (-needed) as the count the caller must allow for (see lora4j.h)
int32_t needed(int32_t n) { return n < 0 ? -n : n; }

} // namespace

extern "C" {

int32_t lora4j_shim_version(void) { return LORA4J_SHIM_VERSION; }

int32_t lora4j_last_error_code(void) { return lora4j::g_last_error.code; }

const char * lora4j_last_error(void) { return lora4j::g_last_error.message.c_str(); }

void lora4j_clear_error(void) { lora4j::g_last_error = {}; }

struct llama_model * lora4j_model_load(const char * path, struct llama_model_params params) {
    return guarded<>((llama_model *) nullptr, [&] {
        llama_model * m = llama_model_load_from_file(path, params);
        if (!m) {
            fail(LORA4J_ERR_LLAMA, "llama.cpp could not load the model (see the log for the reason)");
        }
        return m;
    });
}

struct llama_context * lora4j_context_init(struct llama_model * model, struct llama_context_params params) {
    return guarded<>((llama_context *) nullptr, [&] {
        llama_context * c = llama_init_from_model(model, params);
        if (!c) {
            fail(LORA4J_ERR_LLAMA, "llama.cpp could not create the context (see the log for the reason)");
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

int32_t lora4j_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len,
                        llama_token * tokens, int32_t n_tokens_max, bool add_special, bool parse_special) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (add_special) {
            // llama-vocab.cpp asserts (aborts) when it must add a special token the vocabulary does not have
            const enum llama_vocab_type type = llama_vocab_type(vocab);
            const bool wpm = type == LLAMA_VOCAB_TYPE_WPM; // WordPiece always adds [CLS] (bos) and [SEP]
            const char * missing = nullptr;
            if (type == LLAMA_VOCAB_TYPE_NONE) {
                missing = "a tokenizer";
            } else if ((wpm || llama_vocab_get_add_bos(vocab)) && llama_vocab_bos(vocab) == LLAMA_TOKEN_NULL) {
                missing = "the BOS token it is configured to add";
            } else if (llama_vocab_get_add_eos(vocab) && llama_vocab_eos(vocab) == LLAMA_TOKEN_NULL) {
                missing = "the EOS token it is configured to add";
            } else if ((wpm || llama_vocab_get_add_sep(vocab)) && llama_vocab_sep(vocab) == LLAMA_TOKEN_NULL) {
                missing = "the SEP token it is configured to add";
            }
            if (missing) {
                return fail(LORA4J_ERR_ARGUMENT, std::string("the vocabulary has no ") + missing + "; tokenize without special tokens");
            }
        } else if (llama_vocab_type(vocab) == LLAMA_VOCAB_TYPE_NONE) {
            return fail(LORA4J_ERR_ARGUMENT, "the model has no tokenizer");
        }
        const int32_t n = llama_tokenize(vocab, text, text_len, tokens, n_tokens_max, add_special, parse_special);
        if (n == INT32_MIN) {
            return fail(LORA4J_ERR_ARGUMENT, "the text has more tokens than an int32_t counts");
        }
        return needed(n);
    });
}

int32_t lora4j_token_to_piece(const struct llama_vocab * vocab, llama_token token, char * buf, int32_t length,
                              int32_t lstrip, bool special) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (token < 0 || token >= llama_vocab_n_tokens(vocab)) {
            return fail(LORA4J_ERR_ARGUMENT, "token id " + std::to_string(token) + " is outside the vocabulary");
        }
        return needed(llama_token_to_piece(vocab, token, buf, length, lstrip, special));
    });
}

int32_t lora4j_detokenize(const struct llama_vocab * vocab, const llama_token * tokens, int32_t n_tokens,
                          char * text, int32_t text_len_max, bool remove_special, bool unparse_special) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        const int32_t n_vocab = llama_vocab_n_tokens(vocab);
        for (int32_t i = 0; i < n_tokens; i++) {
            if (tokens[i] < 0 || tokens[i] >= n_vocab) {
                return fail(LORA4J_ERR_ARGUMENT, "token id " + std::to_string(tokens[i]) + " at position " +
                                                     std::to_string(i) + " is outside the vocabulary");
            }
        }
        return needed(llama_detokenize(vocab, tokens, n_tokens, text, text_len_max, remove_special, unparse_special));
    });
}

int32_t lora4j_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat, size_t n_msg,
                                   bool add_ass, char * buf, int32_t length) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        const int32_t n = llama_chat_apply_template(tmpl, chat, n_msg, add_ass, buf, length);
        return n < 0 ? fail(LORA4J_ERR_ARGUMENT, "llama.cpp does not support this chat template") : n;
    });
}

int32_t lora4j_model_quantize(const char * fname_inp, const char * fname_out,
                              const struct llama_model_quantize_params * params) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (llama_model_quantize(fname_inp, fname_out, params) != 0) {
            return fail(LORA4J_ERR_LLAMA, "llama.cpp could not quantize the model (see the log for the reason)");
        }
        return (int32_t) 0;
    });
}

llama_token lora4j_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx, int32_t idx) {
    return guarded<>((llama_token) LORA4J_ERR_EXCEPTION, [&] {
        // llama_sampler_sample asserts on an index without logits; llama_get_logits_ith says so with NULL
        if (llama_get_logits_ith(ctx, idx) == nullptr) {
            return fail(LORA4J_ERR_ARGUMENT, "no logits at batch index " + std::to_string(idx) +
                                                 " (decode with logits for that token first)");
        }
        const llama_token token = llama_sampler_sample(smpl, ctx, idx);
        return token < 0 ? fail(LORA4J_ERR_LLAMA, "llama.cpp sampled no token") : token;
    });
}

struct llama_adapter_lora * lora4j_adapter_lora_init(struct llama_model * model, const char * path_lora) {
    return guarded<>((llama_adapter_lora *) nullptr, [&] {
        llama_adapter_lora * a = llama_adapter_lora_init(model, path_lora);
        if (!a) {
            fail(LORA4J_ERR_LLAMA, "llama.cpp could not load the adapter (see the log for the reason)");
        }
        return a;
    });
}

int32_t lora4j_set_adapters_lora(struct llama_context * ctx, struct llama_adapter_lora ** adapters, size_t n_adapters,
                                 float * scales) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (llama_set_adapters_lora(ctx, adapters, n_adapters, scales) != 0) {
            return fail(LORA4J_ERR_LLAMA, "llama.cpp could not set the adapters (see the log for the reason)");
        }
        return (int32_t) 0;
    });
}

int32_t lora4j_set_seq_adapter_lora(struct llama_context * ctx, llama_seq_id seq, struct llama_adapter_lora * adapter,
                                    float scale) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        if (!std::isfinite(scale)) {
            return fail(LORA4J_ERR_ARGUMENT, "the scale must be finite");
        }
        try {
            ctx->set_seq_adapter_lora4j(seq, adapter, scale);
        } catch (const std::runtime_error & e) {
            return fail(LORA4J_ERR_ARGUMENT, e.what());
        }
        return (int32_t) 0;
    });
}

void lora4j_forget_adapter_lora(struct llama_context * ctx, struct llama_adapter_lora * adapter) {
    guarded<>(0, [&] {
        ctx->forget_adapter_lora4j(adapter);
        return 0;
    });
}

struct ggml_threadpool * lora4j_threadpool_new(int32_t n_threads) {
    return guarded<>((ggml_threadpool *) nullptr, [&] {
        if (n_threads < 1 || n_threads > GGML_MAX_N_THREADS) {
            fail(LORA4J_ERR_ARGUMENT, "n_threads must be in [1, " + std::to_string(GGML_MAX_N_THREADS) + "], got " + std::to_string(n_threads));
            return (ggml_threadpool *) nullptr;
        }
        ggml_threadpool_params p = ggml_threadpool_params_default(n_threads);
        ggml_threadpool * tp = ggml_threadpool_new(&p);
        if (!tp) {
            fail(LORA4J_ERR_LLAMA, "ggml could not create a threadpool of " + std::to_string(n_threads) + " threads");
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

// ---- LoRA merge ------------------------------------------------------------------------------------------------

struct lora4j_lora_merger {
    ggml_backend_t backend = nullptr;
    ggml_gallocr_t allocr = nullptr;
    int32_t n_threads = 1;
    std::vector<uint8_t> graph_buf;
    std::vector<std::vector<float>> scratch; // per thread, for the error measurement

    ~lora4j_lora_merger() {
        if (allocr) {
            ggml_gallocr_free(allocr);
        }
        if (backend) {
            ggml_backend_free(backend);
        }
    }
};

struct lora4j_lora_merger * lora4j_lora_merger_new(int32_t n_threads) {
    return guarded<>((lora4j_lora_merger *) nullptr, [&] {
        if (n_threads < 1 || n_threads > GGML_MAX_N_THREADS) {
            fail(LORA4J_ERR_ARGUMENT, "n_threads must be in [1, " + std::to_string(GGML_MAX_N_THREADS) + "], got " + std::to_string(n_threads));
            return (lora4j_lora_merger *) nullptr;
        }
        auto * m = new lora4j_lora_merger();
        m->n_threads = n_threads;
        m->backend = ggml_backend_cpu_init();
        if (m->backend) {
            m->allocr = ggml_gallocr_new(ggml_backend_get_default_buffer_type(m->backend));
        }
        if (!m->backend || !m->allocr) {
            delete m;
            fail(LORA4J_ERR_LLAMA, "ggml could not create a CPU backend");
            return (lora4j_lora_merger *) nullptr;
        }
        m->graph_buf.resize(ggml_tensor_overhead() * GGML_DEFAULT_GRAPH_SIZE + ggml_graph_overhead());
        m->scratch.resize(n_threads);
        return m;
    });
}

void lora4j_lora_merger_free(struct lora4j_lora_merger * merger) {
    guarded<>(0, [&] {
        delete merger;
        return 0;
    });
}

} // extern "C"

namespace {

bool lora_type_ok(int32_t type) {
    if (type < 0 || type >= GGML_TYPE_COUNT) {
        return false;
    }
    if (type == GGML_TYPE_F32 || type == GGML_TYPE_F16 || type == GGML_TYPE_BF16) {
        return true;
    }
    const ggml_type_traits * tr = ggml_get_type_traits((ggml_type) type);
    return tr->is_quantized && tr->to_float != nullptr && tr->blck_size > 0;
}

bool base_type_ok(int32_t type) {
    if (type < 0 || type >= GGML_TYPE_COUNT) {
        return false;
    }
    const ggml_type_traits * tr = ggml_get_type_traits((ggml_type) type);
    return type == GGML_TYPE_F32 || (tr->to_float != nullptr && tr->blck_size > 0 && tr->type_size > 0);
}

bool out_type_ok(int32_t type) {
    // what ggml_quantize_chunk writes without an importance matrix: F32, or a type with to_float and from_float_ref
    // (the generator checks that these are its cases; GgmlType.ggmlQuantizes() and LoraMerger.canWrite say the same)
    if (type < 0 || type >= GGML_TYPE_COUNT) {
        return false;
    }
    const ggml_type_traits * tr = ggml_get_type_traits((ggml_type) type);
    return type == GGML_TYPE_F32 ||
           (tr->to_float != nullptr && tr->from_float_ref != nullptr && !ggml_quantize_requires_imatrix((ggml_type) type));
}

// rows [r0, r1) of the nth-way split of n rows for thread ith
void split_rows(int64_t n, int ith, int nth, int64_t & r0, int64_t & r1) {
    const int64_t per = (n + nth - 1) / nth;
    r0 = std::min<int64_t>(n, per * ith);
    r1 = std::min<int64_t>(n, r0 + per);
}

// rows per chunk of work inside one thread's share: about 64 Ki elements, whole rows
int64_t chunk_rows(int64_t ne0) {
    return std::max<int64_t>(1, (int64_t{1} << 16) / ne0);
}

struct dequant_op {
    ggml_type type;
    const void * data;
    int64_t ne0;
    int64_t rows;
};

// custom op: dst (F32 [ne0, rows]) = to_float(base)
void dequant_fn(ggml_tensor * dst, int ith, int nth, void * userdata) {
    const auto * op = (const dequant_op *) userdata;
    int64_t r0, r1;
    split_rows(op->rows, ith, nth, r0, r1);
    if (r1 <= r0) {
        return;
    }
    const size_t row_bytes = ggml_row_size(op->type, op->ne0);
    const char * src = (const char *) op->data + r0 * row_bytes;
    float * out = (float *) dst->data + r0 * op->ne0;
    if (op->type == GGML_TYPE_F32) {
        memcpy(out, src, (size_t) (r1 - r0) * row_bytes);
    } else {
        ggml_get_type_traits(op->type)->to_float(src, out, (r1 - r0) * op->ne0);
    }
}

struct finish_op {
    ggml_type out_type;
    void * out;
    int64_t ne0;
    int64_t rows;
    bool measure;
    std::vector<std::vector<float>> * scratch;
    double stats[GGML_MAX_N_THREADS][5];
};

// sums of one chunk: (q - x)^2, x^2, (x - w)^2, w^2 and max |q - x|, in 8 lanes (vectorisable) per block
void chunk_stats(const float * q, const float * x, const float * w, int64_t n, double * s) {
    int64_t i = 0;
    for (; i < n; ) {
        const int64_t blk = std::min<int64_t>(n - i, 1024);
        float se[8] = {0}, sx[8] = {0}, sd[8] = {0}, sw[8] = {0}, mx[8] = {0};
        int64_t j = 0;
        for (; j + 8 <= blk; j += 8) {
            for (int l = 0; l < 8; l++) {
                const float xv = x[i + j + l];
                const float e = q[i + j + l] - xv;
                const float d = xv - w[i + j + l];
                se[l] += e * e;
                sx[l] += xv * xv;
                sd[l] += d * d;
                sw[l] += w[i + j + l] * w[i + j + l];
                mx[l] = std::max(mx[l], std::fabs(e));
            }
        }
        for (; j < blk; j++) {
            const float xv = x[i + j];
            const float e = q[i + j] - xv;
            const float d = xv - w[i + j];
            se[0] += e * e;
            sx[0] += xv * xv;
            sd[0] += d * d;
            sw[0] += w[i + j] * w[i + j];
            mx[0] = std::max(mx[0], std::fabs(e));
        }
        for (int l = 0; l < 8; l++) {
            s[0] += se[l];
            s[1] += sx[l];
            s[2] += sd[l];
            s[3] += sw[l];
            s[4] = std::max(s[4], (double) mx[l]);
        }
        i += blk;
    }
}

// custom op: out = quantize(cur) (src[0]), with the error against cur and the change against W (src[1])
void finish_fn(ggml_tensor * dst, int ith, int nth, void * userdata) {
    auto * op = (finish_op *) userdata;
    const float * cur = (const float *) dst->src[0]->data;
    const float * w = (const float *) dst->src[1]->data;
    double * s = op->stats[ith];
    s[0] = s[1] = s[2] = s[3] = s[4] = 0;
    int64_t r0, r1;
    split_rows(op->rows, ith, nth, r0, r1);
    const int64_t per = chunk_rows(op->ne0);
    const size_t row_bytes = ggml_row_size(op->out_type, op->ne0);
    const ggml_type_traits * tr = ggml_get_type_traits(op->out_type);
    for (int64_t r = r0; r < r1; r += per) {
        const int64_t nr = std::min(per, r1 - r);
        const int64_t n = nr * op->ne0;
        const float * x = cur + r * op->ne0;
        const float * q = x;
        if (op->out_type == GGML_TYPE_F32) {
            memcpy((char *) op->out + r * row_bytes, x, (size_t) n * sizeof(float));
        } else {
            ggml_quantize_chunk(op->out_type, cur, op->out, r * op->ne0, nr, op->ne0, nullptr);
            if (op->measure) {
                std::vector<float> & buf = (*op->scratch)[ith];
                if ((int64_t) buf.size() < n) {
                    buf.resize(n);
                }
                tr->to_float((const char *) op->out + r * row_bytes, buf.data(), n);
                q = buf.data();
            }
        }
        if (op->measure) {
            chunk_stats(q, x, w + r * op->ne0, n, s);
        }
    }
    GGML_UNUSED(dst);
}

// RAII for the per-call ggml objects
struct merge_call {
    ggml_context * ctx = nullptr;
    ggml_backend_buffer_t ab_buf = nullptr;
    ~merge_call() {
        if (ab_buf) {
            ggml_backend_buffer_free(ab_buf);
        }
        if (ctx) {
            ggml_free(ctx);
        }
    }
};

} // namespace

extern "C" {

int32_t lora4j_lora_merge_tensor(struct lora4j_lora_merger * merger, int32_t base_type, const void * base_data,
                                 int64_t ne0, int64_t ne1, int32_t out_type, void * out_data, int32_t n_adapters,
                                 const void * const * a_data, const int32_t * a_types, const int64_t * a_ne,
                                 const void * const * b_data, const int32_t * b_types, const int64_t * b_ne,
                                 const float * scales, bool token_embd, double * stats) {
    return guarded<>((int32_t) LORA4J_ERR_EXCEPTION, [&] {
        // everything ggml would assert on is checked first: a failed GGML_ASSERT aborts the process
        if (!merger || !base_data || !out_data || !a_data || !a_types || !a_ne || !b_data || !b_types || !b_ne || !scales) {
            return fail(LORA4J_ERR_ARGUMENT, "null argument");
        }
        if (n_adapters > LORA4J_MAX_MERGE_ADAPTERS) {
            // the merge graph lives in a fixed buffer (GGML_DEFAULT_GRAPH_SIZE nodes, ~7 per adapter)
            return fail(LORA4J_ERR_ARGUMENT, "at most " + std::to_string(LORA4J_MAX_MERGE_ADAPTERS) + " adapters per merged tensor, got " +
                      std::to_string(n_adapters));
        }
        if (ne0 < 1 || ne1 < 1 || n_adapters < 1) {
            return fail(LORA4J_ERR_ARGUMENT, "need ne0, ne1 and n_adapters >= 1, got " + std::to_string(ne0) + ", " + std::to_string(ne1) +
                      ", " + std::to_string(n_adapters));
        }
        if (!base_type_ok(base_type) || ne0 % ggml_blck_size((ggml_type) base_type) != 0) {
            return fail(LORA4J_ERR_ARGUMENT, "cannot dequantise a base tensor of ggml type " + std::to_string(base_type) + " with rows of " + std::to_string(ne0));
        }
        if (!out_type_ok(out_type) || ne0 % ggml_blck_size((ggml_type) out_type) != 0) {
            return fail(LORA4J_ERR_ARGUMENT, "cannot write ggml type " + std::to_string(out_type) + " (needs no importance matrix and a block size "
                      "that divides the row length " + std::to_string(ne0) + ")");
        }
        for (int32_t i = 0; i < n_adapters; i++) {
            const std::string which = "adapter " + std::to_string(i) + ": ";
            if (!a_data[i] || !b_data[i]) {
                return fail(LORA4J_ERR_ARGUMENT, which + "null lora_a or lora_b data");
            }
            if (!lora_type_ok(a_types[i]) || !lora_type_ok(b_types[i])) {
                return fail(LORA4J_ERR_ARGUMENT, which + "lora_a/lora_b type " + std::to_string(a_types[i]) + "/" + std::to_string(b_types[i]) +
                          " is not F32, F16, BF16 or a quantised type with a to_float");
            }
            const int64_t a0 = a_ne[2 * i], a1 = a_ne[2 * i + 1], b0 = b_ne[2 * i], b1 = b_ne[2 * i + 1];
            const int64_t r = b0;
            const bool ok = token_embd ? (a0 == r && a1 == ne1 && b1 == ne0) : (a0 == ne0 && a1 == r && b1 == ne1);
            if (r < 1 || !ok) {
                return fail(LORA4J_ERR_ARGUMENT, which + "lora_a [" + std::to_string(a0) + ", " + std::to_string(a1) + "] and lora_b [" +
                          std::to_string(b0) + ", " + std::to_string(b1) + "] do not fit a weight [" + std::to_string(ne0) +
                          ", " + std::to_string(ne1) + "]" + (token_embd ? " (token_embd: lora_a [r, ne1], lora_b [r, ne0])" : ""));
            }
            if (a0 % ggml_blck_size((ggml_type) a_types[i]) != 0 || b0 % ggml_blck_size((ggml_type) b_types[i]) != 0) {
                return fail(LORA4J_ERR_ARGUMENT, which + "a row length is not a multiple of the block size of its type");
            }
        }

        merge_call call;
        ggml_init_params ip = {
            /*.mem_size   =*/ ggml_tensor_overhead() * (size_t) (2 * n_adapters),
            /*.mem_buffer =*/ NULL,
            /*.no_alloc   =*/ true,
        };
        call.ctx = ggml_init(ip);
        if (!call.ctx) {
            return fail(LORA4J_ERR_LLAMA, "ggml_init failed");
        }
        // quantised adapter tensors are dequantised here (export-lora refuses them; llama.cpp applies them)
        std::vector<std::vector<float>> deq;
        deq.reserve(2 * n_adapters);
        std::vector<ggml_tensor *> ta(n_adapters), tb(n_adapters);
        std::vector<const void *> pa(n_adapters), pb(n_adapters);
        for (int32_t i = 0; i < n_adapters; i++) {
            for (int ab = 0; ab < 2; ab++) {
                const int64_t * ne = ab == 0 ? &a_ne[2 * i] : &b_ne[2 * i];
                const void * data = ab == 0 ? a_data[i] : b_data[i];
                ggml_type t = (ggml_type) (ab == 0 ? a_types[i] : b_types[i]);
                if (ggml_is_quantized(t)) {
                    deq.emplace_back((size_t) (ne[0] * ne[1]));
                    ggml_get_type_traits(t)->to_float(data, deq.back().data(), ne[0] * ne[1]);
                    data = deq.back().data();
                    t = GGML_TYPE_F32;
                }
                (ab == 0 ? ta : tb)[i] = ggml_new_tensor_2d(call.ctx, t, ne[0], ne[1]);
                (ab == 0 ? pa : pb)[i] = data;
            }
        }
        call.ab_buf = ggml_backend_alloc_ctx_tensors(call.ctx, merger->backend);
        if (!call.ab_buf) {
            return fail(LORA4J_ERR_LLAMA, "cannot allocate the adapter tensors");
        }
        for (int32_t i = 0; i < n_adapters; i++) {
            ggml_backend_tensor_set(ta[i], pa[i], 0, ggml_nbytes(ta[i]));
            ggml_backend_tensor_set(tb[i], pb[i], 0, ggml_nbytes(tb[i]));
        }

        dequant_op dq = { (ggml_type) base_type, base_data, ne0, ne1 };
        finish_op * fin = new finish_op(); // large (stats per thread): not on the stack
        std::unique_ptr<finish_op> fin_owner(fin);
        fin->out_type = (ggml_type) out_type;
        fin->out = out_data;
        fin->ne0 = ne0;
        fin->rows = ne1;
        fin->measure = stats != nullptr;
        fin->scratch = &merger->scratch;

        ggml_init_params gp = {
            /*.mem_size   =*/ merger->graph_buf.size(),
            /*.mem_buffer =*/ merger->graph_buf.data(),
            /*.no_alloc   =*/ true,
        };
        ggml_context * ctx0 = ggml_init(gp);
        ggml_cgraph * gf = ggml_new_graph(ctx0);
        // export-lora's inp_base: an F32 tensor of the base's shape, here filled by to_float on ggml's threads
        ggml_tensor * w = ggml_custom_4d(ctx0, GGML_TYPE_F32, ne0, ne1, 1, 1, nullptr, 0, dequant_fn, GGML_N_TASKS_MAX, &dq);
        ggml_tensor * cur = w;
        for (int32_t i = 0; i < n_adapters; i++) {
            ggml_tensor * delta;
            if (token_embd) {
                delta = ggml_mul_mat(ctx0, ggml_cast(ctx0, tb[i], GGML_TYPE_F32), ggml_cast(ctx0, ta[i], GGML_TYPE_F32));
            } else {
                delta = ggml_mul_mat(ctx0, ggml_cont(ctx0, ggml_transpose(ctx0, ggml_cast(ctx0, ta[i], GGML_TYPE_F32))),
                                     ggml_cast(ctx0, tb[i], GGML_TYPE_F32));
            }
            delta = ggml_scale(ctx0, delta, scales[i]);
            cur = ggml_add(ctx0, delta, cur);
        }
        // export-lora ends with ggml_cast(cur, F16); here the conversion is ggml_quantize_chunk's, for any type
        ggml_tensor * args[2] = { cur, w };
        ggml_tensor * done = ggml_custom_4d(ctx0, GGML_TYPE_F32, 1, 1, 1, 1, args, 2, finish_fn, GGML_N_TASKS_MAX, fin);
        ggml_build_forward_expand(gf, done);
        ggml_free(ctx0); // the graph lives in graph_buf

        if (!ggml_gallocr_alloc_graph(merger->allocr, gf)) {
            return fail(LORA4J_ERR_LLAMA, "cannot allocate the merge graph (out of memory?)");
        }
        ggml_backend_cpu_set_n_threads(merger->backend, merger->n_threads);
        const ggml_status st = ggml_backend_graph_compute(merger->backend, gf);
        if (st != GGML_STATUS_SUCCESS) {
            return fail(LORA4J_ERR_LLAMA, "the merge graph failed: ggml status " + std::to_string((int) st));
        }
        if (stats) {
            for (int k = 0; k < 5; k++) {
                stats[k] = 0;
            }
            for (int t = 0; t < merger->n_threads; t++) { // in thread order: deterministic for a given thread count
                for (int k = 0; k < 4; k++) {
                    stats[k] += fin->stats[t][k];
                }
                stats[4] = std::max(stats[4], fin->stats[t][4]);
            }
        }
        return (int32_t) 0;
    });
}

} // extern "C"
