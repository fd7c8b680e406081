// Reference logits straight from llama.cpp's C API (no lora4j code in between), for ParityIT.
// usage: logits_ref MODEL PROMPT N_THREADS  -> prints the token ids, then the last token's logits as %a hex floats
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"

static void quiet(enum ggml_log_level level, const char * text, void * ud) { (void) level; (void) text; (void) ud; }

int main(int argc, char ** argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s MODEL PROMPT N_THREADS\n", argv[0]); return 2; }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "load failed\n"); return 1; }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256; cp.n_batch = 256; cp.n_ubatch = 256;
    cp.n_threads = cp.n_threads_batch = atoi(argv[3]);
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "context failed\n"); return 1; }
    llama_token tokens[256];
    int n = llama_tokenize(vocab, argv[2], (int) strlen(argv[2]), tokens, 256, true, true);
    if (n <= 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
    struct llama_batch batch = llama_batch_init(256, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = tokens[i]; batch.pos[i] = i; batch.n_seq_id[i] = 1; batch.seq_id[i][0] = 0;
        batch.logits[i] = i == n - 1;
    }
    batch.n_tokens = n;
    if (llama_decode(ctx, batch) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    const float * logits = llama_get_logits_ith(ctx, -1);
    printf("tokens");
    for (int i = 0; i < n; i++) printf(" %d", tokens[i]);
    printf("\n");
    int n_vocab = llama_vocab_n_tokens(vocab);
    for (int i = 0; i < n_vocab; i++) printf("%a\n", logits[i]);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
