# pie_add_inferlet(<name> SOURCES <files...> [OUTPUT_NAME <name>])
#
# Builds a C++ inferlet into <build>/inferlets/<name>.wasm with clang-16 for wasm32-wasi, against the
# C++ SDK in sdk/cpp. The host build may use another compiler: inferlets are built by a custom command.
find_program(PIE_WASM_CXX NAMES clang++-16)
find_program(PIE_WASM_LD NAMES wasm-ld-16)
set(PIE_WASM_SYSROOT "/usr" CACHE PATH "wasi-libc sysroot (Debian wasi-libc)")
set(PIE_INFERLET_DIR "${CMAKE_BINARY_DIR}/inferlets")
set(PIE_WASM_CXX_FLAGS
  --target=wasm32-wasi --sysroot=${PIE_WASM_SYSROOT}
  -isystem /usr/lib/llvm-16/include/wasm32-wasi/c++/v1
  -std=c++20 -O2 -fno-exceptions -Wall -Wextra
  -I${CMAKE_SOURCE_DIR}/sdk/cpp/include)
set(PIE_WASM_LINK_FLAGS
  -L/usr/lib/llvm-16/lib/wasm32-wasi -fuse-ld=${PIE_WASM_LD}
  -Wl,--strip-debug -Wl,-z,stack-size=1048576)

function(pie_add_inferlet name)
  cmake_parse_arguments(ARG "" "OUTPUT_NAME" "SOURCES" ${ARGN})
  if(NOT PIE_WASM_CXX OR NOT PIE_WASM_LD)
    message(FATAL_ERROR "clang++-16 and wasm-ld-16 are needed to build inferlets: run scripts/setup")
  endif()
  if(NOT ARG_OUTPUT_NAME)
    set(ARG_OUTPUT_NAME ${name})
  endif()
  set(out "${PIE_INFERLET_DIR}/${ARG_OUTPUT_NAME}.wasm")
  set(srcs)
  foreach(src IN LISTS ARG_SOURCES)
    list(APPEND srcs "${CMAKE_CURRENT_SOURCE_DIR}/${src}")
  endforeach()
  file(GLOB_RECURSE sdk_headers CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/sdk/cpp/include/*.h")
  file(GLOB sdk_sources CONFIGURE_DEPENDS "${CMAKE_SOURCE_DIR}/sdk/cpp/src/*.cpp")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${PIE_INFERLET_DIR}"
    COMMAND ${PIE_WASM_CXX} ${PIE_WASM_CXX_FLAGS} ${srcs} ${sdk_sources} ${PIE_WASM_LINK_FLAGS} -o "${out}"
    DEPENDS ${srcs} ${sdk_headers} ${sdk_sources}
    COMMENT "Building inferlet ${ARG_OUTPUT_NAME}.wasm"
    VERBATIM COMMAND_EXPAND_LISTS)
  add_custom_target(inferlet_${name} ALL DEPENDS "${out}")
endfunction()

# pie_add_js_inferlet(<name> SOURCE <file.js>)
#
# A JavaScript inferlet needs no compilation: it is copied to <build>/inferlets/<name>.js, where
# tests and `pie run` find it beside the Wasm ones.
function(pie_add_js_inferlet name)
  cmake_parse_arguments(ARG "" "SOURCE" "" ${ARGN})
  set(out "${PIE_INFERLET_DIR}/${name}.js")
  add_custom_command(
    OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -E copy "${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE}" "${out}"
    DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE}"
    COMMENT "Copying inferlet ${name}.js"
    VERBATIM)
  add_custom_target(inferlet_${name} ALL DEPENDS "${out}")
endfunction()
