# Builds llama.cpp + ggml (shared libraries) and llama.cpp's reference tools from LLAMA_CPP_SOURCE_DIR,
# once per (source tree, backend flags, compiler, CPU): the result is cached under
# ${LORA4J_CACHE}/native/<key>/ and reused by every later build, clone or CI run on this machine.
#
# Output: LORA4J_LLAMA_BIN (shared libraries and tools), LORA4J_LLAMA_SRC (the source built, patches applied),
#         LORA4J_LLAMA_KEY, imported targets
#         lora4j::llama, lora4j::ggml, lora4j::ggml-base
#
# Also a script: cmake -DLORA4J_BACKEND=cpu -P cmake/Lora4jLlamaBuild.cmake prints the flags llama.cpp is configured
# with, one a line (native/check-patches.sh builds its prefixes of native/patches with the same).

if(CMAKE_SCRIPT_MODE_FILE)
  include("${CMAKE_CURRENT_LIST_DIR}/Lora4jBackend.cmake")
endif()
set(LORA4J_LLAMA_TOOLS llama-bench llama-completion llama-export-lora llama-finetune llama-quantize llama-perplexity
    ggml-rpc-server CACHE STRING "llama.cpp tools built beside the libraries (references for tests and benchmarks)")

# GGML_RPC: the RPC backend (libggml-rpc, docs/scaling.md); its RDMA transport stays off, else a machine with
# libibverbs would make the natives depend on a library the jar does not carry
set(_flags -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
    -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_EXAMPLES=ON
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF
    -DGGML_BACKEND_DL=OFF -DGGML_CPU_REPACK=ON
    -DGGML_RPC=ON -DGGML_RPC_RDMA=OFF
    ${LORA4J_BACKEND_FLAGS})
if(CMAKE_SCRIPT_MODE_FILE)
  foreach(f IN LISTS _flags)
    execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "${f}")
  endforeach()
  return()
endif()

# GGML_NATIVE compiles for this CPU: the CPU's feature flags are part of the key
set(_cpu "")
if(EXISTS /proc/cpuinfo)
  file(STRINGS /proc/cpuinfo _cpu REGEX "^flags" LIMIT_COUNT 1)
endif()
set(_patch_sum "")
file(GLOB _patches "${CMAKE_CURRENT_LIST_DIR}/../native/patches/*.patch")
list(SORT _patches)
# native/patches/cuda: patches of ggml-cuda (GPU training path), applied after the others and part of the key only
# for CUDA builds, so that the CPU build (its key included) stays exactly as it is without them
if(LORA4J_BACKEND_USED STREQUAL "cuda")
  file(GLOB _cuda_patches "${CMAKE_CURRENT_LIST_DIR}/../native/patches/cuda/*.patch")
  list(SORT _cuda_patches)
  list(APPEND _patches ${_cuda_patches})
endif()
foreach(p IN LISTS _patches)
  file(SHA256 "${p}" s)
  string(APPEND _patch_sum "${s};")
endforeach()
string(SHA256 _key "${LLAMA_CPP_TREE}|${_flags}|${LORA4J_LLAMA_TOOLS}|${CMAKE_CXX_COMPILER_ID}-${CMAKE_CXX_COMPILER_VERSION}|${CMAKE_SYSTEM_PROCESSOR}|${_cpu}|${_patch_sum}")
string(SUBSTRING "${_key}" 0 16 LORA4J_LLAMA_KEY)
set(_root "${LORA4J_CACHE}/native/${LORA4J_LLAMA_KEY}")
set(LORA4J_LLAMA_BIN "${_root}/build/bin")
# the source the libraries are built from: a patched private copy when native/patches has patches
if(_patches)
  set(LORA4J_LLAMA_SRC "${_root}/src")
else()
  set(LORA4J_LLAMA_SRC "${LLAMA_CPP_SOURCE_DIR}")
endif()

if(EXISTS "${_root}/complete")
  message(STATUS "lora4j: reusing cached llama.cpp build ${_root} (${LORA4J_BACKEND_USED})")
