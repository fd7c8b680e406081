# Obtains and verifies the pinned llama.cpp source.
#
# Inputs (cache variables):
#   LLAMA_CPP_DIR   a llama.cpp checkout of the user's; used as it is (its tree hash is reported,
#                   and a mismatch with the pin is a warning, not an error)
#   LORA4J_CACHE    where downloads, sources and native builds are cached (default ~/.cache/lora4j)
# Outputs:
#   LLAMA_CPP_SOURCE_DIR, LLAMA_CPP_TREE (git tree hash of the source used)
#
# The pinned source is llama.cpp v0.5.0 as shipped inside the npm package node-llama-cpp@3.22.1
# (llama/gitRelease.bundle). The package file is verified by its SHA-256 and the clone by its git tree hash, so a
# tampered or different package is refused.
#
# Also a script: cmake -DLORA4J_CACHE=DIR -P cmake/Lora4jLlamaSource.cmake fetches and verifies the source into DIR
# (CI runs it against an empty cache seeded with the package, and against a tampered package).

set(LORA4J_LLAMA_PIN_TREE "fd570ef54b10ec5fecb739e7e04c8ce44a6f415a")
set(LORA4J_LLAMA_NPM_PACKAGE "node-llama-cpp@3.22.1")
set(LORA4J_LLAMA_NPM_TGZ "node-llama-cpp-3.22.1.tgz")
# SHA-256 of that package file as the registry serves it (its sha512 integrity is bltIipuW...)
set(LORA4J_LLAMA_NPM_SHA256 "a0d9dd80eacd2ab1cfe71aee57ac8a806487fd70b3d2a38fbec637752d9e5c5f")
set(LORA4J_LLAMA_TAG "v0.5.0")

if(NOT LORA4J_CACHE)
  if(DEFINED ENV{LORA4J_CACHE})
    set(LORA4J_CACHE "$ENV{LORA4J_CACHE}")
  else()
    set(LORA4J_CACHE "$ENV{HOME}/.cache/lora4j")
  endif()
endif()
set(LORA4J_CACHE "${LORA4J_CACHE}" CACHE PATH "lora4j cache of sources and native builds")
if(NOT LLAMA_CPP_DIR AND DEFINED ENV{LLAMA_CPP_DIR})
  set(LLAMA_CPP_DIR "$ENV{LLAMA_CPP_DIR}")
endif()
set(LLAMA_CPP_DIR "${LLAMA_CPP_DIR}" CACHE PATH "use this llama.cpp checkout instead of the pinned one")

find_package(Git REQUIRED)

function(_lora4j_tree_hash dir out)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${dir}" rev-parse "HEAD^{tree}"
                  OUTPUT_VARIABLE tree OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc ERROR_QUIET)
  if(NOT rc EQUAL 0)
    set(tree "unknown")
  else()
    # a dirty checkout is not the tree its HEAD names
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${dir}" status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(dirty)
      set(tree "${tree}-dirty")
    endif()
  endif()
  set(${out} "${tree}" PARENT_SCOPE)
endfunction()

