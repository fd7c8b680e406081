// lora4j shim: what llama.cpp's public C API lacks, with every C++ exception caught.
// Style follows llama.h: lora4j_<object>_<action>, sized integer types, int32_t status returns
// (0 = success); on failure the message is kept per thread for lora4j_last_error().
#pragma once

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "llama.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LORA4J_SHIM_VERSION 1

#define LORA4J_ERR_EXCEPTION (-100)  // a C++ exception was caught; see lora4j_last_error()
#define LORA4J_ERR_ARGUMENT  (-101)  // an argument was rejected before reaching llama.cpp

// version of the shim ABI (LORA4J_SHIM_VERSION)
int32_t lora4j_shim_version(void);

// message of the last failure on this thread ("" when none); valid until the next shim call on this thread
const char * lora4j_last_error(void);
void         lora4j_clear_error(void);

// llama_model_load_from_file, with exceptions caught (NULL + last error on failure)
struct llama_model * lora4j_model_load(const char * path, struct llama_model_params params);

// llama_init_from_model, with exceptions caught (NULL + last error on failure)
struct llama_context * lora4j_context_init(struct llama_model * model, struct llama_context_params params);

// llama_decode, with exceptions caught (LORA4J_ERR_EXCEPTION) and the batch checked first:
// every token id in [0, n_vocab), every seq id in [0, n_seq_max) (LORA4J_ERR_ARGUMENT)
int32_t lora4j_decode(struct llama_context * ctx, struct llama_batch batch);

// llama_encode, likewise
int32_t lora4j_encode(struct llama_context * ctx, struct llama_batch batch);

// llama_tokenize, with exceptions caught (returns INT32_MIN + last error on an exception)
int32_t lora4j_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len,
                        llama_token * tokens, int32_t n_tokens_max, bool add_special, bool parse_special);

// llama_token_to_piece, with exceptions caught and the token id checked (INT32_MIN on failure)
int32_t lora4j_token_to_piece(const struct llama_vocab * vocab, llama_token token, char * buf, int32_t length,
                              int32_t lstrip, bool special);

// llama_detokenize, with exceptions caught and token ids checked (INT32_MIN on failure)
int32_t lora4j_detokenize(const struct llama_vocab * vocab, const llama_token * tokens, int32_t n_tokens,
                          char * text, int32_t text_len_max, bool remove_special, bool unparse_special);

// llama_chat_apply_template, with exceptions caught (INT32_MIN on failure)
int32_t lora4j_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat, size_t n_msg,
                                   bool add_ass, char * buf, int32_t length);

// llama_model_quantize, with exceptions caught (non-zero + last error on failure)
uint32_t lora4j_model_quantize(const char * fname_inp, const char * fname_out,
                               const struct llama_model_quantize_params * params);

// llama_sampler_sample, with exceptions caught (LLAMA_TOKEN_NULL + last error on failure)
llama_token lora4j_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx, int32_t idx);

// llama_adapter_lora_init, with exceptions caught (NULL + last error on failure)
struct llama_adapter_lora * lora4j_adapter_lora_init(struct llama_model * model, const char * path_lora);

// llama_set_adapters_lora, with exceptions caught (LORA4J_ERR_EXCEPTION)
int32_t lora4j_set_adapters_lora(struct llama_context * ctx, struct llama_adapter_lora ** adapters, size_t n_adapters,
                                 float * scales);

// a CPU threadpool of n_threads (ggml_threadpool_params_default: polling as llama-bench and llama-cli use it),
// to attach to a context with llama_attach_threadpool; without one, ggml creates and joins threads on every
// graph computation. NULL + last error on failure. Free it after the contexts that use it.
struct ggml_threadpool * lora4j_threadpool_new(int32_t n_threads);
void                     lora4j_threadpool_free(struct ggml_threadpool * threadpool);

// ---- LoRA merge (dev.lora4j.merge) ----------------------------------------------------------------------------

// a CPU backend and graph allocator for lora4j_lora_merge_tensor, reused across tensors (its compute buffer
// grows to the largest tensor once instead of being allocated for every tensor). One merge at a time.
struct lora4j_lora_merger;

// n_threads: CPU threads of the graph computation (1 .. GGML_MAX_N_THREADS). NULL + last error on failure.
struct lora4j_lora_merger * lora4j_lora_merger_new(int32_t n_threads);
void                        lora4j_lora_merger_free(struct lora4j_lora_merger * merger);

// Merges n_adapters LoRA pairs into one 2-D weight with the ggml graph llama-export-lora builds, so that the F32
// result is bit-identical to export-lora's before its final cast:
//   cur = W; for each adapter i:
//     delta = ggml_mul_mat(ggml_cont(ggml_transpose(ggml_cast(A_i, F32))), ggml_cast(B_i, F32))
//             (token_embd: ggml_mul_mat(ggml_cast(B_i, F32), ggml_cast(A_i, F32)))
//     cur   = ggml_add(ggml_scale(delta, scales[i]), cur)
//   W = cur
// weight:  F32 [ne0, ne1] (ggml order), 32-byte aligned: the (dequantised) base weight in, the merged weight out.
// a_data[i], b_data[i]: adapter i's lora_a and lora_b, contiguous, of ggml types a_types[i], b_types[i] (F32, F16,
//          BF16 go through ggml_cast as in export-lora; quantised ones are dequantised with to_float first), with
//          2-D shapes a_ne[2i..2i+1], b_ne[2i..2i+1]: lora_a [ne0, r], lora_b [r, ne1]; token_embd (flipped):
//          lora_a [r, ne1], lora_b [r, ne0].
// scales[i]: the effective scale of adapter i (user scale * alpha / r).
// Returns 0; LORA4J_ERR_ARGUMENT when a shape, type or pointer is rejected (nothing computed), LORA4J_ERR_EXCEPTION
// on a C++ exception or a failed computation; last error set on failure.
int32_t lora4j_lora_merge_tensor(struct lora4j_lora_merger * merger, int64_t ne0, int64_t ne1, float * weight,
                                 int32_t n_adapters, const void * const * a_data, const int32_t * a_types,
                                 const int64_t * a_ne, const void * const * b_data, const int32_t * b_types,
                                 const int64_t * b_ne, const float * scales, bool token_embd);

#ifdef __cplusplus
}
#endif
