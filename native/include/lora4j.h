// lora4j shim: what llama.cpp's public C API lacks, with every C++ exception caught.
// Style follows llama.h: lora4j_<object>_<action>, sized integer types, int32_t status returns.
//
// Failures, one rule for every entry point:
//   - a function returning int32_t returns a value >= 0 on success (0 for a status; the count, token id or
//     index it computes otherwise) and a negative LORA4J_ERR_* code on failure;
//   - a function returning a pointer returns NULL on failure;
//   - either way the failure's code and message are kept per thread: lora4j_last_error_code() and
//     lora4j_last_error(), until the next shim call on this thread (each entry point clears them first).
// Counts follow snprintf: lora4j_tokenize, lora4j_token_to_piece, lora4j_detokenize and
// lora4j_chat_apply_template return the full length of their result; when it is larger than the buffer given,
// the buffer holds nothing usable: call again with a buffer of that length.
// The one exception is lora4j_decode, which passes on llama_decode's own non-zero results (1, 2, -1, ...)
// besides its LORA4J_ERR_* codes.
// void functions cannot fail.
#pragma once

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "llama.h"
#include "ggml-opt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LORA4J_SHIM_VERSION 5

#define LORA4J_ERR_EXCEPTION (-100)  // a C++ exception was caught (its message is the last error)
#define LORA4J_ERR_ARGUMENT  (-101)  // an argument was rejected (nothing was done)
#define LORA4J_ERR_LLAMA     (-102)  // llama.cpp or ggml reported a failure (its log says why)
#define LORA4J_MAX_MERGE_ADAPTERS 256 // adapters contributing to one tensor in lora4j_lora_merge_tensor

// version of the shim ABI (LORA4J_SHIM_VERSION)
int32_t lora4j_shim_version(void);

// code (LORA4J_ERR_*) and message of the last failure on this thread (0 and "" when none); the message is valid
// until the next shim call on this thread
int32_t      lora4j_last_error_code(void);
const char * lora4j_last_error(void);
void         lora4j_clear_error(void);

// llama_model_load_from_file (NULL on failure)
struct llama_model * lora4j_model_load(const char * path, struct llama_model_params params);

// llama_init_from_model (NULL on failure)
struct llama_context * lora4j_context_init(struct llama_model * model, struct llama_context_params params);

// llama_decode, with the batch checked first: every token id in [0, n_vocab), every seq id in [0, n_seq_max)
// (LORA4J_ERR_ARGUMENT). Returns 0, llama_decode's own non-zero result, or LORA4J_ERR_*.
int32_t lora4j_decode(struct llama_context * ctx, struct llama_batch batch);

// llama_tokenize: the number of tokens (see "Counts" above); LORA4J_ERR_ARGUMENT when the vocabulary cannot add
// the special tokens asked for (llama.cpp would abort)
int32_t lora4j_tokenize(const struct llama_vocab * vocab, const char * text, int32_t text_len,
                        llama_token * tokens, int32_t n_tokens_max, bool add_special, bool parse_special);

// llama_token_to_piece, the token id checked: the piece's length in bytes (see "Counts" above)
int32_t lora4j_token_to_piece(const struct llama_vocab * vocab, llama_token token, char * buf, int32_t length,
                              int32_t lstrip, bool special);

// llama_detokenize, the token ids checked: the text's length in bytes (see "Counts" above)
int32_t lora4j_detokenize(const struct llama_vocab * vocab, const llama_token * tokens, int32_t n_tokens,
                          char * text, int32_t text_len_max, bool remove_special, bool unparse_special);

// llama_chat_apply_template: the text's length in bytes (see "Counts" above); LORA4J_ERR_ARGUMENT for a template
// llama.cpp does not support
int32_t lora4j_chat_apply_template(const char * tmpl, const struct llama_chat_message * chat, size_t n_msg,
                                   bool add_ass, char * buf, int32_t length);

// llama_model_quantize (0, or LORA4J_ERR_LLAMA when llama.cpp fails)
int32_t lora4j_model_quantize(const char * fname_inp, const char * fname_out,
                              const struct llama_model_quantize_params * params);

// llama_sampler_sample: the token, or LORA4J_ERR_ARGUMENT for an index without logits (llama.cpp would abort)
llama_token lora4j_sampler_sample(struct llama_sampler * smpl, struct llama_context * ctx, int32_t idx);

// llama_adapter_lora_init (NULL on failure)
struct llama_adapter_lora * lora4j_adapter_lora_init(struct llama_model * model, const char * path_lora);

// llama_set_adapters_lora (0, or LORA4J_ERR_LLAMA when llama.cpp refuses)
int32_t lora4j_set_adapters_lora(struct llama_context * ctx, struct llama_adapter_lora ** adapters, size_t n_adapters,
                                 float * scales);