# Fetches, unpacks, clones and verifies the pinned source into ${dest} unless it is there already. A function, so
# that the download lock (GUARD FUNCTION) is released when it returns, also on an error; the second check under the
# lock covers a concurrent build that fetched it meanwhile.
function(_lora4j_fetch_pinned_source dest)
  if(EXISTS "${dest}/include/llama.h")
    return()
  endif()
  file(MAKE_DIRECTORY "${LORA4J_CACHE}/dl")
  file(LOCK "${LORA4J_CACHE}/dl/.lock" GUARD FUNCTION TIMEOUT 1800)
  if(EXISTS "${dest}/include/llama.h")
    return()
  endif()
  set(tgz "${LORA4J_CACHE}/dl/${LORA4J_LLAMA_NPM_TGZ}")
  if(NOT EXISTS "${tgz}")
    find_program(NPM_EXECUTABLE npm)
    if(NOT NPM_EXECUTABLE)
      message(FATAL_ERROR "lora4j: npm is needed once to fetch the pinned llama.cpp source "
                          "(${LORA4J_LLAMA_NPM_PACKAGE}); install Node.js/npm, or pass -DLLAMA_CPP_DIR=<checkout>.")
    endif()
    message(STATUS "lora4j: fetching ${LORA4J_LLAMA_NPM_PACKAGE} (llama.cpp ${LORA4J_LLAMA_TAG}, ~36 MB) with npm pack")
    execute_process(COMMAND "${NPM_EXECUTABLE}" pack --silent ${LORA4J_LLAMA_NPM_PACKAGE}
                    WORKING_DIRECTORY "${LORA4J_CACHE}/dl" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0 OR NOT EXISTS "${tgz}")
      message(FATAL_ERROR "lora4j: npm pack ${LORA4J_LLAMA_NPM_PACKAGE} failed (rc=${rc})")
    endif()
  endif()
  file(SHA256 "${tgz}" sum)
  if(NOT sum STREQUAL LORA4J_LLAMA_NPM_SHA256)
    message(FATAL_ERROR "lora4j: ${tgz} has SHA-256 ${sum}, not the pinned ${LORA4J_LLAMA_NPM_SHA256} of "
                        "${LORA4J_LLAMA_NPM_PACKAGE}: refusing it (delete it to fetch it again)")
  endif()
  message(STATUS "lora4j: unpacking llama.cpp ${LORA4J_LLAMA_TAG} from ${tgz}")
  set(unpack "${LORA4J_CACHE}/dl/unpack")
  file(REMOVE_RECURSE "${unpack}")
  file(MAKE_DIRECTORY "${unpack}")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar xzf "${tgz}" package/llama/gitRelease.bundle
                  WORKING_DIRECTORY "${unpack}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "lora4j: ${tgz} holds no llama/gitRelease.bundle; delete it and retry")
  endif()
  set(tmp "${dest}.tmp")
  file(REMOVE_RECURSE "${tmp}")
  execute_process(COMMAND "${GIT_EXECUTABLE}" -c advice.detachedHead=false clone -q "${unpack}/package/llama/gitRelease.bundle" "${tmp}"
                  RESULT_VARIABLE rc)
  file(REMOVE_RECURSE "${unpack}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "lora4j: git clone of the llama.cpp bundle failed (rc=${rc})")
  endif()
  _lora4j_tree_hash("${tmp}" got)
  if(NOT got STREQUAL LORA4J_LLAMA_PIN_TREE)
    file(REMOVE_RECURSE "${tmp}")
    message(FATAL_ERROR "lora4j: llama.cpp source tree hash ${got} differs from the pin ${LORA4J_LLAMA_PIN_TREE}: refusing it")
  endif()
  file(RENAME "${tmp}" "${dest}")
endfunction()

if(LLAMA_CPP_DIR)
  if(NOT EXISTS "${LLAMA_CPP_DIR}/include/llama.h")
    message(FATAL_ERROR "LLAMA_CPP_DIR=${LLAMA_CPP_DIR} is not a llama.cpp checkout (no include/llama.h)")
  endif()
  _lora4j_tree_hash("${LLAMA_CPP_DIR}" LLAMA_CPP_TREE)
  if(NOT LLAMA_CPP_TREE STREQUAL LORA4J_LLAMA_PIN_TREE)
    message(WARNING "lora4j: LLAMA_CPP_DIR tree ${LLAMA_CPP_TREE} is not the pinned ${LORA4J_LLAMA_PIN_TREE} "
                    "(${LORA4J_LLAMA_TAG}); the generated bindings may not match it.")
  endif()
  set(LLAMA_CPP_SOURCE_DIR "${LLAMA_CPP_DIR}")
else()
  set(LLAMA_CPP_SOURCE_DIR "${LORA4J_CACHE}/src/llama.cpp-${LORA4J_LLAMA_PIN_TREE}")
  _lora4j_fetch_pinned_source("${LLAMA_CPP_SOURCE_DIR}")
  _lora4j_tree_hash("${LLAMA_CPP_SOURCE_DIR}" LLAMA_CPP_TREE)
  if(NOT LLAMA_CPP_TREE STREQUAL LORA4J_LLAMA_PIN_TREE)
    message(FATAL_ERROR "lora4j: cached source ${LLAMA_CPP_SOURCE_DIR} has tree ${LLAMA_CPP_TREE}, not the pin; delete it")
  endif()
endif()
message(STATUS "lora4j: llama.cpp source ${LLAMA_CPP_SOURCE_DIR} (tree ${LLAMA_CPP_TREE})")
