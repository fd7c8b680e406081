# Stages the natives for the jar: ${LORA4J_STAGE}/dev/lora4j/native/<os>-<arch>/ holds one real file
# per shared library, named by its SONAME (a jar cannot hold symlinks), and load-order.txt listing
# them dependencies-first. ${LORA4J_STAGE}/../native.properties tells tests and benchmarks where the
# llama.cpp reference tools of the same build are. Vocabularies of the pinned source go along (dev/lora4j/vocab/)
# so that the demo and build-model can build a model with no files given: LLaMA SPM (llama, mistral3, gemma3),
# Llama 3 BPE (llama3), Qwen2 (qwen2, qwen3, qwen3moe) and Phi-3 (phi3). Staging is not part of the native cache key.
string(TOLOWER "${CMAKE_SYSTEM_NAME}" _os)
set(_arch "${CMAKE_SYSTEM_PROCESSOR}")
if(_arch STREQUAL "AMD64")
  set(_arch "x86_64")
endif()
set(LORA4J_PLATFORM "${_os}-${_arch}")
set(_libs ggml-base ggml-cpu)
if(LORA4J_BACKEND_USED STREQUAL "cuda")
  list(APPEND _libs ggml-cuda)
endif()
list(APPEND _libs ggml-rpc ggml llama)
string(REPLACE ";" "," _libs "${_libs}")
add_custom_target(stage ALL
  COMMAND "${CMAKE_COMMAND}"
          "-DBIN=${LORA4J_LLAMA_BIN}" "-DLIBS=${_libs}" "-DSHIM=$<TARGET_FILE:lora4j_shim>"
          "-DOUT=${LORA4J_STAGE}/dev/lora4j/native/${LORA4J_PLATFORM}"
          "-DVOCAB_DIR=${LLAMA_CPP_SOURCE_DIR}/models"
          "-DVOCABS=ggml-vocab-llama-spm.gguf,ggml-vocab-llama-bpe.gguf,ggml-vocab-qwen2.gguf,ggml-vocab-phi-3.gguf"
          "-DVOCAB_OUT=${LORA4J_STAGE}/dev/lora4j/vocab"
          -P "${CMAKE_CURRENT_LIST_DIR}/Lora4jStageScript.cmake"
  DEPENDS lora4j_shim
  COMMENT "lora4j: staging natives for ${LORA4J_PLATFORM} (${LORA4J_BACKEND_USED})")
file(WRITE "${LORA4J_STAGE}/../native.properties"
     "tree=${LLAMA_CPP_TREE}\nbackend=${LORA4J_BACKEND_USED}\nkey=${LORA4J_LLAMA_KEY}\nplatform=${LORA4J_PLATFORM}\nsource=${LLAMA_CPP_SOURCE_DIR}\npatched_source=${LORA4J_LLAMA_SRC}\nbin=${LORA4J_LLAMA_BIN}\n")