else()
  file(MAKE_DIRECTORY "${_root}")
  file(LOCK "${_root}/.lock" GUARD FILE TIMEOUT 3600)
  if(NOT EXISTS "${_root}/complete")
    set(_src "${LORA4J_LLAMA_SRC}")
    if(_patches)
      # patches apply to a private copy of the source, never to the pinned clone
      file(REMOVE_RECURSE "${_src}")
      execute_process(COMMAND "${GIT_EXECUTABLE}" clone -q --shared "${LLAMA_CPP_SOURCE_DIR}" "${_src}" RESULT_VARIABLE rc ERROR_QUIET)
      if(NOT rc EQUAL 0) # not a git checkout (LLAMA_CPP_DIR may be a plain source tree): copy it
        file(COPY "${LLAMA_CPP_SOURCE_DIR}/" DESTINATION "${_src}" PATTERN ".git" EXCLUDE)
      endif()
      foreach(p IN LISTS _patches)
        message(STATUS "lora4j: applying ${p}")
        execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${_src}" apply --whitespace=nowarn "${p}" RESULT_VARIABLE rc)
        if(NOT rc EQUAL 0)
          message(FATAL_ERROR "lora4j: patch ${p} does not apply to llama.cpp ${LLAMA_CPP_TREE}")
        endif()
      endforeach()
    endif()
    set(_gen "")
    find_program(NINJA_EXECUTABLE ninja)
    if(NINJA_EXECUTABLE)
      set(_gen -G Ninja)
    endif()
    message(STATUS "lora4j: building llama.cpp (${LORA4J_BACKEND_USED}) into ${_root} — about 7 minutes on 2 cores, once")
    execute_process(COMMAND "${CMAKE_COMMAND}" -S "${_src}" -B "${_root}/build" ${_gen}
                            -DCMAKE_C_COMPILER=${CMAKE_C_COMPILER} -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
                            ${_flags}
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "lora4j: configuring llama.cpp failed (rc=${rc})")
    endif()
    cmake_host_system_information(RESULT _ncpu QUERY NUMBER_OF_LOGICAL_CORES)
    # the whole compiler output goes to build.log; the console shows the progress lines ("[12/154] Building ...")
    # and errors only (llama.cpp's sources give thousands of lines of warnings)
    set(_log "${_root}/build.log")
    message(STATUS "lora4j: compiler output in ${_log}")
    execute_process(COMMAND "${CMAKE_COMMAND}" --build "${_root}/build" --parallel ${_ncpu}
                            --target llama ggml ${LORA4J_LLAMA_TOOLS}
                    COMMAND tee "${_log}"
                    COMMAND grep --line-buffered -E "^\\[[0-9]+/[0-9]+\\]|error|FAILED"
                    RESULTS_VARIABLE rcs ERROR_FILE "${_log}.stderr")
    list(GET rcs 0 rc)
    if(NOT rc EQUAL 0)
      file(STRINGS "${_log}" _tail REGEX "error|FAILED")
      list(LENGTH _tail _n)
      if(_n GREATER 20)
        list(SUBLIST _tail 0 20 _tail)
      endif()
      list(JOIN _tail "\n" _tail)
      message(FATAL_ERROR "lora4j: building llama.cpp failed (rc=${rc}); the first errors:\n${_tail}\nwhole output: ${_log}")
    endif()
    file(WRITE "${_root}/complete" "tree=${LLAMA_CPP_TREE}\nbackend=${LORA4J_BACKEND_USED}\nflags=${_flags}\n")
  endif()
  file(LOCK "${_root}/.lock" RELEASE)
endif()

foreach(lib llama ggml ggml-base ggml-cpu)
  add_library(lora4j::${lib} SHARED IMPORTED GLOBAL)
  set_target_properties(lora4j::${lib} PROPERTIES IMPORTED_LOCATION "${LORA4J_LLAMA_BIN}/lib${lib}.so")
endforeach()
