# V8 10.2 from Debian's libnode108/libnode-dev: either unpacked by scripts/setup into .deps/libnode
# (when the machine's Node.js is not Debian's) or installed system-wide. Defines the target v8::v8.
# The system's /usr/include/node is used only when it holds V8 10.x headers: on machines with another
# Node.js those headers belong to that Node and do not match libnode.so.108.
set(_pie_v8_roots "${CMAKE_SOURCE_DIR}/.deps/libnode/usr" "/usr")
foreach(_root IN LISTS _pie_v8_roots)
  set(_header "${_root}/include/node/v8-version.h")
  set(_lib "${_root}/lib/${CMAKE_LIBRARY_ARCHITECTURE}/libnode.so.108")
  if(EXISTS "${_header}" AND EXISTS "${_lib}")
    file(STRINGS "${_header}" _major REGEX "^#define V8_MAJOR_VERSION ")
    if(_major MATCHES " 10$")
      set(V8_ROOT "${_root}")
      break()
    endif()
  endif()
endforeach()
if(NOT V8_ROOT)
  message(FATAL_ERROR "V8 10.x (Debian libnode108/libnode-dev) not found: run scripts/setup")
endif()
set(V8_LIBRARY "${V8_ROOT}/lib/${CMAKE_LIBRARY_ARCHITECTURE}/libnode.so.108")
add_library(v8::v8 SHARED IMPORTED GLOBAL)
set_target_properties(v8::v8 PROPERTIES
  IMPORTED_LOCATION "${V8_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${V8_ROOT}/include/node")
message(STATUS "V8: ${V8_LIBRARY}")