// Per-sequence adapters (native/patches/0012-*.patch): the tokens of sequence seq get `adapter` at `scale`, on top
// of the context's own adapters (llama_set_adapters_lora), in the same batch as sequences with other adapters or
// none. adapter NULL or scale 0: none. What the KV cache of seq holds stays as it was computed. Ranks and targets
// may differ between adapters; they are stacked per base weight, padded to the largest rank (a new adapter
// restacks them, which drops the ones no sequence uses; changing assignments does not). 0, or LORA4J_ERR_ARGUMENT
// for a seq outside [0, n_seq_max), a non-finite scale, an adapter of another model, or one that cannot be
// applied per sequence (a token_embd or expert target, aLoRA). lora4j_decode refuses a token in several sequences
// with different adapters.
int32_t lora4j_set_seq_adapter_lora(struct llama_context * ctx, llama_seq_id seq, struct llama_adapter_lora * adapter,
                                    float scale);

// before freeing an adapter: the sequences of ctx that use it get none
void lora4j_forget_adapter_lora(struct llama_context * ctx, struct llama_adapter_lora * adapter);

// a CPU threadpool of n_threads (ggml_threadpool_params_default: polling as llama-bench and llama-cli use it),
// to attach to a context with llama_attach_threadpool; without one, ggml creates and joins threads on every
// graph computation. NULL on failure. Free it after the contexts that use it.
struct ggml_threadpool * lora4j_threadpool_new(int32_t n_threads);
void                     lora4j_threadpool_free(struct ggml_threadpool * threadpool);

//
// LoRA training (needs the patches of native/patches, applied by the build)
//

// number of lora_a/lora_b pairs of an adapter
int32_t lora4j_adapter_n_pairs(const struct llama_adapter_lora * adapter);

// the i-th pair (in base-tensor-name order): the base tensor's name (valid while the adapter lives) and the pair's
// lora_a ([n_in, r]) and lora_b ([r, n_out]) tensors; read and write them with ggml_backend_tensor_get/set
int32_t lora4j_adapter_pair(const struct llama_adapter_lora * adapter, int32_t i, const char ** name,
                            struct ggml_tensor ** a, struct ggml_tensor ** b);

// Training options of lora4j_train_init and lora4j_train_init_full.
struct lora4j_train_params {
    int32_t n_tokens;      // tokens of every sample: ctx needs n_ctx, n_batch and n_ubatch >= n_tokens (>= 2)
    int32_t grad_accum;    // samples per optimizer step (gradient accumulation, >= 1)
    int32_t optimizer;     // enum ggml_opt_optimizer_type: ADAMW or SGD
    float   max_grad_norm; // clip the gradients by their global norm before each optimizer step (0 = off)
    int32_t base_copies;   // enum lora4j_base_copies: copies of the frozen base weights that make a step faster
    int64_t base_copies_budget; // bytes the copies may take (0 = no limit): over it, ALL makes the BACKWARD copies, and
                                // if these do not fit either, none (a warning in the log says which)
};

// Copies of the frozen base weights a LoRA training context makes in its first step (for CPU training):
// - BACKWARD: per quantised or F16/BF16 weight, its transpose in BF16, which the backward pass multiplies the gradient
//   with (BF16 GEMM), instead of a transposed F32 copy made in every step;
// - ALL: also a Q8_0 copy the forward pass uses for K-quant weights (no batched GEMM on the CPU), moving each weight
//   by at most 1/254 of its 32-block's largest magnitude.
// Only for weights in host memory with a plain layout, and only when the context computes on the CPU alone.
enum lora4j_base_copies {
    LORA4J_BASE_COPIES_NONE     = 0,
    LORA4J_BASE_COPIES_BACKWARD = 1,
    LORA4J_BASE_COPIES_ALL      = 2,
};

// Prepares ctx to train the LoRA tensors of `adapter` (set on ctx with a non-zero scale; every lora_a/lora_b F32):
// marks them trainable, freezes the whole base model, and initialises ggml-opt with *params and optimizer
// parameters read from *opt_params before every optimizer step (update it between steps for learning-rate
// schedules; it must outlive training). The model's n_ctx_train is left as it was.
int32_t lora4j_train_init(struct llama_context * ctx, struct llama_adapter_lora * adapter,
                          const struct lora4j_train_params * params, struct ggml_opt_optimizer_params * opt_params);

// One sample: forward, and with train also backward (+ the optimizer step at the end of each accumulation period).
// tokens in [0, n_vocab); labels[i] in [-1, n_vocab) is the token expected after position i (-1: not counted).
// *loss = mean cross-entropy over the counted positions; *n_counted = how many there were.
int32_t lora4j_train_step(struct llama_context * ctx, const llama_token * tokens, const llama_token * labels,
                          int32_t n_tokens, bool train, double * loss, int32_t * n_counted);

// AdamW moments, for checkpoints: how many parameters have them (0 before the first optimizer step), and the
// i-th one's parameter name (e.g. "blk.0.attn_q.weight.lora_a") and m / v tensors (F32, the parameter's shape).
int32_t lora4j_train_n_moments(struct llama_context * ctx);

// Bytes held by the copies of the frozen base weights (lora4j_train_params.base_copies; made in the first step)
int64_t lora4j_train_base_copies_bytes(struct llama_context * ctx);
int32_t lora4j_train_moments(struct llama_context * ctx, int32_t i, const char ** param_name,
                             struct ggml_tensor ** m, struct ggml_tensor ** v);

// Restores a checkpoint's optimizer state: steps done, and per parameter name its m and v (n_elements floats each).
// Applied at the start of the next train step (when the moments exist); names or sizes that do not match are an error then.
int32_t lora4j_train_restore(struct llama_context * ctx, int64_t steps_done, int32_t n, const char * const * names,
                             const float * const * m, const float * const * v, const int64_t * n_elements);

// Full fine-tuning of the model's own weights (every F32 weight except token_embd, as llama_opt_init decides; the
// model must be loaded without extra buffer types). Then lora4j_train_step as above; read the weights back with
// lora4j_model_tensor + ggml_backend_tensor_get.
int32_t lora4j_train_init_full(struct llama_context * ctx, const struct lora4j_train_params * params,
                               struct ggml_opt_optimizer_params * opt_params);

// a weight of the model by its GGUF name (NULL when there is none)
struct ggml_tensor * lora4j_model_tensor(const struct llama_model * model, const char * name);

// Forgets the training state of ctx (call before llama_free; llama_free frees ggml-opt's context)
void lora4j_train_free(struct llama_context * ctx);

// ---- LoRA merge (dev.lora4j.merge) ----------------------------------------------------------------------------

// a CPU backend and graph allocator for lora4j_lora_merge_tensor, reused across tensors (the compute buffer grows
// to the largest tensor once instead of being allocated for every tensor). One merge at a time.
struct lora4j_lora_merger;

// n_threads: CPU threads of the merge (1 .. GGML_MAX_N_THREADS). NULL on failure.
struct lora4j_lora_merger * lora4j_lora_merger_new(int32_t n_threads);
void                        lora4j_lora_merger_free(struct lora4j_lora_merger * merger);

// Merges n_adapters LoRA pairs into one 2-D weight and writes it as out_type, in one ggml graph on the CPU backend
// (all of it on ggml's threads):
//   W     = to_float(base)                                      (ggml's type traits, row chunks in parallel)
//   cur   = W; for each adapter i, as llama-export-lora builds it (so the F32 result is bit-identical to its):
//     delta = ggml_mul_mat(ggml_cont(ggml_transpose(ggml_cast(A_i, F32))), ggml_cast(B_i, F32))
//             (token_embd: ggml_mul_mat(ggml_cast(B_i, F32), ggml_cast(A_i, F32)))
//     cur   = ggml_add(ggml_scale(delta, scales[i]), cur)
//   out   = ggml_quantize_chunk(out_type, cur)                  (row chunks in parallel, as llama-quantize does;
//                                                               a copy for F32)
// base_data: the base weight, ggml type base_type (one with to_float, or F32), [ne0, ne1] in ggml order.
// out_data:  ggml_row_size(out_type, ne0) * ne1 bytes; out_type F32, F16, BF16 or a type ggml_quantize_chunk
//            writes without an importance matrix, whose block size divides ne0.
// a_data[i], b_data[i]: adapter i's lora_a and lora_b, contiguous, of ggml types a_types[i], b_types[i] (F32, F16
//            and BF16 go through ggml_cast as in export-lora; quantised ones are dequantised with to_float first),
//            with 2-D shapes a_ne[2i..2i+1], b_ne[2i..2i+1]: lora_a [ne0, r], lora_b [r, ne1]; token_embd
//            (flipped): lora_a [r, ne1], lora_b [r, ne0].
// scales[i]: the effective scale of adapter i (user scale * alpha / r).
// stats:     NULL, or 5 doubles for the error of the written tensor Q against W' = cur and the change W' - W:
//            sum (Q - W')^2, sum W'^2, sum (W' - W)^2, sum W^2, max |Q - W'|.
// Returns 0; LORA4J_ERR_ARGUMENT when a shape, type or pointer is rejected (nothing computed), LORA4J_ERR_LLAMA
// when ggml fails (allocation, computation), LORA4J_ERR_EXCEPTION on a C++ exception.
int32_t lora4j_lora_merge_tensor(struct lora4j_lora_merger * merger, int32_t base_type, const void * base_data,
                                 int64_t ne0, int64_t ne1, int32_t out_type, void * out_data, int32_t n_adapters,
                                 const void * const * a_data, const int32_t * a_types, const int64_t * a_ne,
                                 const void * const * b_data, const int32_t * b_types, const int64_t * b_ne,
                                 const float * scales, bool token_embd, double * stats);

#ifdef __cplusplus
}
#endif
